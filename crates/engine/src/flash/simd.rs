//! The flash-attention kernels, each defined by one fixed order of f32 operations: an AVX2 form
//! and a scalar form that perform the same operations in the same order and so give the same
//! bits (checked by the tests below). The flash path is generic over [`Kern`]; the x86 entry
//! points compile it with `avx2,fma,f16c` enabled so everything inlines into one loop nest.
//!
//! - `dot` (a score q · k): a 16-lane accumulator, element d into lane d % 16 by fused
//!   multiply-adds in order, folded to 8 lanes (lane l + lane l + 8), reduced as
//!   ((h0 + h1) + (h2 + h3)) + ((h4 + h5) + (h6 + h7)); the last `len % 16` elements are then
//!   added one by one with fused multiply-adds. [`Kern::dot8`] computes eight keys' scores for
//!   one query at once (the tree is then four `hadd`s and a cross-lane add, shared by the eight);
//!   one query × one key has no cheaper order for SIMD, and a query × eight keys is what both
//!   the prefill tiles and the decode blocks run, so both give the same bits.
//! - `pv`: `acc = Σ_j p_j v_j` from zero, one fused multiply-add per element, j in order; a
//!   tile of rows shares each V row load.
//! - `exp_sum`: `x[i] = exp(x[i] - m)` with [`exp`], summed in 8 lanes (element i of the slice
//!   into lane i % 8, in order), reduced by [`hsum8`].
//! - `axpy`: `acc[i] = fma(x[i], w, acc[i])`; `rescale_add`: `acc[i] = fma(y[i], b, acc[i] * a)`.
//! - `f16_row`: exact f16 → f32 conversion (F16C, or `half`).

use half::f16;

/// `exp(x)` for the softmax (callers pass x <= 0). Cody-Waite reduction x = n·ln2 + r with
/// |r| <= ln2/2 (ln2 split in two parts), a degree-7 Taylor polynomial in Horner form with
/// fused multiply-adds (truncation error < 6e-9 relative), scaled by 2^n built in the exponent
/// bits. Inputs below -87 give 0 (the true value is below 1.7e-38, nothing next to the block's
/// maximum, whose exp is 1). Measured maximum relative error over [-87, 0]: 7.4e-8
/// (`exp_relative_error_is_small`).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let xc = if x < LOW { LOW } else { x };
    let z = xc.mul_add(LOG2E, SHIFTER);
    let n = z - SHIFTER;
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, xc));
    let mut p = C[0];
    for &c in &C[1..] {
        p = p.mul_add(r, c);
    }
    let scale = f32::from_bits(((z.to_bits() as i32 - SHIFTER.to_bits() as i32 + 127) as u32) << 23);
    if x < LOW {
        0.0
    } else {
        p * scale
    }
}

const LOW: f32 = -87.0;
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits.
const SHIFTER: f32 = 12582912.0;
/// ln 2 = LN2_HI + LN2_LO (Cody and Waite's split): LN2_HI has 11 significant bits, so
/// n * LN2_HI is exact for the |n| <= 126 used here.
const LN2_HI: f32 = f32::from_bits(0x3F31_8000); // 0.693359375
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1/7!, 1/6!, ..., 1/1!, 1/0!.
const C: [f32; 8] = [1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0];

/// Horizontal sum of 8 lanes as AVX2 reduces a register: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
#[inline(always)]
pub fn hsum8(l: &[f32; 8]) -> f32 {
    ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

/// One instruction set's kernels (see the module docs for the order each one fixes).
pub trait Kern {
    /// The scores of query `q` against the eight keys of `k8` (8 rows of `q.len()`).
    fn dot8(q: &[f32], k8: &[f32]) -> [f32; 8];
    /// [`Kern::dot8`] of two queries (same bits; a kernel may share the key loads).
    #[inline(always)]
    fn dot8x2(q0: &[f32], q1: &[f32], k8: &[f32]) -> [[f32; 8]; 2] {
        [Self::dot8(q0, k8), Self::dot8(q1, k8)]
    }
    /// For each of the `acc.len() / hd` rows i: `acc[i] = Σ_j p[i * p_stride + j] · v_j` over
    /// the `len` rows of `v` (each `hd` long), starting from zero.
    fn pv(acc: &mut [f32], hd: usize, p: &[f32], p_stride: usize, len: usize, v: &[f32]);
    fn exp_sum(x: &mut [f32], m: f32) -> f32;
    fn rescale_add(acc: &mut [f32], a: f32, y: &[f32], b: f32);
    fn f16_row(src: &[u8], dst: &mut [f32]);
}

pub struct Scalar;

/// One score in the order of the module docs.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n16 = a.len() / 16 * 16;
    let mut l = [0f32; 16];
    for (x, y) in a[..n16].chunks_exact(16).zip(b[..n16].chunks_exact(16)) {
        for i in 0..16 {
            l[i] = x[i].mul_add(y[i], l[i]);
        }
    }
    let h: [f32; 8] = std::array::from_fn(|i| l[i] + l[i + 8]);
    let mut s = ((h[0] + h[1]) + (h[2] + h[3])) + ((h[4] + h[5]) + (h[6] + h[7]));
    for i in n16..a.len() {
        s = a[i].mul_add(b[i], s);
    }
    s
}

/// [`Kern::pv`] for elements `from..hd` of every row, one by one: the scalar kernel, and the
/// SIMD kernels' columns past their last whole vector.
#[inline(always)]
fn pv_columns(acc: &mut [f32], hd: usize, p: &[f32], p_stride: usize, len: usize, v: &[f32], from: usize) {
    for (i, a) in acc.chunks_exact_mut(hd).enumerate() {
        a[from..].fill(0.0);
        for j in 0..len {
            let w = p[i * p_stride + j];
            for (o, &x) in a[from..].iter_mut().zip(&v[j * hd + from..(j + 1) * hd]) {
                *o = x.mul_add(w, *o);
            }
        }
    }
}

impl Kern for Scalar {
    #[inline(always)]
    fn dot8(q: &[f32], k8: &[f32]) -> [f32; 8] {
        let hd = q.len();
        std::array::from_fn(|i| dot(q, &k8[i * hd..(i + 1) * hd]))
    }

    #[inline(always)]
    fn pv(acc: &mut [f32], hd: usize, p: &[f32], p_stride: usize, len: usize, v: &[f32]) {
        pv_columns(acc, hd, p, p_stride, len, v, 0)
    }

    #[inline(always)]
    fn exp_sum(x: &mut [f32], m: f32) -> f32 {
        let mut lanes = [0f32; 8];
        for (i, v) in x.iter_mut().enumerate() {
            *v = exp(*v - m);
            lanes[i % 8] += *v;
        }
        hsum8(&lanes)
    }

    #[inline(always)]
    fn rescale_add(acc: &mut [f32], a: f32, y: &[f32], b: f32) {
        for (o, &v) in acc.iter_mut().zip(y) {
            *o = v.mul_add(b, *o * a);
        }
    }

    #[inline(always)]
    fn f16_row(src: &[u8], dst: &mut [f32]) {
        for (d, h) in dst.iter_mut().zip(src.chunks_exact(2)) {
            *d = f16::from_le_bytes([h[0], h[1]]).to_f32();
        }
    }
}

/// The AVX2 + FMA + F16C kernels. Only called from functions compiled with those features, on
/// a CPU that has them (checked once, [`avx2`]).
#[cfg(target_arch = "x86_64")]
pub struct Avx2;

/// Whether this CPU has AVX2, FMA and F16C (detected once).
#[cfg(target_arch = "x86_64")]
pub fn avx2() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
    })
}

/// The same kernels with 512-bit registers where they pay (`dot8`, `pv`), the same bits. Only
/// called from functions compiled with AVX-512 F/DQ/VL plus AVX2/FMA/F16C, on a CPU whose
/// kernel table is the `avx512` level (which requires them).
#[cfg(target_arch = "x86_64")]
pub struct Avx512;

/// Whether this CPU has AVX-512 F/DQ/VL (detected once).
#[cfg(target_arch = "x86_64")]
pub fn avx512() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        avx2()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
    })
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! Module note for every `unsafe` block below: callers run on a CPU with AVX2/FMA/F16C (see
    //! `Avx2`), and every load/store is within the slices' bounds (the loop bounds and the
    //! asserts say why at each block).
    use super::*;
    use std::arch::x86_64::*;

    /// [`exp`] on 8 lanes, the same operations in the same order.
    #[inline(always)]
    pub(super) unsafe fn exp8(x: __m256) -> __m256 {
        // SAFETY: register-only AVX2/FMA arithmetic on a CPU that has it.
        unsafe {
            let low = _mm256_set1_ps(LOW);
            let shifter = _mm256_set1_ps(SHIFTER);
            let is_low = _mm256_cmp_ps(x, low, _CMP_LT_OQ);
            let xc = _mm256_blendv_ps(x, low, is_low);
            let z = _mm256_fmadd_ps(xc, _mm256_set1_ps(LOG2E), shifter);
            let n = _mm256_sub_ps(z, shifter);
            let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), xc));
            let mut p = _mm256_set1_ps(C[0]);
            for &c in &C[1..] {
                p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
            }
            let e = _mm256_sub_epi32(_mm256_castps_si256(z), _mm256_set1_epi32(SHIFTER.to_bits() as i32 - 127));
            let scale = _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
            _mm256_andnot_ps(is_low, _mm256_mul_ps(p, scale))
        }
    }

    /// `Avx2::pv` for rows `i..i + R`, elements `d0..d0 + 32`.
    ///
    /// SAFETY: the caller guarantees AVX2/FMA and that rows i..i+R of `acc`, their `len`
    /// scores at `p + (i + r) * p_stride` and elements d0..d0+32 of `len` V rows are in bounds.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn pv_tile256<const R: usize>(pa: *mut f32, hd: usize, pp: *const f32, p_stride: usize, len: usize, pv: *const f32, i: usize, d0: usize) {
        // SAFETY: as the function's contract says.
        unsafe {
            let mut a = [[_mm256_setzero_ps(); 4]; R];
            for j in 0..len {
                let x: [__m256; 4] = std::array::from_fn(|c| _mm256_loadu_ps(pv.add(j * hd + d0 + 8 * c)));
                for (r, ar) in a.iter_mut().enumerate() {
                    let w = _mm256_set1_ps(*pp.add((i + r) * p_stride + j));
                    for (ac, &xc) in ar.iter_mut().zip(&x) {
                        *ac = _mm256_fmadd_ps(xc, w, *ac);
                    }
                }
            }
            for (r, ar) in a.iter().enumerate() {
                for (c, &x) in ar.iter().enumerate() {
                    _mm256_storeu_ps(pa.add((i + r) * hd + d0 + 8 * c), x);
                }
            }
        }
    }

    /// The scores from eight keys' 8-lane partial sums `v` (lane l: the order's lanes l and
    /// l + 8 already added), plus each key's elements `n16..` one by one (module docs' order).
    #[inline(always)]
    fn tree8(v: [__m256; 8], q: &[f32], k8: &[f32], n16: usize) -> [f32; 8] {
        let hd = q.len();
        let mut out = [0f32; 8];
        // SAFETY: register arithmetic and one store into `out` (8 floats); AVX as the module
        // note says. hadd(a, b) = [a0+a1, a2+a3, b0+b1, b2+b3, a4+a5, a6+a7, b4+b5, b6+b7]: two
        // rounds give each key's (h0+h1)+(h2+h3) and (h4+h5)+(h6+h7), in 128-bit halves.
        unsafe {
            let y = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
            let z = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
            let s = _mm256_add_ps(_mm256_permute2f128_ps::<0x20>(y, z), _mm256_permute2f128_ps::<0x31>(y, z));
            _mm256_storeu_ps(out.as_mut_ptr(), s);
        }
        for (i, o) in out.iter_mut().enumerate() {
            for d in n16..hd {
                *o = q[d].mul_add(k8[i * hd + d], *o);
            }
        }
        out
    }

    impl Kern for Avx2 {
        #[inline(always)]
        fn dot8(q: &[f32], k8: &[f32]) -> [f32; 8] {
            let hd = q.len();
            let n16 = hd / 16 * 16;
            assert!(k8.len() >= 8 * hd);
            // SAFETY: see the module note; d + 16 <= n16 <= hd, and key i's row is
            // k8[i * hd..(i + 1) * hd], within k8 (asserted).
            let v = unsafe {
                let pq = q.as_ptr();
                let mut v = [_mm256_setzero_ps(); 8];
                for (i, vi) in v.iter_mut().enumerate() {
                    let pk = k8.as_ptr().add(i * hd);
                    let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
                    let mut d = 0;
                    while d < n16 {
                        lo = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(d)), _mm256_loadu_ps(pk.add(d)), lo);
                        hi = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(d + 8)), _mm256_loadu_ps(pk.add(d + 8)), hi);
                        d += 16;
                    }
                    *vi = _mm256_add_ps(lo, hi);
                }
                v
            };
            tree8(v, q, k8, n16)
        }

        #[inline(always)]
        fn pv(acc: &mut [f32], hd: usize, p: &[f32], p_stride: usize, len: usize, v: &[f32]) {
            let rows = acc.len() / hd;
            assert!(v.len() >= len * hd && (rows == 0 || p.len() >= (rows - 1) * p_stride + len));
            let n32 = hd / 32 * 32;
            let (pv, pp, pa) = (v.as_ptr(), p.as_ptr(), acc.as_mut_ptr());
            // Two rows x 32 elements per pass (each V load serves both rows), then the odd row.
            let mut i = 0;
            while i < rows {
                let r = (rows - i).min(2);
                for d0 in (0..n32).step_by(32) {
                    // SAFETY: rows i..i + r <= rows, elements d0..d0 + 32 <= n32 <= hd, len V
                    // rows and scores (asserted); AVX2 as the module note says.
                    unsafe {
                        if r == 2 {
                            pv_tile256::<2>(pa, hd, pp, p_stride, len, pv, i, d0)
                        } else {
                            pv_tile256::<1>(pa, hd, pp, p_stride, len, pv, i, d0)
                        }
                    }
                }
                i += r;
            }
            if n32 < hd {
                // The elements past the last whole 32, in the same per-element order.
                pv_columns(acc, hd, p, p_stride, len, v, n32);
            }
        }

        #[inline(always)]
        fn exp_sum(x: &mut [f32], m: f32) -> f32 {
            let n8 = x.len() / 8 * 8;
            let p = x.as_mut_ptr();
            let mut lanes = [0f32; 8];
            // SAFETY: see the module note; i + 8 <= n8 <= x.len().
            unsafe {
                let vm = _mm256_set1_ps(m);
                let mut acc = _mm256_setzero_ps();
                let mut i = 0;
                while i < n8 {
                    let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p.add(i)), vm));
                    _mm256_storeu_ps(p.add(i), e);
                    acc = _mm256_add_ps(acc, e);
                    i += 8;
                }
                _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
            }
            for (i, v) in x.iter_mut().enumerate().skip(n8) {
                *v = exp(*v - m);
                lanes[i % 8] += *v;
            }
            hsum8(&lanes)
        }

        #[inline(always)]
        fn rescale_add(acc: &mut [f32], a: f32, y: &[f32], b: f32) {
            Scalar::rescale_add(acc, a, y, b)
        }

        #[inline(always)]
        fn f16_row(src: &[u8], dst: &mut [f32]) {
            let n = dst.len().min(src.len() / 2);
            let n8 = n / 8 * 8;
            let (ps, pd) = (src.as_ptr(), dst.as_mut_ptr());
            // SAFETY: see the module note; 2 * (i + 8) <= src.len() and i + 8 <= dst.len().
            unsafe {
                let mut i = 0;
                while i < n8 {
                    let h = _mm_loadu_si128(ps.add(2 * i) as *const __m128i);
                    _mm256_storeu_ps(pd.add(i), _mm256_cvtph_ps(h));
                    i += 8;
                }
            }
            Scalar::f16_row(&src[2 * n8..2 * n], &mut dst[n8..n]);
        }
    }
    /// `Avx512::pv` for rows `i..i + R`, elements `d0..d0 + 16 * W` (all within bounds).
    ///
    /// SAFETY: the caller guarantees AVX-512F and that rows i..i+R of `acc`, their `len`
    /// scores at `p + (i + r) * p_stride` and elements d0..d0+16W of `len` V rows are in bounds.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn pv_tile<const R: usize, const W: usize>(pa: *mut f32, hd: usize, pp: *const f32, p_stride: usize, len: usize, pv: *const f32, i: usize, d0: usize) {
        // SAFETY: as the function's contract says.
        unsafe {
            let mut a = [[_mm512_setzero_ps(); W]; R];
            for j in 0..len {
                let x: [__m512; W] = std::array::from_fn(|c| _mm512_loadu_ps(pv.add(j * hd + d0 + 16 * c)));
                for (r, ar) in a.iter_mut().enumerate() {
                    let w = _mm512_set1_ps(*pp.add((i + r) * p_stride + j));
                    for (ac, &xc) in ar.iter_mut().zip(&x) {
                        *ac = _mm512_fmadd_ps(xc, w, *ac);
                    }
                }
            }
            for (r, ar) in a.iter().enumerate() {
                for (c, &x) in ar.iter().enumerate() {
                    _mm512_storeu_ps(pa.add((i + r) * hd + d0 + 16 * c), x);
                }
            }
        }
    }

    impl Kern for Avx512 {
        #[inline(always)]
        fn dot8(q: &[f32], k8: &[f32]) -> [f32; 8] {
            let hd = q.len();
            let n16 = hd / 16 * 16;
            assert!(k8.len() >= 8 * hd);
            // SAFETY: see the module note (AVX-512 here: `Avx512`); d + 16 <= n16 <= hd, and
            // key i's row is k8[i * hd..(i + 1) * hd], within k8 (asserted).
            let v = unsafe {
                let pq = q.as_ptr();
                let mut v = [_mm256_setzero_ps(); 8];
                for (i, vi) in v.iter_mut().enumerate() {
                    let pk = k8.as_ptr().add(i * hd);
                    // Lane l holds elements d = l (mod 16): the order's 16-lane accumulator.
                    let mut acc = _mm512_setzero_ps();
                    let mut d = 0;
                    while d < n16 {
                        acc = _mm512_fmadd_ps(_mm512_loadu_ps(pq.add(d)), _mm512_loadu_ps(pk.add(d)), acc);
                        d += 16;
                    }
                    *vi = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps::<1>(acc));
                }
                v
            };
            tree8(v, q, k8, n16)
        }

        /// Two queries x eight keys with the element loop outside: each 16-element chunk of
        /// the keys is loaded once for both queries (16 accumulators), where `dot8` loads a
        /// query chunk per key. Each accumulator sees the same FMAs in the same order.
        #[inline(always)]
        fn dot8x2(q0: &[f32], q1: &[f32], k8: &[f32]) -> [[f32; 8]; 2] {
            let hd = q0.len();
            let n16 = hd / 16 * 16;
            assert!(q1.len() == hd && k8.len() >= 8 * hd);
            // SAFETY: see the module note (AVX-512 here: `Avx512`); d + 16 <= n16 <= hd for
            // both queries, and key i's row is k8[i * hd..(i + 1) * hd], within k8 (asserted).
            let (v0, v1) = unsafe {
                let (p0, p1, pk) = (q0.as_ptr(), q1.as_ptr(), k8.as_ptr());
                let mut a0 = [_mm512_setzero_ps(); 8];
                let mut a1 = [_mm512_setzero_ps(); 8];
                let mut d = 0;
                while d < n16 {
                    let (x0, x1) = (_mm512_loadu_ps(p0.add(d)), _mm512_loadu_ps(p1.add(d)));
                    for i in 0..8 {
                        let k = _mm512_loadu_ps(pk.add(i * hd + d));
                        a0[i] = _mm512_fmadd_ps(x0, k, a0[i]);
                        a1[i] = _mm512_fmadd_ps(x1, k, a1[i]);
                    }
                    d += 16;
                }
                // (A closure here would not inherit the target features and its intrinsics
                // would not inline.)
                let (mut v0, mut v1) = ([_mm256_setzero_ps(); 8], [_mm256_setzero_ps(); 8]);
                for i in 0..8 {
                    v0[i] = _mm256_add_ps(_mm512_castps512_ps256(a0[i]), _mm512_extractf32x8_ps::<1>(a0[i]));
                    v1[i] = _mm256_add_ps(_mm512_castps512_ps256(a1[i]), _mm512_extractf32x8_ps::<1>(a1[i]));
                }
                (v0, v1)
            };
            [tree8(v0, q0, k8, n16), tree8(v1, q1, k8, n16)]
        }

        #[inline(always)]
        fn pv(acc: &mut [f32], hd: usize, p: &[f32], p_stride: usize, len: usize, v: &[f32]) {
            let rows = acc.len() / hd;
            assert!(v.len() >= len * hd && (rows == 0 || p.len() >= (rows - 1) * p_stride + len));
            let n16 = hd / 16 * 16;
            let (pv, pp, pa) = (v.as_ptr(), p.as_ptr(), acc.as_mut_ptr());
            // Up to four rows x 64 elements per pass (16 accumulators), then 16 at a time.
            let mut d0 = 0;
            while d0 < n16 {
                let wide = d0 + 64 <= n16;
                let mut i = 0;
                while i < rows {
                    let r = (rows - i).min(4);
                    // SAFETY: rows i..i + r < rows, elements d0..d0 + 64 (or 16) <= n16 <= hd,
                    // len V rows and scores (asserted); AVX-512F as the module note says.
                    unsafe {
                        match (r, wide) {
                            (4, true) => pv_tile::<4, 4>(pa, hd, pp, p_stride, len, pv, i, d0),
                            (3, true) => pv_tile::<3, 4>(pa, hd, pp, p_stride, len, pv, i, d0),
                            (2, true) => pv_tile::<2, 4>(pa, hd, pp, p_stride, len, pv, i, d0),
                            (1, true) => pv_tile::<1, 4>(pa, hd, pp, p_stride, len, pv, i, d0),
                            (4, false) => pv_tile::<4, 1>(pa, hd, pp, p_stride, len, pv, i, d0),
                            (3, false) => pv_tile::<3, 1>(pa, hd, pp, p_stride, len, pv, i, d0),
                            (2, false) => pv_tile::<2, 1>(pa, hd, pp, p_stride, len, pv, i, d0),
                            _ => pv_tile::<1, 1>(pa, hd, pp, p_stride, len, pv, i, d0),
                        }
                    }
                    i += r;
                }
                d0 += if wide { 64 } else { 16 };
            }
            if n16 < hd {
                pv_columns(acc, hd, p, p_stride, len, v, n16);
            }
        }

        #[inline(always)]
        fn exp_sum(x: &mut [f32], m: f32) -> f32 {
            Avx2::exp_sum(x, m)
        }

        #[inline(always)]
        fn rescale_add(acc: &mut [f32], a: f32, y: &[f32], b: f32) {
            Scalar::rescale_add(acc, a, y, b)
        }

        #[inline(always)]
        fn f16_row(src: &[u8], dst: &mut [f32]) {
            Avx2::f16_row(src, dst)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> impl Iterator<Item = f32> {
        // Every 97th float bit pattern in [-87, 0], plus the edges.
        (0..0x42AE_0000u32).step_by(97).map(|b| -f32::from_bits(b)).chain([0.0, -0.0, -87.0, -86.99, -1e-30])
    }

    #[test]
    fn exp_relative_error_is_small() {
        let mut worst = 0f64;
        for x in inputs() {
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
        }
        eprintln!("flash exp: max relative error {worst:.3e} over [-87, 0]");
        assert!(worst < 1.5e-7, "max relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-87.5), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_kernels_give_the_scalar_bits() {
        if !avx2() {
            return;
        }
        #[target_feature(enable = "avx2,fma,f16c")]
        fn check() {
            let xs: Vec<f32> = inputs().step_by(101).collect();
            for chunk in xs.chunks(8 * 37 + 5) {
                let (mut a, mut b) = (chunk.to_vec(), chunk.to_vec());
                let (sa, sb) = (Scalar::exp_sum(&mut a, -0.5), Avx2::exp_sum(&mut b, -0.5));
                assert_eq!(sa.to_bits(), sb.to_bits());
                assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
            }
            for len in [1, 7, 8, 9, 31, 32, 33, 64, 96, 100, 128, 256] {
                let a: Vec<f32> = (0..len).map(|i| ((i * 37) as f32 * 0.71).sin()).collect();
                let k8: Vec<f32> = (0..8 * len).map(|i| ((i * 13) as f32 * 0.29).sin()).collect();
                let (s8, a8) = (Scalar::dot8(&a, &k8), Avx2::dot8(&a, &k8));
                assert_eq!(s8.map(f32::to_bits), a8.map(f32::to_bits), "dot8 of {len}");
                let p: Vec<f32> = (0..3 * 11).map(|i| ((i * 5) as f32 * 0.37).cos().abs()).collect();
                let v: Vec<f32> = (0..11 * len).map(|i| ((i * 3) as f32 * 0.61).sin()).collect();
                for rows in 1..=3 {
                    let (mut sa, mut aa) = (vec![7.0; rows * len], vec![7.0; rows * len]);
                    Scalar::pv(&mut sa, len, &p, 11, 11, &v);
                    Avx2::pv(&mut aa, len, &p, 11, 11, &v);
                    assert!(sa.iter().zip(&aa).all(|(x, y)| x.to_bits() == y.to_bits()), "pv of {rows} x {len}");
                }
                if avx512() {
                    // SAFETY: the CPU has AVX-512 F/DQ/VL (checked).
                    unsafe { check512(&a, &k8, &p, &v, len) };
                }
                let h: Vec<u8> = a.iter().flat_map(|x| f16::from_f32(*x * 1000.0).to_le_bytes()).collect();
                let (mut fa, mut fb) = (vec![0.0; len], vec![0.0; len]);
                Scalar::f16_row(&h, &mut fa);
                Avx2::f16_row(&h, &mut fb);
                assert_eq!(fa, fb);
            }
        }
        #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512dq,avx512vl")]
        fn check512(a: &[f32], k8: &[f32], p: &[f32], v: &[f32], len: usize) {
            assert_eq!(Scalar::dot8(a, k8).map(f32::to_bits), Avx512::dot8(a, k8).map(f32::to_bits), "avx512 dot8 of {len}");
            let a2: Vec<f32> = a.iter().map(|x| x * -1.3 + 0.1).collect();
            let pair = Avx512::dot8x2(a, &a2, k8);
            assert_eq!([Scalar::dot8(a, k8), Scalar::dot8(&a2, k8)].map(|s| s.map(f32::to_bits)), pair.map(|s| s.map(f32::to_bits)), "avx512 dot8x2 of {len}");
            for rows in 1..=9 {
                let pr: Vec<f32> = (0..rows * 11).map(|i| p[i % p.len()] * (1.0 + i as f32 * 0.01)).collect();
                let (mut sa, mut aa) = (vec![7.0; rows * len], vec![7.0; rows * len]);
                Scalar::pv(&mut sa, len, &pr, 11, 11, v);
                Avx512::pv(&mut aa, len, &pr, 11, 11, v);
                assert!(sa.iter().zip(&aa).all(|(x, y)| x.to_bits() == y.to_bits()), "avx512 pv of {rows} x {len}");
            }
        }
        // SAFETY: the CPU has AVX2, FMA and F16C (checked above).
        unsafe { check() }
    }
}
