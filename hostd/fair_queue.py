"""The daemon's fair queue: per-client FIFOs served round robin, one turn of at most a slice of rows each.

Device time is shared by rows, not by jobs: the worker runs a job in slices of at most `slice_rows` rows, or one
device chunk of the model's `max_rows` when that is larger (`slice_rows_for`), and puts an unfinished job back at the head of its client's FIFO with `put_front`, its client
at the back of the round. So a 1500-row job of one client delays another client's 1-row job by one slice, not by
the whole job. `depth` bounds the queued jobs (recovered and resumed jobs may exceed it).

Usage:
    q = FairQueue(depth=256); q.put("client-a", job)
    job = await q.get()                 # next client's next job
    q.put_front("client-a", job)        # the rest of its rows on a later turn
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque

DEFAULT_SLICE_ROWS = 64        # rows one client may run per turn (a large job is resumed on its next turn)


class QueueFull(Exception):
    pass


def slice_rows_for(max_rows: int, slice_rows: int = DEFAULT_SLICE_ROWS) -> int:
    """Rows per turn for a model: the most whole device chunks (`max_rows` rows each, the unit the device runs
    without interruption) within `slice_rows`, at least one chunk. A model's chunks are never split: a job runs
    the same device jobs as without slicing, and a turn lasts at most max(slice_rows, max_rows) rows."""
    return max(1, slice_rows // max_rows) * max_rows


class FairQueue:
    """Per-client FIFOs served round robin; `depth` bounds the total (recovered jobs may exceed it)."""

    def __init__(self, depth: int):
        self.depth = depth
        self._queues: OrderedDict[str, deque] = OrderedDict()
        self._ready = asyncio.Event()
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def put(self, client: str, item, force: bool = False) -> None:
        if self._len >= self.depth and not force:
            raise QueueFull(f"queue full: {self._len} jobs queued (limit {self.depth}); retry later")
        self._queues.setdefault(client, deque()).append(item)
        self._len += 1
        self._ready.set()

    def put_front(self, client: str, item) -> None:
        """A job resumed on its client's next turn (ahead of that client's other jobs; other clients go first)."""
        q = self._queues.pop(client, deque())
        q.appendleft(item)
        self._queues[client] = q                          # back of the round
        self._len += 1
        self._ready.set()

    async def get(self):
        while not self._len:
            self._ready.clear()
            await self._ready.wait()
        client, q = next(iter(self._queues.items()))
        item = q.popleft()
        del self._queues[client]
        if q:
            self._queues[client] = q                    # back of the round
        self._len -= 1
        return item

    def remove(self, item) -> None:
        """Take one queued item out (a cancelled job)."""
        for client, q in list(self._queues.items()):
            at = next((i for i, queued in enumerate(q) if queued is item), None)
            if at is not None:
                del q[at]
                self._len -= 1
                if not q:
                    del self._queues[client]
                return
        raise KeyError("not queued")

    def items(self) -> list:
        return [item for q in self._queues.values() for item in q]
