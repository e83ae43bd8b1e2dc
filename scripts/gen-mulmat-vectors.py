#!/usr/bin/env python3
"""Dev-only: record llama.cpp's own matrix multiplications as test vectors.

For each weight type, quantizes random rows with ggml's quantizer and runs one ggml mul_mat
on the CPU backend for several batch sizes, exactly as llama.cpp runs a layer: through
tinyBLAS, the tiled K-quant kernel, the repacked (interleaved) kernels or vec_dot, whichever
ggml picks for that type and batch. The tool that runs the mul_mat is a 60-line C program
(tools/mulmat.c, built against the peer's libggml); see scripts/README or the command below.

Output: tests/data/kernels/mulmat/<name>.bin, read by crates/quant/tests/ggml_matmul.rs:
  b"VBMM", u32 type id, rows, k, n_max, repack, n_sizes, u32 sizes[n_sizes],
  weight bytes (rows x k in the type), x f32 [n_max][k], then for each size n: out f32 [n][rows]
  (batch size n multiplies the first n rows of x).

usage: scripts/gen-mulmat-vectors.py PEER_BIN_DIR MULMAT_TOOL
"""
import ctypes, os, struct, subprocess, sys, tempfile
import numpy as np

BIN, TOOL = sys.argv[1], sys.argv[2]
base = ctypes.CDLL(os.path.join(BIN, "libggml-base.so.0.26.0"))
base.ggml_quantize_chunk.restype = ctypes.c_size_t
base.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                     ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
base.ggml_row_size.restype = ctypes.c_size_t
base.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "kernels", "mulmat")
os.makedirs(OUT, exist_ok=True)

# file name, ggml type id, repack (llama.cpp's CPU_REPACK buffer on AVX2: Q4_0 and Q4_K when rows % 8 == 0)
TYPES = [
    ("f32", 0, 0), ("f16", 1, 0), ("bf16", 30, 0), ("q4_0", 2, 1), ("q4_1", 3, 0), ("q5_0", 6, 0),
    ("q5_1", 7, 0), ("q8_0", 8, 0), ("q2_K", 10, 0), ("q3_K", 11, 0), ("q4_K", 12, 1),
    ("q4_K-plain", 12, 0), ("q5_K", 13, 0), ("q6_K", 14, 0),
]
ROWS, K = 64, 768
SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 24, 33]
NMAX = max(SIZES)

def mulmat(tid, wbytes, x, n, repack, threads, tmp):
    wp, xp, op = (os.path.join(tmp, s) for s in ("w", "x", "o"))
    open(wp, "wb").write(wbytes)
    open(xp, "wb").write(x[:n].astype(np.float32).tobytes())
    subprocess.run([TOOL, str(tid), str(ROWS), str(K), str(n), str(repack), str(threads), wp, xp, op], check=True)
    return np.fromfile(op, dtype=np.float32)

rng = np.random.default_rng(20261125)
with tempfile.TemporaryDirectory() as tmp:
    for name, tid, repack in TYPES:
        w = rng.standard_normal((ROWS, K)).astype(np.float32) * 0.05
        x = rng.standard_normal((NMAX, K)).astype(np.float32)
        x[:, ::7] *= 4.0  # some larger activations, as real hidden states have
        rb = base.ggml_row_size(tid, K)
        wq = ctypes.create_string_buffer(rb * ROWS)
        base.ggml_quantize_chunk(tid, w.ctypes.data, wq, 0, ROWS, K, None)
        wbytes = wq.raw
        outs = []
        for n in SIZES:
            o1 = mulmat(tid, wbytes, x, n, repack, 1, tmp)
            o2 = mulmat(tid, wbytes, x, n, repack, 2, tmp)
            assert (o1.view(np.uint32) == o2.view(np.uint32)).all(), f"{name} n={n}: 1 and 2 threads differ"
            outs.append(o1)
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(b"VBMM" + struct.pack("<6I", tid, ROWS, K, NMAX, repack, len(SIZES)))
            f.write(struct.pack(f"<{len(SIZES)}I", *SIZES))
            f.write(wbytes)
            f.write(x.astype(np.float32).tobytes())
            for o in outs:
                f.write(o.tobytes())
        print(name, "ok", os.path.getsize(os.path.join(OUT, name + ".bin")), "bytes")
