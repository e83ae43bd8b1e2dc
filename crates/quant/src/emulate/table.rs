//! The scalar level's batched kernels ([`crate::matmul::BatchKernels`]): llama.cpp's batched
//! orders from this module's scalar definitions, behind byte-level [`GemmFn`]s. One dot
//! product per (row, token) pair: the truth the SIMD versions match, not fast.

use super::kquant::*;
use crate::blocks::*;
use crate::kernels::{as_blocks, GemmFn, Kernels};
use crate::matmul::BatchKernels;
use gguf::GgmlType;
use half::{bf16, f16};

/// A byte-level gemm from a per-pair dot product over blocks: one call per (row, token).
macro_rules! pair_gemm {
    ($name:ident, $wty:ident, $wblock:ty, $xty:ident, $xblock:ty, $dot:expr) => {
        fn $name(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize) {
            let wb = GgmlType::$wty.row_bytes(n).expect("whole blocks");
            let xb = GgmlType::$xty.row_bytes(n).expect("whole blocks");
            for c in 0..nc {
                let xr = as_blocks::<$xblock>(&x[c * xb..(c + 1) * xb]);
                for r in 0..nr {
                    out[c * stride + r] = $dot(&as_blocks::<$wblock>(&w[r * wb..(r + 1) * wb]), &xr);
                }
            }
        }
    };
}

macro_rules! tiled {
    ($name:ident, $wty:ident, $wblock:ty, $view:ident, $has_min:expr) => {
        pair_gemm!($name, $wty, $wblock, Q8_K, BlockQ8K, |x: &[$wblock], y: &[BlockQ8K]| tiled_dot(
            x.iter().zip(y).map(|(a, b)| ($view(a), *b)),
            $has_min
        ));
    };
}
tiled!(tiled_q2_k, Q2_K, BlockQ2K, kblock_q2_k, true);
tiled!(tiled_q3_k, Q3_K, BlockQ3K, kblock_q3_k, false);
tiled!(tiled_q4_k, Q4_K, BlockQ4K, kblock_q4_k, true);
tiled!(tiled_q5_k, Q5_K, BlockQ5K, kblock_q5_k, true);
tiled!(tiled_q6_k, Q6_K, BlockQ6K, kblock_q6_k, false);
pair_gemm!(repack_gemv_q4_k, Q4_K, BlockQ4K, Q8_K, BlockQ8K, repack_gemv_dot_q4_k);
pair_gemm!(repack_gemm_q4_k, Q4_K, BlockQ4K, Q8_K, BlockQ8K, repack_gemm_dot_q4_k);
pair_gemm!(repack_q4_0, Q4_0, BlockQ4_0, Q8_0, BlockQ8_0, super::repack_dot_q4_0);
pair_gemm!(tinyblas_f32, F32, f32, F32, f32, super::tinyblas::tinyblas_dot_f32);
pair_gemm!(tinyblas_f16, F16, f16, F16, f16, super::tinyblas::tinyblas_dot_f16);
pair_gemm!(tinyblas_bf16, BF16, bf16, BF16, bf16, super::tinyblas::tinyblas_dot_bf16);

/// Installs llama.cpp's batched orders, in scalar code, into the scalar table.
pub(crate) fn install(k: &mut Kernels) {
    let tiled = |t: GemmFn| BatchKernels { tiled: Some(t), ..Default::default() };
    k.set_batch(GgmlType::Q2_K, tiled(tiled_q2_k));
    k.set_batch(GgmlType::Q3_K, tiled(tiled_q3_k));
    k.set_batch(GgmlType::Q5_K, tiled(tiled_q5_k));
    k.set_batch(GgmlType::Q6_K, tiled(tiled_q6_k));
    k.set_batch(
        GgmlType::Q4_K,
        BatchKernels {
            tiled: Some(tiled_q4_k),
            repack_gemm: Some(repack_gemm_q4_k),
            repack_gemv: Some(repack_gemv_q4_k),
            ..Default::default()
        },
    );
    // Repacked Q4_0: the 4-token gemm adds its floats exactly as the gemv does.
    k.set_batch(GgmlType::Q4_0, BatchKernels { repack_gemm: Some(repack_q4_0), repack_gemv: Some(repack_q4_0), ..Default::default() });
    let tinyblas = |t: GemmFn| BatchKernels { tinyblas: Some(t), ..Default::default() };
    k.set_batch(GgmlType::F32, tinyblas(tinyblas_f32));
    k.set_batch(GgmlType::F16, tinyblas(tinyblas_f16));
    k.set_batch(GgmlType::BF16, tinyblas(tinyblas_bf16));
}
