"""Warnings: accepted programs that will misbehave at run time in a way the checker can see.

Today one: the program enables the watchdog (a `mmio_write(WDT.CTRL, ...)`),
nothing in the trap handler kicks it, and a `while True:` loop reachable from
main that never ends (no `break` or `return` of its own) never kicks it (no `mmio_write(WDT.KICK, ...)` in the loop body or the
functions it calls), so the core resets every watchdog timeout without a word.
A warning is `file:line:col: warning: <what>; <what to write instead>`.

Usage:
    from firmware.toolchain.lint import lint
    prog.warnings = lint(prog)     # called by checker.check_program
"""

from __future__ import annotations

import ast

WDT_BLOCK = "WDT"


def _writes_reg(node, reg: str) -> bool:
    return (isinstance(node, ast.Call) and getattr(node, "_kind", None) == "mmio_write"
            and getattr(node, "_reg", None) is not None and node._reg.block == WDT_BLOCK and node._reg.name == reg)


def _enables(node) -> bool:
    """A WDT.CTRL write that may set ENABLE (a constant value without the bit disables or configures)."""
    if not _writes_reg(node, "CTRL"):
        return False
    v = getattr(node.args[1], "_cv", None)
    return v is None or bool(v & node._reg.fields["ENABLE"].mask)


def _nodes(stmts):
    for s in stmts:
        if isinstance(s, ast.For) and hasattr(s, "_unrolled"):
            for body in s._unrolled:
                yield from _nodes(body)
            continue
        yield from ast.walk(s)


def _exits(loop: ast.While) -> bool:
    """The loop can end: a `return` anywhere in it, or a `break` of its own (not one of a nested loop's)."""
    def walk(stmts, nested: bool) -> bool:
        for st in stmts:
            if isinstance(st, ast.Return) or (isinstance(st, ast.Break) and not nested):
                return True
            inner = nested or isinstance(st, (ast.While, ast.For))
            for field in ("body", "orelse", "handlers", "finalbody"):
                if walk(getattr(st, field, []) or [], inner):
                    return True
        return False
    return walk(loop.body, False)


def _fn_body(fn) -> list:
    return fn.node.body


def lint(prog) -> list:
    from firmware.toolchain.checker import reachable
    funcs = {f: list(_nodes(_fn_body(f))) for f in prog.funcs}
    enables = any(_enables(n) for nodes in funcs.values() for n in nodes)
    if not enables:
        return []
    kicks_memo: dict = {}

    def kicks(nodes) -> bool:
        for n in nodes:
            if _writes_reg(n, "KICK"):
                return True
            if isinstance(n, ast.Call) and getattr(n, "_kind", None) == "func":
                f = n._target
                if f not in kicks_memo:
                    kicks_memo[f] = False
                    kicks_memo[f] = kicks(funcs[f])
                if kicks_memo[f]:
                    return True
        return False

    if prog.trap_handler is not None and any(kicks(funcs[f]) for f in reachable(prog.trap_handler)):
        return []
    out = []
    for fn in reachable(prog.main):
        for n in funcs[fn]:
            if (isinstance(n, ast.While) and getattr(n.test, "_cv", None) is True and getattr(n, "_taken", True)
                    and not _exits(n) and not kicks(list(_nodes(n.body)))):
                out.append(f"{fn.module.path}:{n.lineno}:{n.col_offset + 1}: warning: this `while True:` loop never kicks "
                           "the watchdog the program enables, so the core resets at every timeout; "
                           "kick it in the loop: mmio_write(WDT.KICK, WDT_KICK_KEY)")
    return out
