"""Python client of the host daemon's Unix-socket HTTP API (docs/hostd-api.md); `tessera ctl` is built on it.

Usage:
    c = Client()                                   # default socket path, same as the daemon's
    m = c.load(Path("mlp.onnx").read_bytes(), calibration=rows)["model"]
    m = c.load_tflite("kws_ref_model.tflite", name="kws", max_rows=4)["model"]     # path or bytes
    c.load(read_onnx("exported.onnx"))            # an ONNX file whose weights are in an external .onnx.data file
    job = c.run(m, inputs=[[0.1] * 64], idempotency_key="req-42")     # submit + wait, one round trip
    job["classes"], c.stats(), c.metrics()
    Client(operator=True).reset()                  # operator operations send the token from the daemon's token file
Errors are `ApiError(status, error, reason)`; `TokenError` when operator=True and the token file cannot be read.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import time
from pathlib import Path

import numpy as np

from hostd.api.operator import TokenError, operator_token_path, read_token  # noqa: F401 - TokenError re-exported
from hostd.daemon import default_api_path

TFLITE_IDENTIFIER = b"TFL3"     # a TFLite flatbuffer's file identifier
TFLITE_IDENTIFIER_AT = slice(4, 8)
DEFAULT_TIMEOUT = 120.0
WAIT_SLICE = 30.0              # seconds per long-poll request while waiting for a job


class ApiError(Exception):
    def __init__(self, status: int, error: str, reason: str):
        super().__init__(f"HTTP {status} {error}: {reason}")
        self.status, self.error, self.reason = status, error, reason


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Client:
    def __init__(self, api: str | None = None, timeout: float = DEFAULT_TIMEOUT, client_id: str | None = None,
                 operator: bool = False, operator_token: str | None = None):
        self.api, self.timeout, self.client_id = api or default_api_path(), timeout, client_id
        self._conn: _UnixConnection | None = None
        if operator and operator_token is None:
            operator_token = read_token(operator_token_path(self.api))
        self.operator_token = operator_token

    @property
    def _slice(self) -> float:
        """Seconds per long poll: WAIT_SLICE, and well inside the socket timeout."""
        return min(WAIT_SLICE, self.timeout / 2)

    def close(self) -> None:
        if self._conn:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: dict | None = None, raw: bool = False):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.client_id:
            headers["X-Tessera-Client"] = self.client_id
        if self.operator_token:
            headers["Authorization"] = f"Bearer {self.operator_token}"
        for attempt in range(2):                    # one reconnect for a keep-alive connection the server closed
            if self._conn is None:
                self._conn = _UnixConnection(self.api, self.timeout)
            try:
                try:
                    self._conn.request(method, path, body=data, headers=headers)
                except (BrokenPipeError, ConnectionResetError):
                    if not data:
                        raise               # else the server may have answered before reading it all (413): read on
                rsp = self._conn.getresponse()
                payload = rsp.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        if rsp.getheader("Connection", "").lower() == "close":
            self.close()
        if raw and rsp.status < 400:
            return payload
        obj = json.loads(payload) if payload else {}
        if rsp.status >= 400:
            raise ApiError(rsp.status, obj.get("error", "?"), obj.get("reason", payload.decode(errors="replace")))
        return obj

    # ------------------------------------------------------------ endpoints
    def ping(self) -> dict:
        return self.request("GET", "/v1/ping")

    def info(self) -> dict:
        return self.request("GET", "/v1/info")

    def load(self, onnx_bytes: bytes, calibration=None, name: str = "", max_rows: int | None = None) -> dict:
        body = {"onnx": base64.b64encode(onnx_bytes).decode(), "name": name}
        if calibration is not None:
            body["calibration"] = _numbers(calibration, "calibration").astype(np.float32).tolist()
        if max_rows is not None:
            body["max_rows"] = max_rows
        return self.request("POST", "/v1/models", body)

    def load_tflite(self, model: str | os.PathLike | bytes, name: str = "", max_rows: int | None = None) -> dict:
        """POST /v1/models with an int8 TFLite model (a path or the file's bytes); the daemon compiles it for the
        device's profile."""
        data = bytes(model) if isinstance(model, (bytes, bytearray, memoryview)) else Path(model).read_bytes()
        body = {"tflite": base64.b64encode(data).decode(), "name": name}
        if max_rows is not None:
            body["max_rows"] = max_rows
        return self.request("POST", "/v1/models", body)

    def models(self) -> list[dict]:
        return self.request("GET", "/v1/models")["models"]

    def submit(self, model: str, inputs=None, inputs_int8=None, idempotency_key: str | None = None,
               wait: float = 0) -> dict:
        """POST /v1/jobs; with `wait` > 0 the answer comes when the job finished (or after `wait` seconds)."""
        body: dict = {"model": model}
        if inputs is not None:
            body["inputs"] = _numbers(inputs, "inputs").astype(np.float32).tolist()
        if inputs_int8 is not None:
            body["inputs_int8"] = _numbers(inputs_int8, "inputs_int8").tolist()
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        return self.request("POST", "/v1/jobs" + (f"?wait={wait:g}" if wait else ""), body)

    def job(self, job_id: str, wait: float = 0) -> dict:
        return self.request("GET", f"/v1/jobs/{job_id}" + (f"?wait={wait:g}" if wait else ""))

    def wait(self, job_id: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id, wait=max(0.01, min(self._slice, deadline - time.monotonic())))
            if job["state"] in ("done", "failed") or time.monotonic() >= deadline:
                return job

    def run(self, model: str, inputs=None, inputs_int8=None, idempotency_key: str | None = None,
            timeout: float = DEFAULT_TIMEOUT) -> dict:
        """Submit and wait: one HTTP round trip when the job finishes within WAIT_SLICE, long polls after that."""
        deadline = time.monotonic() + timeout
        job = self.submit(model, inputs, inputs_int8, idempotency_key, wait=max(0.01, min(self._slice, timeout)))
        if job["state"] in ("done", "failed"):
            return job
        return self.wait(job["id"], max(0.0, deadline - time.monotonic()))

    def cancel(self, job_id: str) -> dict:
        """DELETE /v1/jobs/ID: cancel a queued job."""
        return self.request("DELETE", f"/v1/jobs/{job_id}")

    def jobs(self, state: str | None = None) -> list[dict]:
        return self.request("GET", "/v1/jobs" + (f"?state={state}" if state else ""))["jobs"]

    def stats(self) -> dict:
        return self.request("GET", "/v1/stats")

    def metrics(self) -> str:
        return self.request("GET", "/metrics", raw=True).decode()

    def reset(self) -> dict:
        return self.request("POST", "/v1/reset", {})

    def log(self, cursor: int = 0) -> dict:
        return self.request("GET", f"/v1/log?cursor={cursor}")


def is_tflite(data: bytes) -> bool:
    """A TFLite flatbuffer: its file identifier "TFL3" at bytes 4..8."""
    return data[TFLITE_IDENTIFIER_AT] == TFLITE_IDENTIFIER


def read_onnx(path: str | os.PathLike) -> bytes:
    """An ONNX file's bytes with external weights (e.g. PyTorch's `.onnx.data`, resolved next to the file) embedded,
    so the daemon receives one self-contained model."""
    import onnx
    return onnx.load(str(path)).SerializeToString()


def _numbers(rows, name: str) -> np.ndarray:
    """`rows` as an array of numbers; strings, booleans or objects are refused here, not converted."""
    arr = np.asarray(rows)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be numbers (int or float), got values of dtype {arr.dtype}")
    return arr
