//! AVX2+FMA+F16C kernels: the same functions as `reference`, in ggml-cpu's x86 float order
//! where llama.cpp's results depend on it (see the requirement in [`super`]).
//!
//! One file per family, each citing the ggml function whose order it follows:
//! - `quantize`: activation quantizers (Q8_0, Q8_1, Q8_K, F16), byte-identical;
//! - `type0`: Q4_1, Q5_0, Q5_1, Q8_0 (`ggml_vec_dot_*` order); `q4_0`: Q4_0 (repacked
//!   gemv order, which is what llama.cpp runs for Q4_0 on AVX2);
//! - `kquants`: Q2_K..Q6_K (`ggml_vec_dot_*` order); `q4_k`: Q4_K in the repacked gemv and
//!   gemm orders (what llama.cpp runs for Q4_K tensors with rows % 8 == 0);
//! - `float`: F32, F16, BF16 (`ggml_vec_dot_f32/f16/bf16` order); `tinyblas`: the same types
//!   in llamafile's tinyBLAS order (their batches);
//! - `dequant`: row dequantization for every weight type, bit-identical;
//! - `gemm`: the register-tiled driver; every type's gemm equals its vec_dot bit for bit;
//! - `lanes`: llama.cpp's batched K-quant orders (the tiled kernel; with `q4_k`, the
//!   repacked Q4_K gemm and gemv), installed as [`crate::matmul::BatchKernels`], each
//!   bit-identical to its scalar definition in [`crate::emulate::kquant`];
//! - `util`: shared unpacking helpers;
//! - `vnni`: AVX-512 VNNI tiles for the type-0 formats, and (in `kquants`/`lanes`/`q4_k`, the
//!   `*512`/`sumi_pairs` functions) the K-quants' batched integer core on paired rows, installed
//!   on top of the AVX2 table by `install_vnni` for the `avx512` level; bit-identical to AVX2.
//!
//! Tile shapes `(R, C, R1)` below: R weight rows x C activation columns for batches, R1 rows
//! for a single column (decode). Q4_0 (like the batched orders in `lanes`) keeps one float
//! accumulator per output, so its tiles hold R*C <= 8 outputs in the lanes of one vector; the
//! others keep a vector per output and use small tiles to stay within the 16 ymm registers.
//!
//! Batches: llama.cpp's batched kernels add their floats in orders of their own (the tiled
//! K-quant kernel per super-block; the repacked Q4_K gemm per 64 elements), so they are
//! separate entries (`set_batch`), chosen per batch size by [`crate::matmul`].
//!
//! Everything here is `#[target_feature(enable = "avx2,fma,f16c")]` and private; the only way
//! in is `install`, which [`super::avx2_table`] calls after detecting the three features.

mod dequant;
mod float;
mod gemm;
mod kquants;
mod lanes;
mod q4_0;
mod q4_k;
mod q6_k;
mod own;
mod quantize;
mod rows16;
mod rows16k;
mod rows8;
mod tinyblas;
mod type0;
mod util;
mod vnni;

use crate::blocks::*;
use crate::kernels::{as_blocks, GemmFn, Kernels, TypeKernels};
use crate::matmul::BatchKernels;
use gemm::{run as gemm_run, tiles_gemm, type_kernels, Tiles};
use gguf::GgmlType;
use half::{bf16, f16};

/// A [`GemmFn`] running [`lanes::run`] with the tiles `pairs::<R, C>` for R >= 2 rows and
/// `single::<1, C>` for single rows; groups of 8 tokens go by `pairs::<2, 8>` with `pairs8`
/// (the AVX-512 tiles: 16 outputs, two rows per register), else by `single::<1, 8>`.
macro_rules! lanes_gemm {
    ($ty:ident, $W:ty, pairs: $pairs:path, single: $single:path, pairs8: $pairs8:literal) => {
        lanes_gemm!($ty, $W, pairs: $pairs, single: $single, pairs8: $pairs8, decoded: None)
    };
    ($ty:ident, $W:ty, pairs: $pairs:path, single: $single:path, pairs8: $pairs8:literal, decoded: $dec:expr) => {{
        fn gemm(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize) {
            use $pairs as p;
            use $single as s;
            let tiles: lanes::LaneTiles<$W> = lanes::LaneTiles {
                decoded: $dec,
                c8x2: if $pairs8 { Some(p::<2, 8>) } else { None },
                c8: s::<1, 8>,
                c4: p::<2, 4>,
                c4_1: s::<1, 4>,
                c2: p::<4, 2>,
                c2_1: s::<1, 2>,
                c1: p::<8, 1>,
                c1_1: s::<1, 1>,
            };
            lanes::run(&tiles, GgmlType::$ty, n, w, nr, x, nc, out, stride)
        }
        gemm as GemmFn
    }};
}

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
    k.set(type_kernels!(Q4_K, Q8_K, BlockQ4K, BlockQ8K, dot: kquants::q4_k::dot, tile: q4_k_tile, shape: (2, 2, 4), deq: dequant::dequantize_row_q4_k));
    k.set(type_kernels!(Q5_K, Q8_K, BlockQ5K, BlockQ8K, dot: kquants::q5_k::dot, tile: q5_k_tile, shape: (2, 2, 4), deq: dequant::dequantize_row_q5_k));
    k.set(type_kernels!(Q6_K, Q8_K, BlockQ6K, BlockQ8K, dot: kquants::q6_k::dot, tile: q6_k_tile, shape: (2, 2, 4), deq: dequant::dequantize_row_q6_k));

    k.set(type_kernels!(F32, F32, f32, f32, dot: float::f32_dot::dot, tile: f32_tile, shape: (1, 3, 2), deq: dequant::dequantize_row_f32));
    k.set(type_kernels!(F16, F16, f16, f16, dot: float::f16_dot::dot, tile: f16_tile, shape: (1, 3, 2), deq: dequant::dequantize_row_f16));
    k.set(type_kernels!(BF16, BF16, bf16, bf16, dot: float::bf16_dot::dot, tile: bf16_tile, shape: (1, 3, 2), deq: dequant::dequantize_row_bf16));

    // Our own batched order for Q5_0 (8 interleaved rows; `rows8`), opt-in through
    // `plan_fast`, with ggml's order for the leftover rows and tokens.
    fn q5_0_fast(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize) {
        let exact = tiles_gemm!(Q5_0, Q8_0, BlockQ5_0, BlockQ8_0, tile: q5_0_tile, shape: (2, 4, 4));
        rows8::q5_0::gemm(n, w, nr, x, nc, out, stride, exact)
    }
    k.set_batch(GgmlType::Q5_0, BatchKernels { fast: Some(q5_0_fast), ..k.batch(GgmlType::Q5_0) });

    // llama.cpp's batched K-quant orders (see `lanes`).
    let tiled = |t: GemmFn| BatchKernels { tiled: Some(t), ..Default::default() };
    k.set_batch(GgmlType::Q2_K, tiled(lanes_gemm!(Q2_K, BlockQ2K, pairs: lanes::q2_k::tile, single: lanes::q2_k::tile, pairs8: false)));
    k.set_batch(GgmlType::Q3_K, tiled(lanes_gemm!(Q3_K, BlockQ3K, pairs: lanes::q3_k::tile, single: lanes::q3_k::tile, pairs8: false)));
    k.set_batch(GgmlType::Q5_K, tiled(lanes_gemm!(Q5_K, BlockQ5K, pairs: lanes::q5_k::tile, single: lanes::q5_k::tile, pairs8: false)));
    k.set_batch(GgmlType::Q6_K, tiled(lanes_gemm!(Q6_K, BlockQ6K, pairs: lanes::q6_k::tile, single: lanes::q6_k::tile, pairs8: false)));
    k.set_batch(
        GgmlType::Q4_K,
        BatchKernels {
            tiled: Some(lanes_gemm!(Q4_K, BlockQ4K, pairs: lanes::q4_k::tile, single: lanes::q4_k::tile, pairs8: false)),
            repack_gemm: Some(lanes_gemm!(Q4_K, BlockQ4K, pairs: q4_k::gemm4_tile, single: q4_k::gemm4_tile, pairs8: false)),
            repack_gemv: Some(lanes_gemm!(Q4_K, BlockQ4K, pairs: q4_k::tile, single: q4_k::tile, pairs8: false)),
            ..Default::default()
        },
    );
    // Repacked Q4_0: gemm and gemv add their floats alike, in the order of `q4_0`'s gemm.
    let q4_0 = k.get(GgmlType::Q4_0).gemm;
    k.set_batch(GgmlType::Q4_0, BatchKernels { repack_gemm: Some(q4_0), repack_gemv: Some(q4_0), ..Default::default() });

    // tinyBLAS, for batches of F32/F16/BF16 weights.
    let tinyblas = |t: GemmFn| BatchKernels { tinyblas: Some(t), ..Default::default() };
    k.set_batch(GgmlType::F32, tinyblas(tiles_gemm!(F32, F32, f32, f32, tile: tinyblas::f32_tb::tile, shape: (4, 3, 4))));
    k.set_batch(GgmlType::F16, tinyblas(tiles_gemm!(F16, F16, f16, f16, tile: tinyblas::f16_tb::tile, shape: (4, 3, 4))));
    k.set_batch(GgmlType::BF16, tinyblas(tiles_gemm!(BF16, BF16, bf16, bf16, tile: tinyblas::bf16_tb::tile, shape: (4, 3, 4))));

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

/// Replaces the type-0 batched and decode products of an AVX2 table with the AVX-512 VNNI
/// tiles of [`vnni`], bit-identical to the AVX2 ones (so the golden parity holds either way).
///
/// Must only be called once AVX-512 F/DQ/BW/VL/VNNI (and AVX2+FMA+F16C) are known present.
pub(crate) fn install_vnni(k: &mut Kernels) {
    macro_rules! vnni {
        ($ty:ident, $vt:ident, $W:ty, $X:ty, $m:ident $(, fast: $f:ident)?) => {{
            let mut e = *k.get(GgmlType::$ty);
            fn gemm(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize) {
                use vnni::$m::tile;
                let narrow = tiles_gemm!($ty, $vt, $W, $X, tile: tile, shape: (8, 4, 8), prefetch: false);
                vnni::$m::gemm(n, w, nr, x, nc, out, stride, narrow)
            }
            e.gemm = gemm;
            k.set(e);
            // Our own batched order (16 interleaved rows), with the exact gemm above for the
            // leftover rows and tokens.
            $(
                fn fast(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize) {
                    rows16::$f::gemm(n, w, nr, x, nc, out, stride, gemm)
                }
                let mut b = k.batch(GgmlType::$ty);
                b.fast = Some(fast);
                k.set_batch(GgmlType::$ty, b);
            )?
        }};
    }
    vnni!(Q4_1, Q8_1, BlockQ4_1, BlockQ8_1, q4_1);
    vnni!(Q5_0, Q8_0, BlockQ5_0, BlockQ8_0, q5_0, fast: q5_0);
    vnni!(Q5_1, Q8_1, BlockQ5_1, BlockQ8_1, q5_1);
    vnni!(Q8_0, Q8_0, BlockQ8_0, BlockQ8_0, q8_0, fast: q8_0);
    // Q6_K's vec_dot order (decode) with 512-bit unpacking.
    let mut e = *k.get(GgmlType::Q6_K);
    e.gemm = tiles_gemm!(Q6_K, Q8_K, BlockQ6K, BlockQ8K, tile: q6_k::tile, shape: (2, 2, 4));
    k.set(e);

    // The K-quants' batched orders with their integer core on paired rows
    // (`kquants::*::sumi_pairs`); single rows keep the AVX2 tiles.
    macro_rules! tiled {
        ($ty:ident, $W:ty, $m:ident) => {{
            let mut b = k.batch(GgmlType::$ty);
            b.tiled = Some(lanes_gemm!($ty, $W, pairs: lanes::$m::tile512, single: lanes::$m::tile, pairs8: true,
                decoded: Some(lanes::DecodedPairs { decode: lanes::$m::decode_rows, tile: lanes::$m::tile512_decoded })));
            k.set_batch(GgmlType::$ty, b);
        }};
    }
    tiled!(Q2_K, BlockQ2K, q2_k);
    tiled!(Q3_K, BlockQ3K, q3_k);
    tiled!(Q4_K, BlockQ4K, q4_k);
    tiled!(Q5_K, BlockQ5K, q5_k);
    tiled!(Q6_K, BlockQ6K, q6_k);
    // Our own batched order for Q4_K (16 interleaved rows; `rows16k`), opt-in through
    // `plan_fast`, with the vec_dot order for the leftover rows and tokens.
    fn q4_k_fast(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize) {
        let exact = tiles_gemm!(Q4_K, Q8_K, BlockQ4K, BlockQ8K, tile: q4_k_tile, shape: (2, 2, 4));
        rows16k::q4_k::gemm(n, w, nr, x, nc, out, stride, exact)
    }
    let mut b = k.batch(GgmlType::Q4_K);
    b.fast = Some(q4_k_fast);
    b.repack_gemm = Some(lanes_gemm!(Q4_K, BlockQ4K, pairs: q4_k::gemm4_tile512, single: q4_k::gemm4_tile, pairs8: true,
        decoded: Some(lanes::DecodedPairs { decode: lanes::q4_k::decode_rows, tile: q4_k::gemm4_tile512_decoded })));
    b.repack_gemv = Some(lanes_gemm!(Q4_K, BlockQ4K, pairs: q4_k::tile512, single: q4_k::tile, pairs8: true));
    k.set_batch(GgmlType::Q4_K, b);
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
use kquants::q4_k::tile as q4_k_tile;
use type0::q4_1::tile as q4_1_tile;
use type0::q5_0::tile as q5_0_tile;
use type0::q5_1::tile as q5_1_tile;
use type0::q8_0::tile as q8_0_tile;
