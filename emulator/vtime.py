"""Virtual time: the SoC clock in control-core cycles and exact conversion to other clock domains.

Virtual time only moves when the emulator says so (one cycle per executed
instruction, or a WFI fast-forward), so a run is repeatable. The emulator's own
devices read `clock.now` when they need the time (MTIME, watchdog count) and
keep absolute deadlines; a `ClockDomain` converts core cycles to another clock
(the accelerator's) exactly with integer arithmetic: after `c` core cycles the
other domain has seen floor(c * other_hz / core_hz) cycles, so no remainder is
ever lost.

Usage:
    clock = Clock(100_000_000)
    acc = ClockDomain(clock, 800_000_000)
    clock.now += 1000; acc.due()          # accelerator cycles owed since last sync
    acc.core_cycles_until(acc_cycles)     # core cycles until that many more accel cycles elapse
"""

from __future__ import annotations


class Clock:
    """The control core's cycle counter: virtual time of the whole SoC."""

    __slots__ = ("hz", "now")

    def __init__(self, hz: int):
        self.hz = hz
        self.now = 0

    def seconds(self, cycles: int | None = None) -> float:
        return (self.now if cycles is None else cycles) / self.hz

    def cycles_for(self, numerator: int, denominator: int) -> int:
        """Core cycles (rounded up) for numerator/denominator seconds, e.g. bits/baud."""
        return max(1, -(-numerator * self.hz // denominator))


class ClockDomain:
    """Another clock driven by the core clock, converted exactly (floor, remainder carried)."""

    __slots__ = ("clock", "hz", "synced")

    def __init__(self, clock: Clock, hz: int):
        self.clock, self.hz = clock, hz
        self.synced = 0  # cycles of this domain already handed out

    def target(self, core_cycles: int) -> int:
        return core_cycles * self.hz // self.clock.hz

    def due(self) -> int:
        """Cycles of this domain elapsed since the last call (marks them handed out)."""
        t = self.target(self.clock.now)
        d, self.synced = t - self.synced, t
        return d

    def core_cycles_until(self, cycles: int) -> int:
        """Core cycles from now until this domain has advanced `cycles` past its synced count."""
        goal = self.synced + cycles
        c = -(-goal * self.clock.hz // self.hz)  # smallest c with target(c) >= goal
        return max(0, c - self.clock.now)
