"""The firmware checker: parses a firmware program, rejects what the language forbids, types every node.

A program is a root module plus the sibling modules it imports (`from ring import
push`), plus `firmware.rt` and `firmware.regs`. The checker walks each module's
top level (constants, typed variables, arrays, records, functions), rejects
forbidden constructs with a located message (`FirmwareError`), types the function
bodies (`firmware.toolchain.typecheck`), and proves the call graph acyclic. The
annotated trees are what the hosted transform and the C emitter both consume.

Usage:
    from firmware.toolchain.checker import check_program
    prog = check_program("firmware/examples/crc32.py")    # raises FirmwareError
    prog.funcs, prog.globals, prog.main, prog.trap_handler
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from firmware import regs, rt
from firmware.toolchain.types import (BOOL, COMPTIME, VOID, ArrayType, FirmwareError, RecordType, RefType,
                                      error_at, tname)
from firmware.toolchain.ranges import annotate_function
from firmware.toolchain.typecheck import Typer, annotation_type
from firmware.toolchain.rejects import reject_forbidden
from firmware.toolchain.shared import check_shared
from firmware.toolchain.cnames import c_module
from firmware.toolchain.budget import check_budget
from firmware.toolchain.lint import lint

RT_MODULE, REGS_MODULE = "firmware.rt", "firmware.regs"
RT_EXPORTS = {n for n in dir(rt) if not n.startswith("_")}
ALLOWED_FUTURE = {"annotations"}
FIRMWARE_PACKAGE = Path(rt.__file__).resolve().parent   # `from firmware.x.y import` resolves under it


@dataclass(eq=False)
class Global:
    """A module-level name: a constant, a typed variable, an array or a record instance."""

    name: str
    module: "Module"
    kind: str              # "const" | "var" | "array" | "record"
    ty: object
    node: ast.AST
    value: object = None   # constants: the value; vars: the initial value; arrays: init node
    c_name: str = ""
    volatile: bool = False
    atomic: bool = False   # declared atomic(T) / array(atomic(T), N): single reads and writes, shared with the handler


@dataclass(eq=False)
class Func:
    name: str
    module: "Module"
    node: ast.FunctionDef
    params: list = field(default_factory=list)     # [(name, type)]
    ret: object = VOID
    c_name: str = ""
    role: str = "normal"                           # "normal" | "trap" | "panic_hook"
    locals: dict = field(default_factory=dict)     # name -> type
    calls: list = field(default_factory=list)      # [(Func, call node)]
    touches: set = field(default_factory=set)      # Globals read or written


@dataclass(eq=False)
class Module:
    name: str
    path: Path
    tree: ast.Module
    scope: dict = field(default_factory=dict)


@dataclass(eq=False)
class Program:
    root: Module
    modules: list = field(default_factory=list)    # dependency order, root last
    funcs: list = field(default_factory=list)
    globals: list = field(default_factory=list)
    records: list = field(default_factory=list)
    main: Func | None = None
    trap_handler: Func | None = None
    panic_hook: Func | None = None
    locations: dict = field(default_factory=dict)  # location id -> "file:line:col"
    sites: dict = field(default_factory=dict)      # (file, line, col) -> location id
    warnings: list = field(default_factory=list)   # "file:line:col: warning: ...; ..." (lint.py)

    def site(self, path, node) -> int:
        """The compact location id of a check site: 1, 2, ... in the order the back ends first meet them.

        The hosted transform numbers every site (it runs first in both modes), so a
        site has one id in both modes; ids stay small so the compiled check loads
        them with one compressed instruction. `locations` maps them back.
        """
        key = (str(path), node.lineno, node.col_offset + 1)
        sid = self.sites.get(key)
        if sid is None:
            sid = self.sites[key] = len(self.sites) + 1
            self.locations[sid] = f"{key[0]}:{key[1]}:{key[2]}"
        return sid


def check_program(path) -> Program:
    """Check the firmware program rooted at `path`; raise FirmwareError at the first rejection."""
    path = Path(path)
    prog = Program(root=None)  # type: ignore[arg-type]
    prog.root = _load(prog, path, c_module(path.stem), loading=[])
    for mod in prog.modules:
        for fn in [s for s in mod.scope.values() if isinstance(s, Func) and s.module is mod]:
            Typer(prog, mod, fn).check_function()
            annotate_function(fn)
    main = prog.root.scope.get("main")
    if not isinstance(main, Func) or main.params or main.ret is not VOID:
        raise FirmwareError(str(path), 1, 1, "no `def main() -> None:` in the root module",
                            "define the entry point `def main() -> None:`")
    prog.main = main
    _check_acyclic(prog)
    check_shared(prog)
    check_budget(prog)
    _mark_volatile(prog)
    prog.warnings = lint(prog)
    return prog


def _load(prog: Program, path: Path, name: str, loading: list) -> Module:
    for m in prog.modules:
        if m.path.resolve() == path.resolve():
            return m
    if not path.is_file():
        raise FirmwareError(str(path), 1, 1, f"no firmware module {path}", "check the path")
    src = path.read_text()
    try:
        tree = ast.parse(src, filename=str(path))
    except SyntaxError as exc:
        raise FirmwareError(str(path), exc.lineno or 1, exc.offset or 1, f"syntax error: {exc.msg}",
                            "fix the Python syntax") from None
    reject_forbidden(str(path), tree)
    mod = Module(name, path, tree)
    loading = loading + [path.resolve()]
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom):
            _import(prog, mod, stmt, loading)
    for stmt in tree.body:
        _declare(prog, mod, stmt)
    prog.modules.append(mod)
    return mod


def _import(prog: Program, mod: Module, stmt: ast.ImportFrom, loading: list) -> None:
    p = str(mod.path)
    if stmt.module == "__future__":
        return
    if stmt.module == RT_MODULE:
        for a in stmt.names:
            names = sorted(RT_EXPORTS) if a.name == "*" else [a.name]
            for n in names:
                if n not in RT_EXPORTS:
                    raise error_at(p, stmt, f"`{n}` is not part of firmware.rt", "see docs/firmware-language.md for the runtime's names")
                mod.scope[a.asname or n] = ("rt", n)
        return
    if stmt.module == REGS_MODULE:
        for a in stmt.names:
            names = list(regs.__all__) if a.name == "*" else [a.name]
            for n in names:
                if n in regs.BLOCKS:
                    mod.scope[a.asname or n] = RefType("block", regs.BLOCKS[n])
                elif n in regs.CONSTANT_VALUES:
                    g = Global(n, mod, "const", COMPTIME, stmt, regs.CONSTANT_VALUES[n], c_name=f"TESSERA_{n}")
                    mod.scope[a.asname or n] = g
                else:
                    raise error_at(p, stmt, f"`{n}` is not in the register map", "use a block or constant of asic_model/soc_map.py")
        return
    sib = _module_path(mod.path, stmt)
    if sib is None or not sib.is_file():
        raise error_at(p, stmt, f"import of `{'.' * stmt.level}{stmt.module or ''}`",
                       "firmware imports only firmware.rt, firmware.regs, sibling firmware modules (from NAME import ...) "
                       "and modules of the firmware package (from firmware.protocol_v1 import ...)")
    if sib.resolve() in loading:
        raise error_at(p, stmt, f"import cycle through `{stmt.module}`", "move the shared code into a third module")
    other = _load(prog, sib, _module_name(prog, sib), loading)
    stmt._tsr_module = other.name   # the hosted transform binds the names from this module
    for a in stmt.names:
        sym = other.scope.get(a.name)
        if a.name == "*" or sym is None or (isinstance(sym, tuple)):
            raise error_at(p, stmt, f"`{a.name}` is not defined in firmware module {stmt.module}", "import names the module defines")
        if isinstance(sym, Global) and sym.kind == "var":
            raise error_at(p, stmt, f"import of the mutable variable `{a.name}` (a copy under Python, shared in C)",
                           f"import a function of {stmt.module} that reads or writes it")
        mod.scope[a.asname or a.name] = sym


def _module_path(importer: Path, stmt: ast.ImportFrom) -> Path | None:
    """The file a firmware import names: `from uart import` (a sibling), `from .uart import` (relative),
    `from firmware.device.uart import` (a module of the firmware package, never the toolchain)."""
    parts = stmt.module.split(".") if stmt.module else []
    if stmt.level > 0:
        base = importer.resolve().parents[stmt.level - 1]
    elif len(parts) == 1:
        base = importer.parent
    elif parts[0] == FIRMWARE_PACKAGE.name and parts[1] != "toolchain":
        base, parts = FIRMWARE_PACKAGE, parts[1:]
    else:
        return None
    return base.joinpath(*parts[:-1], f"{parts[-1]}.py") if parts else None


def _module_name(prog: Program, path: Path) -> str:
    """The module's name in C symbols (`<name>__<symbol>`): its stem, qualified by its folders on a clash."""
    name, parent = c_module(path.stem), path.resolve().parent
    while any(m.name == name and m.path.resolve() != path.resolve() for m in prog.modules):
        name, parent = c_module(f"{parent.name}_{name}"), parent.parent
    return name


def _declare(prog: Program, mod: Module, stmt: ast.stmt) -> None:
    p = str(mod.path)
    ty = Typer(prog, mod, None)
    if isinstance(stmt, ast.ImportFrom):
        return
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
        return  # docstring
    if isinstance(stmt, ast.If) and _is_main_guard(stmt):
        return
    if isinstance(stmt, ast.FunctionDef):
        _declare_func(prog, mod, stmt, ty)
        return
    if isinstance(stmt, ast.ClassDef):
        _declare_record(prog, mod, stmt, ty)
        return
    target, ann, value = None, None, None
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        target, ann, value = stmt.target.id, stmt.annotation, stmt.value
    elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        target, value = stmt.targets[0].id, stmt.value
    if target is None or value is None:
        raise error_at(p, stmt, f"module-level {type(stmt).__name__} statement",
                       "the top level holds only imports, constants, typed variables, arrays, records and functions; put code in main()")
    if target in mod.scope:
        raise error_at(p, stmt, f"`{target}` is declared twice", "give each module-level name one declaration")
    is_const = _is_call(value, "const")
    inner = value.args[0] if is_const and len(value.args) == 1 else value
    if _is_call(inner, "array"):
        g = _declare_array(prog, mod, stmt, target, inner, is_const, ty)
    elif isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and isinstance(mod.scope.get(inner.func.id), RecordType):
        if inner.args or inner.keywords or is_const or ann is not None:
            raise error_at(p, inner, "a record instance with arguments or an annotation",
                           f"write `{target} = {inner.func.id}()` (fields start at zero; set them in main())")
        g = Global(target, mod, "record", mod.scope[inner.func.id], stmt)
    else:
        t = ty.expr(inner)
        if inner._cv is None:
            raise error_at(p, inner, "a module-level initial value that is not known at compile time",
                           "use literals, const() names and arithmetic on them; compute the rest in main()")
        atomic = ann is not None and _is_call(ann, "atomic")
        if atomic:
            ann = _atomic_inner(p, ann, mod)
        want = annotation_type(p, ann, mod) if ann is not None else None
        if want is None and not is_const:
            raise error_at(p, stmt, f"module variable `{target}` without a type",
                           f"write `{target}: u32 = ...` (a typed variable) or `{target} = const(...)` (a constant)")
        final = want or t
        if want is not None:
            ty.store_check(inner, want)
        if atomic and is_const:
            raise error_at(p, stmt, f"constant `{target}` declared atomic", "constants never change; drop atomic()")
        g = Global(target, mod, "const" if is_const else "var", final, stmt, inner._cv, atomic=atomic)
    g.c_name = f"{mod.name}__{target}"
    mod.scope[target] = g
    prog.globals.append(g)


def _declare_array(prog, mod, stmt, target, call, readonly, ty) -> Global:
    p = str(mod.path)
    if len(call.args) not in (2, 3) or call.keywords:
        raise error_at(p, call, "array() with the wrong arguments", "write array(T, N) or array(T, N, init) with init a list or a function of the index")
    atomic = _is_call(call.args[0], "atomic")
    elem = annotation_type(p, _atomic_inner(p, call.args[0], mod) if atomic else call.args[0], mod)
    if atomic and readonly:
        raise error_at(p, call, "a const array with atomic elements", "constants never change; drop atomic()")
    ty.expr(call.args[1])
    n = call.args[1]._cv
    if not isinstance(elem, rt.IntType) or not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise error_at(p, call, "array() needs an integer element type and a positive compile-time size",
                       "write array(u8, 256) or array(u32, N) with N = const(...)")
    if len(call.args) == 3:
        init = call.args[2]
        if isinstance(init, ast.List):
            if len(init.elts) > n:
                raise error_at(p, init, f"{len(init.elts)} initial values for an array of {n}", "give at most N values")
            for e in init.elts:
                ty.expr(e)
                if e._cv is None:
                    raise error_at(p, e, "an array initial value not known at compile time", "use literals or const() names")
                ty.store_check(e, elem)
        elif not (isinstance(init, ast.Name) and isinstance(mod.scope.get(init.id), Func)):
            raise error_at(p, init, "an array initializer that is neither a list nor a firmware function",
                           "pass a list of constants or the name of a `def f(i: u32) -> T` evaluated at build time")
    elif readonly:
        raise error_at(p, call, "a const array without initial values", "give the values: const(array(T, N, [..] or f))")
    return Global(target, mod, "array", ArrayType(elem, n, readonly), stmt, call, atomic=atomic)


def _atomic_inner(p: str, ann, mod=None):
    """The T of `atomic(T)` (an integer type or bool)."""
    if mod is not None and mod.scope.get("atomic") != ("rt", "atomic"):
        raise error_at(p, ann, "`atomic` is not firmware.rt's atomic", "import it: `from firmware.rt import atomic`")
    if len(ann.args) != 1 or ann.keywords:
        raise error_at(p, ann, "atomic() with the wrong arguments", "write atomic(u32) (one integer or bool type)")
    return ann.args[0]


def _declare_func(prog, mod, node: ast.FunctionDef, ty) -> None:
    p = str(mod.path)
    if node.name in mod.scope:
        raise error_at(p, node, f"`{node.name}` is declared twice", "give each module-level name one declaration")
    a = node.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or a.defaults:
        raise error_at(p, node, f"function `{node.name}` with defaults, *args, **kwargs or keyword-only parameters",
                       "use plain positional parameters with type annotations")
    fn = Func(node.name, mod, node, c_name=f"{mod.name}__{node.name}")
    for arg in a.args:
        if arg.annotation is None:
            raise error_at(p, arg, f"parameter `{arg.arg}` without a type", f"annotate it: `{arg.arg}: u32`")
        fn.params.append((arg.arg, annotation_type(p, arg.annotation, mod, allow_ref=True)))
    fn.ret = VOID if node.returns is None else annotation_type(p, node.returns, mod, allow_void=True)
    for d in node.decorator_list:
        role = {"trap_handler": "trap", "panic_hook": "panic_hook"}.get(d.id if isinstance(d, ast.Name) else "")
        if role is None or mod.scope.get(d.id) != ("rt", d.id):
            raise error_at(p, d, "a decorator other than @trap_handler or @panic_hook", "remove it")
        fn.role = role
        want = [rt.u32] if role == "trap" else [rt.u32, rt.u32]
        if [t for _, t in fn.params] != want or fn.ret is not VOID:
            sig = "(mcause: u32) -> None" if role == "trap" else "(code: u32, loc: u32) -> None"
            raise error_at(p, node, f"@{d.id} function `{node.name}` with the wrong signature", f"write `def {node.name}{sig}`")
        slot = "trap_handler" if role == "trap" else "panic_hook"
        if getattr(prog, slot) is not None:
            raise error_at(p, d, f"a second @{d.id}", "a program has one; merge them")
        setattr(prog, slot, fn)
    mod.scope[node.name] = fn
    prog.funcs.append(fn)


def _declare_record(prog, mod, node: ast.ClassDef, ty) -> None:
    p = str(mod.path)
    if [d.id for d in node.decorator_list if isinstance(d, ast.Name)] != ["record"] or node.bases or node.keywords:
        raise error_at(p, node, f"class `{node.name}` (a class with dynamic state)",
                       "declare plain data as `@record` with typed fields and no base classes")
    rec = RecordType(node.name, c_name=f"{mod.name}__{node.name}")
    for s in node.body:
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
            continue
        if not (isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and s.value is None):
            raise error_at(p, s, f"`{type(s).__name__}` in record `{node.name}`",
                           "a record holds only typed fields `name: u32` (no methods, no defaults)")
        ann = s.annotation
        if _is_call(ann, "atomic"):
            ann = _atomic_inner(p, ann, mod)
            rec.atomic.add(s.target.id)
        t = annotation_type(p, ann, mod, allow_array=True)
        if isinstance(t, ArrayType) and s.target.id in rec.atomic:
            raise error_at(p, s.annotation, f"atomic() of the array field `{s.target.id}`",
                           f"write `{s.target.id}: array(atomic(T), N)` (atomic elements)")
        if _is_call(ann, "array") and ann.args and _is_call(ann.args[0], "atomic"):
            rec.atomic.add(s.target.id)
        rec.fields[s.target.id] = t
    mod.scope[node.name] = rec
    prog.records.append(rec)


def _is_call(node, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _is_main_guard(stmt: ast.If) -> bool:
    t = stmt.test
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and not stmt.orelse and len(stmt.body) == 1)


def _check_acyclic(prog: Program) -> None:
    state: dict = {}

    def visit(fn: Func, path: list) -> None:
        state[id(fn)] = 1
        for callee, call in fn.calls:
            if state.get(id(callee)) == 1:
                cyc = [f.name for f in path[path.index(callee):]] + [callee.name]
                raise error_at(str(fn.module.path), call, f"recursive call {' -> '.join(cyc)}",
                               "the call graph must be acyclic so stack depth is bounded; rewrite it as a loop")
            if id(callee) not in state:
                visit(callee, path + [callee])
        state[id(fn)] = 2

    for fn in prog.funcs:
        if id(fn) not in state:
            visit(fn, [fn])


def reachable(fn: Func) -> list:
    seen, todo = [], [fn]
    while todo:
        f = todo.pop()
        if f not in seen:
            seen.append(f)
            todo += [c for c, _ in f.calls]
    return seen


def _mark_volatile(prog: Program) -> None:
    """Globals the trap handler's call tree touches are volatile in C (shared with the main loop)."""
    if prog.trap_handler is None:
        return
    for f in reachable(prog.trap_handler):
        for g in f.touches:
            g.volatile = True


__all__ = ["check_program", "Program", "Func", "Global", "Module", "FirmwareError", "reachable", "tname",
           "BOOL", "ArrayType"]
