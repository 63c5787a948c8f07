"""Durable job and model journal in SQLite (WAL, synchronous=NORMAL by default): an accepted job survives a kill -9.

A job row is committed before the API answers 202, so anything a client was
told is accepted is finished after a restart. Durability is against process
death (kill -9, a crash): in WAL mode every commit is written to the WAL file
with write(2) before it returns, so the operating system holds it even when the
process dies the next instant. `synchronous=NORMAL` (the default) skips the
fsync per commit; a power loss or kernel crash may then lose the last commits
(the database itself stays consistent). `synchronous="FULL"` fsyncs the WAL on
every commit and also survives power loss, at about a disk flush per job.
After a restart `recover()` turns `running` rows back into `queued` ones (the device result of a half-run job was never
recorded, and runs are idempotent on the host side: a job id maps to one result
row, written once). Idempotency keys are unique; resubmitting a key returns the
existing job. Compiled model images are stored by hash so restarts need no
recompilation.

Safety: the journal is created mode 0600 in a directory that `check_private_dir`
accepts; a daemon opens it `exclusive=True` (a flock on `<path>.lock` for its
life, so a second daemon refuses with the holder's pid). Opening runs SQLite's
`quick_check`: a damaged file raises `JournalDamaged` (one line naming the
remedy, `tessera hostd --journal-repair`, hostd/journal_repair.py). Retention:
`prune(max_age_s, keep)` deletes finished jobs older than an age or beyond a
count, `checkpoint()` folds the WAL back into the database and truncates it.

Usage:
    j = Journal("/run/user/1000/tessera-hostd.db")                 # synchronous="FULL" for power-loss safety
    job, created = j.submit(job_id, client, key, request_hash, model, rows, input_bytes)
    j.start(job_id); j.finish(job_id, "done", result=..., record=...); j.recover() -> [queued rows]
    j.finish_many([(job_id, state, result, record, error, finished), ...])     # one commit for several outcomes
    Journal(path, exclusive=True)      # OwnershipError if another daemon holds it; JournalDamaged if corrupt
    j.prune(max_age_s=7 * 86400, keep=10000); j.checkpoint()
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time

from hostd.ownership import LockFile, check_private_dir

STATES = ("queued", "running", "done", "failed")
SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    hash TEXT PRIMARY KEY, name TEXT, image BLOB NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, client TEXT NOT NULL, idem_key TEXT UNIQUE, request_hash TEXT NOT NULL,
    model TEXT NOT NULL, rows INTEGER NOT NULL, input BLOB NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, result BLOB, record TEXT, error TEXT,
    created REAL NOT NULL, started REAL, finished REAL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);
"""
SYNC_MODES = ("NORMAL", "FULL")
DEFAULT_SYNC = "NORMAL"
JOURNAL_MODE = 0o600
FINISHED = ("done", "failed")
MODEL_COLUMNS = ("hash", "name", "image", "created")
JOB_COLUMNS = ("id", "client", "idem_key", "request_hash", "model", "rows", "input", "state", "attempts", "result",
               "record", "error", "created", "started", "finished", "seq")


class JournalDamaged(Exception):
    """The journal file fails SQLite's integrity check; the message is one line saying what to do."""


def repair_hint(path: str) -> str:
    return (f"run `tessera hostd --db {path} --journal-repair` to keep every readable job and model and set the "
            "damaged file aside")


class Journal:
    def __init__(self, path: str, synchronous: str = DEFAULT_SYNC, exclusive: bool = False):
        if synchronous.upper() not in SYNC_MODES:
            raise ValueError(f"journal synchronous mode {synchronous!r} is not one of {', '.join(SYNC_MODES)}")
        self.path, self.synchronous = path, synchronous.upper()
        check_private_dir(os.path.dirname(os.path.abspath(path)))
        self._owner = LockFile(path + ".lock", what=f"journal {path}",
                               hint="stop that daemon or choose another --db").acquire() if exclusive else None
        try:
            self._db = self._open()
        except BaseException:
            self.release()
            raise
        self._lock = threading.Lock()
        self._seq: int | None = None       # last job seq, read once (this process is the only writer)

    def _open(self) -> sqlite3.Connection:
        old = os.umask(0o777 & ~JOURNAL_MODE)           # the database, its WAL and shm: owner only from the start
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"PRAGMA synchronous={self.synchronous}")
                problems = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
                if problems != ["ok"]:
                    raise JournalDamaged(f"journal {self.path} is damaged ({problems[0]}); {repair_hint(self.path)}")
                db.executescript(SCHEMA)
            except sqlite3.DatabaseError as exc:
                db.close()
                raise JournalDamaged(f"journal {self.path} is damaged ({exc}); {repair_hint(self.path)}") from None
            except BaseException:
                db.close()
                raise
        finally:
            os.umask(old)
        for suffix in ("", "-wal", "-shm"):                 # a journal created by an older version (0644)
            try:
                os.chmod(self.path + suffix, JOURNAL_MODE)
            except FileNotFoundError:
                pass
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self.release()

    def release(self) -> None:
        """Drop the exclusive lock (close() does)."""
        if self._owner is not None:
            self._owner.release()
            self._owner = None

    def _row(self, row) -> dict | None:
        if row is None:
            return None
        job = dict(zip(JOB_COLUMNS, row))
        job["record"] = json.loads(job["record"]) if job["record"] else None
        return job

    # ------------------------------------------------------------ models
    def put_model(self, model_hash: str, name: str, image: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO models VALUES (?, ?, ?, ?)", (model_hash, name, image, time.time()))

    def model(self, model_hash: str) -> tuple[str, bytes] | None:
        with self._lock:
            row = self._db.execute("SELECT name, image FROM models WHERE hash = ?", (model_hash,)).fetchone()
        return row

    def models(self) -> list[tuple[str, str, bytes]]:
        with self._lock:
            return self._db.execute("SELECT hash, name, image FROM models ORDER BY created").fetchall()

    # ------------------------------------------------------------ jobs
    def submit(self, job_id: str, client: str, key: str | None, request_hash: str, model: str, rows: int,
               data: bytes) -> tuple[dict, bool]:
        """Insert a queued job (durably) or return the existing one for the key: (job, created)."""
        with self._lock:
            if key is not None:
                row = self._db.execute(f"SELECT {','.join(JOB_COLUMNS)} FROM jobs WHERE idem_key = ?", (key,)).fetchone()
                if row is not None:
                    return self._row(row), False
            if self._seq is None:
                self._seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()[0]
            self._seq += 1
            seq = self._seq
            created = time.time()
            self._db.execute("INSERT INTO jobs (id, client, idem_key, request_hash, model, rows, input, state, created, seq)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                             (job_id, client, key, request_hash, model, rows, data, created, seq))
        job = dict.fromkeys(JOB_COLUMNS)                 # the row as inserted, without reading it back
        job.update(id=job_id, client=client, idem_key=key, request_hash=request_hash, model=model, rows=rows,
                   input=data, state="queued", attempts=0, created=created, seq=seq)
        return job, True

    def has_key(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM jobs WHERE idem_key = ?", (key,)).fetchone() is not None

    def job(self, job_id: str) -> dict | None:
        with self._lock:
            return self._row(self._db.execute(f"SELECT {','.join(JOB_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def jobs(self, limit: int = 100, state: str | None = None) -> list[dict]:
        where, args = ("WHERE state = ?", (state, limit)) if state else ("", (limit,))
        with self._lock:
            rows = self._db.execute(f"SELECT {','.join(JOB_COLUMNS)} FROM jobs {where} ORDER BY seq DESC LIMIT ?",
                                    args).fetchall()
        return [self._row(r) for r in rows]

    def start(self, job_id: str) -> float:
        """Mark an attempt as running (the attempt count survives a restart); returns the start time."""
        started = time.time()
        with self._lock:
            self._db.execute("UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ? WHERE id = ?",
                             (started, job_id))
        return started

    def requeue(self, job_id: str, error: str) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET state = 'queued', error = ? WHERE id = ?", (error, job_id))

    def finish(self, job_id: str, state: str, result: bytes | None = None, record: dict | None = None,
               error: str | None = None, finished: float | None = None) -> float | None:
        """Write the outcome once: a job already finished keeps its first result. The finish time, None if it was."""
        finished = time.time() if finished is None else finished
        return finished if self.finish_many([(job_id, state, result, record, error, finished)]) else None

    def finish_many(self, outcomes: list[tuple]) -> int:
        """(job_id, state, result, record, error, finished) outcomes in one transaction; returns rows written."""
        rows = [(state, result, json.dumps(record) if record else None, error, finished, job_id)
                for job_id, state, result, record, error, finished in outcomes]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                written = sum(self._db.execute("UPDATE jobs SET state = ?, result = ?, record = ?, error = ?, "
                                               "finished = ? WHERE id = ? AND state NOT IN ('done', 'failed')",
                                               row).rowcount for row in rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return written

    def release_running(self) -> int:
        """Jobs left `running` (a stop while they ran) go back to `queued`; returns how many."""
        with self._lock:
            return self._db.execute("UPDATE jobs SET state = 'queued' WHERE state = 'running'").rowcount

    def fail_queued(self, job_id: str, error: str) -> None:
        """Fail a job that cannot run (e.g. a damaged row) with its reason."""
        self.finish(job_id, "failed", error=error)

    # ------------------------------------------------------------ retention
    def prune(self, max_age_s: float | None, keep: int | None, now: float | None = None) -> int:
        """Delete finished jobs finished more than `max_age_s` ago or beyond the `keep` most recent; returns how many.
        Queued and running jobs are never pruned."""
        now = time.time() if now is None else now
        deleted = 0
        with self._lock:
            if max_age_s is not None:
                deleted += self._db.execute("DELETE FROM jobs WHERE state IN ('done', 'failed') AND finished < ?",
                                            (now - max_age_s,)).rowcount
            if keep is not None:
                deleted += self._db.execute(
                    "DELETE FROM jobs WHERE state IN ('done', 'failed') AND seq NOT IN "
                    "(SELECT seq FROM jobs WHERE state IN ('done', 'failed') ORDER BY seq DESC LIMIT ?)",
                    (keep,)).rowcount
        return deleted

    def checkpoint(self) -> tuple[int, int, int]:
        """Copy the WAL into the database and truncate it: (busy, WAL frames, frames checkpointed)."""
        with self._lock:
            return tuple(self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]

    def recover(self) -> list[dict]:
        """After a restart: running -> queued, then every queued job in submission order."""
        with self._lock:
            self._db.execute("UPDATE jobs SET state = 'queued' WHERE state = 'running'")
            rows = self._db.execute(f"SELECT {','.join(JOB_COLUMNS)} FROM jobs WHERE state = 'queued' ORDER BY seq").fetchall()
        return [self._row(r) for r in rows]
