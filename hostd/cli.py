"""`tessera hostd` (run the daemon) and `tessera ctl` (talk to it).

Usage:
    tessera hostd --device /dev/pts/4 [--api PATH] [--db PATH] [--queue-depth 256] [--job-timeout 30] [--max-attempts 3]
                  [--journal-sync normal|full]
    tessera ctl [--api PATH] ping | info | load MODEL.onnx [--calibration X.npy] | run MODEL_HASH --input X.npy
    tessera ctl jobs [--state done] | stats | reset | log | metrics | models | cancel JOB_ID
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import numpy as np

from hostd.daemon import (DEFAULT_JOB_TIMEOUT, DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE_DEPTH, Daemon, DaemonConfig,
                          default_api_path)


def register(subparsers) -> None:
    p = subparsers.add_parser("hostd", help="run the host daemon (serial device <-> local API)")
    p.add_argument("--device", required=True, help="pyserial URL of the device: a pty/tty path, socket://, rfc2217://")
    p.add_argument("--api", default=default_api_path(), help="Unix socket of the API (default: %(default)s)")
    p.add_argument("--db", default="", help="journal database (default: next to the socket)")
    p.add_argument("--queue-depth", type=int, default=DEFAULT_QUEUE_DEPTH)
    p.add_argument("--job-timeout", type=float, default=DEFAULT_JOB_TIMEOUT, help="seconds per device attempt")
    p.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS)
    p.add_argument("--link-timeout", type=float, default=2.0, help="seconds before a request is retransmitted")
    p.add_argument("--journal-sync", choices=("normal", "full"), default="normal",
                   help="SQLite synchronous mode: normal survives kill -9 of the daemon, full also a power loss "
                        "(an fsync per commit); default %(default)s")
    p.set_defaults(func=_run_daemon)

    c = subparsers.add_parser("ctl", help="talk to a running host daemon")
    c.add_argument("--api", default=default_api_path(), help="Unix socket of the API (default: %(default)s)")
    sub = c.add_subparsers(dest="ctl_command", metavar="COMMAND", required=True)
    sub.add_parser("ping", help="round trip to the device").set_defaults(func=_ctl(lambda cl, a: cl.ping()))
    sub.add_parser("info", help="device and daemon information").set_defaults(func=_ctl(lambda cl, a: cl.info()))
    ld = sub.add_parser("load", help="compile and register an ONNX model")
    ld.add_argument("model", type=Path)
    ld.add_argument("--calibration", type=Path, help=".npy rows for quantizing a float model")
    ld.add_argument("--name", default="")
    ld.add_argument("--max-rows", type=int)
    ld.set_defaults(func=_ctl(lambda cl, a: cl.load(a.model.read_bytes(), _npy(a.calibration), a.name or a.model.stem,
                                                    a.max_rows)))
    rn = sub.add_parser("run", help="run inputs through a model and wait for the result")
    rn.add_argument("model", help="model hash (from `ctl load`)")
    src = rn.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, help=".npy float rows")
    src.add_argument("--json", help="float rows as JSON, e.g. '[[0.1, 0.2]]'")
    rn.add_argument("--key", help="idempotency key")
    rn.add_argument("--timeout", type=float, default=120.0)
    rn.set_defaults(func=_ctl(lambda cl, a: cl.run(a.model, inputs=_npy(a.input) if a.input else json.loads(a.json),
                                                   idempotency_key=a.key, timeout=a.timeout)))
    jb = sub.add_parser("jobs", help="recent jobs")
    jb.add_argument("--state", choices=("queued", "running", "done", "failed"))
    jb.set_defaults(func=_ctl(lambda cl, a: cl.jobs(a.state)))
    sub.add_parser("stats", help="queue, link and device counters").set_defaults(func=_ctl(lambda cl, a: cl.stats()))
    sub.add_parser("reset", help="reset the device").set_defaults(func=_ctl(lambda cl, a: cl.reset()))
    sub.add_parser("log", help="the device's log ring").set_defaults(func=_ctl(lambda cl, a: cl.log()["text"]))
    sub.add_parser("metrics", help="Prometheus metrics").set_defaults(func=_ctl(lambda cl, a: cl.metrics()))
    sub.add_parser("models", help="registered models").set_defaults(func=_ctl(lambda cl, a: cl.models()))
    cn = sub.add_parser("cancel", help="cancel a queued job (DELETE /v1/jobs/ID)")
    cn.add_argument("job", help="job id")
    cn.set_defaults(func=_ctl(lambda cl, a: cl.request("DELETE", f"/v1/jobs/{a.job}")))


def _npy(path: Path | None):
    return None if path is None else np.load(path)


def _ctl(action):
    def run(args) -> int:
        from hostd.client import ApiError, Client
        client = Client(args.api)
        try:
            out = action(client, args)
        except ApiError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            print(f"error: cannot reach the daemon at {args.api}: {exc}", file=sys.stderr)
            return 1
        finally:
            client.close()
        print(out if isinstance(out, str) else json.dumps(out, indent=2))
        return 0
    return run


def _run_daemon(args) -> int:
    cfg = DaemonConfig(device=args.device, api=args.api, db=args.db, queue_depth=args.queue_depth,
                       job_timeout=args.job_timeout, max_attempts=args.max_attempts, link_timeout=args.link_timeout,
                       journal_sync=args.journal_sync.upper())
    print(f"tessera hostd: device {cfg.device}, API {cfg.api}, journal {cfg.db}", flush=True)
    try:
        asyncio.run(Daemon(cfg).serve_forever())
    except KeyboardInterrupt:
        pass
    return 0
