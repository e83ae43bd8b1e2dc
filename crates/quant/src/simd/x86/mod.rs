//! AVX2+FMA+F16C kernels: the same functions as `reference`, in ggml-cpu's x86 float order
//! where llama.cpp's results depend on it (see the requirement in [`super`]).
//!
//! One file per family, each citing the ggml function whose order it follows:
//! - `quantize`: activation quantizers (Q8_0, Q8_1, Q8_K, F16), byte-identical;
//! - `type0`: Q4_1, Q5_0, Q5_1, Q8_0 (`ggml_vec_dot_*` order); `q4_0`: Q4_0 (repacked
//!   gemv order, which is what llama.cpp runs for Q4_0 on AVX2);
//! - `kquants`: Q2_K, Q3_K, Q5_K, Q6_K (`ggml_vec_dot_*` order); `q4_k`: Q4_K (repacked
//!   gemv order);
//! - `float`: F32, F16, BF16 (`ggml_vec_dot_f32/f16/bf16` order);
//! - `dequant`: row dequantization for every weight type, bit-identical;
//! - `gemm`: the register-tiled driver; every type's gemm equals its vec_dot bit for bit;
//! - `util`: shared unpacking helpers.
//!
//! Tile shapes `(R, C, R1)` below: R weight rows x C activation columns for batches, R1 rows
//! for a single column (decode). Q4_0/Q4_K keep one float accumulator per output, so their
//! tiles hold R*C <= 8 outputs in the lanes of one vector; the others keep a vector per
//! output and use small tiles to stay within the 16 ymm registers.
//!
//! Caveat for batches: llama.cpp's own *batched* Q4_K kernel (`ggml_gemm_q4_K_8x8_q8_K`,
//! used for prompts in groups of 4 tokens) adds its float terms per 64 elements instead of
//! per 256 as its gemv does, so its prompt results differ from its decode results in the last
//! bits; ours are the gemv's for every token, by the gemm == vec_dot contract.
//!
//! Everything here is `#[target_feature(enable = "avx2,fma,f16c")]` and private; the only way
//! in is `install`, which [`super::avx2_table`] calls after detecting the three features.

mod dequant;
mod float;
mod gemm;
mod kquants;
mod q4_0;
mod q4_k;
mod quantize;
mod type0;
mod util;

use crate::blocks::*;
use crate::kernels::{as_blocks, Kernels, TypeKernels};
use gemm::{run as gemm_run, type_kernels, Tiles};
use gguf::GgmlType;
use half::{bf16, f16};

/// Replaces the entries of `k` that have AVX2 kernels.
///
/// Must only be called once AVX2, FMA and F16C are known to be present: the installed
/// functions execute those instructions unconditionally.
pub(crate) fn install(k: &mut Kernels) {
    k.set(type_kernels!(Q4_0, Q8_0, BlockQ4_0, BlockQ8_0, dot: q4_0::dot, tile: q4_0_tile, shape: (4, 2, 8), deq: dequant::dequantize_row_q4_0));
    k.set(type_kernels!(Q4_1, Q8_1, BlockQ4_1, BlockQ8_1, dot: type0::q4_1::dot, tile: q4_1_tile, shape: (2, 4, 4), deq: dequant::dequantize_row_q4_1));
    k.set(type_kernels!(Q5_0, Q8_0, BlockQ5_0, BlockQ8_0, dot: type0::q5_0::dot, tile: q5_0_tile, shape: (2, 4, 4), deq: dequant::dequantize_row_q5_0));
    k.set(type_kernels!(Q5_1, Q8_1, BlockQ5_1, BlockQ8_1, dot: type0::q5_1::dot, tile: q5_1_tile, shape: (2, 4, 4), deq: dequant::dequantize_row_q5_1));
    k.set(type_kernels!(Q8_0, Q8_0, BlockQ8_0, BlockQ8_0, dot: type0::q8_0::dot, tile: q8_0_tile, shape: (2, 4, 4), deq: dequant::dequantize_row_q8_0));
    k.set(type_kernels!(Q2_K, Q8_K, BlockQ2K, BlockQ8K, dot: kquants::q2_k::dot, tile: q2_k_tile, shape: (2, 2, 4), deq: dequant::dequantize_row_q2_k));
    k.set(type_kernels!(Q3_K, Q8_K, BlockQ3K, BlockQ8K, dot: kquants::q3_k::dot, tile: q3_k_tile, shape: (2, 2, 4), deq: dequant::dequantize_row_q3_k));
    k.set(type_kernels!(Q4_K, Q8_K, BlockQ4K, BlockQ8K, dot: q4_k::dot, tile: q4_k_tile, shape: (4, 2, 8), deq: dequant::dequantize_row_q4_k));
    k.set(type_kernels!(Q5_K, Q8_K, BlockQ5K, BlockQ8K, dot: kquants::q5_k::dot, tile: q5_k_tile, shape: (2, 2, 4), deq: dequant::dequantize_row_q5_k));
    k.set(type_kernels!(Q6_K, Q8_K, BlockQ6K, BlockQ8K, dot: kquants::q6_k::dot, tile: q6_k_tile, shape: (2, 2, 4), deq: dequant::dequantize_row_q6_k));

    k.set(type_kernels!(F32, F32, f32, f32, dot: float::f32_dot::dot, tile: f32_tile, shape: (1, 3, 2), deq: dequant::dequantize_row_f32));
    k.set(type_kernels!(F16, F16, f16, f16, dot: float::f16_dot::dot, tile: f16_tile, shape: (1, 3, 2), deq: dequant::dequantize_row_f16));
    k.set(type_kernels!(BF16, BF16, bf16, bf16, dot: float::bf16_dot::dot, tile: bf16_tile, shape: (1, 3, 2), deq: dequant::dequantize_row_bf16));

    // llama.cpp repacks Q4_K on AVX2; its gemv order is what this table's Q4_K kernel computes
    // (tests/ggml_matmul.rs), so decode steps use it rather than the scalar emulation.
    let q4_k = k.get(GgmlType::Q4_K).gemm;
    let mut b = k.batch(GgmlType::Q4_K);
    b.repack_gemv = Some(q4_k);
    k.set_batch(GgmlType::Q4_K, b);

    macro_rules! quantizer {
        ($B:ty, $f:path) => {{
            fn q(src: &[f32], dst: &mut [u8]) {
                // SAFETY: installed only after detecting AVX2+FMA+F16C.
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

// The tile functions under the names `type_kernels!` expects.
use float::bf16_dot::tile as bf16_tile;
use float::f16_dot::tile as f16_tile;
use float::f32_dot::tile as f32_tile;
use kquants::q2_k::tile as q2_k_tile;
use kquants::q3_k::tile as q3_k_tile;
use kquants::q5_k::tile as q5_k_tile;
use kquants::q6_k::tile as q6_k_tile;
use q4_0::tile as q4_0_tile;
use q4_k::tile as q4_k_tile;
use type0::q4_1::tile as q4_1_tile;
use type0::q5_0::tile as q5_0_tile;
use type0::q5_1::tile as q5_1_tile;
use type0::q8_0::tile as q8_0_tile;
