//! Q4_K: super-blocks of 256 weights in 8 groups of 32, `x = (d * sc) * q - (dmin * m)` with
//! 4-bit `q`, 6-bit `sc`/`m` packed in 12 bytes ([`get_scale_min_k4`]). `qs` byte `32c + l`
//! holds element `64c + l` (low nibble) and `64c + 32 + l` (high). Activation partner: Q8_K.

use super::kquant_common::{get_scale_min_k4, make_qkx2_quants, nearest_int, pack_scale_min_k4, Qkx2Search};
use crate::blocks::{BlockQ4K, BlockQ8K, QK_K};
use half::f16;

/// The ggml `quantize_row_q4_K_ref` / `q5_K_ref` front half, shared with Q5_K: fits each
/// group of 32 with `make_qkx2_quants` (weights `rms(group) + |x|`), quantizes the 8 scales
/// and mins to 6 bits against the largest of each, stores `d`, `dmin`, `scales`, then
/// re-rounds every weight to `0..=nmax` against the stored values into `l`.
pub(super) fn quantize_k_scales(
    xb: &[f32],
    nmax: i32,
    search: Qkx2Search,
    l: &mut [u8; QK_K],
) -> (f16, f16, [u8; 12]) {
    let mut laux = [0u8; 32];
    let mut weights = [0f32; 32];
    let mut scales = [0f32; QK_K / 32];
    let mut mins = [0f32; QK_K / 32];
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for j in 0..QK_K / 32 {
        let xg = &xb[32 * j..32 * j + 32];
        let mut sum_x2 = 0f32;
        for &v in xg {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, &v) in weights.iter_mut().zip(xg) {
            *w = av_x + v.abs();
        }
        (scales[j], mins[j]) = make_qkx2_quants(nmax, xg, &weights, &mut l[32 * j..32 * j + 32], &mut laux, search);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    // ggml assigns nearest_int to a uint8_t (wrapping) before taking MIN(63, .).
    let ls: [u8; 8] = std::array::from_fn(|j| (nearest_int(inv_scale * scales[j]) as u8).min(63));
    let lm: [u8; 8] = std::array::from_fn(|j| (nearest_int(inv_min * mins[j]) as u8).min(63));
    let packed = pack_scale_min_k4(&ls, &lm);
    let d = f16::from_f32(max_scale / 63.0);
    let dmin = f16::from_f32(max_min / 63.0);
    for j in 0..QK_K / 32 {
        let (sc, m) = get_scale_min_k4(j, &packed);
        let dj = d.to_f32() * sc as f32;
        if dj == 0.0 {
            continue;
        }
        let dm = dmin.to_f32() * m as f32;
        for ii in 0..32 {
            l[32 * j + ii] = nearest_int((xb[32 * j + ii] + dm) / dj).clamp(0, nmax) as u8;
        }
    }
    (d, dmin, packed)
}

/// ggml's `quantize_row_q4_K_ref` (search: `rmin -1`, `rdelta 0.1`, 21 steps, squared error).
pub fn quantize_row_q4_k(x: &[f32], y: &mut [BlockQ4K]) {
    debug_assert_eq!(x.len(), y.len() * QK_K);
    let search = Qkx2Search { rmin: -1.0, rdelta: 0.1, nstep: 20, use_mad: false };
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut l = [0u8; QK_K];
        (yb.d, yb.dmin, yb.scales) = quantize_k_scales(xb, 15, search, &mut l);
        for c in 0..QK_K / 64 {
            for k in 0..32 {
                yb.qs[32 * c + k] = l[64 * c + k] | (l[64 * c + 32 + k] << 4);
            }
        }
    }
}

/// ggml's `dequantize_row_q4_K`.
pub fn dequantize_row_q4_k(x: &[BlockQ4K], y: &mut [f32]) {
    debug_assert_eq!(y.len(), x.len() * QK_K);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (xb.d.to_f32(), xb.dmin.to_f32());
        for g in 0..QK_K / 32 {
            let (sc, m) = get_scale_min_k4(g, &xb.scales);
            let (dl, ml) = (d * sc as f32, min * m as f32);
            let (q, shift) = (&xb.qs[32 * (g / 2)..][..32], 4 * (g % 2));
            for (o, &b) in yb[32 * g..32 * g + 32].iter_mut().zip(q) {
                *o = dl * ((b >> shift) & 0xF) as f32 - ml;
            }
        }
    }
}

/// A Q4_K/Q5_K super-block unpacked for the dot product.
pub(super) struct KUnpacked {
    pub d: f32,
    pub dmin: f32,
    pub sc: [u8; 8],
    pub mins: [u8; 8],
    /// Unsigned levels in element order.
    pub q: [i32; QK_K],
}

impl KUnpacked {
    pub fn new(d: f16, dmin: f16, scales: &[u8; 12], q: [i32; QK_K]) -> KUnpacked {
        let pairs: [(u8, u8); 8] = std::array::from_fn(|j| get_scale_min_k4(j, scales));
        KUnpacked { d: d.to_f32(), dmin: dmin.to_f32(), sc: pairs.map(|p| p.0), mins: pairs.map(|p| p.1), q }
    }
}

/// The accumulation shared by ggml's generic Q4_K/Q5_K dot products: 8 integer lanes (lane
/// `l` sums `sc * q * q8` over elements `8k + l`) go into `sums[l] += (d*d8) * lane` and the
/// mins term `sumi = sum_j bsums_j * m_{j/2}` into `sumf -= (dmin*d8) * sumi`, per
/// super-block; the 8 lane sums are added to `sumf` in order at the very end.
pub(super) fn k_dot<'a>(blocks: impl Iterator<Item = (KUnpacked, &'a BlockQ8K)>) -> f32 {
    let mut sums = [0f32; 8];
    let mut sumf = 0f32;
    for (xb, yb) in blocks {
        let sumi: i32 = (0..QK_K / 16).map(|j| yb.bsums[j] as i32 * xb.mins[j / 2] as i32).sum();
        let mut aux32 = [0i32; 8];
        for e in 0..QK_K {
            aux32[e % 8] += xb.sc[e / 32] as i32 * (yb.qs[e] as i32 * xb.q[e]);
        }
        let d = xb.d * yb.d;
        for (s, &a) in sums.iter_mut().zip(&aux32) {
            *s += d * a as f32;
        }
        sumf -= xb.dmin * yb.d * sumi as f32;
    }
    sums.iter().fold(sumf, |acc, &s| acc + s)
}

/// ggml's `ggml_vec_dot_q4_K_q8_K_generic` (accumulation order: see `k_dot`).
pub fn vec_dot_q4_k_q8_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    k_dot(x.iter().zip(y).map(|(xb, yb)| {
        let q = std::array::from_fn(|e| {
            let (g, k) = (e / 32, e % 32);
            ((xb.qs[32 * (g / 2) + k] >> (4 * (g % 2))) & 0xF) as i32
        });
        (KUnpacked::new(xb.d, xb.dmin, &xb.scales, q), yb)
    }))
}
