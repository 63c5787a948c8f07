"""Tessera tensor core math: bit-exact int8 GEMM + bias + per-channel requant, CPU-dispatched C kernels.

Usage:
    import numpy as np, native
    c = native.gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=3, relu=True)   # int8 [M,N]
    acc = native.gemm_i8(a, b, raw32=True)                                            # int32 [M,N]
    native.gemm_i8_buf(sram, a_off, lda, b_off, ldb, c_off, ldc, M, N, K, -1, m_off, s_off, 0, 0)
    native.gemm_i8_buf(sram, ..., zp, native.QTFL | native.RELU, act_min=-128, act_max=100)   # TFLite requant
    w = native.pack_b(b); native.gemm_i8(a, w, mult=mult, shift=shift)   # pre-packed weights
    plan = native.GemmPlan(a, w, out, mult=mult, shift=shift); plan()  # one FFI crossing per call
    native.paths(); native.variants(); with native.force_path("avx2"): ...
    with native.b_cache(False): ...            # pack B on every call (the C packed-B cache is on by default)
    native.b_cache_stats(); native.clear_caches()
    native.reference_gemm_i8(a, b, ...)        # numpy int64 statement of the semantics
    native.vu_dwconv_buf(sram, native.vu_args(c=..., ...))   # the vector unit's TFLM kernels (vu_ops.h)

Speed: repeated gemm_i8 / gemm_i8_buf calls hit Python call caches (one dict lookup + one FFI
crossing), and the C side reuses the packing of a B whose bytes have not changed (docs/native.md).

Semantics (docs/native.md): acc = A@B + bias in int32 with wrap-around; RAW32: C = acc (RELU:
max(acc, 0)); int8: v = acc*mult[j] (int64), if shift[j] > 0: v = (v + 2^(shift-1)) >> shift,
v += zp_out, RELU: v = max(v, zp_out), C = clamp(v, -128, 127); QTFL: v = TFLite's
MultiplyByQuantizedMultiplier(acc, mult[j], shift[j]) with a signed shift; gemm_i8_buf finally
clamps int8 outputs to [act_min, act_max]. The C library is built at
install time (pip install -e .); this module never compiles anything.
"""

from __future__ import annotations

import contextlib

import numpy as np

try:
    from native._tensorcore import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("native._tensorcore is not built: run `pip install -e .` from the repository root "
                      f"(cffi builds it at install time) ({exc})") from exc

from native._api_errors import raise_for

PATH_NAMES = ("auto", "portable", "avx2", "avxvnni", "avx512vnni")
_PATH_ID = {name: i for i, name in enumerate(PATH_NAMES)}
RELU = 1
RAW32 = 2
QTFL = 4             # requantize as TFLite's MultiplyByQuantizedMultiplier (signed shift in [-31, 31])
INT8_MIN, INT8_MAX = -128, 127

_I8 = np.dtype(np.int8)
_I32 = np.dtype(np.int32)
_NULL = ffi.NULL
_forced = 0          # path id used when a call passes path=None (0 = auto)


def paths() -> list[str]:
    """Dispatch paths this CPU can run, best first."""
    mask = lib.tc_available_paths()
    return [PATH_NAMES[p] for p in range(len(PATH_NAMES) - 1, 0, -1) if mask & (1 << p)]


def best_path() -> str:
    return PATH_NAMES[lib.tc_best_path()]


def variants() -> list[dict]:
    """The generated microkernel variants: name, path, mr (rows), nr (cols), fixed_n (0 = general)."""
    out = []
    p, mr, nr, fn = ffi.new("int32_t *"), ffi.new("int32_t *"), ffi.new("int32_t *"), ffi.new("int32_t *")
    for i in range(lib.tc_num_variants()):
        lib.tc_variant_info(i, p, mr, nr, fn)
        out.append({"name": ffi.string(lib.tc_variant_name(i)).decode(), "path": PATH_NAMES[p[0]],
                    "mr": mr[0], "nr": nr[0], "fixed_n": fn[0]})
    return out


def last_variant() -> str:
    """Name of the microkernel variant the last call on this thread ran ("portable" for the C loop)."""
    i = lib.tc_last_variant()
    return "portable" if i < 0 else ffi.string(lib.tc_variant_name(i)).decode()


def _path_id(path: str | None) -> int:
    if path is None:
        return _forced
    try:
        return _PATH_ID[path]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dispatch path {path!r}; choose from {', '.join(PATH_NAMES)}") from None


class force_path(contextlib.AbstractContextManager):
    """Force a dispatch path for calls that pass path=None; as a context manager, restores on exit.

    force_path("avx2") sets it until force_path(None) / force_path("auto"); `with force_path("avx2"):`
    scopes it. Raises ValueError for an unknown path or one this CPU lacks.
    """

    def __init__(self, name: str | None):
        global _forced
        pid = 0 if name is None else _path_id(name)
        if pid and not lib.tc_available_paths() & (1 << pid):
            raise ValueError(f"dispatch path {name!r} is not available on this CPU (available: {', '.join(paths())})")
        self._previous = _forced
        _forced = pid

    def __exit__(self, *exc) -> None:
        global _forced
        _forced = self._previous


# ---------------- pointers (no copies; cached for arrays that are reused) ----------------
_ptr_cache: dict[int, tuple[object, object]] = {}
_PTR_CACHE_MAX = 64


def _ptr(arr: np.ndarray, ctype: str):
    """cdata pointer to arr's first element; C-contiguous arrays are cached by identity (kept alive)."""
    hit = _ptr_cache.get(id(arr))
    if hit is not None and hit[0] is arr:
        return hit[1]
    if arr.flags.c_contiguous:
        p = ffi.from_buffer(ctype + "[]", arr, require_writable=False)
        if len(_ptr_cache) >= _PTR_CACHE_MAX:
            _ptr_cache.pop(next(iter(_ptr_cache)))
        _ptr_cache[id(arr)] = (arr, p)
        return p
    return ffi.cast(ctype + " *", arr.ctypes.data)   # strided view: no copy, not cached


def _matrix(x, name: str) -> np.ndarray:
    """int8 2-D operand with unit inner stride and non-negative row stride (copies only otherwise)."""
    if not isinstance(x, np.ndarray) or x.dtype != _I8 or x.ndim != 2:
        x = np.asarray(x)
        if x.dtype != _I8 or x.ndim != 2:
            raise ValueError(f"{name} must be a 2-D int8 array, got {x.ndim}-D {x.dtype}")
    if x.strides[1] != 1 or x.strides[0] < 0:
        x = np.ascontiguousarray(x)
    return x


def _vector(x, n: int, name: str):
    if x is None:
        return _NULL
    if type(x) is not np.ndarray or x.dtype is not _I32 or x.shape != (n,) or not x.flags.c_contiguous:
        x = np.asarray(x)
        if x.dtype != _I32 or x.shape != (n,):
            raise ValueError(f"{name} must be an int32 array of shape ({n},), got {x.dtype} {x.shape}")
        x = np.ascontiguousarray(x)
    return _ptr(x, "int32_t")


class PackedB:
    """B [K,N] packed once into the microkernel layout of one dispatch path (see pack_b)."""

    __slots__ = ("handle", "K", "N", "path", "nbytes", "shape")

    def __init__(self, handle, K: int, N: int, path: str, nbytes: int):
        self.handle, self.K, self.N, self.path, self.nbytes = handle, K, N, path, nbytes
        self.shape = (K, N)

    def __repr__(self) -> str:
        return f"PackedB(K={self.K}, N={self.N}, path={self.path!r}, nbytes={self.nbytes})"


def _wrap_packed(out, K: int, N: int) -> PackedB:
    handle = ffi.gc(out[0], lib.tc_free_packed_b)
    p, k, n, nb = ffi.new("int32_t *"), ffi.new("int32_t *"), ffi.new("int32_t *"), ffi.new("int64_t *")
    lib.tc_packed_b_info(handle, p, k, n, nb)
    return PackedB(handle, K, N, PATH_NAMES[p[0]], nb[0])


def pack_b(b, path: str | None = None) -> PackedB:
    """Pre-pack weights B (int8 [K,N]) for the given/forced/best path; reuse across gemm_i8 calls."""
    b = _matrix(b, "b")
    K, N = b.shape
    out = ffi.new("tc_packed_b **")
    rc = lib.tc_pack_b(_ptr(b, "int8_t"), b.strides[0], K, N, _path_id(path), out)
    if rc:
        raise_for(rc, lib.tc_last_error_index(), M=1, N=N, K=K, path=path)
    return _wrap_packed(out, K, N)


def pack_b_buf(buf, b_off: int, ldb: int, K: int, N: int, path: str | None = None) -> PackedB:
    """pack_b for B at byte offset b_off (row stride ldb) of a flat buffer such as the SRAM."""
    p, n = _buffer(buf)
    if K < 1 or N < 1:
        raise ValueError(f"M, N and K must be >= 1, got M=1, N={N}, K={K}")
    if b_off < 0 or ldb < 0 or b_off + (K - 1) * ldb + N > n:
        raise ValueError(f"b at offset {b_off} with row stride {ldb} ({K}x{N}) does not fit in the {n}-byte buffer")
    out = ffi.new("tc_packed_b **")
    rc = lib.tc_pack_b(ffi.cast("int8_t *", p) + b_off, ldb, K, N, _path_id(path), out)
    if rc:
        raise_for(rc, lib.tc_last_error_index(), M=1, N=N, K=K, path=path)
    return _wrap_packed(out, K, N)


def _prepare(a, b, bias, mult, shift, zp_out, relu, raw32, out, path):
    """Validate gemm_i8 arguments once; returns everything the C call needs."""
    if type(a) is not np.ndarray or a.dtype is not _I8 or a.strides[1] != 1:
        a = _matrix(a, "a")
    M, K = a.shape
    packed = type(b) is PackedB
    if packed:
        N = b.N
        if b.K != K:
            raise ValueError(f"a is {M}x{K} but packed b is {b.K}x{N}: inner dimensions differ")
        if path is not None and _PATH_ID.get(path) != _PATH_ID[b.path]:
            raise ValueError(f"b was packed for path {b.path!r}, not {path!r}")
    else:
        if type(b) is not np.ndarray or b.dtype is not _I8 or b.strides[1] != 1:
            b = _matrix(b, "b")
        if b.shape[0] != K:
            raise ValueError(f"a is {M}x{K} but b is {b.shape[0]}x{b.shape[1]}: inner dimensions differ")
        N = b.shape[1]
    odt = _I32 if raw32 else _I8
    if out is None:
        out = np.empty((M, N), odt)
    elif type(out) is not np.ndarray or out.dtype is not odt or out.shape != (M, N) or out.strides[1] != odt.itemsize \
            or out.strides[0] % odt.itemsize or out.strides[0] < 0 or not out.flags.writeable:
        raise ValueError(f"out must be a writable {odt} array of shape ({M}, {N}) with unit column stride")
    if not raw32:
        if mult is None or shift is None:
            raise ValueError("int8 mode needs mult and shift (int32 [N]); pass raw32=True for int32 output")
        if not INT8_MIN <= zp_out <= INT8_MAX:
            raise ValueError(f"zp_out must be in [-128, 127], got {zp_out}")
    flags = (RELU if relu else 0) | (RAW32 if raw32 else 0)
    pb = _vector(bias, N, "bias")
    pm = _vector(mult, N, "mult") if not raw32 else _NULL
    ps = _vector(shift, N, "shift") if not raw32 else _NULL
    return a, b, out, M, N, K, packed, pb, pm, ps, flags, out.strides[0] // odt.itemsize


# ---------------- call cache: a repeated gemm_i8 call costs one dict lookup + one FFI crossing --------
# Key: id(a) ^ id(b) ^ id(out) (cheap; a collision only evicts). An entry holds strong references to
# its arrays, so while it lives no other object can take their ids: the `is` checks of a hit prove
# the very same objects; the scalar arguments are compared too. Shapes are re-checked on every
# hit (numpy lets `arr.shape = ...` reshape in place);
# contents may change freely (they are read at call time; mult/shift are re-validated in C).
# Only calls whose arrays total at most _CALL_CACHE_MAX_BYTES are cached (for larger ones the
# Python cost is noise beside the GEMM), and at most _CALL_CACHE_MAX entries (oldest dropped).
_CALL_CACHE_MAX = 64
_CALL_CACHE_MAX_BYTES = 256 * 1024   # so at most 64 x 256 KiB of arrays are held
_calls: dict[int, tuple] = {}


def clear_caches() -> None:
    """Drop the cached calls and buffer pointers (and the references they hold to arrays)."""
    _calls.clear()
    _buf_calls.clear()
    _ptr_cache.clear()
    _buf_cache.clear()


def _remember(cache: dict, key: tuple, entry: tuple) -> None:
    if len(cache) >= _CALL_CACHE_MAX:
        cache.pop(next(iter(cache)))
    cache[key] = entry


def gemm_i8(a, b, *, bias=None, mult=None, shift=None, zp_out: int = 0, relu: bool = False,
            raw32: bool = False, out: np.ndarray | None = None, path: str | None = None) -> np.ndarray:
    """C = epilogue(A @ B + bias) for numpy arrays; B int8 [K,N] or a PackedB. Returns `out` (allocated
    if None: int8 [M,N], or int32 in raw32 mode). Strides come from the arrays (row strides may be
    arbitrary; an operand with non-unit inner stride is copied). Raises ValueError on bad input.
    A call repeated with the same array objects skips all Python-side checks (see _calls)."""
    e = _calls.get(id(a) ^ id(b) ^ id(out))
    if e is not None and e[0] is a and e[1] is b and e[2] is out and e[3] is bias and e[4] is mult \
            and e[5] is shift and e[6] == (zp_out, relu, raw32, path, _forced) and (a.shape, b.shape) == e[7]:
        if out is not None:
            if out.shape == e[8]:
                rc = _tc_run(e[9])
                if not rc:
                    return out
                raise_for(rc, lib.tc_last_error_index(), **e[10])
        else:   # a fresh output array per call: the cached pointers + this one
            res = np.empty(e[8], e[11])
            fn, pre, post = e[9]
            rc = fn(*pre, _from_buffer(res), *post)
            if not rc:
                return res
            raise_for(rc, lib.tc_last_error_index(), **e[10])
    return _gemm_i8_slow(a, b, bias, mult, shift, zp_out, relu, raw32, out, path)


def _gemm_i8_slow(a, b, bias, mult, shift, zp_out, relu, raw32, out, path):
    a0, b0, out0 = a, b, out
    a, b, out, M, N, K, packed, pb, pm, ps, flags, ldc = _prepare(a, b, bias, mult, shift, zp_out, relu, raw32,
                                                                  out, path)
    pa, pc = _ptr(a, "int8_t"), _ptr(out, "int8_t")
    if packed:
        fn, pre, post = lib.tc_gemm_i8_packed, (pa, a.strides[0], b.handle), (ldc, M, pb, pm, ps, zp_out, flags)
    else:
        fn, pre = lib.tc_gemm_i8, (pa, a.strides[0], _ptr(b, "int8_t"), b.strides[0])
        post = (ldc, M, N, K, pb, pm, ps, zp_out, flags, _path_id(path))
    rc = fn(*pre, pc, *post)
    args = dict(M=M, N=N, K=K, zp_out=zp_out, mult=mult, shift=shift, path=path, flags=flags)
    if rc:
        raise_for(rc, lib.tc_last_error_index(), **args)
    # cache only when no operand was copied (the entry names the caller's objects) and the call is small
    if a is a0 and b is b0 and (out0 is None or out is out0) and \
            a.nbytes + out.nbytes + (0 if packed else b.nbytes) <= _CALL_CACHE_MAX_BYTES and \
            all(v is None or (type(v) is np.ndarray and v.flags.c_contiguous) for v in (bias, mult, shift)):
        if out0 is not None:
            c = ffi.new("tc_call *")
            c.a, c.lda, c.c, c.ldc, c.M, c.N, c.K = pa, a.strides[0], pc, ldc, M, N, K
            if packed:
                c.pb = b.handle
            else:
                c.b, c.ldb = pre[2], pre[3]
            c.bias, c.mult, c.shift = pb, pm, ps
            c.zp_out, c.flags, c.path = zp_out, flags, 0 if packed else post[-1]
            run = c
        else:
            run = (fn, pre, post)
        # (a, b, out, bias, mult, shift, scalars, shapes of a and b, out shape, call, error args, out dtype,
        #  pointers kept alive)
        _remember(_calls, id(a0) ^ id(b0) ^ id(out0),
                  (a0, b0, out0, bias, mult, shift, (zp_out, relu, raw32, path, _forced), (a0.shape, b0.shape),
                   out.shape, run, args, out.dtype, (pre, pc, pb, pm, ps)))
    return out


_from_buffer = ffi.from_buffer


class GemmPlan:
    """A validated, repeatable gemm_i8 call: plan() recomputes out from the current contents of the
    bound arrays with one FFI crossing (no argument conversion). Array contents may change between
    calls (mult/shift are re-validated in C); shapes and buffers may not.

        plan = GemmPlan(a, pack_b(w), out, bias=bias, mult=mult, shift=shift, zp_out=zp, relu=True)
        plan()          # -> out
    """

    __slots__ = ("out", "_call", "_keep", "_args")

    def __init__(self, a, b, out, *, bias=None, mult=None, shift=None, zp_out: int = 0, relu: bool = False,
                 raw32: bool = False, path: str | None = None):
        a, b, out, M, N, K, packed, pb, pm, ps, flags, ldc = _prepare(a, b, bias, mult, shift, zp_out, relu,
                                                                      raw32, out, path)
        if out is None or not isinstance(out, np.ndarray):
            raise ValueError("GemmPlan needs an out array")
        c = ffi.new("tc_call *")
        c.a, c.lda = _ptr(a, "int8_t"), a.strides[0]
        if packed:
            c.pb = b.handle
        else:
            c.b, c.ldb = _ptr(b, "int8_t"), b.strides[0]
        c.c, c.ldc = _ptr(out, "int8_t"), ldc
        c.M, c.N, c.K = M, N, K
        c.bias, c.mult, c.shift = pb, pm, ps
        c.zp_out, c.flags, c.path = zp_out, flags, _path_id(path)
        self.out = out
        self._call = c
        self._keep = (a, b, out, bias, mult, shift, pb, pm, ps)   # keep every pointed-to buffer alive
        self._args = dict(M=M, N=N, K=K, zp_out=zp_out, mult=mult, shift=shift, path=path, flags=flags)

    def __call__(self) -> np.ndarray:
        rc = _tc_run(self._call)
        if rc:
            raise_for(rc, lib.tc_last_error_index(), **self._args)
        return self.out


_tc_run = lib.tc_run


# ---------------- flat-buffer (SRAM) API ----------------
_buf_cache: dict[int, tuple[object, object, int]] = {}


def _buffer(buf):
    """(uint8_t* cdata, length) of a writable flat buffer; cached by identity (kept alive)."""
    hit = _buf_cache.get(id(buf))
    if hit is not None and hit[0] is buf:
        return hit[1], hit[2]
    if isinstance(buf, np.ndarray) and (buf.dtype != np.uint8 or buf.ndim != 1 or not buf.flags.c_contiguous):
        raise ValueError(f"buf must be a contiguous 1-D uint8 array or a bytearray, got {buf.dtype} {buf.shape}")
    p = ffi.from_buffer("uint8_t[]", buf, require_writable=True)
    if len(_buf_cache) >= _PTR_CACHE_MAX:
        _buf_cache.pop(next(iter(_buf_cache)))
    _buf_cache[id(buf)] = (buf, p, len(p))
    return p, len(p)


_buf_calls: dict[tuple, tuple] = {}


def gemm_i8_buf(buf, a_off: int, lda: int, b_off: int, ldb: int, c_off: int, ldc: int, M: int, N: int,
                K: int, bias_off: int, mult_off: int, shift_off: int, zp_out: int, flags: int,
                path: str | None = None, act_min: int = INT8_MIN, act_max: int = INT8_MAX) -> int:
    """In-place GEMM on one flat writable buffer (bytearray / 1-D uint8 array, e.g. the SRAM).
    Offsets in bytes; lda/ldb in bytes, ldc in output elements; bias_off = -1 for no bias;
    mult_off/shift_off are ignored in RAW32 mode; flags: RELU | RAW32 | QTFL; int8 outputs are
    clamped to [act_min, act_max] last. Returns 0 or raises ValueError.
    A repeated call (same buffer object and register values) is one dict lookup + one FFI
    crossing: the prepared call is cached (the buffer cannot be resized while it is cached)."""
    key = (id(buf), a_off, lda, b_off, ldb, c_off, ldc, M, N, K, bias_off, mult_off, shift_off, zp_out, flags,
           path, _forced, act_min, act_max)
    hit = _buf_calls.get(key)
    if hit is not None:
        rc = _tc_run_buf(hit[0])
    else:
        p, n = _buffer(buf)
        c = ffi.new("tc_buf_call *", (p, n, a_off, lda, b_off, ldb, c_off, ldc, M, N, K, bias_off, mult_off,
                                      shift_off, zp_out, flags, _path_id(path), act_min, act_max))
        rc = _tc_run_buf(c)
        if not rc:
            _remember(_buf_calls, key, (c, buf, p))
    if rc:
        raise_for(rc, lib.tc_last_error_index(), M=M, N=N, K=K, zp_out=zp_out, buf=buf, mult=mult_off,
                  shift=shift_off, path=path, flags=flags, act=(act_min, act_max))
    return 0


_tc_run_buf = lib.tc_run_buf


def gemm_i8_packed_buf(buf, a_off: int, lda: int, b: PackedB, c_off: int, ldc: int, M: int,
                       bias_off: int, mult_off: int, shift_off: int, zp_out: int, flags: int) -> int:
    """gemm_i8_buf with pre-packed weights (the model's weight-stationary case)."""
    p, n = _buffer(buf)
    N, K = b.N, b.K
    esize = 4 if flags & RAW32 else 1
    if M < 1 or a_off < 0 or lda < 0 or ldc < N or c_off < 0 or a_off + (M - 1) * lda + K > n \
            or c_off + ((M - 1) * ldc + N) * esize > n or (bias_off >= 0 and bias_off + 4 * N > n) \
            or (not flags & RAW32 and (mult_off < 0 or shift_off < 0 or mult_off + 4 * N > n or shift_off + 4 * N > n)):
        raise ValueError(f"operands (a_off={a_off}, lda={lda}, c_off={c_off}, ldc={ldc}, M={M}, bias_off={bias_off}, "
                         f"mult_off={mult_off}, shift_off={shift_off}) do not fit in the {n}-byte buffer")
    rc = lib.tc_gemm_i8_packed(ffi.cast("int8_t *", p) + a_off, lda, b.handle, p + c_off, ldc, M,
                               _NULL if bias_off < 0 else ffi.cast("int32_t *", p + bias_off),
                               ffi.cast("int32_t *", p + mult_off), ffi.cast("int32_t *", p + shift_off), zp_out, flags)
    if rc:
        raise_for(rc, lib.tc_last_error_index(), M=M, N=N, K=K, zp_out=zp_out, buf=buf, mult=mult_off,
                  shift=shift_off, flags=flags)
    return 0


class b_cache(contextlib.AbstractContextManager):
    """Turn this thread's packed-B cache on/off (on by default); as a context manager, restores on exit.

    The C side keeps the last few B operands it packed (up to 256 KiB each) with a copy of their
    bytes and reuses the packing only when the bytes still compare equal, so results never
    depend on it. Turn it off to measure the cost of packing B on every call."""

    def __init__(self, enabled: bool):
        self._previous = bool(lib.tc_b_cache_enable(1 if enabled else 0))

    def __exit__(self, *exc) -> None:
        lib.tc_b_cache_enable(1 if self._previous else 0)


def b_cache_stats() -> tuple[int, int]:
    """(hits, misses) of this thread's packed-B cache since the thread started."""
    h, m = ffi.new("int64_t *"), ffi.new("int64_t *")
    lib.tc_b_cache_stats(h, m)
    return h[0], m[0]


# ---------------- vector unit kernels (native/vu_ops.h) ----------------
VU_ARG_FIELDS = tuple(name for name, _ in ffi.typeof("vu_args").fields)
_VU_ERRORS = {lib.VU_ERR_BOUNDS: "vector operand does not fit in the buffer",
              lib.VU_ERR_SHAPE: "vector operation has an empty dimension, window or invalid LEFT_SHIFT"}


def vu_args(**fields: int):
    """A `vu_args` struct (native/vu_ops.h) from keyword fields; unnamed fields are 0 (bias_off: pass -1
    for no bias). Unknown names raise ValueError."""
    unknown = set(fields) - set(VU_ARG_FIELDS)
    if unknown:
        raise ValueError(f"unknown vu_args fields: {', '.join(sorted(unknown))} (known: {', '.join(VU_ARG_FIELDS)})")
    a = ffi.new("vu_args *")
    for k, v in fields.items():
        setattr(a, k, v)
    return a


def _vu_check(rc: int) -> None:
    if rc == lib.VU_ERR_NOMEM:
        raise MemoryError("vector unit scratch allocation failed")
    if rc:
        raise ValueError(_VU_ERRORS.get(rc, f"vector unit error {rc}"))


def vu_dwconv_buf(buf, args) -> None:
    """TFLM's per-channel depthwise convolution on a flat buffer (the SRAM), in place; see vu_ops.h."""
    p, n = _buffer(buf)
    _vu_check(lib.vu_dwconv(p, n, args))


def vu_pool_buf(buf, args, is_max: bool) -> None:
    """TFLM's int8 average (is_max False) or max pool on a flat buffer, in place."""
    p, n = _buffer(buf)
    _vu_check(lib.vu_pool(p, n, args, 1 if is_max else 0))


def vu_add_buf(buf, args) -> None:
    """TFLM's int8 Add with input rescaling on a flat buffer, in place."""
    p, n = _buffer(buf)
    _vu_check(lib.vu_add(p, n, args))


from native.reference import reference_gemm_i8  # noqa: E402  (re-export)

__all__ = ["vu_args", "vu_dwconv_buf", "vu_pool_buf", "vu_add_buf", "VU_ARG_FIELDS", "gemm_i8", "clear_caches", "b_cache", "b_cache_stats", "GemmPlan", "gemm_i8_buf", "gemm_i8_packed_buf", "pack_b", "pack_b_buf", "PackedB", "paths",
           "best_path", "variants", "last_variant", "force_path", "reference_gemm_i8", "RELU", "RAW32", "QTFL",
           "PATH_NAMES"]
