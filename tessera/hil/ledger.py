"""Job accounting for the fault-injection suite: every job submitted is completed exactly once, bit-exactly.

Each job carries an idempotency key; the ledger remembers every job id the
daemon answered per key, resubmits keys after a daemon crash, waits for all of
them and checks every output against compiler/reference_exec (bit-exact). The
report counts jobs submitted, completed (done with the right output), lost (no
final state, failed, or a wrong output) and duplicated (a key answered by more
than one job id, or, over a stretch without device reset, more device jobs done
than jobs completed).

Usage:
    led = Ledger(lambda: daemon.client(), model_hash, compiled_model, x_rows, prefix="ecc")
    led.submit_all(); led.wait_all(timeout=60)
    report = led.report("ECC error", device_jobs_done=delta_or_None)   # {"submitted", "completed", "lost", ...}
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from compiler.reference_exec import run_image

RETRY_PAUSE = 0.2              # seconds between attempts to reach a restarting daemon


class Ledger:
    def __init__(self, client_factory, model: str, cm, x: np.ndarray, prefix: str):
        self.client_factory, self.model, self.prefix = client_factory, model, prefix
        self.x = np.asarray(x, np.float32)
        q = cm.quantize_input(self.x)
        self.expected = [run_image(cm.image, q[i:i + 1])[0] for i in range(len(q))]
        self.ids: dict[int, set[str]] = defaultdict(set)
        self.final: dict[int, dict] = {}
        self.client = client_factory()

    def key(self, i: int) -> str:
        return f"{self.prefix}-{i}"

    def _call(self, fn, deadline: float):
        """Call fn(client); on a connection error (daemon restarting) reconnect and retry until the deadline."""
        while True:
            try:
                return fn(self.client)
            except (OSError, ConnectionError) as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"daemon unreachable: {exc}") from exc
                self.client.close()
                time.sleep(RETRY_PAUSE)
                self.client = self.client_factory()

    def submit(self, i: int, timeout: float = 30.0) -> dict:
        job = self._call(lambda c: c.submit(self.model, inputs=self.x[i:i + 1], idempotency_key=self.key(i)),
                         time.monotonic() + timeout)
        self.ids[i].add(job["id"])
        return job

    def submit_all(self, indices=None) -> None:
        for i in (range(len(self.x)) if indices is None else indices):
            self.submit(i)

    def resubmit_all(self) -> None:
        """After a daemon crash: the same keys again (the journal must answer with the same jobs)."""
        self.submit_all(list(self.ids))

    def wait_all(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for i in sorted(self.ids):
            job_id = sorted(self.ids[i])[0]
            while time.monotonic() < deadline:
                job = self._call(lambda c: c.job(job_id, wait=min(5.0, max(0.01, deadline - time.monotonic()))),
                                 deadline)
                if job["state"] in ("done", "failed"):
                    self.final[i] = job
                    break

    def report(self, scenario: str, device_jobs_done: int | None = None, **detail) -> dict:
        completed = wrong = failed = retried = 0
        for i in self.ids:
            job = self.final.get(i)
            if job is None:
                continue
            if job["state"] == "failed":
                failed += 1
                detail.setdefault("first_error", job.get("error"))
                continue
            retried += job["attempts"] > 1
            if np.array_equal(np.asarray(job["outputs_int8"][0], np.int8), self.expected[i]):
                completed += 1
            else:
                wrong += 1
        duplicated = sum(len(v) - 1 for v in self.ids.values())
        if device_jobs_done is not None:
            device_jobs = sum(j["device"]["device_jobs"] for j in self.final.values() if j["state"] == "done")
            duplicated += max(0, device_jobs_done - device_jobs)
            detail["device_jobs_done"] = device_jobs_done
        submitted = len(self.ids)
        detail.update(failed=failed, wrong=wrong)
        return {"scenario": scenario, "submitted": submitted, "completed": completed,
                "lost": submitted - completed, "duplicated": duplicated, "retried": retried, "detail": detail}

    def close(self) -> None:
        self.client.close()
