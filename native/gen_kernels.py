"""Generates the specialized int8 GEMM microkernels (C) at build time, one per (ISA, register block).

Usage:
    python native/gen_kernels.py [out.c]        # writes the C (default: stdout)
    from native.gen_kernels import generate; text = generate()

Like Mojo compile-time parameters: every variant is a fully unrolled function for one
(ISA, MR rows, NV vectors of columns) register block, plus tile variants for the accelerator
profiles' array widths (N fixed at compile time: no column masks, unrolled over all N).
The table `tc_variants[]` names them; the C driver picks one per call (see tc_driver.c).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

# Accelerator revision profiles: array (tile) width and vector width in bytes.
PROFILES = {
    "tiny": {"array": 8, "vector_bytes": 16},
    "edge-v1": {"array": 16, "vector_bytes": 32},
    "edge-v2": {"array": 32, "vector_bytes": 64},
}


@dataclass(frozen=True)
class Isa:
    name: str          # variant name prefix
    path: str          # TC_PATH_* enum
    target: str        # TC_TARGET_* attribute macro
    vec: str           # C vector type
    lanes: int         # int32 accumulator lanes per vector
    zero: str
    load: str          # {p}: byte pointer
    bcast: str         # {p}: byte pointer to one 4-byte A entry
    fma: str           # {acc} {a} {b}
    cols: str          # epilogue column-params type / function prefix
    store: str         # epilogue store prefix
    flip: str = ""     # VNNI: vector of 0x80 bytes; A is read as signed int8 and made unsigned
                       # (A xor 0x80 = A + 128) in the register, so A needs no packing pass
    xor: str = ""      # {a} {f}
    add: str = ""      # {x} {y}: int32 lane add (wraps); filled in from the vector type


AVX512 = Isa("avx512vnni", "TC_PATH_AVX512VNNI", "TC_TARGET_AVX512", "__m512i", 16,
             "_mm512_setzero_si512()", "_mm512_loadu_si512((const void *)({p}))",
             "_mm512_set1_epi32(tc_ld32({p}))", "{acc} = _mm512_dpbusd_epi32({acc}, {a}, {b});",
             "tc_cols512", "tc_store512", "_mm512_set1_epi8((char)TC_VNNI_A_BIAS)", "_mm512_xor_si512({a}, {f})")
# 256-bit vpdpbusd through AVX512-VL: used for 8-wide tiles on the AVX-512 path.
AVX512_YMM = Isa("avx512vnni_ymm", "TC_PATH_AVX512VNNI", "TC_TARGET_AVX512", "__m256i", 8,
                 "_mm256_setzero_si256()", "_mm256_loadu_si256((const __m256i *)({p}))",
                 "_mm256_set1_epi32(tc_ld32({p}))", "{acc} = _mm256_dpbusd_epi32({acc}, {a}, {b});",
                 "tc_cols256", "tc_store256", "_mm256_set1_epi8((char)TC_VNNI_A_BIAS)", "_mm256_xor_si256({a}, {f})")
AVXVNNI = Isa("avxvnni", "TC_PATH_AVXVNNI", "TC_TARGET_AVXVNNI", "__m256i", 8,
              "_mm256_setzero_si256()", "_mm256_loadu_si256((const __m256i *)({p}))",
              "_mm256_set1_epi32(tc_ld32({p}))", "{acc} = _mm256_dpbusd_avx_epi32({acc}, {a}, {b});",
              "tc_cols256", "tc_store256", "_mm256_set1_epi8((char)TC_VNNI_A_BIAS)", "_mm256_xor_si256({a}, {f})")
# Exact AVX2: A and B sign-extended to int16 pairs; vpmaddwd sums two int8*int8 products
# (|sum| <= 2*128*128 < 2^31, never the saturating -32768*-32768 case), vpaddd wraps like int32.
AVX2 = Isa("avx2", "TC_PATH_AVX2", "TC_TARGET_AVX2", "__m256i", 8,
           "_mm256_setzero_si256()", "_mm256_loadu_si256((const __m256i *)({p}))",
           "_mm256_set1_epi32(tc_ld32({p}))",
           "{acc} = _mm256_add_epi32({acc}, _mm256_madd_epi16({a}, {b}));",
           "tc_cols256", "tc_store256")

ENTRY_BYTES = 4  # bytes per (row or column, k-group) entry; matches TC_ENTRY_BYTES
MIN_CHAINS = 4   # blocks with fewer accumulators split K over several sets (see kernel())
_ADD = {"__m512i": "_mm512_add_epi32({x}, {y})", "__m256i": "_mm256_add_epi32({x}, {y})"}

# General register blocks per ISA: (MR list, NV). All share the panel width NR = NV * lanes,
# so one packed B serves every row block; the largest MR is the main block, smaller ones take
# the M tail. Sized for 32 zmm / 16 ymm registers: MR*NV accumulators + NV B vectors + 1 A.
# AVX-512 8x32 measured best here (Zen 5): 12x32, 16x32, 6x64 and 8x48 were 5-20% slower.
# AVX-VNNI keeps one ymm for the 0x80 flip of A, so its main block is 5x16 (10 accumulators +
# 2 B + A + flip): 6x16 spilled and ran at half the speed (~260 vs ~480 GOPS at 256^3);
# 4x24 and 3x32 were slower too. The int16 AVX2 path has no flip: 6x16 beat 5x16 (~130 vs ~115).
GENERAL = {
    AVX512: ([1, 2, 4, 8], 2),
    AVXVNNI: ([1, 2, 4, 5], 2),
    AVX2: ([1, 2, 4, 6], 2),
}

# Tile variants (fixed N = profile array width) per ISA: N -> (isa, MR list). The largest MR is
# the main block; the smaller ones take the M tail, so a batch-1 (M=1) tile runs a 1-row kernel.
TILES = {
    "TC_PATH_AVX512VNNI": {8: (AVX512_YMM, [1, 2, 4, 8]), 16: (AVX512, [1, 2, 4, 8, 16]),
                           32: (AVX512, [1, 2, 4, 8])},
    "TC_PATH_AVXVNNI": {8: (AVXVNNI, [1, 2, 4, 8]), 16: (AVXVNNI, [1, 2, 4, 5]), 32: (AVXVNNI, [1, 2])},
    "TC_PATH_AVX2": {8: (AVX2, [1, 2, 4, 8]), 16: (AVX2, [1, 2, 4, 6]), 32: (AVX2, [1, 2])},
}


def kernel(isa: Isa, mr: int, nv: int, fixed_n: int = 0) -> tuple[str, str]:
    """C source of one microkernel; returns (function name, code)."""
    nr = nv * isa.lanes
    isa = Isa(**{**isa.__dict__, "add": _ADD[isa.vec]})
    name = f"tc_ukr_{isa.name}_{mr}x{nr}" + (f"_n{fixed_n}" if fixed_n else "")
    n_expr = str(fixed_n) if fixed_n else "n"
    L = []
    L.append(f"static {isa.target} void {name}(const uint8_t *ap, int64_t lda, const int8_t *bp, int64_t kgroups,")
    L.append("        void *c, int64_t ldc, int m, int n, const tc_epi *ep, int64_t j0)")
    L.append("{")
    if fixed_n:
        L.append("    (void)n;")
    # Small blocks (fewer than MIN_CHAINS accumulators) split K over `ks` accumulator sets so the
    # vpdpbusd dependency chains overlap; the sets are added at the end (int32 adds wrap, so the
    # order of the sum cannot change the result).
    ks = max(1, MIN_CHAINS // (mr * nv))
    sets = [[[f"c{r}_{v}" + (f"_s{s}" if s else "") for v in range(nv)] for r in range(mr)] for s in range(ks)]
    accs = sets[0]
    for acc_set in sets:
        for r in range(mr):
            L.append(f"    {isa.vec} " + ", ".join(f"{a} = {isa.zero}" for a in acc_set[r]) + ";")
    if isa.flip:
        L.append(f"    const {isa.vec} flip = {isa.flip};")
    L.append("    const uint8_t *a0 = ap;")
    for r in range(1, mr):   # rows past m re-read row 0 (computed, never stored): no read past A
        L.append(f"    const uint8_t *a{r} = ap + ({r} < m ? {r} : 0) * lda;")

    def step(acc_set, g: str, bofs: int) -> None:
        L.append("    {")
        L.append(f"        const int64_t ao = ({g}) * {ENTRY_BYTES};")
        for v in range(nv):
            L.append(f"        {isa.vec} b{v} = {isa.load.format(p=f'bp + {bofs + v * isa.lanes * ENTRY_BYTES}')};")
        for r in range(mr):
            bc = isa.bcast.format(p=f"a{r} + ao")
            if isa.xor:
                bc = isa.xor.format(a=bc, f="flip")
            L.append(f"        {{ {isa.vec} a = {bc};")
            for v in range(nv):
                L.append("          " + isa.fma.format(acc=acc_set[r][v], a="a", b=f"b{v}"))
            L.append("        }")
        L.append("    }")

    L.append("    int64_t g = 0;")
    if ks > 1:
        L.append(f"    for (; g + {ks} <= kgroups; g += {ks}) {{")
        for s_, acc_set in enumerate(sets):
            step(acc_set, f"g + {s_}", s_ * nr * ENTRY_BYTES)
        L.append(f"        bp += {ks * nr * ENTRY_BYTES};")
        L.append("    }")
    L.append("    for (; g < kgroups; ++g) {")
    step(accs, "g", 0)
    L.append(f"        bp += {nr * ENTRY_BYTES};")
    L.append("    }")
    for acc_set in sets[1:]:
        for r in range(mr):
            for v in range(nv):
                L.append(f"    {accs[r][v]} = {isa.add.format(x=accs[r][v], y=acc_set[r][v])};")
    for v in range(nv):
        L.append(f"    {isa.cols} p{v}; {isa.cols}_init(&p{v}, ep, j0 + {v * isa.lanes}, {n_expr} - {v * isa.lanes});")
    L.append("    char *row = (char *)c;")
    L.append("    if (ep->flags & TC_FLAG_RAW32) {")
    L.append("        const int relu = ep->flags & TC_FLAG_RELU;")
    L.append("        const int64_t step = ldc * (int64_t)sizeof(int32_t);")
    for r in range(mr):
        if r:
            L.append(f"        if ({r} >= m) return;")
        stores = " ".join(f"{isa.store}_raw({accs[r][v]}, &p{v}, relu, row + {v * isa.lanes * 4});" for v in range(nv))
        L.append(f"        {stores} row += step;")
    L.append("    } else {")
    for r in range(mr):
        if r:
            L.append(f"        if ({r} >= m) return;")
        stores = " ".join(f"{isa.store}_q({accs[r][v]}, &p{v}, row + {v * isa.lanes});" for v in range(nv))
        L.append(f"        {stores} row += ldc;")
    L.append("    }")
    L.append("}")
    return name, "\n".join(L) + "\n"


def variants() -> list[dict]:
    """Every variant as a dict: name, path, mr, nr, fixed_n, isa, nv."""
    out = []
    for isa, (mrs, nv) in GENERAL.items():
        for mr in mrs:
            out.append(dict(isa=isa, path=isa.path, mr=mr, nv=nv, nr=nv * isa.lanes, fixed_n=0))
    for path, tiles in TILES.items():
        for n, (isa, mrs) in tiles.items():
            assert n % isa.lanes == 0, (path, n)
            for mr in mrs:
                out.append(dict(isa=isa, path=path, mr=mr, nv=n // isa.lanes, nr=n, fixed_n=n))
    return out


def generate() -> str:
    parts = ["/* GENERATED by native/gen_kernels.py at build time: do not edit. */",
             '#include "tc_epilogue.h"', ""]
    table = []
    for v in variants():
        name, code = kernel(v["isa"], v["mr"], v["nv"], v["fixed_n"])
        parts.append(code)
        table.append(f'    {{"{name[len("tc_ukr_"):]}", {v["path"]}, {v["mr"]}, {v["nr"]}, {v["fixed_n"]}, {name}}},')
    parts.append("const tc_variant tc_variants[] = {")
    parts += table
    parts.append("};")
    parts.append(f"const int tc_num_variants_generated = {len(table)};")
    nr = {isa.path: nv * isa.lanes for isa, (_, nv) in GENERAL.items()}
    order = ["0", "0", nr["TC_PATH_AVX2"], nr["TC_PATH_AVXVNNI"], nr["TC_PATH_AVX512VNNI"]]
    parts.append("const int32_t tc_general_nr[TC_NUM_PATHS] = {" + ", ".join(map(str, order)) + "};")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    text = generate()
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
