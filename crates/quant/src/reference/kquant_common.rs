//! Helpers shared by the k-quant quantizers: ggml's rounding trick and its scale searches.
//!
//! Every float expression below is evaluated in f32, in ggml's source order, with no fused
//! multiply-add: ggml-quants.c lives in `ggml-base`, which is built for baseline x86-64 (no
//! FMA), so the compiler cannot contract there. Rust never contracts. This is what lets our
//! quantizer reproduce llama-quantize's bytes (see the requantization test).

/// ggml's `GROUP_MAX_EPS`: groups whose largest magnitude is below this are all zero.
pub const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml's `nearest_int`: adds 1.5 * 2^23 so the FPU's round-to-nearest-even lands the integer
/// in the low mantissa bits. Exact for |x| <= 4194303; outside that (or NaN) it returns
/// garbage like ggml does, but never panics.
#[inline]
pub fn nearest_int(fval: f32) -> i32 {
    let val = fval + 12_582_912.0;
    (val.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// Weight of element `xi` in `make_qx_quants` for `rmse_type` 1..=4 without explicit weights.
#[inline]
fn qx_weight(qw: Option<&[f32]>, i: usize, xi: f32, rmse_type: i32) -> f32 {
    match qw {
        Some(w) => w[i],
        None => match rmse_type {
            1 => xi * xi,
            2 => 1.0,
            3 => xi.abs(),
            _ => xi.abs().sqrt(),
        },
    }
}

/// ggml's `make_qx_quants`: symmetric quantization of `x` to `-nmax..nmax-1`, stored in `l`
/// offset by `nmax`. Returns the scale. `rmse_type` 0 just rounds with `nmax / max`; otherwise
/// the scale is refined by least squares over 18 candidate inverse scales around `nmax / max`
/// (a negative `rmse_type` returns early with the average of the first fit and `1/iscale`).
pub fn make_qx_quants(nmax: i32, x: &[f32], l: &mut [i8], rmse_type: i32, qw: Option<&[f32]>) -> f32 {
    let n = x.len();
    let (mut max, mut amax) = (0f32, 0f32);
    for &xi in x {
        if xi.abs() > amax {
            amax = xi.abs();
            max = xi;
        }
    }
    if amax < GROUP_MAX_EPS {
        l[..n].fill(0);
        return 0.0;
    }
    let mut iscale = -(nmax as f32) / max;
    let quant = |iscale: f32, xi: f32| nearest_int(iscale * xi).clamp(-nmax, nmax - 1);
    if rmse_type == 0 {
        for (li, &xi) in l.iter_mut().zip(x) {
            *li = (nmax + quant(iscale, xi)) as i8;
        }
        return 1.0 / iscale;
    }
    let (rmse_type, return_early) = if rmse_type < 0 { (-rmse_type, true) } else { (rmse_type, false) };
    let (mut sumlx, mut suml2) = (0f32, 0f32);
    for (i, &xi) in x.iter().enumerate() {
        let q = quant(iscale, xi);
        l[i] = (q + nmax) as i8;
        let w = qx_weight(qw, i, xi, rmse_type);
        sumlx += w * xi * q as f32;
        suml2 += w * q as f32 * q as f32;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    if return_early {
        return if suml2 > 0.0 { 0.5 * (scale + 1.0 / iscale) } else { 1.0 / iscale };
    }
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        let (mut slx, mut sl2) = (0f32, 0f32);
        for (i, &xi) in x.iter().enumerate() {
            let q = quant(iscale, xi) as f32;
            let w = qx_weight(qw, i, xi, rmse_type);
            slx += w * xi * q;
            sl2 += w * q * q;
        }
        if sl2 > 0.0 && slx * slx > best * sl2 {
            for (li, &xi) in l.iter_mut().zip(x) {
                *li = (nmax + quant(iscale, xi)) as i8;
            }
            scale = slx / sl2;
            best = scale * slx;
        }
    }
    scale
}

/// ggml's `make_q3_quants` (Q3_K): like `make_qx_quants` with weights `x^2`, but with
/// `do_rmse` the levels are refined one element at a time (up to 5 sweeps), keeping a change
/// when it improves `sumlx^2 / suml2`. Levels are returned offset by `nmax`.
pub fn make_q3_quants(nmax: i32, x: &[f32], l: &mut [i8], do_rmse: bool) -> f32 {
    let n = x.len();
    let (mut max, mut amax) = (0f32, 0f32);
    for &xi in x {
        if xi.abs() > amax {
            amax = xi.abs();
            max = xi;
        }
    }
    if amax < GROUP_MAX_EPS {
        l[..n].fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    if do_rmse {
        let (mut sumlx, mut suml2) = (0f32, 0f32);
        for (li, &xi) in l.iter_mut().zip(x) {
            let q = nearest_int(iscale * xi).clamp(-nmax, nmax - 1);
            *li = q as i8;
            let w = xi * xi;
            sumlx += w * xi * q as f32;
            suml2 += w * q as f32 * q as f32;
        }
        for _ in 0..5 {
            let mut n_changed = 0;
            for (li, &xi) in l.iter_mut().zip(x) {
                let w = xi * xi;
                let cur = *li as f32;
                let mut slx = sumlx - w * xi * cur;
                if slx > 0.0 {
                    let mut sl2 = suml2 - w * cur * cur;
                    let new_l = nearest_int(xi * sl2 / slx).clamp(-nmax, nmax - 1);
                    if new_l != *li as i32 {
                        slx += w * xi * new_l as f32;
                        sl2 += w * new_l as f32 * new_l as f32;
                        if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                            *li = new_l as i8;
                            sumlx = slx;
                            suml2 = sl2;
                            n_changed += 1;
                        }
                    }
                }
            }
            if n_changed == 0 {
                break;
            }
        }
        for li in l[..n].iter_mut() {
            *li += nmax as i8;
        }
        return if suml2 > 0.0 { sumlx / suml2 } else { 0.0 };
    }
    for (li, &xi) in l.iter_mut().zip(x) {
        *li = (nearest_int(iscale * xi).clamp(-nmax, nmax - 1) + nmax) as i8;
    }
    1.0 / iscale
}

/// Parameters of ggml's `make_qkx2_quants` search: inverse scales
/// `(rmin + rdelta * is + nmax) / (max - min)` for `is` in `0..=nstep`.
#[derive(Clone, Copy, Debug)]
pub struct Qkx2Search {
    pub rmin: f32,
    pub rdelta: f32,
    pub nstep: i32,
    /// Minimize weighted absolute error instead of squared error.
    pub use_mad: bool,
}

/// ggml's `make_qkx2_quants`: asymmetric quantization `x ~ scale * l - the_min` with
/// `l` in `0..=nmax` (written to `l`), fitting scale and min by weighted least squares for
/// each candidate inverse scale and keeping the one with the lowest weighted error.
/// Returns `(scale, the_min)`; `the_min >= 0`. `laux` is scratch of `x.len()` bytes.
pub fn make_qkx2_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l: &mut [u8],
    laux: &mut [u8],
    p: Qkx2Search,
) -> (f32, f32) {
    let n = x.len();
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l[..n].fill(0);
        return (0.0, -min);
    }
    let nmaxf = nmax as f32;
    let err = |d: f32| if p.use_mad { d.abs() } else { d * d };
    let mut iscale = nmaxf / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0f32;
    for i in 0..n {
        let q = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        l[i] = q as u8;
        let diff = scale * q as f32 + min - x[i];
        best_error += weights[i] * err(diff);
    }
    if p.nstep < 1 {
        return (scale, -min);
    }
    for is in 0..=p.nstep {
        iscale = (p.rmin + p.rdelta * is as f32 + nmaxf) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
        for i in 0..n {
            let q = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = q as u8;
            let (w, q) = (weights[i], q as f32);
            sum_l += w * q;
            sum_l2 += w * q * q;
            sum_xl += w * q * x[i];
        }
        let d = sum_w * sum_l2 - sum_l * sum_l;
        if d > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0f32;
            for i in 0..n {
                let diff = this_scale * laux[i] as f32 + this_min - x[i];
                cur_error += weights[i] * err(diff);
            }
            if cur_error < best_error {
                l[..n].copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0..8) of a Q4_K/Q5_K
/// block. Sub-blocks 0..4 use the low 6 bits of bytes `j` and `j+4`; 4..8 take their low 4
/// bits from byte `j+4` and their top 2 bits from the spare top bits of bytes `j-4` and `j`.
#[inline]
pub fn get_scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Inverse of [`get_scale_min_k4`] for all 8 sub-blocks (as ggml's quantizers pack them).
pub fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for j in 0..8 {
        if j < 4 {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4);
            s[j - 4] |= (ls[j] >> 4) << 6;
            s[j] |= (lm[j] >> 4) << 6;
        }
    }
    s
}

/// Packs 256 2-bit values as Q2_K/Q3_K store them: byte `32*c + l` of chunk `c` (128 values)
/// holds values `l`, `l+32`, `l+64`, `l+96` of that chunk in bits 0-1, 2-3, 4-5, 6-7.
pub fn pack_2bit(l: &[u8; 256], qs: &mut [u8; 64]) {
    for j in (0..256).step_by(128) {
        for k in 0..32 {
            qs[j / 4 + k] = l[j + k] | (l[j + k + 32] << 2) | (l[j + k + 64] << 4) | (l[j + k + 96] << 6);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        assert_eq!(nearest_int(0.5), 0);
        assert_eq!(nearest_int(1.5), 2);
        assert_eq!(nearest_int(2.5), 2);
        assert_eq!(nearest_int(-0.5), 0);
        assert_eq!(nearest_int(-1.5), -2);
        assert_eq!(nearest_int(-2.4), -2);
        assert_eq!(nearest_int(127.49), 127);
        for i in -4_194_303..=4_194_303 {
            if i % 997 == 0 {
                assert_eq!(nearest_int(i as f32), i);
            }
        }
    }

    #[test]
    fn scale_min_packing_round_trips() {
        let ls = [0, 1, 17, 63, 62, 33, 5, 48];
        let lm = [63, 0, 31, 32, 7, 60, 1, 16];
        let s = pack_scale_min_k4(&ls, &lm);
        for j in 0..8 {
            assert_eq!(get_scale_min_k4(j, &s), (ls[j], lm[j]));
        }
    }
}
