"""Syntactic rejections: every Python construct the firmware language forbids, with a located message.

Runs over a whole module before anything else; each rejection says what was
found and what to write instead (docs/firmware-language.md lists them, and
tests/firmware/test_rejects.py pins every message).

Usage:
    from firmware.toolchain.rejects import reject_forbidden
    reject_forbidden("fw.py", ast.parse(src))     # raises FirmwareError
"""

from __future__ import annotations

import ast

from firmware.toolchain.types import error_at

_SIMPLE = {
    ast.Dict: ("a dict", "firmware has no heap: use a module-level array(T, N) or a @record"),
    ast.Set: ("a set", "firmware has no heap: use a module-level array(u8, N) of flags"),
    ast.Tuple: ("a tuple", "assign one value per statement; return one value"),
    ast.ListComp: ("a list comprehension", "fill a module-level array(T, N) in a for loop"),
    ast.SetComp: ("a set comprehension", "fill a module-level array(T, N) in a for loop"),
    ast.DictComp: ("a dict comprehension", "fill a module-level array(T, N) in a for loop"),
    ast.GeneratorExp: ("a generator expression", "write a for loop over range()"),
    ast.Lambda: ("a lambda (a closure)", "write a module-level def"),
    ast.Yield: ("yield (a generator)", "write a function that fills a module-level array, or keep state in a @record"),
    ast.YieldFrom: ("yield from (a generator)", "write a for loop that calls a function"),
    ast.Await: ("await", "firmware is single-threaded: wait with wfi() and interrupts"),
    ast.AsyncFunctionDef: ("an async function", "write a plain def; wait with wfi() and interrupts"),
    ast.AsyncFor: ("async for", "write a plain for loop"),
    ast.AsyncWith: ("async with", "remove it"),
    ast.Try: ("try/except", "firmware has no exceptions: check the condition and call panic(code)"),
    ast.TryStar: ("try/except*", "firmware has no exceptions: check the condition and call panic(code)"),
    ast.Raise: ("raise", "call panic(code)"),
    ast.Assert: ("assert", "write `if not cond: panic(code)`"),
    ast.Match: ("a match statement", "write if/elif chains"),
    ast.Delete: ("del", "arrays are static; overwrite the element instead"),
    ast.Nonlocal: ("nonlocal (a closure)", "keep the state in a module-level variable"),
    ast.Import: ("`import`", "write `from firmware.rt import ...`, `from firmware.regs import ...` or `from sibling import ...`"),
    ast.Starred: ("a starred expression", "pass each argument explicitly"),
    ast.NamedExpr: ("an assignment expression (:=)", "assign in a statement before the use"),
    ast.JoinedStr: ("an f-string (str)", "firmware has no strings: send bytes over the UART with mmio_write"),
    ast.Slice: ("a slice", "index one element at a time in a loop"),
    ast.Global: (None, None),  # handled below (module level only)
}


def _docstring_nodes(tree: ast.Module) -> set:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first.value))
    for stmt in tree.body:  # if __name__ == "__main__": main()
        if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Compare):
            for c in stmt.test.comparators:
                if isinstance(c, ast.Constant) and c.value == "__main__":
                    ids.add(id(c))
    return ids


def _char_constants(tree: ast.Module) -> set:
    """The one-character str literals of `ord("0")`: the language's character constants."""
    ids = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "ord"
                and len(node.args) == 1 and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str) and len(node.args[0].value) == 1):
            ids.add(id(node.args[0]))
    return ids


def _user_defs(tree: ast.Module) -> set:
    return {s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.ClassDef))}


def _array_inits(tree: ast.Module) -> set:
    ids = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "array"
                and len(node.args) == 3 and isinstance(node.args[2], ast.List)):
            ids.add(id(node.args[2]))
    return ids


def _is_critical(node: ast.With) -> bool:
    """`with critical():`, the only with statement: one item, a bare call of `critical`, no `as`."""
    if len(node.items) != 1 or node.items[0].optional_vars is not None:
        return False
    c = node.items[0].context_expr
    return isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "critical" and not c.args


def reject_forbidden(path: str, tree: ast.Module) -> None:
    allowed_str = _docstring_nodes(tree) | _char_constants(tree)
    defs = _user_defs(tree)
    allowed_list = _array_inits(tree)
    parents: dict = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    for node in ast.walk(tree):
        kind = type(node)
        parent = parents.get(id(node))
        if kind in _SIMPLE and kind is not ast.Global:
            found, instead = _SIMPLE[kind]
            raise error_at(path, node, f"found {found}", instead)
        if kind is ast.Global and isinstance(parent, ast.Module):
            raise error_at(path, node, "found `global` at module level", "use it inside a function to assign a module variable")
        if kind is ast.Call and isinstance(node.func, ast.Name) and node.func.id == "print" and "print" not in defs:
            raise error_at(path, node, "found a call of `print` (a Python builtin)",
                           "firmware has no stdout: write bytes to UART.DATA with mmio_write")
        if kind is ast.List and id(node) not in allowed_list:
            raise error_at(path, node, "found a run-time list", "firmware has no heap: use a module-level array(T, N)")
        if kind is ast.Constant:
            v = node.value
            if isinstance(v, (float, complex)):
                raise error_at(path, node, f"found a float literal {v!r}", "firmware has integers only: use scaled integers (e.g. milli-units in u32)")
            if isinstance(v, str) and id(node) not in allowed_str:
                callee = parent.func.id if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) else None
                if callee == "ord":
                    raise error_at(path, node, f"found ord() of a {len(v)}-character str",
                                   "a character constant is ord() of one character: ord(\"0\")")
                raise error_at(path, node, "found a str" + (f" (an argument of `{callee}`)" if callee else ""),
                               "firmware has no strings: send bytes over the UART with mmio_write"
                               + ("; a character code is ord(\"A\")" if callee else ""))
            if isinstance(v, bytes):
                raise error_at(path, node, "found bytes", "use a const(array(u8, N, [...]))")
            if v is Ellipsis or v is None and not isinstance(parent, (ast.Return, ast.FunctionDef)):
                raise error_at(path, node, f"found {v!r}", "firmware values are integers and bools")
        if kind is ast.With and not _is_critical(node):
            raise error_at(path, node, "found a with statement other than `with critical():`",
                           "the one with statement is `with critical():` (interrupts masked for its body)")
        if kind is ast.BinOp and isinstance(node.op, ast.Div):
            raise error_at(path, node, "found true division `/` (it makes floats)", "write `//` for floor division")
        if kind is ast.BinOp and isinstance(node.op, ast.MatMult):
            raise error_at(path, node, "found `@`", "firmware has integers only")
        if kind is ast.FunctionDef and isinstance(parent, ast.ClassDef):
            raise error_at(path, node, f"found method `{node.name}` in class `{parent.name}` (a class with dynamic state)",
                           "make it a @record with typed fields and write module-level functions")
        if kind is ast.FunctionDef and not isinstance(parent, (ast.Module, ast.ClassDef)):
            raise error_at(path, node, f"found nested function `{node.name}` (a closure)", "write a module-level def")
        if kind is ast.ClassDef and not isinstance(parent, ast.Module):
            raise error_at(path, node, f"found class `{node.name}` inside a function", "declare records at module level")
        if kind is ast.ImportFrom and not isinstance(parent, ast.Module):
            raise error_at(path, node, "found an import inside a function", "import at the top of the module")
        if kind is ast.Call and node.keywords:
            raise error_at(path, node.keywords[0].value, "found a keyword argument", "pass arguments by position")
        if kind in (ast.For, ast.While) and node.orelse:
            raise error_at(path, node.orelse[0], "found an else clause on a loop", "use a bool flag set before break")
        if kind in (ast.ClassDef,) and isinstance(parent, ast.Module):
            for s in node.body:
                if isinstance(s, (ast.Assign, ast.AugAssign)):
                    raise error_at(path, s, f"found class attribute assignment in `{node.name}` (a class with dynamic state)",
                                   "declare typed fields `name: u32` in a @record")
