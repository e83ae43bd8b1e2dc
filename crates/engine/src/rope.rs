//! Rotary position embeddings, applied in place. The angles follow ggml's `ggml_rope_ext`
//! exactly (iterated `theta *= theta_scale` in f32, YaRN ramp, optional frequency factors),
//! because the rounding of the angle shows up in the logits.

use crate::config::{RopeConfig, RopeKind};

/// Cos/sin pairs for one position: `cache[2i] = cos`, `cache[2i + 1] = sin` for i < n_rot/2.
pub fn rope_cache(rope: &RopeConfig, freq_factors: Option<&[f32]>, pos: usize, cache: &mut [f32]) {
    angles(rope, freq_factors, pos as f32, true, cache);
}

/// Cos/sin of a rotation by `delta` positions, for moving cached keys (a context shift):
/// the same angles as [`rope_cache`] (frequency factors, YaRN ramp and all), since a key
/// rotated for position p and then by delta must equal one rotated for p + delta. The
/// angle is linear in the position, so that holds up to rounding. Unlike `rope_cache`, no
/// YaRN magnitude factor: the key carries it from its first rotation already. (llama.cpp's
/// `build_rope_shift` passes the attention factor again; for models without YaRN it is 1
/// and the two agree.)
pub fn rope_shift_cache(rope: &RopeConfig, freq_factors: Option<&[f32]>, delta: i64, cache: &mut [f32]) {
    angles(rope, freq_factors, delta as f32, false, cache);
}

fn angles(rope: &RopeConfig, freq_factors: Option<&[f32]>, pos: f32, magnitude: bool, cache: &mut [f32]) {
    let n_rot = rope.n_rot;
    let theta_scale = rope.freq_base.powf(-2.0 / n_rot as f32);
    let corr = yarn_corr_dims(n_rot, rope.yarn.n_ctx_orig, rope.freq_base, rope.yarn.beta_fast, rope.yarn.beta_slow);
    let mut theta = pos;
    for i0 in (0..n_rot).step_by(2) {
        let ff = freq_factors.map_or(1.0, |f| f[i0 / 2]);
        let (angle, mscale) = rope_yarn(theta / ff, rope.freq_scale, corr, i0, rope.yarn.ext_factor, rope.yarn.attn_factor);
        let m = if magnitude { mscale } else { 1.0 };
        cache[i0] = angle.cos() * m;
        cache[i0 + 1] = angle.sin() * m;
        theta *= theta_scale;
    }
}

/// ggml's `rope_yarn`: the angle and the magnitude factor for one dimension pair.
fn rope_yarn(theta_extrap: f32, freq_scale: f32, corr: [f32; 2], i0: usize, ext_factor: f32, mscale: f32) -> (f32, f32) {
    let theta_interp = freq_scale * theta_extrap;
    let mut theta = theta_interp;
    let mut mscale = mscale;
    if ext_factor != 0.0 {
        let ramp_mix = yarn_ramp(corr[0], corr[1], i0) * ext_factor;
        theta = theta_interp * (1.0 - ramp_mix) + theta_extrap * ramp_mix;
        mscale *= 1.0 + 0.1 * (1.0 / freq_scale).ln();
    }
    (theta, mscale)
}

fn yarn_ramp(low: f32, high: f32, i0: usize) -> f32 {
    let y = ((i0 / 2) as f32 - low) / (high - low).max(0.001);
    1.0 - y.clamp(0.0, 1.0)
}

fn yarn_corr_dims(n_dims: usize, n_ctx_orig: u32, base: f32, beta_fast: f32, beta_slow: f32) -> [f32; 2] {
    let corr_dim = |n_rot: f32| {
        n_dims as f32 * (n_ctx_orig as f32 / (n_rot * 2.0 * std::f32::consts::PI)).ln() / (2.0 * base.ln())
    };
    let start = corr_dim(beta_fast).floor();
    let end = corr_dim(beta_slow).ceil();
    [start.max(0.0), end.min(n_dims as f32 - 1.0)]
}

/// Rotate every head of one token (`x` = n_heads * head_dim values) with a precomputed cache.
/// The rotation is computed with the same fused multiply-adds llama.cpp's compiled rope uses
/// (`x0*c - x1*s` as fma(x0, c, -(x1*s))), so rotated values are bit-identical to its.
pub fn rope_apply(kind: RopeKind, x: &mut [f32], head_dim: usize, n_rot: usize, cache: &[f32]) {
    for head in x.chunks_exact_mut(head_dim) {
        match kind {
            RopeKind::Norm => {
                for i0 in (0..n_rot).step_by(2) {
                    let (c, s) = (cache[i0], cache[i0 + 1]);
                    let (x0, x1) = (head[i0], head[i0 + 1]);
                    head[i0] = x0.mul_add(c, -(x1 * s));
                    head[i0 + 1] = x0.mul_add(s, x1 * c);
                }
            }
            RopeKind::Neox => {
                let half = n_rot / 2;
                for i0 in (0..n_rot).step_by(2) {
                    let ic = i0 / 2;
                    let (c, s) = (cache[i0], cache[i0 + 1]);
                    let (x0, x1) = (head[ic], head[ic + half]);
                    head[ic] = x0.mul_add(c, -(x1 * s));
                    head[ic + half] = x0.mul_add(s, x1 * c);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Yarn;

    fn cfg(kind: RopeKind) -> RopeConfig {
        RopeConfig {
            kind,
            n_rot: 8,
            freq_base: 10000.0,
            freq_scale: 1.0,
            yarn: Yarn { ext_factor: 0.0, attn_factor: 1.0, beta_fast: 32.0, beta_slow: 1.0, n_ctx_orig: 4096 },
        }
    }

    #[test]
    fn rotation_matches_the_closed_form() {
        let r = cfg(RopeKind::Norm);
        let mut cache = vec![0.0; 8];
        rope_cache(&r, None, 7, &mut cache);
        let mut x: Vec<f32> = (0..8).map(|i| i as f32 + 1.0).collect();
        let orig = x.clone();
        rope_apply(RopeKind::Norm, &mut x, 8, 8, &cache);
        for i in 0..4 {
            let theta = 7.0f64 * 10000f64.powf(-2.0 * i as f64 / 8.0);
            let (a, b) = (orig[2 * i] as f64, orig[2 * i + 1] as f64);
            assert!((x[2 * i] as f64 - (a * theta.cos() - b * theta.sin())).abs() < 1e-4);
            assert!((x[2 * i + 1] as f64 - (a * theta.sin() + b * theta.cos())).abs() < 1e-4);
        }
    }

    #[test]
    fn shifting_a_rotated_key_equals_rotating_it_at_the_new_position() {
        for kind in [RopeKind::Norm, RopeKind::Neox] {
            let mut r = cfg(kind);
            // YaRN too: the angle mixes linearly in the position, and the magnitude factor is
            // applied once.
            for ext in [0.0, 1.0] {
                r.yarn.ext_factor = ext;
                r.freq_scale = if ext > 0.0 { 0.25 } else { 1.0 };
                let x: Vec<f32> = (0..16).map(|i| (i as f32 * 0.7).cos()).collect();
                let (mut a, mut b, mut t) = (x.clone(), x.clone(), vec![0.0; 8]);
                rope_cache(&r, None, 1000, &mut t);
                rope_apply(kind, &mut a, 8, 8, &t);
                rope_shift_cache(&r, None, -377, &mut t);
                rope_apply(kind, &mut a, 8, 8, &t);
                rope_cache(&r, None, 623, &mut t);
                rope_apply(kind, &mut b, 8, 8, &t);
                for (u, v) in a.iter().zip(&b) {
                    assert!((u - v).abs() < 2e-4, "{kind:?} ext {ext}: {u} vs {v}");
                }
            }
        }
    }

    #[test]
    fn rotation_preserves_norm_and_position_zero_is_identity() {
        for kind in [RopeKind::Norm, RopeKind::Neox] {
            let r = cfg(kind);
            let mut cache = vec![0.0; 8];
            rope_cache(&r, None, 0, &mut cache);
            let mut x: Vec<f32> = (0..16).map(|i| (i as f32).sin()).collect();
            let orig = x.clone();
            rope_apply(kind, &mut x, 8, 8, &cache);
            assert_eq!(x, orig);
            rope_cache(&r, None, 123, &mut cache);
            rope_apply(kind, &mut x, 8, 8, &cache);
            let n0: f32 = orig.iter().map(|v| v * v).sum();
            let n1: f32 = x.iter().map(|v| v * v).sum();
            assert!((n0 - n1).abs() < 1e-4);
        }
    }
}
