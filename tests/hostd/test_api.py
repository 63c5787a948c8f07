"""The daemon's HTTP API under hostile or careless clients, against the real daemon on the real device (the compiled
firmware in the emulator): every bad input a 400 naming the field (never a 500, nothing journaled), the operator
capability, large bodies parsed off the event loop, the private socket, the OpenAPI document, and `tessera ctl`
answering user mistakes with one line and a non-zero exit.

Usage: .venv/bin/pytest tests/hostd/test_api.py
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest

from hostd.api import openapi
from hostd.api.app import INLINE_BODY_BYTES
from hostd.api.operator import operator_token_path
from hostd.api.server import MAX_HEADER_LINE, MAX_HEADERS, SocketInUse, bind_private_unix
from hostd.client import ApiError, Client
from tests.hostd.conftest import WAIT, run_daemon, wait_until
from tests.hostd.test_daemon import _expected, _load, _post, _raw_http

SMALL_BODY_LIMIT = 4096            # --max-body of the daemons whose limit a test reaches
BIG_ROWS = 400                     # rows of a body larger than INLINE_BODY_BYTES


def _submit_raw(api: str, body: str, query: str = "", extra: bytes = b"") -> tuple[int, dict]:
    return _post(api, "/v1/jobs" + query, body.encode(), extra)


def test_bad_input_is_a_400_naming_the_field_and_nothing_is_journaled(daemon, client, digits_model):
    api = daemon.api
    m = _load(client, digits_model)["model"]
    row = [0.0] * 64
    deep = "[" * 100_000 + "]" * 100_000

    def sub(**fields):
        return json.dumps({"model": m, **fields})
    cases = [
        (sub(inputs_int8=[[10**30] + [0] * 63]),
         "field 'inputs_int8' row 0 column 0 must be in -128..127, got 1000000000000000000000000000000"),
        (sub(inputs_int8=[[0] * 63 + [10**300]]), "field 'inputs_int8' row 0 column 63 must be in -128..127, "
                                                  "got an integer of 301 digits"),
        (sub(inputs_int8=[[True] + [0] * 63]), "field 'inputs_int8' row 0 column 0 must be an int, got bool"),
        (sub(inputs_int8=[[0] * 64, [0.5] + [0] * 63]), "field 'inputs_int8' row 1 column 0 must be an int, got float"),
        (sub(inputs=[row[:3] + ["1.5"] + row[4:]]), "field 'inputs' row 0 column 3 must be a number, got str"),
        (sub(inputs=[[True] + row[1:]]), "field 'inputs' row 0 column 0 must be a number, got bool"),
        (sub(inputs=[[1e39] + row[1:]]), "field 'inputs' row 0 column 0 must be in -3.40282e+38..3.40282e+38, "
                                         "got 1e+39"),
        (sub(inputs=[[10**400] + row[1:]]), "field 'inputs' row 0 column 0 must be in -3.40282e+38..3.40282e+38, "
                                            "got an integer of 401 digits"),
        (sub(inputs=[row]).replace("0.0", "NaN", 1), "field 'inputs' row 0 column 0 must be a finite number, got nan"),
        (sub(inputs=[row, row[:3]]), "field 'inputs' row 1 has 3 values, row 0 has 64"),
        (sub(inputs=[]), "field 'inputs' must hold at least 1 row"),
        (sub(inputs=[[[[[0.0]]]]]), "field 'inputs' row 0 column 0 must be a number, got list"),
        (sub(inputs=[row], inputs_int8=[[0] * 64]), "give only one of the fields 'inputs' or 'inputs_int8'"),
        (sub(inputs=[row], input=[row]),
         "unknown field 'input'; known: model, inputs, inputs_int8, idempotency_key, client, wait"),
        (sub(inputs=[row], client="c" * 201), "field 'client' must be a string of 1..200 characters, got 201"),
        (sub(inputs=[row], idempotency_key=""), "field 'idempotency_key' must be a string of 1..200 characters, "
                                                "got 0"),
        (json.dumps({"model": "f" * 65, "inputs": [row]}), "field 'model' must be a string of 1..64 characters, "
                                                          "got 65"),
        ('{"model": "%s", "inputs": %s}' % (m, deep), "invalid JSON body: nested too deep"),
        ('{"model": "%s", "inputs": [[%s]]}' % (m, "9" * 5000), "invalid JSON body: a number has more than 4300 "
                                                               "digits"),
    ]
    for body, reason in cases:
        status, answer = _submit_raw(api, body)
        assert (status, answer["error"], answer["reason"]) == (400, answer["error"], reason), reason
        assert answer["error"] in ("bad_field", "bad_json")
    for fields, reason in (({"max_rows": True}, "field 'max_rows' must be an int, got bool"),
                           ({"max_rows": 1.0}, "field 'max_rows' must be an int, got float"),
                           ({"max_rows": 0}, "field 'max_rows' must be in 1..65535, got 0"),
                           ({"name": "n" * 201}, "field 'name' must be a string of 0..200 characters, got 201"),
                           ({"calibration": [[0.0, "1"]]}, "field 'calibration' row 0 column 1 must be a number, "
                                                           "got str")):
        status, answer = _post(api, "/v1/models", json.dumps({"onnx": "AAAA", **fields}).encode())
        assert (status, answer["reason"]) == (400, reason)
    queries = [("GET /v1/log?cursor=4294967296", "cursor='4294967296' is outside 0..4294967295"),
               ("GET /v1/log?cursor=" + "9" * 5000, "cursor='" + "9" * 39 + "...' is outside 0..4294967295"),
               ("GET /v1/jobs?stat=done", "unknown query parameter 'stat'; known: state"),
               ("GET /v1/stats?verbose=1", "unknown query parameter 'verbose'; there are none here"),
               ("GET /v1/jobs/x?wait=nan", "wait must be a non-negative number of seconds, got nan")]
    for line, reason in queries:
        status, answer = _raw_http(api, f"{line} HTTP/1.1\r\nHost: hostd\r\nConnection: close\r\n\r\n".encode())
        assert (status, answer["error"], answer["reason"]) == (400, "bad_query", reason)
    status, answer = _submit_raw(api, json.dumps({"model": m, "inputs": [row]}),
                                 extra=b"X-Tessera-Client: " + b"c" * 201 + b"\r\n")
    assert (status, answer["reason"]) == (400, "header 'X-Tessera-Client' must be a string of 1..200 characters, "
                                               "got 201")
    status, answer = _raw_http(api, b"GET /v1/ping HTTP/1.1\r\nHost: hostd\r\nX: " + b"a" * (MAX_HEADER_LINE + 1)
                               + b"\r\n\r\n")
    assert (status, answer) == (431, {"error": "header_too_large",
                                      "reason": f"a request header line exceeds {MAX_HEADER_LINE} bytes"})
    status, answer = _raw_http(api, b"GET /v1/ping HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert (status, answer) == (400, {"error": "bad_request",
                                      "reason": "malformed request: Missing 'Host' header in request."})
    many = b"".join(b"X-%d: a\r\n" % i for i in range(MAX_HEADERS + 1))
    status, answer = _raw_http(api, b"GET /v1/ping HTTP/1.1\r\nHost: hostd\r\n" + many + b"\r\n")
    assert (status, answer["reason"]) == (431, f"more than {MAX_HEADERS} header lines")
    assert client.jobs() == []                                    # nothing refused was journaled
    job = client.run(m, inputs=digits_model[2][:2])               # and the daemon serves on
    assert job["state"] == "done" and job["outputs_int8"] == _expected(daemon, m, digits_model[2][:2])
    assert job["client"] == f"pid:{os.getpid()}"                  # SO_PEERCRED names a client without an id


def test_body_limit_answers_413_to_the_client(tmp_path, device, digits_model):
    with run_daemon(tmp_path, device.url, max_body=SMALL_BODY_LIMIT) as d:
        c = Client(d.api, timeout=WAIT)
        big = np.zeros((BIG_ROWS, 64), np.float32)
        with pytest.raises(ApiError) as info:
            c.submit("0" * 64, inputs=big)
        length = len(json.dumps({"model": "0" * 64, "inputs": big.tolist()}))
        assert (info.value.status, info.value.error, info.value.reason) == \
            (413, "body_too_large", f"body of {length} bytes exceeds the limit of {SMALL_BODY_LIMIT}")
        assert c.stats()["queue_depth"] == 0                      # the same client goes on
        c.close()
        at_limit = json.dumps({"model": "0" * 64, "inputs": [[0.0]]}).encode()
        at_limit += b" " * (SMALL_BODY_LIMIT - len(at_limit))          # JSON allows trailing white space
        assert _post(d.api, "/v1/jobs", at_limit)[0] == 404         # read and validated: the limit is inclusive
        assert _post(d.api, "/v1/jobs", at_limit + b" ") == (413, {"error": "body_too_large", "reason": (
            f"body of {SMALL_BODY_LIMIT + 1} bytes exceeds the limit of {SMALL_BODY_LIMIT}")})


def test_reset_needs_the_operator_token(daemon, client, tmp_path):
    path = operator_token_path(daemon.api)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = open(path).read().strip()
    assert len(token) == 64
    with pytest.raises(ApiError) as info:
        client.reset()
    assert (info.value.status, info.value.error, info.value.reason) == (
        403, "operator_required", f"POST /v1/reset affects every client and needs the operator token: send "
                                  f"'Authorization: Bearer TOKEN' with the token in {path} (tessera ctl --operator)")
    with pytest.raises(ApiError) as info:
        Client(daemon.api, operator_token="0" * 64).reset()
    assert (info.value.status, info.value.reason) == (403, f"the operator token does not match the one in {path}")
    assert daemon.requests.count("REQ_RESET") == 0
    wait_until(lambda: client.stats()["connected"])
    boot = client.stats()["boot_count"]
    op = Client(daemon.api, operator=True, timeout=WAIT)
    assert op.reset() == {"ok": True, "boot_count": boot + 1}
    op.close()
    rc, out, err = _ctl(daemon.api, "--operator", "reset")
    assert (rc, err) == (0, "") and json.loads(out)["boot_count"] == boot + 2
    rc, out, err = _ctl(daemon.api, "reset")
    assert (rc, out) == (1, "") and err.startswith("error: HTTP 403 operator_required: POST /v1/reset affects")
    assert daemon.requests.count("REQ_RESET") == 2


def test_operator_token_and_socket_go_away_with_the_daemon(tmp_path, device):
    with run_daemon(tmp_path, device.url) as d:
        api, token = d.api, operator_token_path(d.api)
        assert os.path.exists(api) and os.path.exists(token)
    assert not os.path.exists(api) and not os.path.exists(token)
    rc, out, err = _ctl(api, "--operator", "reset")
    assert (rc, out) == (1, "")
    assert err == f"error: cannot read the operator token {token}: No such file or directory (is the daemon " \
                  "running, as this user?)\n"


def test_a_large_body_is_parsed_off_the_event_loop(daemon, client, digits_model):
    """While a large body's decoding is held on its worker thread, another client's request is answered; then the
    large job completes with the right outputs. (Decoding on the event loop would hold every request behind it.)"""
    m = _load(client, digits_model)["model"]
    rows = np.resize(digits_model[2], (BIG_ROWS, 64))
    assert len(json.dumps(rows.tolist())) > INLINE_BODY_BYTES
    api = daemon.server.api
    inner, reached, opened = api.decode_body, threading.Event(), threading.Event()
    loop_thread = threading.get_ident()

    def held(schema, raw):
        if len(raw) > INLINE_BODY_BYTES:
            held.thread = threading.get_ident()
            reached.set()
            assert opened.wait(WAIT)
        return inner(schema, raw)
    api.decode_body = held
    big = {}
    sender = threading.Thread(target=lambda: big.update(job=Client(daemon.api, timeout=WAIT).run(m, inputs=rows)))
    sender.start()
    assert reached.wait(WAIT)
    other = Client(daemon.api, client_id="other", timeout=WAIT / 4)
    assert [x["model"] for x in other.models()] == [m]            # answered while the large body is being parsed
    small = other.run(m, inputs=rows[:1])
    assert small["state"] == "done" and not opened.is_set() and "job" not in big
    opened.set()
    sender.join(WAIT)
    assert big["job"]["state"] == "done" and big["job"]["outputs_int8"] == _expected(daemon, m, rows)
    assert held.thread != loop_thread
    other.close()


def test_openapi_document_is_served_and_does_not_drift(client):
    assert openapi.generate(check=True) == []
    served = client.request("GET", "/v1/openapi.json")
    assert served == json.loads(openapi.OUTPUT.read_text())
    assert served["paths"]["/v1/reset"]["post"]["security"] == [{"operator": []}]
    submit = served["components"]["schemas"]["SubmitRequest"]["properties"]
    assert submit["inputs_int8"]["items"]["items"] == {"maximum": 127, "minimum": -128, "type": "integer"}
    assert submit["client"]["anyOf"][0]["maxLength"] == 200


def test_openapi_check_reports_a_stale_file(tmp_path):
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    assert openapi.generate(check=True, output=stale) == [stale] and stale.read_text() == "{}\n"
    assert openapi.generate(output=stale) == [stale] and openapi.generate(check=True, output=stale) == []


def test_socket_path_is_never_stolen_or_replaced(tmp_path):
    regular = tmp_path / "api.sock"
    regular.write_text("precious")
    with pytest.raises(SocketInUse, match=f"^API path {regular} exists and is not a socket; not replacing it$"):
        bind_private_unix(str(regular))
    assert regular.read_text() == "precious"
    live = tmp_path / "live.sock"
    first = bind_private_unix(str(live))
    assert stat.S_IMODE(os.stat(live).st_mode) == 0o600
    with pytest.raises(SocketInUse, match=f"^API socket {live} is in use by a running daemon$"):
        bind_private_unix(str(live))
    first.close()                                                 # now stale: nobody listens
    second = bind_private_unix(str(live))
    probe = socket.socket(socket.AF_UNIX)
    probe.connect(str(live))
    probe.close()
    second.close()


def _ctl(api: str, *args: str) -> tuple[int, str, str]:
    """The real `tessera ctl` in a subprocess: (exit status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "tessera.cli", "ctl", "--api", api, *args], capture_output=True,
                          text=True, timeout=WAIT)
    return proc.returncode, proc.stdout, proc.stderr


def test_ctl_user_mistakes_are_one_line_errors(tmp_path, device, digits_model):
    strings = tmp_path / "strings.npy"
    np.save(strings, np.array([["a", "b"]]))
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"not numpy")
    big = tmp_path / "big.npy"
    np.save(big, np.zeros((BIG_ROWS, 64), np.float32))
    missing = tmp_path / "missing.onnx"
    nowhere = str(tmp_path / "nowhere.sock")
    rc, out, err = _ctl(nowhere, "ping")
    assert (rc, out, err) == (1, "", f"error: cannot reach the daemon at {nowhere}: No such file or directory "
                                     "(is `tessera hostd` running?)\n")
    with run_daemon(tmp_path, device.url, max_body=SMALL_BODY_LIMIT) as d:
        h = "0" * 64
        length = len(json.dumps({"model": h, "inputs": np.zeros((BIG_ROWS, 64), np.float32).tolist()}))
        mistakes = [
            (("load", str(missing)), f"error: cannot read {missing}: No such file or directory"),
            (("run", h, "--input", str(strings)),
             f"error: --input {strings} holds values of dtype <U1; it must hold numbers (int or float)"),
            (("run", h, "--input", str(garbage)), f"error: --input {garbage} is not a .npy array of numbers: "),
            (("run", h, "--json", "[[1, 2"), "error: --json is not valid JSON: Expecting ',' delimiter: line 1 "
                                             "column 7 (char 6)"),
            (("run", h, "--json", '[["a"]]'), "error: inputs must be numbers (int or float), got values of dtype "
                                              "<U1"),
            (("run", h, "--input", str(big)), f"error: HTTP 413 body_too_large: body of {length} bytes exceeds the "
                                              f"limit of {SMALL_BODY_LIMIT}"),
            (("run", h, "--json", "[[0.5]]"), f"error: HTTP 404 unknown_model: model '{h}' is not loaded; POST "
                                              "/v1/models first"),
        ]
        for args, want in mistakes:
            rc, out, err = _ctl(d.api, *args)
            assert rc == 1 and out == "" and "Traceback" not in err, (args, err)
            assert err.count("\n") == 1 and err.startswith(want), (args, err)
        rc, out, err = _ctl(d.api, "stats")
        assert rc == 0 and json.loads(out)["queue_depth"] == 0
