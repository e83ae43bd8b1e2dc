//! Scalar reference implementations: the truth every SIMD kernel is tested against.
//!
//! One module per block type, each with ggml's three operations, same names as ggml:
//! - `dequantize_row_<t>(&[Block], &mut [f32])`: bit-exact with ggml's `dequantize_row_*`
//!   (and with gguf-py's dequantizer: checked on real rows in `tests/reference_fixtures.rs`).
//! - `quantize_row_<t>(&[f32], &mut [Block])`: ggml's reference quantizers
//!   (`quantize_row_*_ref`, what llama-quantize runs without an imatrix), including the
//!   k-quant scale searches of [`kquant_common`]. For the activation formats the name follows
//!   ggml-cpu: `quantize_row_q8_0` / `quantize_row_q8_1` reproduce the x86 AVX2 quantizers
//!   that produced llama.cpp's outputs (ties to even, `id = 127/amax`), and
//!   `quantize_row_q8_0_ref` / `quantize_row_q8_1_ref` the file-format ones (ties away from
//!   zero, `id = 1/d`). Q8_K has a single quantizer (ggml's ref, `nearest_int`, ties to even),
//!   which is also what ggml-cpu runs on x86.
//! - `vec_dot_<w>_<a>(&[WeightBlock], &[ActBlock]) -> f32`: ggml's scalar `*_generic` dot
//!   products: exact integer sums per block, then f32 accumulation in ggml's order. ggml's
//!   AVX2 kernels accumulate in a different (lane-wise) f32 order, so they agree with these
//!   to rounding, not bit for bit. The float dots ([`float`]) instead reproduce ggml's AVX2
//!   `ggml_vec_dot_f16/bf16/f32` order exactly, since their scalar fallback is never built on
//!   x86.
//!
//! Byte-level entry points ([`dequantize_row`], [`quantize_row`], [`quantize_row_ref`],
//! [`vec_dot`]) take raw tensor bytes (e.g. from the mmap), check sizes and return a
//! [`RowError`] instead of panicking; unaligned bytes are handled by copying.
//!
//! # Round-trip error bounds
//! `quantize_row_ref` then `dequantize_row`, errors relative to the RMS of each input row
//! (`tests/reference_roundtrip.rs`, deterministic). "random": 64 seeded rows of 4096 values,
//! N(0,1) with 1% outliers of 4-8 sigma. "real": the decoded Q6_K fixture rows (qwen2.5
//! ffn_down, 8 x 4864 -> cut to 4608) and F16 fixture rows (SmolLM2 embeddings, 8 x 576 ->
//! 512), worst of the two. The tests assert the bounds, about 1.2x the measurements.
//!
//! | type | random RMSE | bound  | random max | bound | real RMSE | bound  | real max | bound |
//! | ---- | ----------- | ------ | ---------- | ----- | --------- | ------ | -------- | ----- |
//! | F16  | 2.02e-4     | 2.5e-4 | 1.75e-3    | 2.2e-3| 2.02e-4   | 2.5e-4 | 1.77e-3  | 2.2e-3|
//! | BF16 | 1.61e-3     | 2.0e-3 | 1.41e-2    | 1.7e-2| 1.63e-3   | 2.0e-3 | 3.21e-2  | 3.9e-2|
//! | Q4_0 | 0.117       | 0.14   | 0.763      | 0.92  | 0.138     | 0.17   | 0.616    | 0.74  |
//! | Q4_1 | 0.0913      | 0.11   | 0.427      | 0.52  | 0.100     | 0.12   | 0.431    | 0.52  |
//! | Q5_0 | 0.0584      | 0.070  | 0.372      | 0.45  | 0.0700    | 0.084  | 0.304    | 0.37  |
//! | Q5_1 | 0.0442      | 0.053  | 0.206      | 0.25  | 0.0474    | 0.057  | 0.204    | 0.25  |
//! | Q8_0 | 7.36e-3     | 8.8e-3 | 0.0277     | 0.034 | 5.51e-3   | 6.6e-3 | 0.0358   | 0.043 |
//! | Q8_1 | 7.36e-3     | 8.8e-3 | 0.0277     | 0.034 | 5.51e-3   | 6.6e-3 | 0.0358   | 0.043 |
//! | Q2_K | 0.335       | 0.40   | 2.47       | 3.0   | 0.362     | 0.44   | 2.06     | 2.5   |
//! | Q3_K | 0.186       | 0.22   | 1.16       | 1.4   | 0.203     | 0.24   | 1.21     | 1.45  |
//! | Q4_K | 0.0848      | 0.10   | 0.435      | 0.52  | 0.0931    | 0.112  | 0.404    | 0.49  |
//! | Q5_K | 0.0430      | 0.052  | 0.210      | 0.25  | 0.0470    | 0.057  | 0.189    | 0.23  |
//! | Q6_K | 0.0227      | 0.027  | 0.113      | 0.136 | 0.0271    | 0.033  | 0.119    | 0.143 |
//! | Q8_K | 0.0128      | 0.0154 | 0.0279     | 0.034 | 0.0141    | 0.017  | 0.0395   | 0.048 |
//!
//! (Q8_K has one scale per 256 values, hence more error than Q8_0 on rows with outliers.
//! The activation quantizers of `quantize_row` measure the same as the reference ones.)
//!
//! # Dot products
//! `tests/reference_vec_dot.rs`: against the f64 dot product of the two decoded rows the
//! reference `vec_dot`s are within 3e-8 of `sum |w*a|` (tolerance 3e-6; for Q4_1/Q5_1 plus
//! the effect of `s` being rounded to f16 separately from `d`), and against the unquantized
//! activations within the rigorous bound `sum |w_i| * |a_i - q(a)_i|` (measured: <= 8% of it).

pub mod float;
pub mod kquant_common;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod q8_1;
pub mod q8_k;

pub use float::*;
pub use q2_k::*;
pub use q3_k::*;
pub use q4_0::*;
pub use q4_1::*;
pub use q4_k::{dequantize_row_q4_k, quantize_row_q4_k, vec_dot_q4_k_q8_k};
pub use q5_0::*;
pub use q5_1::*;
pub use q5_k::*;
pub use q6_k::*;
pub use q8_0::*;
pub use q8_1::*;
pub use q8_k::*;

use bytemuck::Pod;
use gguf::GgmlType;
use half::{bf16, f16};
use std::borrow::Cow;

/// Why a byte-level row operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("{ty} row of {n} elements: {n} is not a whole number of blocks of {block}")]
    PartialBlock { ty: GgmlType, n: usize, block: usize },
    #[error("{ty} row of {n} elements needs {expected} bytes, got {got}")]
    Size { ty: GgmlType, n: usize, expected: usize, got: usize },
    #[error("{ty} has no {op}")]
    Unsupported { ty: GgmlType, op: &'static str },
}

/// The activation type ggml multiplies weights of type `ty` with (`vec_dot_type`).
pub fn vec_dot_type(ty: GgmlType) -> GgmlType {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => Q8_0,
        Q4_1 | Q5_1 => Q8_1,
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | Q8_K => Q8_K,
        Q8_1 => Q8_1,
        F16 => F16,
        BF16 => BF16,
        F32 => F32,
    }
}

/// Checks that `bytes` holds exactly a row of `n` elements of `ty`.
fn check_row(ty: GgmlType, n: usize, bytes: usize) -> Result<(), RowError> {
    let expected = ty.row_bytes(n).ok_or(RowError::PartialBlock { ty, n, block: ty.block_size() })?;
    if expected != bytes {
        return Err(RowError::Size { ty, n, expected, got: bytes });
    }
    Ok(())
}

/// Views `bytes` as blocks, copying only if they are not aligned for `T`.
fn blocks<T: Pod>(bytes: &[u8]) -> Cow<'_, [T]> {
    match bytemuck::try_cast_slice(bytes) {
        Ok(b) => Cow::Borrowed(b),
        Err(_) => {
            let mut v = vec![T::zeroed(); bytes.len() / std::mem::size_of::<T>()];
            bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(bytes);
            Cow::Owned(v)
        }
    }
}

/// Runs `f` on `bytes` viewed as blocks; through an aligned copy if `bytes` is not aligned.
fn with_blocks_mut<T: Pod>(bytes: &mut [u8], f: impl FnOnce(&mut [T])) {
    match bytemuck::try_cast_slice_mut(bytes) {
        Ok(b) => f(b),
        Err(_) => {
            let mut tmp = vec![T::zeroed(); bytes.len() / std::mem::size_of::<T>()];
            f(&mut tmp);
            bytes.copy_from_slice(bytemuck::cast_slice(&tmp));
        }
    }
}

/// Dequantizes one row: `src` holds exactly the bytes of `dst.len()` elements of `ty`.
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), RowError> {
    check_row(ty, dst.len(), src.len())?;
    use GgmlType::*;
    match ty {
        F32 => dequantize_row_f32(&blocks(src), dst),
        F16 => dequantize_row_f16(&blocks::<f16>(src), dst),
        BF16 => dequantize_row_bf16(&blocks::<bf16>(src), dst),
        Q4_0 => dequantize_row_q4_0(&blocks(src), dst),
        Q4_1 => dequantize_row_q4_1(&blocks(src), dst),
        Q5_0 => dequantize_row_q5_0(&blocks(src), dst),
        Q5_1 => dequantize_row_q5_1(&blocks(src), dst),
        Q8_0 => dequantize_row_q8_0(&blocks(src), dst),
        Q8_1 => dequantize_row_q8_1(&blocks(src), dst),
        Q2_K => dequantize_row_q2_k(&blocks(src), dst),
        Q3_K => dequantize_row_q3_k(&blocks(src), dst),
        Q4_K => dequantize_row_q4_k(&blocks(src), dst),
        Q5_K => dequantize_row_q5_k(&blocks(src), dst),
        Q6_K => dequantize_row_q6_k(&blocks(src), dst),
        Q8_K => dequantize_row_q8_k(&blocks(src), dst),
    }
    Ok(())
}

/// Quantizes one row as ggml-cpu's `from_float` does on x86 AVX2: the activation quantizers
/// for Q8_0/Q8_1 ([`quantize_row_q8_0`]), the reference quantizers for everything else.
/// `dst` must hold exactly the bytes of `src.len()` elements of `ty`.
pub fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), RowError> {
    match ty {
        GgmlType::Q8_0 => quantize_into(ty, src, dst, quantize_row_q8_0),
        GgmlType::Q8_1 => quantize_into(ty, src, dst, quantize_row_q8_1),
        _ => quantize_row_ref(ty, src, dst),
    }
}

/// Quantizes one row with ggml's reference (file-format) quantizers, as llama-quantize does
/// without an imatrix.
pub fn quantize_row_ref(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), RowError> {
    use GgmlType::*;
    match ty {
        F32 => quantize_into(ty, src, dst, quantize_row_f32),
        F16 => quantize_into(ty, src, dst, quantize_row_f16),
        BF16 => quantize_into(ty, src, dst, quantize_row_bf16),
        Q4_0 => quantize_into(ty, src, dst, quantize_row_q4_0),
        Q4_1 => quantize_into(ty, src, dst, quantize_row_q4_1),
        Q5_0 => quantize_into(ty, src, dst, quantize_row_q5_0),
        Q5_1 => quantize_into(ty, src, dst, quantize_row_q5_1),
        Q8_0 => quantize_into(ty, src, dst, quantize_row_q8_0_ref),
        Q8_1 => quantize_into(ty, src, dst, quantize_row_q8_1_ref),
        Q2_K => quantize_into(ty, src, dst, quantize_row_q2_k),
        Q3_K => quantize_into(ty, src, dst, quantize_row_q3_k),
        Q4_K => quantize_into(ty, src, dst, quantize_row_q4_k),
        Q5_K => quantize_into(ty, src, dst, quantize_row_q5_k),
        Q6_K => quantize_into(ty, src, dst, quantize_row_q6_k),
        Q8_K => quantize_into(ty, src, dst, quantize_row_q8_k),
    }
}

fn quantize_into<T: Pod>(
    ty: GgmlType,
    src: &[f32],
    dst: &mut [u8],
    f: fn(&[f32], &mut [T]),
) -> Result<(), RowError> {
    check_row(ty, src.len(), dst.len())?;
    with_blocks_mut(dst, |b| f(src, b));
    Ok(())
}

/// Dot product of a weight row `x` of type `ty` with an activation row `y` of type
/// [`vec_dot_type`]`(ty)`, both `n` elements, with the reference kernels.
pub fn vec_dot(ty: GgmlType, n: usize, x: &[u8], y: &[u8]) -> Result<f32, RowError> {
    check_row(ty, n, x.len())?;
    check_row(vec_dot_type(ty), n, y.len())?;
    use GgmlType::*;
    Ok(match ty {
        F32 => vec_dot_f32_f32(&blocks(x), &blocks(y)),
        F16 => vec_dot_f16_f16(&blocks(x), &blocks(y)),
        BF16 => vec_dot_bf16_bf16(&blocks(x), &blocks(y)),
        Q4_0 => vec_dot_q4_0_q8_0(&blocks(x), &blocks(y)),
        Q4_1 => vec_dot_q4_1_q8_1(&blocks(x), &blocks(y)),
        Q5_0 => vec_dot_q5_0_q8_0(&blocks(x), &blocks(y)),
        Q5_1 => vec_dot_q5_1_q8_1(&blocks(x), &blocks(y)),
        Q8_0 => vec_dot_q8_0_q8_0(&blocks(x), &blocks(y)),
        Q2_K => vec_dot_q2_k_q8_k(&blocks(x), &blocks(y)),
        Q3_K => vec_dot_q3_k_q8_k(&blocks(x), &blocks(y)),
        Q4_K => vec_dot_q4_k_q8_k(&blocks(x), &blocks(y)),
        Q5_K => vec_dot_q5_k_q8_k(&blocks(x), &blocks(y)),
        Q6_K => vec_dot_q6_k_q8_k(&blocks(x), &blocks(y)),
        Q8_1 | Q8_K => return Err(RowError::Unsupported { ty, op: "vec_dot (activation-only format)" }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::BlockQ4K;
    use bytemuck::Zeroable;

    #[test]
    fn byte_level_entry_points_check_sizes_and_alignment() {
        let x: Vec<f32> = (0..256).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut q = vec![0u8; 1 + 144];
        // Misaligned destination and source go through copies and give the same bytes.
        quantize_row(GgmlType::Q4_K, &x, &mut q[1..]).unwrap();
        let mut aligned = vec![BlockQ4K::zeroed(); 1];
        quantize_row_q4_k(&x, &mut aligned);
        assert_eq!(&q[1..], bytemuck::cast_slice::<_, u8>(&aligned));
        let mut y = vec![0f32; 256];
        dequantize_row(GgmlType::Q4_K, &q[1..], &mut y).unwrap();
        assert!(matches!(
            dequantize_row(GgmlType::Q4_K, &q[..144], &mut y[..255]),
            Err(RowError::PartialBlock { .. })
        ));
        assert!(matches!(dequantize_row(GgmlType::Q4_K, &q, &mut y), Err(RowError::Size { .. })));
        assert!(matches!(vec_dot(GgmlType::Q8_K, 256, &[], &[]), Err(RowError::Size { .. })));
    }
}
