//! NEON kernels for aarch64: the same functions as `reference`, in the *scalar level's* float
//! order (Q4_0: the AVX2 table's, see below), so an aarch64 machine gives bit for bit the scalar table's answers (which follow
//! ggml-cpu's x86 order, see [`crate::emulate`]): the logits of every platform agree.
//! That order suits NEON well: its eight-lane accumulators are two NEON vectors, and its
//! integer lanes (four consecutive bytes each) are exactly what `sdot` produces.
//!
//! One file per family:
//! - `quantize`: activation quantizers (Q8_0, Q8_1, Q8_K, F16), byte-identical;
//! - `type0`: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0; `kquants`: Q2_K..Q6_K; `float`: F32, F16, BF16;
//! - `dequant`: row dequantization for every weight type, bit-identical;
//! - `batch`: llama.cpp's batched orders (tinyBLAS, tiled K-quants, repacked Q4_K);
//! - `gemm`: the register-tiled driver; every type's gemm equals its vec_dot bit for bit
//!   (vec_dot *is* the 1 x 1 tile);
//! - `util`: shared helpers (the integer dot of four bytes per lane, f16 conversions).
//!
//! Two variants of the integer kernels, chosen when the table is built: plain NEON
//! (`vmull_s8` + pairwise adds) and, where the CPU has dotprod, `sdot`. Both give the same i32
//! lanes, so the two tables are bit-identical (tested).
//!
//! Tile shapes `(R, C, R1)`: R weight rows x C activation columns for batches, R1 rows for a
//! single column (decode); chosen so a tile's accumulators fit in the 32 vector registers.
//!
//! Q4_0 is the one exception to "the scalar level's order": like the AVX2 table, it follows
//! llama.cpp's repacked order ([`crate::emulate::repack_dot_q4_0`]; the scalar table's Q4_0
//! vec_dot keeps ggml's generic order), and its gemm also serves the repacked batch entries.
//!
//! Batches: llama.cpp's batched orders ([`crate::matmul::BatchKernels`]: tinyBLAS, the tiled
//! K-quant kernel, repacked Q4_K gemm and gemv) are in `batch`, bit-identical to the scalar
//! table's entries, as on x86.
//!
//! Everything here is `#[target_feature(enable = "neon")]` (plus `dotprod` for the `_sdot`
//! tiles) and private; the only way in is `install`, which [`super::neon_table`] calls after
//! detecting the features.

mod batch;
mod dequant;
mod float;
mod gemm;
mod kquants;
mod quantize;
mod type0;
mod util;

use crate::blocks::*;
use crate::kernels::{as_blocks, GemmFn, Kernels, TypeKernels};
use crate::matmul::BatchKernels;
use float::{bf16_dot, f16_dot, f32_dot};
use gemm::{run as gemm_run, tiles_gemm, type_kernels, Tiles};
use gguf::GgmlType;
use half::{bf16, f16};
use batch::{bf16_tb, f16_tb, f32_tb};
use kquants::{q2_k, q3_k, q4_k, q5_k, q6_k};
use type0::{q4_0, q4_1, q5_0, q5_1, q8_0};

/// Replaces the entries of `k` that have NEON kernels; with `sdot`, the integer kernels use
/// the dotprod instruction.
///
/// Must only be called once NEON (and, with `sdot`, dotprod) is known to be present: the
/// installed functions execute those instructions unconditionally.
pub(crate) fn install(k: &mut Kernels, sdot: bool) {
    if sdot {
        k.set(type_kernels!(Q4_0, Q8_0, BlockQ4_0, BlockQ8_0, tile: q4_0::tile_sdot, shape: (4, 2, 8), deq: dequant::dequantize_row_q4_0));
        k.set(type_kernels!(Q4_1, Q8_1, BlockQ4_1, BlockQ8_1, tile: q4_1::tile_sdot, shape: (2, 4, 4), deq: dequant::dequantize_row_q4_1));
        k.set(type_kernels!(Q5_0, Q8_0, BlockQ5_0, BlockQ8_0, tile: q5_0::tile_sdot, shape: (2, 4, 4), deq: dequant::dequantize_row_q5_0));
        k.set(type_kernels!(Q5_1, Q8_1, BlockQ5_1, BlockQ8_1, tile: q5_1::tile_sdot, shape: (2, 4, 4), deq: dequant::dequantize_row_q5_1));
        k.set(type_kernels!(Q8_0, Q8_0, BlockQ8_0, BlockQ8_0, tile: q8_0::tile_sdot, shape: (2, 4, 4), deq: dequant::dequantize_row_q8_0));
        k.set(type_kernels!(Q2_K, Q8_K, BlockQ2K, BlockQ8K, tile: q2_k::tile_sdot, shape: (2, 2, 4), deq: dequant::dequantize_row_q2_k));
        k.set(type_kernels!(Q3_K, Q8_K, BlockQ3K, BlockQ8K, tile: q3_k::tile_sdot, shape: (2, 2, 4), deq: dequant::dequantize_row_q3_k));
        k.set(type_kernels!(Q4_K, Q8_K, BlockQ4K, BlockQ8K, tile: q4_k::tile_sdot, shape: (2, 2, 4), deq: dequant::dequantize_row_q4_k));
        k.set(type_kernels!(Q5_K, Q8_K, BlockQ5K, BlockQ8K, tile: q5_k::tile_sdot, shape: (2, 2, 4), deq: dequant::dequantize_row_q5_k));
        k.set(type_kernels!(Q6_K, Q8_K, BlockQ6K, BlockQ8K, tile: q6_k::tile_sdot, shape: (2, 2, 4), deq: dequant::dequantize_row_q6_k));
    } else {
        k.set(type_kernels!(Q4_0, Q8_0, BlockQ4_0, BlockQ8_0, tile: q4_0::tile, shape: (4, 2, 8), deq: dequant::dequantize_row_q4_0));
        k.set(type_kernels!(Q4_1, Q8_1, BlockQ4_1, BlockQ8_1, tile: q4_1::tile, shape: (2, 4, 4), deq: dequant::dequantize_row_q4_1));
        k.set(type_kernels!(Q5_0, Q8_0, BlockQ5_0, BlockQ8_0, tile: q5_0::tile, shape: (2, 4, 4), deq: dequant::dequantize_row_q5_0));
        k.set(type_kernels!(Q5_1, Q8_1, BlockQ5_1, BlockQ8_1, tile: q5_1::tile, shape: (2, 4, 4), deq: dequant::dequantize_row_q5_1));
        k.set(type_kernels!(Q8_0, Q8_0, BlockQ8_0, BlockQ8_0, tile: q8_0::tile, shape: (2, 4, 4), deq: dequant::dequantize_row_q8_0));
        k.set(type_kernels!(Q2_K, Q8_K, BlockQ2K, BlockQ8K, tile: q2_k::tile, shape: (2, 2, 4), deq: dequant::dequantize_row_q2_k));
        k.set(type_kernels!(Q3_K, Q8_K, BlockQ3K, BlockQ8K, tile: q3_k::tile, shape: (2, 2, 4), deq: dequant::dequantize_row_q3_k));
        k.set(type_kernels!(Q4_K, Q8_K, BlockQ4K, BlockQ8K, tile: q4_k::tile, shape: (2, 2, 4), deq: dequant::dequantize_row_q4_k));
        k.set(type_kernels!(Q5_K, Q8_K, BlockQ5K, BlockQ8K, tile: q5_k::tile, shape: (2, 2, 4), deq: dequant::dequantize_row_q5_k));
        k.set(type_kernels!(Q6_K, Q8_K, BlockQ6K, BlockQ8K, tile: q6_k::tile, shape: (2, 2, 4), deq: dequant::dequantize_row_q6_k));
    }
    // llama.cpp's batched K-quant orders (see `batch`).
    let tiled = |t: GemmFn| BatchKernels { tiled: Some(t), ..Default::default() };
    let (t2, t3, t4, t5, t6, r4_gemm, r4_gemv) = {
        use batch::*;
        if sdot {
            (
                tiles_gemm!(Q2_K, Q8_K, BlockQ2K, BlockQ8K, tile: tiled_q2_k::tile_sdot, shape: (2, 4, 4)),
                tiles_gemm!(Q3_K, Q8_K, BlockQ3K, BlockQ8K, tile: tiled_q3_k::tile_sdot, shape: (2, 4, 4)),
                tiles_gemm!(Q4_K, Q8_K, BlockQ4K, BlockQ8K, tile: tiled_q4_k::tile_sdot, shape: (2, 4, 4)),
                tiles_gemm!(Q5_K, Q8_K, BlockQ5K, BlockQ8K, tile: tiled_q5_k::tile_sdot, shape: (2, 4, 4)),
                tiles_gemm!(Q6_K, Q8_K, BlockQ6K, BlockQ8K, tile: tiled_q6_k::tile_sdot, shape: (2, 4, 4)),
                tiles_gemm!(Q4_K, Q8_K, BlockQ4K, BlockQ8K, tile: repack_gemm_q4_k::tile_sdot, shape: (2, 4, 4)),
                tiles_gemm!(Q4_K, Q8_K, BlockQ4K, BlockQ8K, tile: repack_gemv_q4_k::tile_sdot, shape: (2, 4, 4)),
            )
        } else {
            (
                tiles_gemm!(Q2_K, Q8_K, BlockQ2K, BlockQ8K, tile: tiled_q2_k::tile, shape: (2, 4, 4)),
                tiles_gemm!(Q3_K, Q8_K, BlockQ3K, BlockQ8K, tile: tiled_q3_k::tile, shape: (2, 4, 4)),
                tiles_gemm!(Q4_K, Q8_K, BlockQ4K, BlockQ8K, tile: tiled_q4_k::tile, shape: (2, 4, 4)),
                tiles_gemm!(Q5_K, Q8_K, BlockQ5K, BlockQ8K, tile: tiled_q5_k::tile, shape: (2, 4, 4)),
                tiles_gemm!(Q6_K, Q8_K, BlockQ6K, BlockQ8K, tile: tiled_q6_k::tile, shape: (2, 4, 4)),
                tiles_gemm!(Q4_K, Q8_K, BlockQ4K, BlockQ8K, tile: repack_gemm_q4_k::tile, shape: (2, 4, 4)),
                tiles_gemm!(Q4_K, Q8_K, BlockQ4K, BlockQ8K, tile: repack_gemv_q4_k::tile, shape: (2, 4, 4)),
            )
        }
    };
    k.set_batch(GgmlType::Q2_K, tiled(t2));
    k.set_batch(GgmlType::Q3_K, tiled(t3));
    k.set_batch(GgmlType::Q5_K, tiled(t5));
    k.set_batch(GgmlType::Q6_K, tiled(t6));
    k.set_batch(GgmlType::Q4_K, BatchKernels { tiled: Some(t4), repack_gemm: Some(r4_gemm), repack_gemv: Some(r4_gemv), ..Default::default() });

    // tinyBLAS, for batches of F32/F16/BF16 weights.
    let tinyblas = |t: GemmFn| BatchKernels { tinyblas: Some(t), ..Default::default() };
    k.set_batch(GgmlType::F32, tinyblas(tiles_gemm!(F32, F32, f32, f32, tile: f32_tb::tile, shape: (2, 4, 4))));
    k.set_batch(GgmlType::F16, tinyblas(tiles_gemm!(F16, F16, f16, f16, tile: f16_tb::tile, shape: (2, 4, 4))));
    k.set_batch(GgmlType::BF16, tinyblas(tiles_gemm!(BF16, BF16, bf16, bf16, tile: bf16_tb::tile, shape: (2, 4, 4))));

    // Repacked Q4_0 weights: llama.cpp's repacked gemm and gemv add their floats exactly as
    // this vec_dot does (see `type0`), so the NEON gemm serves both batch entries, as on x86.
    let q4_0 = k.get(GgmlType::Q4_0).gemm;
    k.set_batch(GgmlType::Q4_0, BatchKernels { repack_gemm: Some(q4_0), repack_gemv: Some(q4_0), ..Default::default() });

    // The float types have no integer part: one variant.
    k.set(type_kernels!(F32, F32, f32, f32, tile: f32_dot::tile, shape: (1, 2, 2), deq: dequant::dequantize_row_f32));
    k.set(type_kernels!(F16, F16, f16, f16, tile: f16_dot::tile, shape: (1, 2, 2), deq: dequant::dequantize_row_f16));
    k.set(type_kernels!(BF16, BF16, bf16, bf16, tile: bf16_dot::tile, shape: (1, 2, 2), deq: dequant::dequantize_row_bf16));

    // Attention's f32 kernels, in the scalar level's order.
    fn dot_f32(x: &[f32], y: &[f32]) -> f32 {
        // SAFETY: installed only after detecting NEON.
        unsafe { float::dot_f32(x, y) }
    }
    fn fma_row(acc: &mut [f32], x: &[f32], w: f32) {
        // SAFETY: as above.
        unsafe { float::fma_row(acc, x, w) }
    }
    k.dot_f32 = dot_f32;
    k.fma_row = fma_row;

    macro_rules! quantizer {
        ($B:ty, $f:path) => {{
            fn q(src: &[f32], dst: &mut [u8]) {
                // SAFETY: installed only after detecting NEON.
                with_blocks_mut::<$B>(dst, |blocks| unsafe { $f(src, blocks) })
            }
            q
        }};
    }
    k.set_quantize(GgmlType::Q8_0, quantizer!(BlockQ8_0, quantize::quantize_row_q8_0));
    k.set_quantize(GgmlType::Q8_1, quantizer!(BlockQ8_1, quantize::quantize_row_q8_1));
    k.set_quantize(GgmlType::Q8_K, quantizer!(BlockQ8K, quantize::quantize_row_q8_k));
    k.set_quantize(GgmlType::F16, quantizer!(f16, quantize::quantize_row_f16));
}

/// Views `dst` as blocks of `T`, through an aligned copy when it is misaligned for `T`.
fn with_blocks_mut<T: bytemuck::Pod>(dst: &mut [u8], f: impl FnOnce(&mut [T])) {
    match bytemuck::try_cast_slice_mut::<u8, T>(dst) {
        Ok(b) => f(b),
        Err(_) => {
            let mut v = vec![T::zeroed(); dst.len() / std::mem::size_of::<T>()];
            f(&mut v);
            dst.copy_from_slice(bytemuck::cast_slice(&v));
        }
    }
}
