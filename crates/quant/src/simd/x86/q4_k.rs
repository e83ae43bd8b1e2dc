//! Q4_K x Q8_K in the float order of llama.cpp's *repacked* kernels, which is what it runs for
//! Q4_K weights on AVX2 (arch/x86/repack.cpp, `ggml_gemv_q4_K_8x8_q8_K`): per output two f32
//! accumulators, per super-block
//! `acc = fma(f32(isum), d * d8, acc)` and `acc_min = fma(f32(imin), dmin * d8, acc_min)`
//! with `isum = sum_j sc_j * (q . q8)_j` and `imin = sum_j m_j * bsum32_j` exact integers;
//! the result is `acc - acc_min`. The code is ours; only the order is ggml's.

use super::util::*;
use crate::blocks::{BlockQ4K, BlockQ8K, QK_K};
use std::arch::x86_64::*;

/// The exact `imin` of one (weight, activation) super-block pair, as four i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn imin_lanes(mins16: __m128i, y: &BlockQ8K) -> __m128i {
    _mm_madd_epi16(mins16, bsums32(&y.bsums))
}

/// The 32 unsigned quants of slice k: nibble k%2 of qs[32(k/2)..].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn slice(b: &BlockQ4K, k: usize) -> __m256i {
    let v = ld_u8(&b.qs, 32 * (k / 2));
    _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(4 * (k % 2) as i32)), _mm256_set1_epi8(0x0F))
}

/// One row times one column.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn dot(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let (mut acc, mut acc_min) = (0f32, 0f32);
    for (wb, yb) in w.iter().zip(x) {
        let (sc, m16) = k4_prep(&wb.scales);
        let mut sumi = _mm256_setzero_si256();
        for k in 0..QK_K / 32 {
            let p = _mm256_maddubs_epi16(slice(wb, k), ld_i8(&yb.qs, 32 * k));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, k4_slice_scale(sc, k)));
        }
        acc = (hsum_i32(sumi) as f32).mul_add(h2f(wb.d) * yb.d, acc);
        acc_min = (hsum_i32_4(imin_lanes(m16, yb)) as f32).mul_add(h2f(wb.dmin) * yb.d, acc_min);
    }
    acc - acc_min
}

/// R weight rows x C activation rows (R * C <= 8): outputs in the lanes of one accumulator
/// pair, lane `r * C + c`, each updated with exactly `dot`'s per-output operations.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn tile<const R: usize, const C: usize>(w: [&[BlockQ4K]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
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
    let (mut acc, mut acc_min) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    for b in 0..nb {
        let mut sm = [(_mm256_setzero_si256(), _mm_setzero_si128()); R];
        for r in 0..R {
            sm[r] = k4_prep(&w[r][b].scales);
        }
        let mut sumi = [_mm256_setzero_si256(); 8];
        for k in 0..QK_K / 32 {
            let mut q8 = [_mm256_setzero_si256(); C];
            for c in 0..C {
                q8[c] = ld_i8(&x[c][b].qs, 32 * k);
            }
            for r in 0..R {
                let q = slice(&w[r][b], k);
                let sc = k4_slice_scale(sm[r].0, k);
                for c in 0..C {
                    let p = _mm256_maddubs_epi16(q, q8[c]);
                    sumi[r * C + c] = _mm256_add_epi32(sumi[r * C + c], _mm256_madd_epi16(p, sc));
                }
            }
        }
        let mut dd = [0f32; 8];
        let mut dm = [0f32; 8];
        let mut mins = [_mm256_setzero_si256(); 8];
        let mut bs = [_mm_setzero_si128(); C];
        for c in 0..C {
            bs[c] = bsums32(&x[c][b].bsums);
        }
        for r in 0..R {
            let (d, dmin) = (h2f(w[r][b].d), h2f(w[r][b].dmin));
            for c in 0..C {
                let yd = x[c][b].d;
                dd[r * C + c] = d * yd;
                dm[r * C + c] = dmin * yd;
                mins[r * C + c] = _mm256_zextsi128_si256(_mm_madd_epi16(sm[r].1, bs[c]));
            }
        }
        let s = _mm256_cvtepi32_ps(hsum_i32_x8(sumi));
        acc = _mm256_fmadd_ps(s, ld_f32(&dd, 0), acc);
        acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum_i32_x8(mins)), ld_f32(&dm, 0), acc_min);
    }
    let mut lanes = [0f32; 8];
    st_f32(&mut lanes, 0, _mm256_sub_ps(acc, acc_min));
    let mut out = [[0f32; C]; R];
    for r in 0..R {
        for c in 0..C {
            out[r][c] = lanes[r * C + c];
        }
    }
    out
}
