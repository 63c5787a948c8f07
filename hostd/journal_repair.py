"""Repair a damaged journal: keep every readable job and model, quarantine the rest (`tessera hostd --journal-repair`).

The damaged database (with its -wal and -shm files) is moved aside to `<path>.damaged-<UTC time>` untouched, so
nothing is destroyed; rows are read from a scratch copy of it, table by table: a full scan first, and where the
scan breaks on a damaged page, row by row (by rowid) up to the highest rowid the table reports. Every row that can
be read and has a valid state goes into a fresh journal at `<path>`; the rest stay only in the quarantined copy.
Jobs that were `running` come back `queued`, as after any restart.

Usage:
    report = repair_journal("/run/user/1000/tessera/hostd.db")
    print(report.summary())   # "journal ...: kept 2 models and 117 jobs, 3 unreadable rows; damaged file moved to ..."
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass

from hostd.journal import JOB_COLUMNS, MODEL_COLUMNS, STATES, Journal
from hostd.ownership import LockFile

SIDE_FILES = ("", "-wal", "-shm")
PROBE_SPAN = 100_000           # rowids probed past the last readable one when a table cannot say its highest rowid


@dataclass
class RepairReport:
    path: str
    quarantine: str
    models: int = 0
    jobs: int = 0
    unreadable: int = 0

    def summary(self) -> str:
        return (f"journal {self.path}: kept {self.models} models and {self.jobs} jobs, {self.unreadable} unreadable "
                f"rows; damaged file moved to {self.quarantine}")


def repair_journal(path: str) -> RepairReport:
    if not os.path.exists(path):
        raise FileNotFoundError(f"journal {path} does not exist")
    owner = LockFile(path + ".lock", what=f"journal {path}", hint="stop that daemon before repairing").acquire()
    try:
        return _repair(path)
    finally:
        owner.release()


def _repair(path: str) -> RepairReport:
    quarantine = f"{path}.damaged-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    scratch = quarantine + ".scratch"
    for suffix in SIDE_FILES:
        if os.path.exists(path + suffix):
            os.replace(path + suffix, quarantine + suffix)
            shutil.copyfile(quarantine + suffix, scratch + suffix)
    report = RepairReport(path, quarantine)
    try:
        src = sqlite3.connect(scratch, isolation_level=None)
        try:
            models, lost_m = _salvage(src, "models", MODEL_COLUMNS)
            jobs, lost_j = _salvage(src, "jobs", JOB_COLUMNS)
        finally:
            src.close()
    finally:
        for suffix in SIDE_FILES:
            if os.path.exists(scratch + suffix):
                os.unlink(scratch + suffix)
    bad_jobs = [j for j in jobs if j[JOB_COLUMNS.index("state")] not in STATES]
    jobs = [j for j in jobs if j[JOB_COLUMNS.index("state")] in STATES]
    report.unreadable = lost_m + lost_j + len(bad_jobs)
    fresh = Journal(path)
    try:
        with fresh._lock:
            db = fresh._db
            db.execute("BEGIN")
            report.models = sum(db.execute(f"INSERT OR IGNORE INTO models ({','.join(MODEL_COLUMNS)}) "
                                           f"VALUES ({','.join('?' * len(MODEL_COLUMNS))})", m).rowcount
                                for m in models)
            report.jobs = sum(db.execute(f"INSERT OR IGNORE INTO jobs ({','.join(JOB_COLUMNS)}) "
                                         f"VALUES ({','.join('?' * len(JOB_COLUMNS))})", j).rowcount for j in jobs)
            db.execute("COMMIT")
        fresh.release_running()
    finally:
        fresh.close()
    return report


def _salvage(db: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> tuple[list[tuple], int]:
    """Readable rows of `table` and how many rowids could not be read."""
    cols = ",".join(columns)
    rows, last = [], 0
    try:
        for row in db.execute(f"SELECT rowid, {cols} FROM {table} ORDER BY rowid"):
            rows.append(row[1:])
            last = row[0]
        return rows, 0
    except sqlite3.DatabaseError:
        pass
    try:
        top, known = db.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or last, True
    except sqlite3.DatabaseError:
        top, known = last + PROBE_SPAN, False
    lost = 0
    for rowid in range(last + 1, top + 1):
        try:
            row = db.execute(f"SELECT {cols} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            lost += 1
            continue
        if row is not None:
            rows.append(row)
    return rows, lost if known else 1              # extent unknown: at least one row was lost
