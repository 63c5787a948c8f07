"""C names for firmware identifiers: every name that is valid Python is valid firmware, so the emitter mangles
the ones C would reject or misread.

A local, parameter or record field keeps its Python name in the generated C
(readable, and what the debugger shows) unless it is a C keyword or type name,
a macro of the headers the C includes (`UART_DATA`, `TSR_REG`) or any all-uppercase name (the C library's
macros such as `INT32_MIN`), a C type name (`*_t`), a reserved
prefix of the runtime (`tsr_`, `TSR_`, `TESSERA_`), or it starts with `_`
(the emitter's temporaries `_t1`, `_c1` ...) or contains `__` (module-qualified
globals `<module>__<name>`). Those become `_l_<name>` (locals) or `_f_<name>`
(fields): no unmangled name starts with `_`, so mangled names never clash with
user names, temporaries or globals. Module names (file stems such as `my-fw`)
become C identifiers for the `<module>__<name>` globals.

Usage:
    from firmware.toolchain.cnames import c_local, c_field, c_module
    c_local("int") == "_l_int"; c_local("count") == "count"; c_module("my-fw") == "my_fw"
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while asm typeof _Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert
_Thread_local bool true false NULL main trap_handler""".split())
RESERVED_PREFIXES = ("tsr_", "TSR_", "TESSERA_")
_HEADERS = (Path(__file__).resolve().parents[2] / "docs" / "generated" / "tessera_regs.h",
            Path(__file__).resolve().parent / "tsr_runtime.h")
_DEFINE = re.compile(r"^\s*#\s*define\s+([A-Za-z_]\w*)", re.M)


@lru_cache(maxsize=1)
def header_names() -> frozenset:
    """The macro names the generated C sees (tessera_regs.h, tsr_runtime.h)."""
    names = set()
    for h in _HEADERS:
        if h.is_file():
            names.update(_DEFINE.findall(h.read_text()))
    return frozenset(names)


def needs_mangling(name: str) -> bool:
    return (name in C_KEYWORDS or name.startswith("_") or "__" in name or name.endswith("_t") or name.isupper()
            or name.startswith(RESERVED_PREFIXES) or name in header_names())


def c_local(name: str) -> str:
    """The C name of a local variable or parameter."""
    return f"_l_{name}" if needs_mangling(name) else name


def c_field(name: str) -> str:
    """The C name of a record field."""
    return f"_f_{name}" if needs_mangling(name) else name


def c_module(stem: str) -> str:
    """A C identifier for a module's file stem (the prefix of its globals' C names)."""
    s = re.sub(r"\W", "_", stem)
    return s if s and (s[0].isalpha()) else f"m{s}"
