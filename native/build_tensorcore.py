"""cffi (API mode) build script for the tensor core: compiled by setuptools at install time, never at import.

Usage:
    setup.py: setup(cffi_modules=["native/build_tensorcore.py:ffibuilder"])
    pip install -e .[dev]            # builds native/_tensorcore*.so
    python native/build_tensorcore.py   # manual build in place (development)

Runs native/gen_kernels.py first to emit the specialized microkernels (native/_tensorcore_gen_kernels.c,
git-ignored). Flags: -O3 only; ISA-specific code uses per-function target attributes so the one
.so runs on any x86-64 (and the portable path anywhere).
"""

from __future__ import annotations

import os
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_kernels  # noqa: E402  (sibling module; the package is not importable during the build)

GENERATED = "_tensorcore_gen_kernels.c"
HAND_WRITTEN = ["tc_driver.c", "tc_pack.c", "tc_portable.c", "vu_ops.c"]
PUBLIC_HEADERS = ["tensorcore.h", "vu_ops.h"]

def public_cdef() -> str:
    """cffi declarations taken from the public headers (tensorcore.h, vu_ops.h), so they are written once.

    Preprocessor lines are dropped (cffi does not run the preprocessor); cffi strips the comments."""
    out = []
    for name in PUBLIC_HEADERS:
        with open(os.path.join(HERE, name)) as f:
            out += [line for line in f.read().splitlines() if not line.lstrip().startswith("#")]
    return "\n".join(out)


def _rel(path: str) -> str:
    """setuptools wants source paths relative to the setup.py directory (the cwd of the build)."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def make_builder() -> FFI:
    with open(os.path.join(HERE, GENERATED), "w") as f:
        f.write(gen_kernels.generate())
    ffi = FFI()
    ffi.cdef(public_cdef())
    ffi.set_source(
        "native._tensorcore",
        '#include "tensorcore.h"\n#include "vu_ops.h"',
        sources=[_rel(os.path.join(HERE, s)) for s in HAND_WRITTEN + [GENERATED]],
        include_dirs=[_rel(HERE)],
        extra_compile_args=["-O3", "-std=gnu11", "-Wall", "-Wno-unused-function"],
    )
    return ffi


ffibuilder = make_builder()

if __name__ == "__main__":
    os.chdir(os.path.dirname(HERE))
    ffibuilder.compile(verbose=True)
