"""`tessera hostd` (run the daemon) and `tessera ctl` (talk to it).

Usage:
    tessera hostd --device /dev/pts/4 [--api PATH] [--db PATH] [--queue-depth 256] [--job-timeout 30] [--max-attempts 3]
                  [--journal-sync normal|full] [--max-job-rows 65536] [--keep-jobs 10000] [--keep-days 7]
                  [--max-body BYTES]
    tessera hostd --journal-repair [--db PATH]     # keep every readable job and model, set the damaged file aside
                  [--profile NAME|PATH.toml]      # profile TFLite models compile for (default: INFO's id)
    tessera ctl [--api PATH] ping | info | load MODEL.onnx|MODEL.tflite [--calibration X.npy] | run MODEL_HASH --input X.npy
    tessera ctl jobs [--state done] | stats | log | metrics | models | cancel JOB_ID
    tessera ctl --operator reset          # operations that affect every client need the operator token
A user mistake (a missing or malformed file, a refused request, no daemon) is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

import numpy as np

from asic_model.profiles import ProfileError
from hostd.api.operator import TokenError, operator_token_path
from hostd.api.server import MAX_BODY_BYTES, SocketInUse
from hostd.daemon import (DEFAULT_JOB_TIMEOUT, DEFAULT_KEEP_AGE, DEFAULT_KEEP_JOBS, DEFAULT_MAX_ATTEMPTS,
                          DEFAULT_MAX_JOB_ROWS, DEFAULT_QUEUE_DEPTH, Daemon, DaemonConfig, default_api_path)
from hostd.journal import JournalDamaged
from hostd.ownership import OwnershipError

SECONDS_PER_DAY = 86400.0
LOG_FORMAT = "tessera hostd: %(levelname)s: %(message)s"


def register(subparsers) -> None:
    p = subparsers.add_parser("hostd", help="run the host daemon (serial device <-> local API)")
    p.add_argument("--device", help="pyserial URL of the device: a pty/tty path, socket://, rfc2217:// (required to run)")
    p.add_argument("--api", default=default_api_path(), help="Unix socket of the API (default: %(default)s)")
    p.add_argument("--db", default="", help="journal database (default: next to the socket)")
    p.add_argument("--queue-depth", type=int, default=DEFAULT_QUEUE_DEPTH,
                   help="most jobs queued at once; 429 beyond (default %(default)s)")
    p.add_argument("--job-timeout", type=float, default=DEFAULT_JOB_TIMEOUT, help="seconds per device attempt")
    p.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS,
                   help="device attempts per job before it fails (default %(default)s)")
    p.add_argument("--link-timeout", type=float, default=2.0, help="seconds before a request is retransmitted")
    p.add_argument("--journal-sync", choices=("normal", "full"), default="normal",
                   help="SQLite synchronous mode: normal survives kill -9 of the daemon, full also a power loss "
                        "(an fsync per commit); default %(default)s")
    p.add_argument("--max-job-rows", type=int, default=DEFAULT_MAX_JOB_ROWS,
                   help="most rows one job may have (default %(default)s)")
    p.add_argument("--keep-jobs", type=int, default=DEFAULT_KEEP_JOBS,
                   help="finished jobs kept in the journal; older ones are pruned (default %(default)s)")
    p.add_argument("--keep-days", type=float, default=DEFAULT_KEEP_AGE / SECONDS_PER_DAY,
                   help="days a finished job is kept in the journal (default %(default)g)")
    p.add_argument("--journal-repair", action="store_true",
                   help="repair a damaged journal (--db, or the default): keep every readable job and model, move "
                        "the damaged file aside, then exit")
    p.add_argument("--max-body", type=int, default=MAX_BODY_BYTES,
                   help="largest request body in bytes (413 beyond; default %(default)s)")
    p.add_argument("--profile", default="",
                   help="profile TFLite models are compiled for: a builtin name or a .toml path (default: the builtin "
                        "whose id the device's INFO reports; needed for a custom profile file)")
    p.set_defaults(func=_run_daemon)

    c = subparsers.add_parser("ctl", help="talk to a running host daemon")
    c.add_argument("--api", default=default_api_path(), help="Unix socket of the API (default: %(default)s)")
    c.add_argument("--operator", action="store_true",
                   help="send the operator token (needed by reset), read from the token file next to the socket")
    sub = c.add_subparsers(dest="ctl_command", metavar="COMMAND", required=True)
    sub.add_parser("ping", help="round trip to the device").set_defaults(func=_ctl(lambda cl, a: cl.ping()))
    sub.add_parser("info", help="device and daemon information").set_defaults(func=_ctl(lambda cl, a: cl.info()))
    ld = sub.add_parser("load", help="compile and register a model: int8 TFLite (told by its 'TFL3' identifier) or "
                                     "ONNX (external .onnx.data weights are read from beside the file)")
    ld.add_argument("model", type=Path, help="the model file (.tflite or .onnx)")
    ld.add_argument("--calibration", type=Path, help=".npy rows for quantizing a float ONNX model")
    ld.add_argument("--name", default="", help="a name to list the model by")
    ld.add_argument("--max-rows", type=int, help="largest rows per device run (default: the daemon's)")
    ld.set_defaults(func=_ctl(_load))
    rn = sub.add_parser("run", help="run inputs through a model and wait for the result")
    rn.add_argument("model", help="model hash (from `ctl load`)")
    src = rn.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, help=".npy float rows")
    src.add_argument("--json", help="float rows as JSON, e.g. '[[0.1, 0.2]]'")
    rn.add_argument("--key", help="idempotency key")
    rn.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the job (default %(default)s)")
    rn.set_defaults(func=_ctl(lambda cl, a: cl.run(a.model, inputs=_npy(a.input, "--input") if a.input
                                                   else _json_rows(a.json), idempotency_key=a.key,
                                                   timeout=a.timeout)))
    jb = sub.add_parser("jobs", help="recent jobs")
    jb.add_argument("--state", choices=("queued", "running", "done", "failed"), help="only jobs in this state")
    jb.set_defaults(func=_ctl(lambda cl, a: cl.jobs(a.state)))
    sub.add_parser("stats", help="queue, link and device counters").set_defaults(func=_ctl(lambda cl, a: cl.stats()))
    sub.add_parser("reset", help="reset the device (needs --operator)").set_defaults(
        func=_ctl(lambda cl, a: cl.reset()))
    sub.add_parser("log", help="the device's log ring").set_defaults(func=_ctl(lambda cl, a: cl.log()["text"]))
    sub.add_parser("metrics", help="Prometheus metrics").set_defaults(func=_ctl(lambda cl, a: cl.metrics()))
    sub.add_parser("models", help="registered models").set_defaults(func=_ctl(lambda cl, a: cl.models()))
    cn = sub.add_parser("cancel", help="cancel a queued job (DELETE /v1/jobs/ID)")
    cn.add_argument("job", help="job id")
    cn.set_defaults(func=_ctl(lambda cl, a: cl.cancel(a.job)))


class UsageError(Exception):
    """A mistake in what the user gave `tessera ctl` (a file, a value): one line on stderr, exit status 1."""


def _load(cl, a):
    from hostd.client import is_tflite, read_onnx
    name = a.name or a.model.stem
    data = _read(a.model)
    if is_tflite(data):
        if a.calibration is not None:
            raise UsageError(f"--calibration applies to ONNX models only; {a.model} is a TFLite model")
        return cl.load_tflite(data, name, a.max_rows)
    try:
        data = read_onnx(a.model)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{a.model}: {exc}") from None
    return cl.load(data, _npy(a.calibration, "--calibration"), name, a.max_rows)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _npy(path: Path | None, option: str):
    """Rows of numbers from a .npy file (no pickles, no strings)."""
    if path is None:
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{option} {path} is not a .npy array of numbers: {exc}") from None
    if not isinstance(arr, np.ndarray):
        raise UsageError(f"{option} {path} is a .npz archive; give one .npy array")
    if arr.dtype.kind not in "iuf":
        raise UsageError(f"{option} {path} holds values of dtype {arr.dtype}; it must hold numbers (int or float)")
    return arr


def _json_rows(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--json is not valid JSON: {exc}") from None


def _ctl(action):
    def run(args) -> int:
        from hostd.client import ApiError, Client, TokenError
        client = None
        try:
            client = Client(args.api, operator=args.operator)
            out = action(client, args)
        except (UsageError, TokenError, ApiError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except ValueError as exc:                      # rows the client refuses to send (strings, ragged lists)
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:                         # no socket, refused, not ours, timed out, connection lost
            print(f"error: cannot reach the daemon at {args.api}: {exc.strerror or exc} "
                  "(is `tessera hostd` running?)", file=sys.stderr)
            return 1
        finally:
            if client is not None:
                client.close()
        print(out if isinstance(out, str) else json.dumps(out, indent=2))
        return 0
    return run


def _run_daemon(args) -> int:
    """Run the daemon until SIGTERM/SIGINT (exit 0); a refusal to start is one line on stderr (exit 1)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    try:
        if args.journal_repair:
            return _repair(args)
        if not args.device:
            print("tessera hostd: error: --device is required", file=sys.stderr)
            return 2
        cfg = DaemonConfig(device=args.device, api=args.api, db=args.db, queue_depth=args.queue_depth,
                           job_timeout=args.job_timeout, max_attempts=args.max_attempts,
                           link_timeout=args.link_timeout, journal_sync=args.journal_sync.upper(),
                           max_job_rows=args.max_job_rows, keep_jobs=args.keep_jobs,
                           keep_age=args.keep_days * SECONDS_PER_DAY, max_body=args.max_body,
                           profile=args.profile)
        daemon = Daemon(cfg)
        print(f"tessera hostd: device {cfg.device}, API {cfg.api}, journal {cfg.db}, "
              f"operator token {operator_token_path(cfg.api)}", flush=True)
        asyncio.run(daemon.serve_forever())
    except (OwnershipError, JournalDamaged, FileNotFoundError, SocketInUse, TokenError, ProfileError) as exc:
        print(f"tessera hostd: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:                          # SIGINT before the daemon's own handler was installed
        pass
    return 0


def _repair(args) -> int:
    from hostd.journal_repair import repair_journal
    db = args.db or DaemonConfig(device="", api=args.api).db
    print(f"tessera hostd: {repair_journal(db).summary()}")
    return 0
