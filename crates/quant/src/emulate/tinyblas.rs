//! llamafile's tinyBLAS on AVX2 (ggml-cpu `llamafile/sgemm.cpp`,
//! `tinyBLAS<8, __m256, __m256, T, T, float>::gemm_bloc`), which llama.cpp runs for batches
//! of 2+ tokens of F32, F16 and BF16 weights when the weight has a multiple of 4 rows
//! (`tinyBLAS::matmul` declines other row counts, and then `vec_dot` computes them). F16 and
//! BF16 activations are first converted to the weight type (`vec_dot_type`), as
//! `ggml_compute_forward_mul_mat` does before its second `llamafile_sgemm` call.
//!
//! Per output one 8-lane accumulator: `acc[l] = fma(a[i + l], b[i + l], acc[l])` over whole
//! steps of 8 elements; the `k % 8` leftover elements as one more step whose missing lanes
//! are zeros (`load_partial`), so those lanes still see `fma(0, 0, acc)`; then `hsum`, which
//! is [`hsum8`]'s tree. The tile shape does not change any output's operations.

use super::hsum8;
use half::{bf16, f16};

/// One output of tinyBLAS: `a . b` over their `k` elements, widened to f32 by `f`.
pub fn tinyblas_dot<T: Copy>(a: &[T], b: &[T], f: impl Fn(T) -> f32) -> f32 {
    let k = a.len().min(b.len());
    let mut acc = [0f32; 8];
    for i in (0..k).step_by(8) {
        for (l, s) in acc.iter_mut().enumerate() {
            let (x, y) = if i + l < k { (f(a[i + l]), f(b[i + l])) } else { (0.0, 0.0) };
            *s = x.mul_add(y, *s);
        }
    }
    hsum8(&acc)
}

pub fn tinyblas_dot_f32(a: &[f32], b: &[f32]) -> f32 {
    tinyblas_dot(a, b, |v| v)
}

pub fn tinyblas_dot_f16(a: &[f16], b: &[f16]) -> f32 {
    tinyblas_dot(a, b, f16::to_f32)
}

pub fn tinyblas_dot_bf16(a: &[bf16], b: &[bf16]) -> f32 {
    // bf16 -> f32 is exact: the 16 bits become the high half.
    tinyblas_dot(a, b, |v| f32::from_bits((v.to_bits() as u32) << 16))
}
