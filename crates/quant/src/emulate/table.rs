//! The scalar level's batched kernels ([`crate::matmul::BatchKernels`]): llama.cpp's batched
//! orders from this module's scalar definitions, behind byte-level [`GemmFn`]s. The truth
//! the SIMD versions match; the K-quant ones unpack each weight block once per 64 tokens.

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

/// A batched K-quant gemm in one of [`Order`]'s float orders, unpacking each weight
/// super-block once for up to 64 tokens ([`gemm_blocks`]).
macro_rules! batched {
    ($name:ident, $wblock:ty, $view:ident, $order:expr) => {
        fn $name(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize) {
            gemm_blocks::<$wblock>(n, w, nr, x, nc, out, stride, $view, $order)
        }
    };
}
batched!(tiled_q2_k, BlockQ2K, kblock_q2_k, Order::Tiled { has_min: true });
batched!(tiled_q3_k, BlockQ3K, kblock_q3_k, Order::Tiled { has_min: false });
batched!(tiled_q4_k, BlockQ4K, kblock_q4_k, Order::Tiled { has_min: true });
batched!(tiled_q5_k, BlockQ5K, kblock_q5_k, Order::Tiled { has_min: true });
batched!(tiled_q6_k, BlockQ6K, kblock_q6_k, Order::Tiled { has_min: false });
batched!(repack_gemv_q4_k, BlockQ4K, kblock_q4_k, Order::Repack { step: QK_K });
batched!(repack_gemm_q4_k, BlockQ4K, kblock_q4_k, Order::Repack { step: 64 });
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
