"""GDB remote stub for a Unicorn session: registers, memory, breakpoints, watchpoints, stepping, reverse execution.

`tessera emu run --gdb PORT [--gdb-wait]` listens on 127.0.0.1:PORT; `gdb-multiarch
fw.elf -ex 'target remote :PORT'` attaches. The stub speaks the GDB remote serial
protocol (acknowledged mode) with a target description (qXfer:features:read)
naming x0..x31, pc and the machine CSRs (mstatus, mie, mtvec, mscratch, mepc,
mcause, mtval at GDB's CSR numbers 65 + csr).

Execution is the session's own: `continue` is `Session.run()` with breakpoint
and watchpoint hooks installed, `stepi` is `Session.run(max_cycles=1)`, so
virtual time, device state, output and cycle counts are those of an undebugged
run (a breakpoint stops before its instruction, which then runs when resumed;
splitting a run does not change it). Breakpoints (Z0/Z1) are Unicorn code hooks
bounded to their address; watchpoints (Z2/Z3/Z4) are memory hooks bounded to
their range and stop after the accessing instruction. Ctrl-C from GDB stops the
core at the next slice boundary. Memory reads and writes of RAM, FLASH, SRAM
and DRAM go to the memories directly (no side effects, code caches dropped on
writes); MMIO addresses go through the bus as 32-bit accesses *with their side
effects* (reading UART DATA pops the RX FIFO, as on a board's debugger).

Reverse execution (`reverse-stepi`, `reverse-continue`): the stub keeps
in-memory snapshots (emulator.snapshot) taken at stops at least
`SNAPSHOT_SPACING` cycles apart, and logs host input with its cycle. Going back
restores the nearest snapshot before the target and replays to it
deterministically (logged input re-fed at its cycles); reverse-continue replays
each span with the hooks on to find the last breakpoint or watchpoint hit
before the current point. `reverse-stepi` goes back one cycle of virtual time
(one instruction, except across a WFI sleep, where it steps through the
sleeping cycles one by one). Output the host has already seen is not sent again.

`detach` lets the session run on undebugged; `kill` ends it (exit status 137).

Usage:
    stub = GdbStub(session, port=0); print(stub.port)
    info = stub.serve(until=1 << 62, wait=True)      # ExitInfo of the session's end
"""

from __future__ import annotations

import select
import signal
import socket

from unicorn import UC_HOOK_CODE, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE
from unicorn import riscv_const as R

from emulator.cpu import ExitInfo
from emulator.snapshot import apply, capture

LOCALHOST = "127.0.0.1"
GDB_BREAK = signal.SIGTRAP          # the stub's stop request to the session's run loop
SIGINT, SIGTRAP, SIGSEGV, SIGKILL = 2, 5, 11, 9
CTRL_C = 0x03
RECV_CHUNK = 4096
SNAPSHOT_SPACING = 2_000_000        # cycles between the snapshots reverse execution restores from
CSR_REGNUM_BASE = 65                # GDB's riscv numbering: CSR n is register 65 + n
CSRS = {"mstatus": 0x300, "mie": 0x304, "mtvec": 0x305, "mscratch": 0x340, "mepc": 0x341, "mcause": 0x342,
        "mtval": 0x343}
_CSR_BY_REGNUM = {CSR_REGNUM_BASE + n: name for name, n in CSRS.items()}
PC_REGNUM = 32
ABI = "zero ra sp gp tp t0 t1 t2 fp s1 a0 a1 a2 a3 a4 a5 a6 a7 s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 t3 t4 t5 t6".split()
EXIT_KILLED = 128 + SIGKILL


def target_xml() -> str:
    cpu = "".join(f'<reg name="{n}" bitsize="32" type="{"code_ptr" if n == "ra" else "data_ptr" if n == "sp" else "int"}" '
                  f'regnum="{i}"/>' for i, n in enumerate(ABI))
    cpu += f'<reg name="pc" bitsize="32" type="code_ptr" regnum="{PC_REGNUM}"/>'
    csr = "".join(f'<reg name="{n}" bitsize="32" type="int" regnum="{CSR_REGNUM_BASE + c}" group="csr"/>'
                  for n, c in CSRS.items())
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target version="1.0">'
            '<architecture>riscv:rv32</architecture>'
            f'<feature name="org.gnu.gdb.riscv.cpu">{cpu}</feature>'
            f'<feature name="org.gnu.gdb.riscv.csr">{csr}</feature></target>')


def _checksum(data: bytes) -> bytes:
    return b"%02x" % (sum(data) & 0xFF)


def _le32(v: int) -> str:
    return (v & 0xFFFF_FFFF).to_bytes(4, "little").hex()


class GdbStub:
    def __init__(self, session, port: int):
        from emulator.unicorn_core import UnicornCore
        if not isinstance(session.core, UnicornCore):
            raise ValueError("--gdb needs ELF firmware on the Unicorn core")
        self.session, self.core, self.uc = session, session.core, session.core.uc
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind((LOCALHOST, port))
        except OSError as exc:
            self.listener.close()
            raise OSError(f"--gdb {port}: cannot listen on {LOCALHOST}:{port}: {exc.strerror}") from None
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None
        self.buf = b""
        self.breakpoints: dict[int, object] = {}
        self.watchpoints: dict[tuple[int, int, int], object] = {}
        self.skip_once: int | None = None
        self.hit: tuple | None = None      # ("break", addr) or ("watch", kind, addr) of the last stop
        self.hooks_on = True
        self.interrupted = False
        self.finished: ExitInfo | None = None
        self.until = 1 << 62
        self.snapshots: list[tuple[int, int, bytes]] = []   # (cycle, input log position, state)
        self.pending: list[tuple[int, bytes]] = []           # logged input still to be re-fed after going back
        session.input_log = []
        session.watchers.append(self._watch)
        session.watch_fds.append(self.listener.fileno())

    # ------------------------------------------------------------ connection
    def _accept(self, block: bool) -> bool:
        if self.conn is not None:
            return True
        self.listener.setblocking(block)
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, OSError):
            return False
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = conn
        self.session.watch_fds.append(conn.fileno())
        return True

    def _watch(self) -> None:
        """Called between slices: a new debugger or a Ctrl-C stops the core."""
        if self.conn is None:
            if self._accept(False):
                self.interrupted = True
                self.session.request_stop(GDB_BREAK)
            return
        r, _, _ = select.select([self.conn], [], [], 0)
        if r:
            try:
                chunk = self.conn.recv(RECV_CHUNK)
            except OSError:
                chunk = b""
            if chunk:
                self.buf += chunk
            if not chunk or bytes([CTRL_C]) in self.buf:   # Ctrl-C (or GDB gone): stop and report
                self.buf = self.buf.replace(bytes([CTRL_C]), b"")
                self.interrupted = True
                self.session.request_stop(GDB_BREAK)

    def _drop_connection(self) -> None:
        if self.conn is not None:
            if self.conn.fileno() in self.session.watch_fds:
                self.session.watch_fds.remove(self.conn.fileno())
            self.conn.close()
            self.conn = None
        self.buf = b""

    def _read_packet(self) -> str | None:
        """The next packet's payload (acknowledged), 'CTRL-C' for an interrupt byte, None when GDB went away."""
        while True:
            while self.buf[:1] in (b"+", b"-"):
                self.buf = self.buf[1:]
            if self.buf[:1] == bytes([CTRL_C]):
                self.buf = self.buf[1:]
                return "CTRL-C"
            start = self.buf.find(b"$")
            end = self.buf.find(b"#", start + 1) if start >= 0 else -1
            if start >= 0 and end >= 0 and len(self.buf) >= end + 3:
                body = self.buf[start + 1:end]
                self.buf = self.buf[end + 3:]
                self.conn.sendall(b"+")
                return body.decode("latin-1")
            try:
                chunk = self.conn.recv(RECV_CHUNK)
            except OSError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk

    def _send(self, payload: str) -> None:
        data = payload.encode("latin-1")
        out = data.replace(b"}", b"}]").replace(b"#", b"}\x03").replace(b"$", b"}\x04").replace(b"*", b"}\x0a")
        try:
            self.conn.sendall(b"$" + out + b"#" + _checksum(out))
        except OSError:
            pass

    # ------------------------------------------------------------ main loop
    def serve(self, until: int, wait: bool) -> ExitInfo:
        """Run the session under the debugger until it ends; returns its ExitInfo."""
        self.until = until
        s = self.session
        if wait:
            while not self._accept(False):
                r, _, _ = select.select([self.listener, s._wake_r], [], [])
                if s._wake_r in r and s.stop_signal is not None:
                    return ExitInfo(128 + s.stop_signal, "signal", s.cycles, self.core.pc, f"stopped by signal {s.stop_signal}")
        else:
            info = self._resume()
            if info is not None:
                return info
        self._snapshot_here()      # GDB asks why the target stopped ("?") itself
        while True:
            info = self._command_loop()
            if info is not None:
                return info

    def _resume(self, max_cycles: int | None = None) -> ExitInfo | None:
        """Run (until a hit, an interrupt or the end); None when stopped for the debugger."""
        s = self.session
        self.hit = None
        self.interrupted = False
        while True:
            remaining = self.until - s.cycles
            n = remaining if max_cycles is None else min(max_cycles, remaining)
            info = self._advance(n)
            if info.reason == "signal" and s.stop_signal in (None, GDB_BREAK) and (self.hit or self.interrupted):
                s.stop_signal = None
                return None
            if info.reason == "signal" and s.stop_signal is None:
                continue
            if info.reason == "limit" and max_cycles is not None and s.cycles < self.until:
                return None   # a single step
            self.finished = info
            return info

    def _advance(self, n: int) -> ExitInfo:
        """Session.run for n cycles, re-feeding logged host input at its cycles after going back in time."""
        s = self.session
        end = s.cycles + n
        while self.pending and self.pending[0][0] < end:
            t, data = self.pending[0]
            if t > s.cycles:
                info = s.run(max_cycles=t - s.cycles)
                if info.reason != "limit" or s.cycles < t:
                    return info
            s.soc.uart.host_send(data)
            s.input_log.append((s.cycles, data))
            self.pending.pop(0)
        if not self.pending:
            s.live_input = True
        return s.run(max_cycles=end - s.cycles)

    def _snapshot_here(self) -> None:
        """A snapshot for reverse execution, when the last one is SNAPSHOT_SPACING cycles back or more."""
        s = self.session
        if self.pending or (self.snapshots and s.cycles - self.snapshots[-1][0] < SNAPSHOT_SPACING):
            return
        self.snapshots.append((s.cycles, len(s.input_log), capture(s)))

    def _stopped(self, info: ExitInfo | None) -> None:
        """Record a snapshot for reverse execution and tell GDB why the core stopped."""
        if info is None:
            self._snapshot_here()
        self._send(self._stop_reply(info))

    def _stop_reply(self, info: ExitInfo | None) -> str:
        if info is not None:
            if info.reason == "poweroff":
                return f"W{info.code & 0xFF:02x}"
            if info.reason == "limit":
                return "W00"
            return f"T{SIGSEGV if info.reason == 'fault' else SIGTRAP:02x}"
        if self.hit and self.hit[0] == "break":
            return f"T{SIGTRAP:02x}swbreak:;"
        if self.hit and self.hit[0] == "watch":
            kind = {2: "watch", 3: "rwatch", 4: "awatch"}[self.hit[1]]
            return f"T{SIGTRAP:02x}{kind}:{self.hit[2]:x};"
        if self.hit and self.hit[0] == "begin":
            return f"T{SIGTRAP:02x}replaylog:begin;"
        return f"T{SIGINT if self.interrupted else SIGTRAP:02x}"

    def _command_loop(self) -> ExitInfo | None:
        pkt = self._read_packet()
        if pkt is None:                 # GDB went away: run on undebugged
            return self._detach()
        if pkt == "CTRL-C":
            self._send(f"T{SIGINT:02x}")
            return None
        cmd = pkt[:1]
        if cmd in ("c", "s"):
            if self.finished is not None:
                self._send(self._stop_reply(self.finished) if self.finished.reason == "poweroff" else f"X{SIGKILL:02x}")
                return None
            if len(pkt) > 1:
                self.core.pc = int(pkt[1:], 16)
            self.skip_once = self.core.pc
            info = self._resume(1 if cmd == "s" else None)
            self._stopped(info)
            return None
        if pkt in ("bs", "bc"):
            self._reverse(step=pkt == "bs")
            return None
        if cmd == "D":
            self._send("OK")
            return self._detach()
        if cmd == "k" or pkt.startswith("vKill"):
            if pkt.startswith("vKill"):
                self._send("OK")
            self._drop_connection()
            s = self.session
            return ExitInfo(EXIT_KILLED, "signal", s.cycles, self.core.pc, "killed by the debugger")
        self._send(self._query(pkt))
        return None

    def _detach(self) -> ExitInfo:
        for h in list(self.breakpoints.values()) + list(self.watchpoints.values()):
            self.uc.hook_del(h)
        self.breakpoints.clear()
        self.watchpoints.clear()
        self._drop_connection()
        if self.session.watchers and self._watch in self.session.watchers:
            self.session.watchers.remove(self._watch)
        if self.listener.fileno() in self.session.watch_fds:
            self.session.watch_fds.remove(self.listener.fileno())
        if self.finished is not None:
            return self.finished
        info = self._advance(self.until - self.session.cycles)
        return info

    # ------------------------------------------------------------ packets
    def _query(self, pkt: str) -> str:
        c = pkt[:1]
        if pkt.startswith("qSupported"):
            return "PacketSize=4000;qXfer:features:read+;swbreak+;hwbreak+;ReverseStep+;ReverseContinue+"
        if pkt.startswith("qXfer:features:read:target.xml:"):
            off, length = (int(v, 16) for v in pkt.rsplit(":", 1)[1].split(","))
            xml = target_xml()
            part = xml[off:off + length]
            return ("m" if off + length < len(xml) else "l") + part
        if pkt == "?":
            return self._stop_reply(None)
        if pkt in ("qAttached",):
            return "1"
        if pkt.startswith("qfThreadInfo"):
            return "m1"
        if pkt.startswith("qsThreadInfo"):
            return "l"
        if pkt == "qC":
            return "QC1"
        if c == "H" or pkt.startswith("qSymbol") or pkt.startswith("T"):
            return "OK"
        if c == "g":
            return "".join(_le32(v) for v in self._regs()) + _le32(self.core.pc)
        if c == "G":
            data = bytes.fromhex(pkt[1:])
            for i in range(1, 32):
                self.uc.reg_write(R.UC_RISCV_REG_X0 + i, int.from_bytes(data[4 * i:4 * i + 4], "little"))
            if len(data) >= 4 * 33:
                self.core.pc = int.from_bytes(data[128:132], "little")
            return "OK"
        if c == "p":
            v = self._get_reg(int(pkt[1:], 16))
            return "E01" if v is None else _le32(v)
        if c == "P":
            num, val = pkt[1:].split("=")
            return "OK" if self._set_reg(int(num, 16), int.from_bytes(bytes.fromhex(val), "little")) else "E01"
        if c == "m":
            addr, length = (int(v, 16) for v in pkt[1:].split(","))
            data = self._read_mem(addr, length)
            return "E01" if data is None else data.hex()
        if c == "M":
            where, hexdata = pkt[1:].split(":")
            addr, _ = (int(v, 16) for v in where.split(","))
            return "OK" if self._write_mem(addr, bytes.fromhex(hexdata)) else "E01"
        if c in ("Z", "z"):
            return self._break_packet(pkt)
        return ""

    def _regs(self) -> list[int]:
        return [self.uc.reg_read(R.UC_RISCV_REG_X0 + i) for i in range(32)]

    def _get_reg(self, n: int) -> int | None:
        if n < 32:
            return self.uc.reg_read(R.UC_RISCV_REG_X0 + n)
        if n == PC_REGNUM:
            return self.core.pc
        name = _CSR_BY_REGNUM.get(n)
        return self.core.csr(name) if name else None

    def _set_reg(self, n: int, v: int) -> bool:
        from emulator.unicorn_core import _CSRS
        if 0 < n < 32:
            self.uc.reg_write(R.UC_RISCV_REG_X0 + n, v)
        elif n == 0:
            pass
        elif n == PC_REGNUM:
            self.core.pc = v
        elif n in _CSR_BY_REGNUM:
            self.uc.reg_write(_CSRS[_CSR_BY_REGNUM[n]], v)
        else:
            return False
        return True

    def _memory_at(self, addr: int, length: int):
        for name, (base, size) in self.session.machine.regions.items():
            if base <= addr and addr + length <= base + size:
                return self.session.soc.memories[name], addr - base
        return None

    def _read_mem(self, addr: int, length: int) -> bytes | None:
        where = self._memory_at(addr, length)
        if where is not None:
            mem, off = where
            return mem.buf[off:off + length].tobytes()
        out = b""
        bus = self.session.soc.bus
        for a in range(addr & ~3, addr + length, 4):   # MMIO: 32-bit bus reads, with their side effects
            try:
                out += bus.read(a, 4).to_bytes(4, "little")
            except Exception:
                return None
        return out[addr & 3:(addr & 3) + length]

    def _write_mem(self, addr: int, data: bytes) -> bool:
        where = self._memory_at(addr, len(data))
        if where is not None:
            mem, off = where
            mem.buf[off:off + len(data)] = memoryview(data)
            self.uc.ctl_remove_cache(addr, addr + len(data))
            return True
        if addr & 3 or len(data) % 4:
            return False
        try:
            for i in range(0, len(data), 4):
                self.session.soc.bus.write(addr + i, 4, int.from_bytes(data[i:i + 4], "little"))
        except Exception:
            return False
        return True

    # ------------------------------------------------------------ breakpoints and watchpoints
    def _break_packet(self, pkt: str) -> str:
        kind, addr, length = pkt[1], *(int(v, 16) for v in pkt[3:].split(";")[0].split(","))
        insert = pkt[0] == "Z"
        if kind in "01":
            if insert and addr not in self.breakpoints:
                self.breakpoints[addr] = self.uc.hook_add(UC_HOOK_CODE, self._on_break, begin=addr, end=addr)
                self.uc.ctl_remove_cache(addr, addr + 4)
            elif not insert and addr in self.breakpoints:
                self.uc.hook_del(self.breakpoints.pop(addr))
            return "OK"
        if kind in "234":
            key = (int(kind), addr, length)
            if insert and key not in self.watchpoints:
                types = {2: UC_HOOK_MEM_WRITE, 3: UC_HOOK_MEM_READ, 4: UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE}[int(kind)]
                self.watchpoints[key] = self.uc.hook_add(
                    types, lambda uc, access, a, size, value, _, k=int(kind): self._on_watch(k, a),
                    begin=addr, end=addr + length - 1)
            elif not insert and key in self.watchpoints:
                self.uc.hook_del(self.watchpoints.pop(key))
            return "OK"
        return ""

    def _on_break(self, uc, address, size, _) -> None:
        if not self.hooks_on:
            return
        if self.skip_once == address:
            self.skip_once = None
            return
        s = self.core.ic.s
        s.limit = s.count - 1           # not run: the instruction executes when the core is resumed
        self.hit = ("break", address)
        self.session.request_stop(GDB_BREAK)
        uc.emu_stop()

    def _on_watch(self, kind: int, address: int) -> None:
        if not self.hooks_on:
            return
        self.skip_once = None
        self.core.ic.stop_after_current()
        self.hit = ("watch", kind, address)
        self.session.request_stop(GDB_BREAK)

    # ------------------------------------------------------------ reverse execution
    def _goto(self, target: int) -> None:
        """Restore the nearest snapshot at or before `target` and replay to it (hooks off, logged input re-fed)."""
        s = self.session
        cycle, pos, state = max((sn for sn in self.snapshots if sn[0] <= target), key=lambda sn: sn[0])
        apply(s, state, "reverse execution")
        s.stop_signal = None
        self.finished = None
        self.pending = list(s.input_log[pos:])
        del s.input_log[pos:]
        s.live_input = not self.pending
        self.hooks_on = False
        try:
            if target > s.cycles:
                self._advance(target - s.cycles)
        finally:
            self.hooks_on = True
            s.stop_signal = None

    def _reverse(self, step: bool) -> None:
        s = self.session
        now = s.cycles
        first = self.snapshots[0][0] if self.snapshots else now
        if now <= first:
            self.hit = ("begin",)
            self._send(self._stop_reply(None))
            return
        if step:
            self._goto(now - 1)
            self.hit = None
            self.interrupted = False
            self._send(self._stop_reply(None))
            return
        target = self._last_hit_before(now)
        self._goto(first if target is None else target)
        self.hit = ("begin",) if target is None else self._last_kind
        self._send(self._stop_reply(None))

    def _last_hit_before(self, now: int) -> int | None:
        """The cycle of the last breakpoint or watchpoint stop before `now`, searching back span by span."""
        starts = sorted({sn[0] for sn in self.snapshots if sn[0] < now}, reverse=True)
        for start in starts:
            self._goto(start)
            hits = []
            s = self.session
            while s.cycles < now:
                self.skip_once = self.core.pc
                self.hit = None
                self.interrupted = False
                info = self._advance(now - s.cycles)
                if info.reason == "signal" and self.hit is not None:
                    s.stop_signal = None
                    if s.cycles < now:
                        hits.append((s.cycles, self.hit))
                    continue
                break
            if hits:
                self._last_kind = hits[-1][1]
                return hits[-1][0]
        return None

    def close(self) -> None:
        self._drop_connection()
        self.listener.close()
