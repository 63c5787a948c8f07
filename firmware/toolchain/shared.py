"""Ownership of state shared with the trap handler: the checker's data-race rule.

A place is a module variable, a record field of a module-level record, or a
module-level array (or an array field). Every place the trap handler's call
tree writes is *shared*. Code that can run with interrupts enabled (main's call
tree and the panic hook's, outside critical sections) may touch a shared place
only
- inside `with critical():`, or between `interrupts_disable()` and
  `interrupts_enable()` in the same function (a critical section), or in a
  function that is only ever called from critical sections; or
- when the place is declared atomic (`count: atomic(u32) = 0`, a record field
  `head: atomic(u32)`, `array(atomic(u8), N)`), by single reads and single
  writes: a statement that reads and writes the same atomic place
  (`count += 1`, `count = count + 1`) is a read-modify-write, which an interrupt
  between the read and the write breaks, so it needs a critical section too.
Anything else is a located FirmwareError that says what to write instead
(docs/firmware-language.md, "Interrupts and shared state"). Interrupts do not
nest, so the handler's own accesses are never racy. Records and arrays passed
by reference stand for every module-level place of their type (conservative).

Usage:
    from firmware.toolchain.shared import check_shared
    check_shared(prog)      # called by checker.check_program; raises FirmwareError
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from firmware.toolchain.types import ArrayType, RecordType, RefType, error_at, tname


@dataclass(frozen=True, eq=False)
class _Access:
    place: tuple          # (Global, field name or None)
    node: ast.AST
    kind: str             # "read" | "write" | "rmw"
    masked: bool


@dataclass
class _FuncFacts:
    accesses: list = field(default_factory=list)
    calls: list = field(default_factory=list)      # [(callee Func, masked)]


class _Walker:
    """Collects one function's accesses to module-level places and its call sites, with the interrupt mask state."""

    def __init__(self, prog, exits: dict, record: bool = True):
        self.prog, self.facts, self.record, self.exits = prog, _FuncFacts(), record, exits
        self.pending: list = []      # callees of the current statement, in order

    def exit_state(self, fn, entry: bool) -> bool:
        """Whether interrupts are masked when `fn` returns, called with them masked (True) or not."""
        key = (fn, entry)
        if key not in self.exits:
            self.exits[key] = _Walker(self.prog, self.exits, record=False).block(_body(fn), entry)
        return self.exits[key]

    # -------------------------------------------------------------- places
    def places_of_base(self, base) -> list:
        """The module-level places an array or record expression can denote."""
        if isinstance(base, ast.Name):
            sym = getattr(base, "_sym", None)
            if sym == "local":   # a parameter passed by reference: every module-level place of its type
                return self._by_type(base._ty)
            if sym is not None and hasattr(sym, "kind"):
                return [(sym, None)]
            return []
        if isinstance(base, ast.Attribute) and isinstance(base.value._ty, RecordType):
            return [(g, base.attr) for g, _ in self.places_of_base(base.value)]
        return []

    def _by_type(self, t) -> list:
        out = []
        for g in self.prog.globals:
            if isinstance(t, RecordType) and g.kind == "record" and g.ty is t:
                out.append((g, None))
            elif isinstance(t, ArrayType):
                if g.kind == "array" and (g.ty.elem, g.ty.n) == (t.elem, t.n):
                    out.append((g, None))
                elif g.kind == "record":
                    out += [(g, f) for f, ft in g.ty.fields.items()
                            if isinstance(ft, ArrayType) and (ft.elem, ft.n) == (t.elem, t.n)]
        return out

    def target_places(self, tgt) -> list:
        if isinstance(tgt, ast.Name):
            g = getattr(tgt, "_sym", None)
            return [(g, None)] if getattr(g, "kind", None) == "var" else []
        if isinstance(tgt, ast.Subscript):
            return self.places_of_base(tgt.value)
        if isinstance(tgt, ast.Attribute):
            return self.places_of_base(tgt)
        return []

    # -------------------------------------------------------------- expressions
    def reads(self, n, masked: bool, out: list) -> None:
        """Append (place, node) for every module-level place `n` reads; record call sites."""
        if n is None or (getattr(n, "_cv", None) is not None and not isinstance(getattr(n, "_ty", None), RefType)):
            return
        if isinstance(n, ast.Name):
            g = getattr(n, "_sym", None)
            if getattr(g, "kind", None) == "var":
                out.append(((g, None), n))
            return
        if isinstance(n, ast.Subscript):
            out += [(p, n) for p in self.places_of_base(n.value)]
            self.reads(n.slice, masked, out)
            return
        if isinstance(n, ast.Attribute):
            if isinstance(getattr(n.value, "_ty", None), RecordType) and not isinstance(n._ty, ArrayType):
                out += [(p, n) for p in self.places_of_base(n)]
            return
        if isinstance(n, ast.Call):
            if getattr(n, "_kind", None) == "func":
                self.pending.append(n._target)
                if self.record:
                    self.facts.calls.append((n._target, masked))
            for a in n.args:
                if not isinstance(getattr(a, "_ty", None), (ArrayType, RecordType)):
                    self.reads(a, masked, out)
            return
        for child in ast.iter_child_nodes(n):
            if isinstance(child, ast.expr):
                self.reads(child, masked, out)

    # -------------------------------------------------------------- statements
    def block(self, stmts, masked: bool) -> bool:
        for s in stmts:
            masked = self.stmt(s, masked)
        return masked

    def loop_body(self, body, masked: bool) -> bool:
        """A loop body runs from the entry state and from its own end state: record it from the meet of both."""
        saved, self.record = self.record, False
        end = self.block(body, masked)
        self.record = saved
        entry = masked and end
        end = self.block(body, entry)
        return entry and end

    def stmt(self, s, masked: bool) -> bool:
        if isinstance(s, ast.If):
            if hasattr(s, "_taken"):
                return self.block(s.body if s._taken else s.orelse, masked)
            masked = self.simple(s, [s.test], [], masked)
            return self.block(s.body, masked) & self.block(s.orelse, masked)
        if isinstance(s, ast.While):
            if getattr(s, "_taken", True) is False:
                return masked
            masked = self.simple(s, [s.test], [], masked)
            return self.loop_body(s.body, masked)
        if isinstance(s, ast.For):
            if hasattr(s, "_unrolled"):
                for body in s._unrolled:
                    masked = self.block(body, masked)
                return masked
            masked = self.simple(s, [s.iter], [], masked)
            if hasattr(s, "_array") and self.record:   # `for x in buf` reads an element at each iteration
                saved, self.record = self.record, False
                head = masked and self.block(s.body, masked)
                self.record = saved
                self.facts.accesses += [_Access(p, s.iter, "read", head) for p in self.places_of_base(s.iter)]
            return self.loop_body(s.body, masked)
        if isinstance(s, ast.With):
            self.block(s.body, True)
            return masked
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call):
            kind = getattr(s.value, "_kind", None)
            if kind == "interrupts_disable":
                return True
            if kind == "interrupts_enable":
                return False
            return self.simple(s, [s.value], [], masked)
        if isinstance(s, (ast.Assign, ast.AnnAssign)):
            tgt = s.targets[0] if isinstance(s, ast.Assign) else s.target
            return self.simple(s, [s.value] + _index_exprs(tgt), self.target_places(tgt), masked, tgt)
        if isinstance(s, ast.AugAssign):
            places = self.target_places(s.target)
            return self.simple(s, [s.value] + _index_exprs(s.target), places, masked, s.target, rmw=places)
        if isinstance(s, ast.Return):
            return self.simple(s, [s.value], [], masked)
        return masked

    def simple(self, s, exprs, written, masked, tgt=None, rmw=()) -> bool:
        """Record the accesses of one statement; returns the mask state after its calls."""
        reads: list = []
        self.pending = []
        for e in exprs:
            self.reads(e, masked, reads)
        after = masked
        for callee in self.pending:   # a callee may enable or disable interrupts (boot() ends with interrupts_enable())
            after = self.exit_state(callee, after)
        if not self.record:
            return after
        wset = {_key(p) for p in written}
        rset = {_key(p) for p, _ in reads} | {_key(p) for p in rmw}
        for place in written:   # first, so a read-modify-write is reported at its target
            kind = "rmw" if _key(place) in rset else "write"
            self.facts.accesses.append(_Access(place, tgt if tgt is not None else s, kind, masked))
        for place, node in reads:
            kind = "rmw" if _key(place) in wset else "read"
            self.facts.accesses.append(_Access(place, node, kind, masked))
        return after


def _key(place) -> tuple:
    return (id(place[0]), place[1])


def _index_exprs(tgt) -> list:
    """The expressions evaluated to locate an assignment target (its index)."""
    if isinstance(tgt, ast.Subscript):
        return [tgt.slice]
    return []


def _name(place) -> str:
    g, f = place
    return g.name if f is None else f"{g.name}.{f}"


def _is_atomic(place) -> bool:
    g, f = place
    return g.atomic if f is None else f in g.ty.atomic


def _declare_atomic(place) -> str:
    g, f = place
    if f is None:
        if g.kind == "array":
            return f"`{g.name} = array(atomic({g.ty.elem.name}), {g.ty.n})`"
        return f"`{g.name}: atomic({tname(g.ty)})`"
    ft = g.ty.fields[f]
    decl = f"array(atomic({ft.elem.name}), {ft.n})" if isinstance(ft, ArrayType) else f"atomic({tname(ft)})"
    return f"the field `{f}: {decl}` in record {g.ty.name}"


def check_shared(prog, collect: list | None = None) -> None:
    """Reject every access to a place the trap handler writes that can race with it (rule in the docstring).

    With `collect`, append every violation's FirmwareError to it instead of raising the first."""
    if prog.trap_handler is None:
        return
    from firmware.toolchain.checker import reachable
    facts, exits = {}, {}
    for fn in prog.funcs:
        w = _Walker(prog, exits)
        w.block(_body(fn), fn is prog.main)   # main starts as the core resets: mstatus.MIE clear
        facts[fn] = w.facts
    writer: dict = {}
    for fn in reachable(prog.trap_handler):
        for a in facts[fn].accesses:
            if a.kind != "read":
                writer.setdefault(_key(a.place), fn)
    if not writer:
        return
    unmasked = [f for f in (prog.main, prog.panic_hook) if f is not None]
    for fn in unmasked:
        for callee, masked in facts[fn].calls:
            if not masked and callee not in unmasked:
                unmasked.append(callee)
    for fn in prog.funcs:
        if fn not in unmasked:
            continue
        for a in facts[fn].accesses:
            w = writer.get(_key(a.place))
            if w is None or a.masked:
                continue
            atomic = _is_atomic(a.place)
            if atomic and a.kind != "rmw":
                continue
            path = str(fn.module.path)
            name = _name(a.place)
            where = f"the trap handler writes it (in `{w.name}`)"
            if atomic:
                err = error_at(path, a.node, f"read-modify-write of atomic `{name}` with interrupts enabled, and {where}: "
                               "an interrupt between the read and the write loses its update",
                               "wrap the statement in `with critical():`")
            else:
                verb = {"read": "read", "write": "written", "rmw": "read and written"}[a.kind]
                err = error_at(path, a.node, f"`{name}` is {verb} here with interrupts enabled, and {where}",
                               f"wrap the access in `with critical():`, or declare {_declare_atomic(a.place)} "
                               "for single reads and writes")
            if collect is None:
                raise err
            collect.append(err)


def _body(fn) -> list:
    body = fn.node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return body
