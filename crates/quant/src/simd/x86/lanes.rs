//! llama.cpp's batched K-quant orders on AVX2, with the outputs of a tile in vector lanes.
//!
//! Both orders keep one or two f32 accumulators per output and add the exact integer sums
//! of a super-block (or part of one) to them with a few scalar-shaped float operations, so a
//! tile of R x C <= 16 outputs (R weight rows, C tokens) keeps its accumulators in the lanes of
//! two vectors, output `o = r * C + c` in lane `o % 8` of vector `o / 8`, and each lane sees
//! exactly the operations of the scalar definition in [`crate::emulate::kquant`]:
//! - tiled (`tiled/tiled-kernel.cpp`, `tiled_run_microtile_avx2`, for 8+ tokens of
//!   Q2_K..Q6_K): per super-block `r = d * s1`, `r = fma(-dmin, s2, r)` for types with mins,
//!   `acc = fma(r, d8, acc)`;
//! - repacked Q4_K (`arch/x86/repack.cpp`): `q4_k::tile` for the gemv's order and
//!   `q4_k::gemm4_tile` for the 4-token gemm's (see [`super::q4_k`]).
//!
//! Each weight super-block is decoded once per tile and reused for its C tokens (the integer
//! core is [`super::kquants`]'s `sumi`); `run` walks a batch in tiles of 1x8 (AVX-512: 2x8,
//! two rows per register), then 2x4, 4x2 and 8x1 for the leftover tokens.

use super::gemm::{Tile, DECODE_STREAMS};
use super::util::*;
use crate::blocks::*;
use crate::kernels::as_blocks;
use bytemuck::Pod;
use gguf::GgmlType;
use super::kquants::{hsum_pairs8, PairSlice};
use super::vnni::{halves_ps, join_ps};
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Row factors (weight `d`, `dmin`, one per row) and column factors (`d8`, one per token)
/// spread over the lanes of an R x C tile of up to 16 outputs: output `o = r * C + c` in lane
/// `o % 8` of vector `o / 8`; lanes past R * C are zero.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn spread<const R: usize, const C: usize>(rows: [f32; R], cols: [f32; C]) -> ([__m256; 2], [__m256; 2]) {
    let (mut a, mut b) = ([0f32; 16], [0f32; 16]);
    for r in 0..R {
        for c in 0..C {
            a[r * C + c] = rows[r];
            b[r * C + c] = cols[c];
        }
    }
    ([ld_f32(&a, 0), ld_f32(&a, 8)], [ld_f32(&b, 0), ld_f32(&b, 8)])
}

/// The lanes of [`spread`]'s layout as `[[f32; C]; R]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn unspread<const R: usize, const C: usize>(acc: [__m256; 2]) -> [[f32; C]; R] {
    let mut lanes = [0f32; 16];
    st_f32(&mut lanes, 0, acc[0]);
    st_f32(&mut lanes, 8, acc[1]);
    std::array::from_fn(|r| std::array::from_fn(|c| lanes[r * C + c]))
}

/// Generates `tile::<R, C>` in the tiled kernel's order for one k-quant of
/// [`super::kquants`]; `dmin` reads the block's `dmin` (types with mins).
macro_rules! tiled {
    ($name:ident, $W:ty, has_min: $has_min:literal, dmin: |$b:ident| $dmin:expr) => {
        pub(super) mod $name {
            use super::*;
            use crate::simd::x86::kquants::$name as kq;

            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            #[allow(unused_variables)]
            fn dmin($b: &$W) -> f32 {
                $dmin
            }

            /// R weight rows x C tokens (R * C <= 16), each output exactly
            /// [`crate::emulate::kquant::tiled_dot`].
            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn tile<const R: usize, const C: usize>(w: [&[$W]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
                tiled_body!(w, x, R, C, $has_min, |wb, p, xb, _b, k0, k1| kq::sumi(wb, p, xb, k0, k1))
            }

            /// [`tile`] with the integer core in AVX-512 VNNI (R even): bit-identical.
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            pub fn tile512<const R: usize, const C: usize>(w: [&[$W]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
                tiled_body!(w, x, R, C, $has_min, |wb, p, xb, _b, k0, k1| kq::sumi_pairs(wb, p, xb, k0, k1))
            }

            /// [`tile512`] of a row pair whose slices [`decode_rows`] decoded, x 8 tokens: the
            /// per-output float operations of `tiled_body` (so bit-identical) on one register
            /// of 16 outputs, the integer terms by `pair_terms` and [`hsum_pairs8`].
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            pub fn tile512_decoded(w: [&[$W]; 2], dec: &[PairSlice], x: [&[BlockQ8K]; 8]) -> [[f32; 8]; 2] {
                let nb = x[0].len();
                assert!(w.iter().all(|r| r.len() == nb) && x.iter().all(|c| c.len() == nb) && dec.len() >= 8 * nb);
                let mut acc = _mm512_setzero_ps();
                for b in 0..nb {
                    let wb = [&w[0][b], &w[1][b]];
                    let xb: [&BlockQ8K; 8] = std::array::from_fn(|c| &x[c][b]);
                    let rows = kq::pair_rows(wb, &[kq::prep(wb[0]), kq::prep(wb[1])]);
                    let lanes = kq::sumi_decoded512(&dec[8 * b..8 * b + 8], xb, 0, QK_K / 32);
                    let terms: [(__m512i, __m512i); 8] = std::array::from_fn(|c| kq::pair_terms(lanes[c], rows, xb[c]));
                    let (d, d8) = spread::<2, 8>([h2f(wb[0].d), h2f(wb[1].d)], std::array::from_fn(|c| xb[c].d));
                    let s1 = hsum_pairs8(terms.map(|t| t.0));
                    let mut res = _mm512_mul_ps(join_ps(d[0], d[1]), _mm512_cvtepi32_ps(s1));
                    if $has_min {
                        let dm = spread::<2, 8>([dmin(wb[0]), dmin(wb[1])], [0f32; 8]).0;
                        let s2 = hsum_pairs8(terms.map(|t| t.1));
                        // fnmadd: -(dmin * s2) + r, exactly fma(-dmin, s2, r).
                        res = _mm512_fnmadd_ps(join_ps(dm[0], dm[1]), _mm512_cvtepi32_ps(s2), res);
                    }
                    acc = _mm512_fmadd_ps(res, join_ps(d8[0], d8[1]), acc);
                }
                unspread(halves_ps(acc))
            }

            /// Every super-block of a row pair, decoded for [`tile512_decoded`].
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            pub fn decode_rows(w: [&[$W]; 2], out: &mut [MaybeUninit<PairSlice>]) {
                let per = QK_K / 32;
                assert!(w[1].len() == w[0].len() && out.len() >= per * w[0].len());
                for (b, o) in out.chunks_exact_mut(per).take(w[0].len()).enumerate() {
                    let bl = [&w[0][b], &w[1][b]];
                    kq::decode_pair(bl, &[kq::prep(bl[0]), kq::prep(bl[1])], o);
                }
            }
        }
    };
}

/// The body of a tiled-order tile of up to 16 outputs (two 8-lane accumulators, the second
/// unused below 9 outputs), with `sumi(blocks, preps, x blocks, b, k0, k1)` computing the
/// exact integer lanes of block position b.
macro_rules! tiled_body {
    ($w:ident, $x:ident, $R:ident, $C:ident, $has_min:literal, $sumi:expr) => {{
        const { assert!($R * $C <= 16) };
        let nb = $x[0].len();
        assert!($w.iter().all(|r| r.len() == nb) && $x.iter().all(|c| c.len() == nb));
        let mut acc = [_mm256_setzero_ps(); 2];
        for b in 0..nb {
            let wb: [_; $R] = std::array::from_fn(|r| &$w[r][b]);
            let xb: [&BlockQ8K; $C] = std::array::from_fn(|c| &$x[c][b]);
            let preps: [_; $R] = std::array::from_fn(|r| kq::prep(wb[r]));
            let sumi = ($sumi)(wb, &preps, xb, b, 0, QK_K / 32);
            let (mut s1, mut s2) = ([[_mm256_setzero_si256(); 8]; 2], [[_mm256_setzero_si256(); 8]; 2]);
            for r in 0..$R {
                for c in 0..$C {
                    let o = r * $C + c;
                    (s1[o / 8][o % 8], s2[o / 8][o % 8]) = kq::tiled_terms(sumi[r][c], wb[r], &preps[r], xb[c]);
                }
            }
            let (d, d8) = spread::<$R, $C>(std::array::from_fn(|r| h2f(wb[r].d)), std::array::from_fn(|c| xb[c].d));
            let dm = if $has_min { spread::<$R, $C>(std::array::from_fn(|r| dmin(wb[r])), [0f32; $C]).0 } else { [_mm256_setzero_ps(); 2] };
            for g in 0..2 {
                if g * 8 >= $R * $C {
                    break;
                }
                let mut res = _mm256_mul_ps(d[g], _mm256_cvtepi32_ps(hsum_i32_x8(s1[g])));
                if $has_min {
                    // fnmadd: -(dmin * s2) + r, exactly fma(-dmin, s2, r).
                    res = _mm256_fnmadd_ps(dm[g], _mm256_cvtepi32_ps(hsum_i32_x8(s2[g])), res);
                }
                acc[g] = _mm256_fmadd_ps(res, d8[g], acc[g]);
            }
        }
        unspread(acc)
    }};
}
tiled!(q2_k, BlockQ2K, has_min: true, dmin: |b| h2f(b.dmin));
tiled!(q3_k, BlockQ3K, has_min: false, dmin: |b| 0.0);
tiled!(q4_k, BlockQ4K, has_min: true, dmin: |b| h2f(b.dmin));
tiled!(q5_k, BlockQ5K, has_min: true, dmin: |b| h2f(b.dmin));
tiled!(q6_k, BlockQ6K, has_min: false, dmin: |b| 0.0);

/// A row pair's slices decoded once for all the groups of 8 tokens of a call (AVX-512).
pub(super) struct DecodedPairs<W: 'static> {
    /// Every super-block of two rows into `8 * blocks` slices.
    pub decode: unsafe fn([&[W]; 2], &mut [MaybeUninit<PairSlice>]),
    /// The 2 x 8 tile on decoded rows, bit-identical to `c8x2`.
    pub tile: unsafe fn([&[W]; 2], &[PairSlice], [&[BlockQ8K]; 8]) -> [[f32; 8]; 2],
}

/// Longest row, in super-blocks, that [`DecodedPairs`] decodes on the stack (8192 columns,
/// 32 KiB of slices); longer rows go by `c8x2`.
const MAX_DECODED_BLOCKS: usize = 32;

/// The tile shapes `run` uses: 8 outputs each (16 for `c8x2`), and single rows for the
/// leftover rows.
pub(super) struct LaneTiles<W: 'static> {
    /// Groups of 8 tokens on decoded row pairs, where the tiles have that form.
    pub decoded: Option<DecodedPairs<W>>,
    /// 2 rows x 8 tokens (the AVX-512 tiles, which pair rows); without it groups of 8 tokens
    /// go by `c8` alone, which also takes the rows `c8x2` leaves.
    pub c8x2: Option<Tile<W, BlockQ8K, 2, 8>>,
    pub c8: Tile<W, BlockQ8K, 1, 8>,
    pub c4: Tile<W, BlockQ8K, 2, 4>,
    pub c4_1: Tile<W, BlockQ8K, 1, 4>,
    pub c2: Tile<W, BlockQ8K, 4, 2>,
    pub c2_1: Tile<W, BlockQ8K, 1, 2>,
    pub c1: Tile<W, BlockQ8K, 8, 1>,
    pub c1_1: Tile<W, BlockQ8K, 1, 1>,
}

/// Rows `0..nr` times the C tokens `xs`, by R-row tiles then single rows; outputs of token
/// `j` go to `out[(c0 + j) * stride + row]`.
#[allow(clippy::too_many_arguments)]
fn cols<'a, W: Pod, const R: usize, const C: usize>(
    big: Tile<W, BlockQ8K, R, C>,
    one: Tile<W, BlockQ8K, 1, C>,
    wrow: &dyn Fn(usize) -> &'a [W],
    xs: [&[BlockQ8K]; C],
    nr: usize,
    out: &mut [f32],
    stride: usize,
    c0: usize,
) {
    let mut r = 0;
    while r + R <= nr {
        // SAFETY: lane tiles are installed only by avx2_table, after detecting AVX2+FMA+F16C.
        let o = unsafe { big(std::array::from_fn(|i| wrow(r + i)), xs) };
        for (i, orow) in o.iter().enumerate() {
            for (j, &v) in orow.iter().enumerate() {
                out[(c0 + j) * stride + r + i] = v;
            }
        }
        r += R;
    }
    while r < nr {
        // SAFETY: as above.
        let o = unsafe { one([wrow(r)], xs) };
        for (j, &v) in o[0].iter().enumerate() {
            out[(c0 + j) * stride + r] = v;
        }
        r += 1;
    }
}

/// `out[c * stride + r] = w row r . x row c` for r < nr, c < nc (a [`crate::kernels::GemmFn`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn run<W: Pod>(t: &LaneTiles<W>, ty: GgmlType, n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize) {
    let wrb = ty.row_bytes(n).expect("whole blocks");
    let xrb = GgmlType::Q8_K.row_bytes(n).expect("whole blocks");
    assert_eq!(w.len(), nr * wrb, "{ty} batched gemm: weight bytes for {nr} rows of {n}");
    assert_eq!(x.len(), nc * xrb, "{ty} batched gemm: Q8_K bytes for {nc} rows of {n}");
    if nr == 0 || nc == 0 {
        return;
    }
    assert!(out.len() >= (nc - 1) * stride + nr, "{ty} batched gemm: output too small");
    let (wb, xb) = (as_blocks::<W>(w), as_blocks::<BlockQ8K>(x));
    let nbk = n / QK_K;
    let xrow = |c: usize| &xb[c * nbk..(c + 1) * nbk];
    let mut c = 0;
    if let Some(dec) = t.decoded.as_ref().filter(|_| nc >= 8 && nbk <= MAX_DECODED_BLOCKS) {
        // Each row pair is decoded once, then read by every group of 8 tokens (a call's
        // x rows stay in L2, the pair's slices in L1).
        let groups = nc / 8;
        let wrow = |r: usize| &wb[r * nbk..(r + 1) * nbk];
        let mut slices = [const { MaybeUninit::<PairSlice>::uninit() }; 8 * MAX_DECODED_BLOCKS];
        let mut r = 0;
        while r + 2 <= nr {
            let pair = [wrow(r), wrow(r + 1)];
            // SAFETY: decoded tiles are installed only by install_vnni, after detecting
            // AVX-512 F/DQ/BW/VL/VNNI and AVX2+FMA+F16C.
            unsafe { (dec.decode)(pair, &mut slices[..8 * nbk]) };
            // SAFETY: `decode` has just written slices 0..8 * nbk; they are plain data.
            let d = unsafe { std::slice::from_raw_parts(slices.as_ptr().cast::<PairSlice>(), 8 * nbk) };
            for g in 0..groups {
                // SAFETY: as above.
                let o = unsafe { (dec.tile)(pair, d, std::array::from_fn(|j| xrow(8 * g + j))) };
                for (i, orow) in o.iter().enumerate() {
                    for (j, &v) in orow.iter().enumerate() {
                        out[(8 * g + j) * stride + r + i] = v;
                    }
                }
            }
            r += 2;
        }
        if r < nr {
            for g in 0..groups {
                cols(t.c8, t.c8, &|i| wrow(r + i), std::array::from_fn(|j| xrow(8 * g + j)), 1, &mut out[r..], stride, 8 * g);
            }
        }
        c = 8 * groups;
    }
    // Row blocks outer, token groups inner (see `row_block`); one token reads each row once.
    let block = if nc == 1 { nr } else { row_block(wrb, 8) };
    for r0 in (0..nr).step_by(block) {
        let nrb = block.min(nr - r0);
        let wrow = |r: usize| &wb[(r0 + r) * nbk..(r0 + r + 1) * nbk];
        let out = &mut out[r0..];
        let mut c = c;
        while c < nc {
            let left = nc - c;
            if left >= 8 {
                let xs = std::array::from_fn(|j| xrow(c + j));
                match t.c8x2 {
                    Some(c8x2) => cols(c8x2, t.c8, &wrow, xs, nrb, out, stride, c),
                    None => cols(t.c8, t.c8, &wrow, xs, nrb, out, stride, c),
                }
                c += 8;
            } else if left >= 4 {
                cols(t.c4, t.c4_1, &wrow, std::array::from_fn(|j| xrow(c + j)), nrb, out, stride, c);
                c += 4;
            } else if left >= 2 {
                cols(t.c2, t.c2_1, &wrow, std::array::from_fn(|j| xrow(c + j)), nrb, out, stride, c);
                c += 2;
            } else {
                // One token (decode, or a batch's last): tiles from several parts of the rows.
                super::gemm::decode(t.c1, t.c1_1, &wrow, xrow(c), nrb, DECODE_STREAMS, true, &mut out[c * stride..]);
                c += 1;
            }
        }
    }
}
