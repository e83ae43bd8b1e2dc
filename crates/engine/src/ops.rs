//! Elementwise and row operations of the forward pass, as plain functions over slices.
//! Numerics follow ggml's CPU ops where the order of rounding matters for parity.

use crate::parallel::DisjointMut;
use crate::pool::ThreadPool;
use half::f16;
use std::sync::OnceLock;

/// Elements per task of the parallel elementwise and row ops: enough to outweigh a region's
/// cost (a decode step's rows stay on the caller), and a multiple of 8 so that `swiglu`'s
/// vector body and scalar tail split where they do serially.
const PAR_ELEMS: usize = 16384;

/// An elementwise in-place op `f(gate, up)` (SwiGLU, GeGLU) spread over the pool in chunks of
/// [`PAR_ELEMS`]; every element is computed alone, so the result is `f` on the whole slice.
pub fn pair_par(pool: &ThreadPool, gate: &mut [f32], up: &[f32], f: fn(&mut [f32], &[f32])) {
    let n = gate.len().min(up.len());
    let g = DisjointMut::new(&mut gate[..n]);
    pool.parallel_for(n, PAR_ELEMS, &|a, b| {
        // SAFETY: parallel_for hands each range a..b to exactly one call.
        f(unsafe { g.range(a..b) }, &up[a..b])
    });
}

/// Rows of `width` elements per task of a parallel row op: whole rows, about [`PAR_ELEMS`].
pub fn par_rows(width: usize) -> usize {
    (PAR_ELEMS / width.max(1)).max(1)
}

/// [`rms_norm_rows`] spread over the pool, whole rows per task (each row is normalized alone).
pub fn rms_norm_rows_par(pool: &ThreadPool, x: &[f32], w: &[f32], eps: f32, out: &mut [f32], n: usize) {
    let d = w.len();
    let o = DisjointMut::new(&mut out[..n * d]);
    pool.parallel_for(n, par_rows(d), &|a, b| {
        // SAFETY: rows a..b are handed to exactly one call.
        rms_norm_rows(&x[a * d..b * d], w, eps, unsafe { o.range(a * d..b * d) }, b - a)
    });
}

/// RMSNorm of one row, then the elementwise weight: `out = x / sqrt(mean(x²) + eps) * w`.
/// The sum of squares accumulates in f64 as ggml's `ggml_compute_forward_rms_norm_f32` does.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let scale = rms_scale(x, eps);
    for ((o, &xi), &wi) in out.iter_mut().zip(x).zip(w) {
        *o = (xi * scale) * wi;
    }
}

/// In-place RMSNorm with weight (used per head for QK-norm).
pub fn rms_norm_inplace(x: &mut [f32], w: &[f32], eps: f32) {
    let scale = rms_scale(x, eps);
    for (xi, &wi) in x.iter_mut().zip(w) {
        *xi = (*xi * scale) * wi;
    }
}

fn rms_scale(x: &[f32], eps: f32) -> f32 {
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    1.0 / (mean + eps).sqrt()
}

/// RMSNorm over `n` rows of width `w.len()`.
pub fn rms_norm_rows(x: &[f32], w: &[f32], eps: f32, out: &mut [f32], n: usize) {
    let d = w.len();
    for (xr, or) in x[..n * d].chunks_exact(d).zip(out[..n * d].chunks_exact_mut(d)) {
        rms_norm(xr, w, eps, or);
    }
}

/// Orthonormal Walsh-Hadamard transform of each `block`-element chunk of `x`, in place (the
/// transform is its own inverse). ggml's `ggml_compute_forward_fwht` order: scale by
/// 1/sqrt(block) first, then butterflies of span 1, 2, 4, ...; `block` is a power of two.
pub fn fwht_blocks(x: &mut [f32], block: usize) {
    debug_assert!(block.is_power_of_two());
    let scale = 1.0 / (block as f32).sqrt();
    for b in x.chunks_exact_mut(block) {
        for v in b.iter_mut() {
            *v *= scale;
        }
        let mut len = 1;
        while len < block {
            for i in (0..block).step_by(2 * len) {
                for j in i..i + len {
                    let (u, w) = (b[j], b[j + len]);
                    b[j] = u + w;
                    b[j + len] = u - w;
                }
            }
            len *= 2;
        }
    }
}

/// `x += y`, elementwise.
pub fn add_inplace(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Add a bias row to each of the rows of `x`.
pub fn add_bias_rows(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        add_inplace(row, bias);
    }
}

pub fn scale_inplace(x: &mut [f32], s: f32) {
    for v in x {
        *v *= s;
    }
}

/// SwiGLU: `gate = silu(gate) * up`, in place in `gate`.
pub fn swiglu_inplace(gate: &mut [f32], up: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { swiglu_fma(gate, up) };
    }
    swiglu_body(gate, up)
}

/// [`swiglu_inplace`] on 8 lanes at a time: [`vexpf8`] performs `vexpf`'s operations in the
/// same order, and the division and products are exact IEEE operations, so every element
/// gets the bits `swiglu_body` gives it (checked by `swiglu_avx2_matches_scalar`). Measured
/// 7% of Qwen2.5's pp512 when scalar (Xeon, 2026-12-02).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn swiglu_fma(gate: &mut [f32], up: &[f32]) {
    use std::arch::x86_64::*;
    let n = gate.len().min(up.len());
    let n8 = n / 8 * 8;
    let (g8, u8) = (&mut gate[..n8], &up[..n8]);
    for (g, u) in g8.chunks_exact_mut(8).zip(u8.chunks_exact(8)) {
        // SAFETY: both chunks hold exactly 8 f32 (chunks_exact), read and written unaligned.
        unsafe {
            let x = _mm256_loadu_ps(g.as_ptr());
            let e = vexpf8(_mm256_sub_ps(_mm256_setzero_ps(), x));
            let s = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0), e));
            _mm256_storeu_ps(g.as_mut_ptr(), _mm256_mul_ps(s, _mm256_loadu_ps(u.as_ptr())));
        }
    }
    for (g, &u) in gate[n8..n].iter_mut().zip(&up[n8..n]) {
        let x = *g;
        *g = x / (1.0 + (-x).exp()) * u;
    }
}

/// [`vexpf`] on 8 lanes. Lanes whose reduced exponent is out of the fast range (|n| > 126,
/// rare: |x| > 87) are recomputed by the scalar `vexpf`, which handles them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn vexpf8(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let c = |bits: u32| _mm256_set1_ps(f32::from_bits(bits));
    let r = c(0x4B40_0000);
    let z = _mm256_fmadd_ps(x, c(0x3FB8_AA3B), r);
    let n = _mm256_sub_ps(z, r);
    let b = _mm256_fnmadd_ps(n, c(0x35BF_BE8E), _mm256_fnmadd_ps(n, c(0x3F31_7200), x));
    let e = _mm256_slli_epi32::<23>(_mm256_castps_si256(z));
    let k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0))));
    let u = _mm256_mul_ps(b, b);
    let p = _mm256_fmadd_ps(
        _mm256_fmadd_ps(c(0x3C07_2010), b, c(0x3D2B_9F17)),
        u,
        _mm256_fmadd_ps(c(0x3E2A_AF33), b, c(0x3EFF_FEDB)),
    );
    let j = _mm256_fmadd_ps(p, u, _mm256_mul_ps(c(0x3F7F_FFF6), b));
    let out = _mm256_fmadd_ps(j, k, k);
    let abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0), n);
    if _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(abs_n, _mm256_set1_ps(126.0))) == 0 {
        return out;
    }
    let mut lanes = [0f32; 8];
    let mut xs = [0f32; 8];
    // SAFETY: both arrays hold exactly 8 f32.
    unsafe {
        _mm256_storeu_ps(lanes.as_mut_ptr(), out);
        _mm256_storeu_ps(xs.as_mut_ptr(), x);
    }
    for (l, &xv) in lanes.iter_mut().zip(&xs) {
        *l = vexpf(xv);
    }
    // SAFETY: `lanes` holds exactly 8 f32.
    unsafe { _mm256_loadu_ps(lanes.as_ptr()) }
}

#[inline(always)]
fn swiglu_body(gate: &mut [f32], up: &[f32]) {
    // As ggml_vec_swiglu_f32 on AVX2: groups of 8 through the vectorized exp, the tail
    // through libm's expf.
    let n = gate.len().min(up.len());
    let n8 = n / 8 * 8;
    for (g, &u) in gate[..n8].iter_mut().zip(&up[..n8]) {
        let x = *g;
        *g = x / (1.0 + vexpf(0.0 - x)) * u;
    }
    for (g, &u) in gate[n8..n].iter_mut().zip(&up[n8..n]) {
        let x = *g;
        *g = x / (1.0 + (-x).exp()) * u;
    }
}

/// ggml's vectorized `expf` (`ggml_v_expf`, after ARM's optimized-routines algorithm: range
/// reduction by a shifted round, a degree-5 polynomial, and special handling of large
/// arguments), one lane at a time. Max error ~1.5 ulp; we need its exact values, not libm's,
/// because llama.cpp's softmax and SiLU use it.
#[inline]
pub fn vexpf(x: f32) -> f32 {
    let r = f32::from_bits(0x4B40_0000); // 0x1.8p23
    let z = x.mul_add(f32::from_bits(0x3FB8_AA3B), r); // log2(e)
    let n = z - r;
    let b = (-n).mul_add(f32::from_bits(0x35BF_BE8E), (-n).mul_add(f32::from_bits(0x3F31_7200), x));
    let e = z.to_bits() << 23;
    let k = f32::from_bits(e.wrapping_add(1f32.to_bits()));
    let u = b * b;
    let p = f32::from_bits(0x3C07_2010)
        .mul_add(b, f32::from_bits(0x3D2B_9F17))
        .mul_add(u, f32::from_bits(0x3E2A_AF33).mul_add(b, f32::from_bits(0x3EFF_FEDB)));
    let j = p.mul_add(u, f32::from_bits(0x3F7F_FFF6) * b);
    if !(n.abs() > 126.0) {
        return j.mul_add(k, k);
    }
    let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
    let s1 = f32::from_bits(g.wrapping_add(0x7F00_0000));
    let s2 = f32::from_bits(e.wrapping_sub(g));
    if n.abs() > 192.0 {
        s1 * s1
    } else {
        s2.mul_add(j, s2) * s1
    }
}

/// GeGLU with tanh-approximated GELU: `gate = gelu(gate) * up`, in place in `gate`.
/// ggml evaluates GELU through a table indexed by the f16 value of the input and storing f16
/// results (`GGML_GELU_FP16`), so we do too: parity with llama.cpp, and a table lookup is fast.
pub fn geglu_inplace(gate: &mut [f32], up: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c") {
        // SAFETY: the CPU has AVX2 and F16C (checked just above).
        return unsafe { geglu_avx2(gate, up) };
    }
    geglu_body(gate, up)
}

fn geglu_body(gate: &mut [f32], up: &[f32]) {
    let table = gelu_f16_table();
    for (g, &u) in gate.iter_mut().zip(up) {
        let x = *g;
        *g = if x <= -10.0 {
            0.0
        } else if x >= 10.0 {
            x * u
        } else {
            table[f16::from_f32(x).to_bits() as usize] * u
        };
    }
}

/// [`geglu_body`] on 8 lanes: F16C's round-to-nearest-even conversion gives the table index
/// `half` gives, the table values are gathered, and the two range cases are blended in; a
/// group holding a NaN goes through the scalar form. Same bits (`geglu_avx2_matches_scalar`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
fn geglu_avx2(gate: &mut [f32], up: &[f32]) {
    use std::arch::x86_64::*;
    let table = gelu_f16_table();
    let n = gate.len().min(up.len());
    let n8 = n / 8 * 8;
    let (g8, u8) = (&mut gate[..n8], &up[..n8]);
    for (g, u) in g8.chunks_exact_mut(8).zip(u8.chunks_exact(8)) {
        // SAFETY: both chunks hold exactly 8 f32; the gather reads table[i] for 16-bit i, and
        // the table has all 65536 entries.
        unsafe {
            let x = _mm256_loadu_ps(g.as_ptr());
            if _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_UNORD_Q>(x, x)) != 0 {
                geglu_body(g, u);
                continue;
            }
            let uv = _mm256_loadu_ps(u.as_ptr());
            let idx = _mm256_cvtepu16_epi32(_mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(x));
            let t = _mm256_mul_ps(_mm256_i32gather_ps::<4>(table.as_ptr(), idx), uv);
            let hi = _mm256_cmp_ps::<_CMP_GE_OQ>(x, _mm256_set1_ps(10.0));
            let lo = _mm256_cmp_ps::<_CMP_LE_OQ>(x, _mm256_set1_ps(-10.0));
            let v = _mm256_blendv_ps(t, _mm256_mul_ps(x, uv), hi);
            _mm256_storeu_ps(g.as_mut_ptr(), _mm256_andnot_ps(lo, v));
        }
    }
    geglu_body(&mut gate[n8..n], &up[n8..n]);
}

const GELU_COEF_A: f32 = 0.044715;
const SQRT_2_OVER_PI: f32 = 0.797_884_6;

/// Tanh-approximated GELU as ggml-cpu's `ggml_gelu_f32` evaluates it when GCC builds it for
/// an FMA machine: `1 + GELU_COEF_A * x * x` is contracted into one fused multiply-add. (Only
/// the f16 table built from it is used, and the fused form is what makes all 65536 entries
/// equal to llama.cpp's; the unfused one differs at x = -1.999.)
pub fn gelu(x: f32) -> f32 {
    let inner = (GELU_COEF_A * x).mul_add(x, 1.0);
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * inner).tanh())
}

/// GELU of every f16 value, rounded to f16 and widened back (64K entries, built once).
pub fn gelu_f16_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX).map(|bits| f16::from_f32(gelu(f16::from_bits(bits).to_f32())).to_f32()).collect()
    })
}

/// `x = cap * tanh(x / cap)` (Gemma's logit soft-capping).
pub fn softcap_inplace(x: &mut [f32], cap: f32) {
    for v in x {
        *v = cap * (*v / cap).tanh();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_matches_definition() {
        let x = [1.0f32, -2.0, 3.0, 0.5];
        let w = [1.0f32, 2.0, 0.5, 1.0];
        let mut out = [0.0; 4];
        rms_norm(&x, &w, 1e-6, &mut out);
        let ms = x.iter().map(|v| v * v).sum::<f32>() / 4.0;
        for i in 0..4 {
            let want = x[i] / (ms + 1e-6).sqrt() * w[i];
            assert!((out[i] - want).abs() < 1e-6, "{i}: {} vs {want}", out[i]);
        }
    }

    /// The AVX2 SwiGLU gives the scalar one's bits, on ordinary values, on values large
    /// enough to take `vexpf`'s special paths, and on a tail shorter than 8.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn swiglu_avx2_matches_scalar() {
        if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")) {
            eprintln!("no AVX2/FMA here; nothing to compare");
            return;
        }
        let mut seed = 0x9E37_79B9u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        for scale in [1.0f32, 8.0, 60.0, 100.0, 200.0] {
            let gate: Vec<f32> = (0..1027).map(|_| next() * scale).collect();
            let up: Vec<f32> = (0..1027).map(|_| next() * 3.0).collect();
            let (mut simd, mut scalar) = (gate.clone(), gate.clone());
            // SAFETY: AVX2 and FMA checked above.
            unsafe { swiglu_fma(&mut simd, &up) };
            swiglu_body(&mut scalar, &up);
            for (i, (a, b)) in simd.iter().zip(&scalar).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "scale {scale}, element {i}: {a} vs {b} (x = {})", gate[i]);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn geglu_avx2_matches_scalar() {
        if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c")) {
            eprintln!("no AVX2/F16C here; nothing to compare");
            return;
        }
        let mut seed = 0x1234_5677u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        let mut gate: Vec<f32> = (0..2051).map(|_| next() * 14.0).collect();
        gate[3] = f32::NAN;
        gate[17] = -0.0;
        gate[18] = 10.0;
        gate[19] = -10.0;
        gate[20] = f32::INFINITY;
        let up: Vec<f32> = (0..2051).map(|_| next() * 3.0).collect();
        let (mut simd, mut scalar) = (gate.clone(), gate.clone());
        // SAFETY: AVX2 and F16C checked above.
        unsafe { geglu_avx2(&mut simd, &up) };
        geglu_body(&mut scalar, &up);
        for (i, (a, b)) in simd.iter().zip(&scalar).enumerate() {
            assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "element {i}: {a} vs {b} (x = {})", gate[i]);
        }
    }

    #[test]
    fn gelu_table_is_f16_rounded_gelu() {
        let mut g = [0.5f32, -1.25, 3.0, -20.0, 20.0];
        let up = [1.0f32; 5];
        geglu_inplace(&mut g, &up);
        assert_eq!(g[0], f16::from_f32(gelu(0.5)).to_f32());
        assert_eq!(g[1], f16::from_f32(gelu(-1.25)).to_f32());
        assert_eq!(g[3], 0.0);
        assert_eq!(g[4], 20.0);
        assert!((gelu(1.0) - 0.841192).abs() < 1e-5);
    }

    /// All 65536 entries equal the table llama.cpp's libggml-cpu builds (recorded from it by
    /// scripts/gen-kernel-vectors.py into tests/data/kernels/gelu_f16_table.bin).
    #[test]
    fn gelu_table_equals_ggml() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/kernels/gelu_f16_table.bin");
        let bytes = std::fs::read(path).expect("recorded GELU table");
        assert_eq!(bytes.len(), 2 * 65536);
        let table = gelu_f16_table();
        let mut differ = Vec::new();
        for (i, c) in bytes.chunks_exact(2).enumerate() {
            let theirs = f16::from_bits(u16::from_le_bytes([c[0], c[1]]));
            let x = f16::from_bits(i as u16).to_f32();
            if x.is_finite() && f16::from_f32(table[i]).to_bits() != theirs.to_bits() {
                differ.push((x, theirs.to_f32(), table[i]));
            }
        }
        assert!(differ.is_empty(), "{} entries differ, e.g. {:?}", differ.len(), &differ[..differ.len().min(5)]);
    }

    #[test]
    fn swiglu_matches_definition() {
        let mut g = [0.0f32, 1.0, -2.0];
        swiglu_inplace(&mut g, &[2.0, 3.0, 1.0]);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 3.0 / (1.0 + (-1.0f32).exp())).abs() < 1e-6);
        assert!((g[2] - (-2.0 / (1.0 + 2.0f32.exp()))).abs() < 1e-6);
    }
}
