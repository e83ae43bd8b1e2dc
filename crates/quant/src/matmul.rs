//! Which float order a matrix multiplication follows, per weight type and batch size.
//!
//! llama.cpp (ggml-cpu on x86) does not run one kernel per type: for the same weights it picks
//! `vec_dot` for one token, tinyBLAS (`llamafile/sgemm.cpp`) for batches of F32/F16/BF16/Q8_0/
//! Q4_0/Q5_0, the tiled K-quant kernel (`tiled/`) for batches of 8+ tokens of Q2_K..Q6_K, and
//! for Q4_0/Q4_K with a row count divisible by 8 the repacked kernels (`repack.cpp`): a 4-token
//! gemm for each whole group of 4 tokens and a gemv for the rest. Each adds its floats in its
//! own order, and the models are chaotic enough that matching llama.cpp's logits needs the
//! same order. A [`BatchPlan`] says which of our kernels (each bit-identical to one of those)
//! computes which tokens.
//!
//! Every kernel here gives each output from its (weight row, token) pair alone, so the result
//! does not depend on threads or tiling; it depends on the batch size exactly as llama.cpp's.

use crate::kernels::{GemmFn, Kernels};
use gguf::GgmlType;

/// llama.cpp's batched kernels of one type, where their float order differs from `vec_dot`.
#[derive(Clone, Copy, Default)]
pub struct BatchKernels {
    /// tinyBLAS order, for batches of 2 or more tokens.
    pub tinyblas: Option<GemmFn>,
    /// The tiled K-quant kernel's order, for batches of [`TILED_MIN_BATCH`] or more.
    pub tiled: Option<GemmFn>,
    /// Repacked 8-row gemm order, applied to whole groups of 4 tokens.
    pub repack_gemm: Option<GemmFn>,
    /// Repacked 8-row gemv order, for single tokens and the tokens after the last group of 4.
    pub repack_gemv: Option<GemmFn>,
    /// Our own order for batches of [`FAST_MIN_BATCH`] or more tokens, faster than llama.cpp's
    /// but not bit-identical to it (`simd::x86::rows16`); used by [`Kernels::plan_fast`] only.
    pub fast: Option<GemmFn>,
}

/// Smallest batch given to a [`BatchKernels::fast`] kernel (its token groups are 8 wide).
pub const FAST_MIN_BATCH: usize = 8;

/// ggml's `ggml_tiled_min_batch`: the tiled kernel takes batches of at least 8 tokens.
pub const TILED_MIN_BATCH: usize = 8;

/// How one matmul is computed: tokens `0..n_main` by `main`, the rest by `tail`.
#[derive(Clone, Copy)]
pub struct BatchPlan {
    pub main: GemmFn,
    pub n_main: usize,
    pub tail: GemmFn,
}

impl Kernels {
    /// Whether llama.cpp repacks a weight tensor of type `ty` with `rows` rows (on x86: Q4_0
    /// and Q4_K with a multiple of 8 rows). Ask for the whole tensor, not a slice of it. (A
    /// tied embedding is loaded twice by llama.cpp, and its output copy is repacked too.)
    pub fn repacks(&self, ty: GgmlType, rows: usize) -> bool {
        self.batch(ty).repack_gemm.is_some() && rows.is_multiple_of(8)
    }

    /// The kernels llama.cpp would use for weights of type `ty` with `rows` rows (the whole
    /// tensor) times `n` tokens; `repacked` as [`Kernels::repacks`] says for the tensor.
    /// tinyBLAS declines a weight whose row count is not a multiple of 4 (`tinyBLAS::matmul`
    /// in sgemm.cpp), and ggml then runs `vec_dot`.
    pub fn plan(&self, ty: GgmlType, rows: usize, n: usize, repacked: bool) -> BatchPlan {
        let e = self.get(ty);
        let b = self.batch(ty);
        if let (Some(gemm), Some(gemv)) = (b.repack_gemm, b.repack_gemv) {
            if repacked {
                return BatchPlan { main: gemm, n_main: n - n % 4, tail: gemv };
            }
        }
        let main = if n == 1 {
            e.gemm
        } else if let (Some(t), true) = (b.tiled, n >= TILED_MIN_BATCH) {
            t
        } else if let (Some(t), true) = (b.tinyblas, rows.is_multiple_of(4)) {
            t
        } else {
            e.gemm
        };
        BatchPlan { main, n_main: n, tail: e.gemm }
    }

    /// [`Kernels::plan`], except that batches of [`FAST_MIN_BATCH`] or more tokens go to the
    /// type's own fast kernel where it has one (`repacked` only names llama.cpp's order; the
    /// bytes are the file's either way).
    pub fn plan_fast(&self, ty: GgmlType, rows: usize, n: usize, repacked: bool) -> BatchPlan {
        match self.batch(ty).fast {
            Some(fast) if n >= FAST_MIN_BATCH => BatchPlan { main: fast, n_main: n, tail: self.get(ty).gemm },
            _ => self.plan(ty, rows, n, repacked),
        }
    }
}

/// `out[t * rows + r] = w row r · x row t` on one thread, as llama.cpp would compute it: the
/// activations are quantized into the type's partner format, then the plan's kernels run.
/// For tests and tools; the engine runs the same plan across its thread pool.
#[allow(clippy::too_many_arguments)]
pub fn matmul_single_thread(
    k: &Kernels,
    ty: GgmlType,
    w: &[u8],
    rows: usize,
    cols: usize,
    repacked: bool,
    x: &[f32],
    n: usize,
    out: &mut [f32],
) {
    let vt = k.get(ty).vec_dot_type;
    let xb = vt.row_bytes(cols).expect("whole blocks");
    let mut act = vec![0u8; xb * n];
    for t in 0..n {
        k.quantize_row(vt, &x[t * cols..(t + 1) * cols], &mut act[t * xb..(t + 1) * xb]);
    }
    let plan = k.plan(ty, rows, n, repacked);
    (plan.main)(cols, w, rows, &act[..plan.n_main * xb], plan.n_main, &mut out[..plan.n_main * rows], rows);
    let rest = n - plan.n_main;
    if rest > 0 {
        (plan.tail)(cols, w, rows, &act[plan.n_main * xb..], rest, &mut out[plan.n_main * rows..n * rows], rows);
    }
}
