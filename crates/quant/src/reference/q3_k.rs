//! Q3_K: super-blocks of 256 weights in 16 groups of 16, `x = d * (sc - 32) * (q - 4*!h)`:
//! 2 low bits of `q` in `qs` (laid out as Q2_K), the third bit in `hmask` (bit `c` of byte
//! `k` for element `32c + k`; a set bit means "no -4"), 6-bit group scales packed in 12
//! bytes. Activation partner: Q8_K.

use super::kquant_common::{make_q3_quants, nearest_int, pack_2bit};
use crate::blocks::{BlockQ3K, BlockQ8K, QK_K};
use half::f16;

/// The 16 group scales of a Q3_K block, unbiased (`sc - 32`, in -32..32). Group `j` has its
/// low 4 bits in byte `j % 8` (low nibble for j < 8, high for j >= 8) and its top 2 bits in
/// byte `8 + j % 4` at bit `2 * (j / 4)` — ggml's `kmask` shuffle in dequantize_row_q3_K.
pub fn q3_k_scales(s: &[u8; 12]) -> [i8; 16] {
    std::array::from_fn(|j| {
        let lo = if j < 8 { s[j] & 0xF } else { s[j - 8] >> 4 };
        let hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        ((lo | (hi << 4)) as i8) - 32
    })
}

/// ggml's `quantize_row_q3_K_ref`: each group fitted by `make_q3_quants` (weights `x^2`,
/// iterative refinement), the signed group scales quantized to 6 bits against the one of
/// largest magnitude (`iscale = -32 / max_scale`), then every weight re-rounded to -4..3
/// against the stored scale.
pub fn quantize_row_q3_k(x: &[f32], y: &mut [BlockQ3K]) {
    debug_assert_eq!(x.len(), y.len() * QK_K);
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut l = [0i8; QK_K];
        let mut scales = [0f32; QK_K / 16];
        let (mut max_scale, mut amax) = (0f32, 0f32);
        for j in 0..QK_K / 16 {
            scales[j] = make_q3_quants(4, &xb[16 * j..16 * j + 16], &mut l[16 * j..16 * j + 16], true);
            let scale = scales[j].abs();
            if scale > amax {
                amax = scale;
                max_scale = scales[j];
            }
        }
        yb.scales = [0; 12];
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for (j, &s) in scales.iter().enumerate() {
                // ggml stores nearest_int's result in an int8_t before clamping.
                let q = (nearest_int(iscale * s) as i8).clamp(-32, 31) as i32 + 32;
                if j < 8 {
                    yb.scales[j] = (q & 0xF) as u8;
                } else {
                    yb.scales[j - 8] |= ((q & 0xF) << 4) as u8;
                }
                yb.scales[j % 4 + 8] |= ((q >> 4) << (2 * (j / 4))) as u8;
            }
            yb.d = f16::from_f32(1.0 / iscale);
        } else {
            yb.d = f16::from_f32(0.0);
        }
        let sc = q3_k_scales(&yb.scales);
        for j in 0..QK_K / 16 {
            let d = yb.d.to_f32() * sc[j] as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                l[16 * j + ii] = (nearest_int(xb[16 * j + ii] / d).clamp(-4, 3) + 4) as i8;
            }
        }
        // The high bit of element j goes to bit j/32 of hmask[j%32].
        yb.hmask = [0; QK_K / 8];
        let mut lu = [0u8; QK_K];
        for (j, (&q, o)) in l.iter().zip(lu.iter_mut()).enumerate() {
            let mut q = q as u8;
            if q > 3 {
                yb.hmask[j % 32] |= 1 << (j / 32);
                q -= 4;
            }
            *o = q;
        }
        pack_2bit(&lu, &mut yb.qs);
    }
}

/// Signed 3-bit value of element `e` (0..256) of a Q3_K block: `(q & 3) - (h ? 0 : 4)`.
#[inline]
pub(crate) fn q3(xb: &BlockQ3K, e: usize) -> i32 {
    let (c, s, k) = (e / 128, (e % 128) / 32, e % 32);
    let low = ((xb.qs[32 * c + k] >> (2 * s)) & 3) as i32;
    let high = xb.hmask[k] & (1 << (4 * c + s)) != 0;
    low - if high { 0 } else { 4 }
}

/// ggml's `dequantize_row_q3_K`: `y = (d * (sc - 32)) * q`.
pub fn dequantize_row_q3_k(x: &[BlockQ3K], y: &mut [f32]) {
    debug_assert_eq!(y.len(), x.len() * QK_K);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d_all = xb.d.to_f32();
        let sc = q3_k_scales(&xb.scales);
        for (e, o) in yb.iter_mut().enumerate() {
            let dl = d_all * sc[e / 16] as f32;
            *o = dl * q3(xb, e) as f32;
        }
    }
}

/// ggml's `ggml_vec_dot_q3_K_q8_K_generic`: 8 integer lanes, lane `l` accumulating
/// `(sc - 32) * q * q8` over elements `8k + l`; per super-block `sums[l] += (d*d8) * lane[l]`
/// in f32; the 8 lane sums are added in order at the end.
pub fn vec_dot_q3_k_q8_k(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sums = [0f32; 8];
    for (xb, yb) in x.iter().zip(y) {
        let sc = q3_k_scales(&xb.scales);
        let mut aux32 = [0i32; 8];
        for e in 0..QK_K {
            aux32[e % 8] += sc[e / 16] as i32 * (yb.qs[e] as i32 * q3(xb, e));
        }
        let d = xb.d.to_f32() * yb.d;
        for (s, &a) in sums.iter_mut().zip(&aux32) {
            *s += d * a as f32;
        }
    }
    sums.iter().fold(0f32, |acc, &s| acc + s)
}
