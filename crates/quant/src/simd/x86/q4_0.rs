//! Q4_0 x Q8_0 in the float order of llama.cpp's *repacked* kernels, which is what it runs for
//! Q4_0 weights on AVX2 (arch/x86/repack.cpp, `gemv_q4_b32_8x8_q8_0_lut_avx` behind
//! `ggml_gemv_q4_0_8x8_q8_0`): per output a single f32 accumulator, and per block
//! `acc = fma(f32(isum), dw * dx, acc)` where `isum` is the exact integer dot product of the
//! block. No horizontal float sum at the end.
//!
//! That order is also what makes this fast: the integer sums of eight outputs (or of eight
//! consecutive blocks, for a single dot product) are reduced together with one `hadd` tree,
//! and eight outputs share one vector FMA. The code is ours; only the order is ggml's.

use super::util::*;
use crate::blocks::{BlockQ4_0, BlockQ8_0};
use std::arch::x86_64::*;

/// Eight i32 lanes whose sum is the exact integer dot product of one block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn block_lanes(w: &BlockQ4_0, x: &BlockQ8_0) -> __m256i {
    let qx = _mm256_sub_epi8(nibbles(&w.qs), _mm256_set1_epi8(8));
    dot_i8(qx, ld_i8(&x.qs, 0))
}

/// One row times one column: eight blocks at a time, their integer sums reduced together,
/// then the eight FMAs in block order (the accumulator chain is sequential by definition).
#[target_feature(enable = "avx2,fma,f16c")]
pub fn dot(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    let mut wc = w.chunks_exact(8);
    let mut xc = x.chunks_exact(8);
    for (w8, x8) in (&mut wc).zip(&mut xc) {
        let mut v = [_mm256_setzero_si256(); 8];
        for k in 0..8 {
            v[k] = block_lanes(&w8[k], &x8[k]);
        }
        let dw = h2f8(std::array::from_fn(|k| w8[k].d.to_bits()));
        let dx = h2f8(std::array::from_fn(|k| x8[k].d.to_bits()));
        let mut s = [0f32; 8];
        st_f32(&mut s, 0, _mm256_cvtepi32_ps(hsum_i32_x8(v)));
        for k in 0..8 {
            acc = s[k].mul_add(dw[k] * dx[k], acc);
        }
    }
    for (wb, xb) in wc.remainder().iter().zip(xc.remainder()) {
        let s = hsum_i32(block_lanes(wb, xb)) as f32;
        acc = s.mul_add(h2f(wb.d) * h2f(xb.d), acc);
    }
    acc
}

/// R weight rows x C activation rows (R * C <= 8): the R*C outputs live in the lanes of one
/// accumulator vector, lane `r * C + c`; per block one vector FMA updates all of them with
/// exactly `dot`'s per-output operation.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn tile<const R: usize, const C: usize>(w: [&[BlockQ4_0]; R], x: [&[BlockQ8_0]; C]) -> [[f32; C]; R] {
    const { assert!(R * C <= 8) };
    if R * C == 1 {
        return [[dot(w[0], x[0]); C]; R];
    }
    let nb = x[0].len();
    for wr in &w {
        assert_eq!(wr.len(), nb);
    }
    for xr in &x {
        assert_eq!(xr.len(), nb);
    }
    let mut acc = _mm256_setzero_ps();
    // Scales are converted eight blocks at a time (see `h2f8`).
    for b0 in (0..nb).step_by(8) {
        let m = (nb - b0).min(8);
        let mut dy = [[0f32; 8]; C];
        for c in 0..C {
            let xs = &x[c][b0..b0 + m];
            dy[c] = h2f8(std::array::from_fn(|k| xs.get(k).map_or(0, |y| y.d.to_bits())));
        }
        let mut dx = [[0f32; 8]; R];
        for r in 0..R {
            let ws = &w[r][b0..b0 + m];
            dx[r] = h2f8(std::array::from_fn(|k| ws.get(k).map_or(0, |b| b.d.to_bits())));
        }
        for k in 0..m {
            let b = b0 + k;
            let mut qy = [_mm256_setzero_si256(); C];
            for c in 0..C {
                qy[c] = ld_i8(&x[c][b].qs, 0);
            }
            let mut v = [_mm256_setzero_si256(); 8];
            let mut d = [0f32; 8];
            for r in 0..R {
                let qx = _mm256_sub_epi8(nibbles(&w[r][b].qs), _mm256_set1_epi8(8));
                for c in 0..C {
                    v[r * C + c] = dot_i8(qx, qy[c]);
                    d[r * C + c] = dx[r][k] * dy[c][k];
                }
            }
            let s = _mm256_cvtepi32_ps(hsum_i32_x8(v));
            acc = _mm256_fmadd_ps(s, ld_f32(&d, 0), acc);
        }
    }
    let mut lanes = [0f32; 8];
    st_f32(&mut lanes, 0, acc);
    let mut out = [[0f32; C]; R];
    for r in 0..R {
        for c in 0..C {
            out[r][c] = lanes[r * C + c];
        }
    }
    out
}
