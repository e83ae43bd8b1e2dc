//! F32, F16 and BF16 rows: conversions and dot products.
//!
//! Conversions: F16 <-> F32 is IEEE round-to-nearest-even (`half`), which is what ggml gets
//! from F16C's `_cvtss_sh(x, 0)` on x86 and from its software fallback. F32 -> BF16 follows
//! ggml's `ggml_compute_fp32_to_bf16` (round to nearest even on the bit pattern, NaN forced
//! quiet, subnormals kept), which `gguf-py` reproduces too.
//!
//! Dot products: ggml multiplies F16 (BF16) weights by activations converted to F16 (BF16),
//! then calls `ggml_vec_dot_f16` (`ggml_vec_dot_bf16`). Its scalar fallback accumulates in
//! f64, but llama.cpp's x86 build never runs it: with AVX2 it keeps 4 accumulators of 8 f32
//! lanes (`GGML_F16_STEP` = 32 elements per step) updated with FMA, reduces them in a fixed
//! tree, and adds the `n % 32` leftovers in f64. We reproduce that AVX2 order exactly here,
//! scalar, so a SIMD kernel can be compared bit for bit and our results match llama.cpp's.

use half::{bf16, f16};

/// Lanes per AVX register and accumulators per step in ggml's AVX2 F32/F16 dot products.
const EPR: usize = 8;
const ARR: usize = 4;
/// Elements per step (`GGML_F32_STEP` / `GGML_F16_STEP` on AVX2).
pub const GGML_AVX2_STEP: usize = EPR * ARR;

/// F32 -> BF16 as ggml's `ggml_compute_fp32_to_bf16`: NaN -> quiet NaN with the same sign and
/// top bits; everything else rounded to nearest even (overflow rounds to infinity).
#[inline]
pub fn fp32_to_bf16(x: f32) -> bf16 {
    let u = x.to_bits();
    if u & 0x7fff_ffff > 0x7f80_0000 {
        return bf16::from_bits(((u >> 16) | 64) as u16);
    }
    // u + 0x7fff + lsb cannot overflow u32: the largest finite/inf pattern is 0xff80_0000.
    bf16::from_bits((u.wrapping_add(0x7fff + ((u >> 16) & 1)) >> 16) as u16)
}

#[inline]
pub fn bf16_to_fp32(x: bf16) -> f32 {
    f32::from_bits((x.to_bits() as u32) << 16)
}

/// Copies `x` into `y` (F32 "dequantization").
pub fn dequantize_row_f32(x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    y.copy_from_slice(&x[..y.len()]);
}

pub fn dequantize_row_f16(x: &[f16], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    for (o, &h) in y.iter_mut().zip(x) {
        *o = h.to_f32();
    }
}

pub fn dequantize_row_bf16(x: &[bf16], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    for (o, &h) in y.iter_mut().zip(x) {
        *o = bf16_to_fp32(h);
    }
}

pub fn quantize_row_f32(x: &[f32], y: &mut [f32]) {
    dequantize_row_f32(x, y);
}

pub fn quantize_row_f16(x: &[f32], y: &mut [f16]) {
    debug_assert_eq!(x.len(), y.len());
    for (o, &v) in y.iter_mut().zip(x) {
        *o = f16::from_f32(v);
    }
}

pub fn quantize_row_bf16(x: &[f32], y: &mut [bf16]) {
    debug_assert_eq!(x.len(), y.len());
    for (o, &v) in y.iter_mut().zip(x) {
        *o = fp32_to_bf16(v);
    }
}

/// The vector part of ggml's AVX2 `ggml_vec_dot_f32` / `ggml_vec_dot_f16` over the first
/// `n & !31` elements: lane `l` of accumulator `j` sums, with FMA, the products of elements
/// `i + 8j + l` for every step `i`; then `acc0 += acc2; acc1 += acc3; acc0 += acc1`, the two
/// 128-bit halves are added (`t[k] = acc0[k] + acc0[k + 4]`) and `_mm_hadd_ps` twice gives
/// `(t0 + t1) + (t2 + t3)`.
fn avx2_fma_tree(n: usize, get: impl Fn(usize) -> (f32, f32)) -> f32 {
    let np = n & !(GGML_AVX2_STEP - 1);
    let mut acc = [[0f32; EPR]; ARR];
    for i in (0..np).step_by(GGML_AVX2_STEP) {
        for (j, a) in acc.iter_mut().enumerate() {
            for (l, lane) in a.iter_mut().enumerate() {
                let (x, y) = get(i + j * EPR + l);
                *lane = x.mul_add(y, *lane);
            }
        }
    }
    let [a0, a1, a2, a3] = acc;
    let s: [f32; EPR] = std::array::from_fn(|l| (a0[l] + a2[l]) + (a1[l] + a3[l]));
    let t: [f32; 4] = std::array::from_fn(|k| s[k] + s[k + 4]);
    (t[0] + t[1]) + (t[2] + t[3])
}

/// ggml's `ggml_vec_dot_f32` as compiled for AVX2+FMA. Over the first `n & !31` elements,
/// lane `l` of accumulator `j` (4 x 8 lanes) sums with FMA the products of elements
/// `32s + 8j + l`; then `acc0 += acc2; acc1 += acc3; acc0 += acc1`, the 128-bit halves are
/// added (`t[k] = acc0[k] + acc0[k + 4]`) and two `_mm_hadd_ps` give `(t0 + t1) + (t2 + t3)`.
/// The leftovers (`n % 32`, never the case for model widths) are added in f32 as
/// `sumf += x*y`; GCC contracts that into an FMA when FMA is enabled, which we assume.
pub fn vec_dot_f32_f32(x: &[f32], y: &[f32]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let n = x.len().min(y.len());
    let mut sumf = avx2_fma_tree(n, |i| (x[i], y[i]));
    for i in (n & !(GGML_AVX2_STEP - 1))..n {
        sumf = x[i].mul_add(y[i], sumf);
    }
    sumf
}

/// ggml's `ggml_vec_dot_f16` as compiled for AVX2+F16C+FMA: the F16 inputs widened to f32
/// and summed exactly as in [`vec_dot_f32_f32`], except that the leftovers are added in f64
/// (`sumf += (double)(x*y)`, the product rounded to f32 first) and the total rounded to f32.
pub fn vec_dot_f16_f16(x: &[f16], y: &[f16]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let n = x.len().min(y.len());
    let mut sumf = avx2_fma_tree(n, |i| (x[i].to_f32(), y[i].to_f32())) as f64;
    for i in (n & !(GGML_AVX2_STEP - 1))..n {
        sumf += (x[i].to_f32() * y[i].to_f32()) as f64;
    }
    sumf as f32
}

/// ggml's `ggml_vec_dot_bf16` as compiled for AVX2 (no AVX512): 4 accumulators of 8 lanes
/// updated with a separate multiply and add (`_mm256_add_ps(_mm256_mul_ps(..), c)`), reduced
/// as `(c1 + c3) + (c2 + c4)`, halves added (`h[k] = c[k + 4] + c[k]`), then
/// `(h0 + h2) + (h1 + h3)`; leftovers in f64 like F16.
///
/// Caveat: GCC may fuse that multiply and add into an FMA under its default
/// `-ffp-contract=fast`; we follow the source, which is what clang builds compute.
pub fn vec_dot_bf16_bf16(x: &[bf16], y: &[bf16]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let n = x.len().min(y.len());
    let np = n & !(GGML_AVX2_STEP - 1);
    let mut c = [[0f32; EPR]; ARR];
    for i in (0..np).step_by(GGML_AVX2_STEP) {
        for (j, a) in c.iter_mut().enumerate() {
            for (l, lane) in a.iter_mut().enumerate() {
                let k = i + j * EPR + l;
                *lane += bf16_to_fp32(x[k]) * bf16_to_fp32(y[k]);
            }
        }
    }
    let s: [f32; EPR] = std::array::from_fn(|l| (c[0][l] + c[2][l]) + (c[1][l] + c[3][l]));
    let h: [f32; 4] = std::array::from_fn(|k| s[k + 4] + s[k]);
    let mut sumf = ((h[0] + h[2]) + (h[1] + h[3])) as f64;
    for i in np..n {
        sumf += (bf16_to_fp32(x[i]) * bf16_to_fp32(y[i])) as f64;
    }
    sumf as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounding_matches_half_for_finite_values() {
        let mut s = 0x1234_5678_9abc_def0u64;
        for _ in 0..100_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = f32::from_bits(s as u32);
            if x.is_nan() {
                assert!(bf16_to_fp32(fp32_to_bf16(x)).is_nan());
                continue;
            }
            assert_eq!(fp32_to_bf16(x).to_bits(), bf16::from_f32(x).to_bits(), "{x:e}");
        }
    }

    #[test]
    fn dot_products_are_exact_on_small_integers() {
        let n = 100; // 3 full steps and 4 leftovers
        let a: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..n).map(|i| (i % 5) as f32 - 2.0).collect();
        let exact: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(vec_dot_f32_f32(&a, &b), exact);
        let ah: Vec<f16> = a.iter().map(|&v| f16::from_f32(v)).collect();
        let bh: Vec<f16> = b.iter().map(|&v| f16::from_f32(v)).collect();
        assert_eq!(vec_dot_f16_f16(&ah, &bh), exact);
        let ab: Vec<bf16> = a.iter().map(|&v| fp32_to_bf16(v)).collect();
        let bb: Vec<bf16> = b.iter().map(|&v| fp32_to_bf16(v)).collect();
        assert_eq!(vec_dot_bf16_bf16(&ab, &bb), exact);
    }
}
