"""Every forbidden construct is rejected with its exact located message (file:line:col, found, instead)."""

from __future__ import annotations

import pytest

from firmware.toolchain.checker import check_program
from firmware.toolchain.types import FirmwareError

HEAD = "from firmware.rt import *\nfrom firmware.regs import UART\n"
CASES = {
 "list": "def main() -> None:\n    x = [1, 2]\n",
 "dict": "def main() -> None:\n    x = {}\n",
 "set": "def main() -> None:\n    x = {1}\n",
 "str": "def main() -> None:\n    x = 'hi'\n",
 "bytes": "def main() -> None:\n    x = b'hi'\n",
 "listcomp": "buf = array(u8, 4)\ndef main() -> None:\n    x = [i for i in range(3)]\n",
 "genexp": "def main() -> None:\n    x: u32 = sum(i for i in range(3))\n",
 "lambda": "def main() -> None:\n    f = lambda: 1\n",
 "closure": "def main() -> None:\n    def inner() -> None:\n        pass\n",
 "generator": "def gen() -> u32:\n    yield 1\ndef main() -> None:\n    pass\n",
 "recursion": "def f(n: u32) -> u32:\n    if n == 0:\n        return 0\n    return g(n - 1)\ndef g(n: u32) -> u32:\n    return f(n)\ndef main() -> None:\n    f(3)\n",
 "try": "def main() -> None:\n    try:\n        pass\n    except Exception:\n        pass\n",
 "class": "class Thing:\n    def __init__(self):\n        self.x = 1\ndef main() -> None:\n    pass\n",
 "float": "def main() -> None:\n    x = 1.5\n",
 "truediv": "def main() -> None:\n    x: u32 = 7\n    y: u32 = x / 2\n",
 "import": "import os\ndef main() -> None:\n    pass\n",
 "import_from": "from os import path\ndef main() -> None:\n    pass\n",
 "mixed": "def main() -> None:\n    a: u32 = 1\n    b: i32 = 2\n    c: i32 = a + b\n",
 "const_fit": "def main() -> None:\n    a: u8 = 300\n",
 "ifexp_const_fit": "x: u32 = 0\ndef main() -> None:\n    a: u8 = 300 if x == 0 else 1\n",
 "minmax_mixed": "def main() -> None:\n    a: u32 = 1\n    b: i32 = 2\n    c: i32 = max(a, b)\n",
 "abs_bool": "def main() -> None:\n    a: u32 = abs(True)\n",
 "untyped_local": "def main() -> None:\n    a = 3\n",
 "maybe_unassigned": "def main() -> None:\n    a: u32 = mmio_read(UART.STATUS)\n    if a == 1:\n        b: u32 = 2\n    mmio_write(UART.DATA, b)\n",
 "no_return": "def f(a: u32) -> u32:\n    if a == 1:\n        return 2\ndef main() -> None:\n    f(1)\n",
 "local_array": "def main() -> None:\n    buf = array(u8, 4)\n",
 "raw_address": "def main() -> None:\n    mmio_write(0x10001000, 1)\n",
 "global_missing": "count: u32 = 0\ndef main() -> None:\n    count = 1\n",
 "index_const": "buf = array(u8, 4)\ndef main() -> None:\n    buf[4] = 1\n",
 "no_main": "def start() -> None:\n    pass\n",
 "const_array_store": "T = const(array(u8, 2, [1, 2]))\ndef main() -> None:\n    T[0] = 3\n",
}

EXPECTED = {
    'list': ':4:9: error: found a run-time list; firmware has no heap: use a module-level array(T, N)',
    'dict': ':4:9: error: found a dict; firmware has no heap: use a module-level array(T, N) or a @record',
    'set': ':4:9: error: found a set; firmware has no heap: use a module-level array(u8, N) of flags',
    'str': ':4:9: error: found a str; firmware has no strings: send bytes over the UART with mmio_write',
    'bytes': ':4:9: error: found bytes; use a const(array(u8, N, [...]))',
    'listcomp': ':5:9: error: found a list comprehension; fill a module-level array(T, N) in a for loop',
    'genexp': ':4:17: error: found a generator expression; write a for loop over range()',
    'lambda': ':4:9: error: found a lambda (a closure); write a module-level def',
    'closure': ':4:5: error: found nested function `inner` (a closure); write a module-level def',
    'generator': ':4:5: error: found yield (a generator); write a function that fills a module-level array, or keep state in a @record',
    'recursion': ':8:12: error: recursive call f -> g -> f; the call graph must be acyclic so stack depth is bounded; rewrite it as a loop',
    'try': ':4:5: error: found try/except; firmware has no exceptions: check the condition and call panic(code)',
    'class': ':4:5: error: found method `__init__` in class `Thing` (a class with dynamic state); make it a @record with typed fields and write module-level functions',
    'float': ':4:9: error: found a float literal 1.5; firmware has integers only: use scaled integers (e.g. milli-units in u32)',
    'truediv': ':5:14: error: found true division `/` (it makes floats); write `//` for floor division',
    'import': ':3:1: error: found `import`; write `from firmware.rt import ...`, `from firmware.regs import ...` or `from sibling import ...`',
    'import_from': ':3:1: error: import of `os`; firmware imports only firmware.rt, firmware.regs, sibling firmware modules (from NAME import ...) and modules of the firmware package (from firmware.protocol_v1 import ...)',
    'mixed': ':6:14: error: `+` on u32 and i32: no 32-bit type holds both; convert one operand explicitly, e.g. u32(y) or i32(x)',
    'const_fit': ':4:13: error: constant 300 does not fit u8; use a wider type, or wrap(u8, ...) to truncate on purpose',
    'ifexp_const_fit': ':5:13: error: constant 300 does not fit u8; use a wider type, or wrap(u8, ...) to truncate on purpose',
    'minmax_mixed': ':6:14: error: max() of u32 and i32: no 32-bit type holds both; convert one argument explicitly, e.g. max(u32(a), b)',
    'abs_bool': ':4:14: error: abs() of a bool; pass integers',
    'untyped_local': ':4:5: error: new local `a` from an untyped integer; give it a type: `a: u32 = ...`',
    'maybe_unassigned': ':7:27: error: `b` may be used before it is assigned; assign it on every path before the use',
    'no_return': ':3:1: error: function `f` can reach its end without returning a u32; end every path with a return (or panic())',
    'local_array': ':4:11: error: array() allocated inside a function; declare it once at module level: `buf = array(...)`',
    'raw_address': ':4:16: error: `268439552` is not a register-map reg; pass a name from firmware.regs such as UART.DATA',
    'global_missing': ':5:5: error: assignment to module variable `count` without `global count`; add `global count` at the top of the function',
    'index_const': ':5:9: error: index 4 outside array of 4; use 0..3',
    'no_main': ':1:1: error: no `def main() -> None:` in the root module; define the entry point `def main() -> None:`',
    'const_array_store': ':5:5: error: assignment to an element of a const array; declare it without const() to make it writable',
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rejected_with_exact_message(name, tmp_path):
    path = tmp_path / f"{name}.py"
    path.write_text(HEAD + CASES[name])
    with pytest.raises(FirmwareError) as exc:
        check_program(path)
    assert str(exc.value) == f"{path}{EXPECTED[name]}"


def test_rejected_program_never_runs_hosted(tmp_path):
    from firmware.toolchain.hosted import load_module
    path = tmp_path / "bad.py"
    path.write_text(HEAD + CASES["recursion"])
    with pytest.raises(FirmwareError, match="recursive call"):
        load_module(path)


def test_conditional_of_constants_checks_each_branch_and_runs_in_both_modes(tmp_path):
    """`A if c else B` with constant branches stored into a typed place (it once crashed the checker)."""
    from tests.firmware.conftest import run_session
    from firmware.toolchain.build import build
    path = tmp_path / "ifexp.py"
    path.write_text(HEAD + "x: u32 = 0\ndef main() -> None:\n    a: u8 = 200 if x == 0 else 7\n    poweroff(a)\n")
    check_program(path)
    elf = build(path, tmp_path / "ifexp.elf").elf
    assert run_session(elf, hosted=False)[0].code == 200
    assert run_session(path, hosted=True)[0].code == 200
