"""The one error type of the daemon's HTTP API: a status, a stable error code and an exact reason.

Every refused request is answered `{"error": CODE, "reason": TEXT}` (docs/hostd-api.md, "Errors"); handlers and the
Daemon methods they call raise `HttpError`, the server turns it into that answer.

Usage:
    raise HttpError(404, "unknown_job", f"no job {job_id!r}")
"""

from __future__ import annotations


class HttpError(Exception):
    def __init__(self, status: int, error: str, reason: str):
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason

    def body(self) -> dict:
        return {"error": self.error, "reason": self.reason}
