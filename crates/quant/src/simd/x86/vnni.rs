//! AVX-512 VNNI tiles for Q4_1, Q5_0, Q5_1 and Q8_0, bit-identical to [`super::type0`].
//!
//! ggml's AVX2 order for these types (see `type0`) turns each block into eight exact i32
//! lanes (lane l = the four products of bytes 4l..4l+4), converts them to f32 and adds them
//! to an 8-lane accumulator with `fma(dw * dx, lanes, acc)`; `hsum_float_8` at the end. The
//! lanes are exact integers, so any instruction that produces the same integers gives the
//! same floats. `vpdpbusd` does: it adds the four u8 x i8 products of each 32-bit lane to
//! an i32 accumulator in one instruction, exactly (no i16 saturation stage), where AVX2 needs
//! sign fix-ups, `vpmaddubsw` and `vpmaddwd`.
//!
//! Two tricks keep the operations per output low:
//! - **Two weight rows per register.** A 512-bit register holds two outputs' eight lanes:
//!   weight rows 2i and 2i+1 for one token. Each row pair is decoded once per block (both
//!   blocks at once, in 512-bit operations) and reused for the tile's C tokens; each token's
//!   block is broadcast to both halves. One `vpdpbusd`, one conversion, one multiply and one
//!   FMA then serve two outputs. An odd last row runs in a 256-bit register.
//! - **Unsigned weights by an offset.** `vpdpbusd` wants its first operand unsigned. A signed
//!   weight q is stored as u = q + k (Q5_0: k = 16, the bits as they sit in the block; Q8_0:
//!   k = 128, the sign bit flipped), and the lane is started at -k * (its four y) instead of
//!   0: -k*sum(y) + sum((q + k) * y) = sum(q * y), exactly. The start value depends only on
//!   the token's block, so it is computed once per tile and block and reused for every row.
//!
//! **Wide tiles for batches** (`gemm`): 4 rows x 8 tokens, 16 accumulators. The per-token
//! work of a block (the broadcast quants, the start values, `d` and `s`) is prepared once per
//! 8 tokens in a [`Prep`] on the stack and read by every 4-row tile, and the four rows' scales
//! come from one conversion. Per block a row pair then costs its decode plus four operations
//! per token (`vpdpbusd`, conversion, multiply, FMA), where the 8 x 4 tile re-derived each
//! token's values for every 8 rows. The float operations per output are unchanged. The
//! decode is not repeated per group either: each 4 rows are decoded once per call into a
//! [`Quad`] (the row pairs' bytes, `d` and `m` in register layout) and read by every prepared
//! group of 8 tokens, so the inner loop is the four operations and loads (Q5_0 ran 25% faster
//! at 32 tokens per call than at 16, `gemm_shapes`).
//!
//! Idea of VNNI for ggml's type-0 dots: llamafile's tinyBLAS (`updot` with `_mm256_dpbusd`);
//! the offset start and the two-outputs-per-register layout are ours.

use super::util::*;
use crate::blocks::*;
use crate::kernels::{as_blocks, GemmFn};
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Tokens per wide tile.
const WIDE_C: usize = 8;
/// Rows per wide tile (two row pairs).
const WIDE_R: usize = 4;
/// Longest row, in blocks, that the wide path prepares on the stack: 160 blocks (5120
/// columns). Longer rows go by the 8 x 4 tiles.
const MAX_PREP_BLOCKS: usize = 160;
/// Block positions of [`Prep`] on the stack (576 bytes each, 180 KiB): two groups of 8
/// tokens of the longest rows, more of shorter ones (nine of a 0.5B model's 896 columns).
const PREP_SLOTS: usize = 2 * MAX_PREP_BLOCKS;

/// One block position of 8 tokens' activations as the wide tile reads them: the quants and
/// the lane start values (each broadcast to both halves of a register when loaded), `d`, and
/// `s` (Q8_1's second half; unused for Q8_0).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Prep {
    y: [__m256i; WIDE_C],
    st: [__m256i; WIDE_C],
    d: [f32; WIDE_C],
    s: [f32; WIDE_C],
}

/// One block position of four weight rows as the wide tile reads it, decoded once for every
/// group of 8 tokens of a gemm call: each row pair's unsigned bytes (the type's `decode2`) and
/// its `d` and `m` in the pair's lane layout ([`heads4`]). 384 bytes; `MAX_PREP_BLOCKS` of them
/// are 60 KiB of stack.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Quad {
    u: [__m512i; 2],
    d: [__m512; 2],
    m: [__m512; 2],
}

/// The first two f16 of four blocks as f32, in the layout of a row pair's register:
/// `(d, second)` for rows (0, 1) and (2, 3), each row's value in its 8 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn heads4<B: bytemuck::Pod>(b: [&B; 4]) -> ([__m512; 2], [__m512; 2]) {
    let h = |k: usize| {
        let h = &bytemuck::bytes_of(b[k])[..4];
        u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as u64
    };
    let (lo, hi) = (h(0) | (h(1) << 32), h(2) | (h(3) << 32));
    // [d0, m0, d1, m1, d2, m2, d3, m3], exactly as `head` converts each.
    let f = _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_set_epi64x(hi as i64, lo as i64)));
    let pick = |a: i32, b: i32| _mm512_permutexvar_ps(_mm512_set_epi32(b, b, b, b, b, b, b, b, a, a, a, a, a, a, a, a), f);
    ([pick(0, 2), pick(4, 6)], [pick(1, 3), pick(5, 7)])
}

/// The first two f16 of a block as f32 ([`head_f16x2`]): `d`, then `m`/`s` (or the bytes
/// after `d`, unused).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn head<B: bytemuck::Pod>(b: &B) -> (f32, f32) {
    let v = head_f16x2(b);
    (_mm_cvtss_f32(v), _mm_cvtss_f32(_mm_movehdup_ps(v)))
}

/// Two 256-bit halves as one register: `lo` in lanes 0..8, `hi` in lanes 8..16.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn join_i(lo: __m256i, hi: __m256i) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

/// Two 256-bit float halves as one register: `lo` in lanes 0..8, `hi` in lanes 8..16.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn join_ps(lo: __m256, hi: __m256) -> __m512 {
    _mm512_insertf32x8::<1>(_mm512_castps256_ps512(lo), hi)
}

/// The two 256-bit halves of a float register ([`join_ps`] undone).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn halves_ps(v: __m512) -> [__m256; 2] {
    [_mm512_castps512_ps256(v), _mm512_extractf32x8_ps::<1>(v)]
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn join_f(lo: f32, hi: f32) -> __m512 {
    join_ps(_mm256_set1_ps(lo), _mm256_set1_ps(hi))
}

/// 16-byte loads.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn ld16(b: &[u8; 16]) -> __m128i {
    ld128_u8(b, 0)
}

/// The nibbles of two type-0 blocks' `qs` as bytes in 0..16: block `a` in the low half,
/// `b` in the high half, each as [`nibbles`] lays one out (low nibbles, then high ones).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn nibbles_pair(a: &[u8; 16], b: &[u8; 16]) -> __m512i {
    let v = join_i(_mm256_broadcastsi128_si256(ld16(a)), _mm256_broadcastsi128_si256(ld16(b)));
    // Shift the second copy of each block's 16 bytes right by 4 (per 64-bit lane).
    let sh = _mm512_srlv_epi64(v, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    _mm512_and_si512(sh, _mm512_set1_epi8(0x0F))
}

/// `u + 16` in byte j where bit j of `qh` (block a: bytes 0..32, block b: 32..64) is set.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn add_fifth_bits(u: __m512i, qa: [u8; 4], qb: [u8; 4]) -> __m512i {
    let k = (u32::from_le_bytes(qa) as u64) | ((u32::from_le_bytes(qb) as u64) << 32);
    _mm512_mask_add_epi8(u, _cvtu64_mask64(k), u, _mm512_set1_epi8(16))
}

/// A prefetch hint for the line holding `p` (any address: a prefetch never faults).
#[inline]
fn prefetch_line(p: *const u8) {
    // SAFETY: a prefetch has no architectural effect and cannot fault, whatever the address.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) }
}

/// ggml's `hsum_float_8` of each half of a two-output accumulator.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn hsum_halves(acc: __m512) -> (f32, f32) {
    (hsum8(_mm512_castps512_ps256(acc)), hsum8(_mm512_extractf32x8_ps::<1>(acc)))
}

/// Generates `tile::<R, C>` (C <= 4) for one type-0 format. `decode` gives a block's 32
/// weight bytes as unsigned u = q + `offset`, `decode2` two blocks' (see the module docs);
/// with `min`, `m * s` is added per block as in `type0`.
macro_rules! vnni_type0 {
    ($name:ident, $W:ty, $X:ty, offset: $off:literal, min: $has_min:literal,
     decode: |$wb:ident| $decode:expr, decode2: |$wa:ident, $wc:ident| $decode2:expr) => {
        pub(super) mod $name {
            use super::*;

            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            fn decode($wb: &$W) -> __m256i {
                $decode
            }

            #[inline]
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn decode2($wa: &$W, $wc: &$W) -> __m512i {
                $decode2
            }

            /// The lane start values -offset * (sum of each lane's four bytes of `y`).
            #[inline]
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn start(y: __m512i) -> __m512i {
                if $off == 0 {
                    return _mm512_setzero_si512();
                }
                let k = _mm512_set1_epi8(($off as u8) as i8);
                _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), k, y))
            }

            /// R weight rows x C tokens (C <= 4), each output bit-identical to `type0`'s `dot`.
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            pub fn tile<const R: usize, const C: usize>(w: [&[$W]; R], x: [&[$X]; C]) -> [[f32; C]; R] {
                const { assert!(C <= 4, "summs lanes hold 4 tokens") };
                let nb = x[0].len();
                assert!(w.iter().all(|r| r.len() == nb) && x.iter().all(|c| c.len() == nb));
                // acc[i][c]: rows 2i (low half) and 2i + 1 (high half) for token c.
                let mut acc = [[_mm512_setzero_ps(); C]; R];
                let mut acc_last = [_mm256_setzero_ps(); C];
                // summs[i] lane h * 4 + c: row 2i + h, token c (m * s, added after hsum).
                let mut summs = [_mm256_setzero_ps(); R];
                let mut summs_last = [0f32; C];
                // Decode: the next tile's rows follow this one's (a chunk's rows are
                // contiguous); request its lines block by block as this tile reads its own,
                // which keeps the memory requests spread out (see `util::prefetch_bytes`).
                let ahead = R * nb * std::mem::size_of::<$W>();
                for b in 0..nb {
                    if C == 1 {
                        for r in 0..R {
                            prefetch_line((&w[r][b] as *const $W as *const u8).wrapping_add(ahead));
                        }
                    }
                    let mut y = [_mm512_setzero_si512(); C];
                    let mut st = [_mm512_setzero_si512(); C];
                    let mut dy = [_mm512_setzero_ps(); C];
                    let mut sy = [0f32; 8];
                    for c in 0..C {
                        let xb = &x[c][b];
                        y[c] = _mm512_broadcast_i64x4(ld_i8(&xb.qs, 0));
                        st[c] = start(y[c]);
                        let (d, s) = head(xb);
                        dy[c] = _mm512_set1_ps(d);
                        (sy[c], sy[4 + c]) = (s, s);
                    }
                    let syv = ld_f32(&sy, 0);
                    // The row pairs' d in register layout: four rows' by one conversion
                    // (the same exact f16 -> f32 values as `head`), where the pair-by-pair
                    // conversions and broadcasts were a third of a decode tile's operations.
                    let mut dxs = [_mm512_setzero_ps(); R];
                    for q in 0..R / 4 {
                        let (d, _) = heads4(std::array::from_fn(|k| &w[4 * q + k][b]));
                        (dxs[2 * q], dxs[2 * q + 1]) = (d[0], d[1]);
                    }
                    for i in 0..R / 2 {
                        let (w0, w1) = (&w[2 * i][b], &w[2 * i + 1][b]);
                        let u = decode2(w0, w1);
                        let ((d0, m0), (d1, m1)) = (head(w0), head(w1));
                        let dx = if i < R / 4 * 2 { dxs[i] } else { join_f(d0, d1) };
                        for c in 0..C {
                            let lanes = _mm512_dpbusd_epi32(st[c], u, y[c]);
                            acc[i][c] = _mm512_fmadd_ps(_mm512_mul_ps(dx, dy[c]), _mm512_cvtepi32_ps(lanes), acc[i][c]);
                        }
                        if $has_min {
                            // fma(m, s, summs) lane by lane, as type0's scalar mul_add.
                            let mv = _mm256_set_m128(_mm_set1_ps(m1), _mm_set1_ps(m0));
                            summs[i] = _mm256_fmadd_ps(mv, syv, summs[i]);
                        }
                    }
                    if R % 2 == 1 {
                        let wl = &w[R - 1][b];
                        let (dx, m) = head(wl);
                        let u = decode(wl);
                        for c in 0..C {
                            let y256 = _mm512_castsi512_si256(y[c]);
                            let lanes = _mm256_add_epi32(_mm512_castsi512_si256(st[c]), _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, y256));
                            acc_last[c] = _mm256_fmadd_ps(_mm256_set1_ps(dx * _mm512_cvtss_f32(dy[c])), _mm256_cvtepi32_ps(lanes), acc_last[c]);
                            if $has_min {
                                summs_last[c] = m.mul_add(sy[c], summs_last[c]);
                            }
                        }
                    }
                }
                let mut out = [[0f32; C]; R];
                for i in 0..R / 2 {
                    let mut sm = [0f32; 8];
                    st_f32(&mut sm, 0, summs[i]);
                    for c in 0..C {
                        let (a, b) = hsum_halves(acc[i][c]);
                        (out[2 * i][c], out[2 * i + 1][c]) = if $has_min { (a + sm[c], b + sm[4 + c]) } else { (a, b) };
                    }
                }
                if R % 2 == 1 {
                    for c in 0..C {
                        let a = hsum8(acc_last[c]);
                        out[R - 1][c] = if $has_min { a + summs_last[c] } else { a };
                    }
                }
                out
            }

            /// Prepares block positions `0..out.len()` of 8 tokens for [`wide`].
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn prepare(x: [&[$X]; WIDE_C], out: &mut [MaybeUninit<Prep>]) {
                for (b, o) in out.iter_mut().enumerate() {
                    let z = _mm256_setzero_si256();
                    let mut p = Prep { y: [z; WIDE_C], st: [z; WIDE_C], d: [0.0; WIDE_C], s: [0.0; WIDE_C] };
                    for c in 0..WIDE_C {
                        let xb = &x[c][b];
                        p.y[c] = ld_i8(&xb.qs, 0);
                        // Both halves of `start` are the same; one is kept.
                        p.st[c] = _mm512_castsi512_si256(start(_mm512_broadcast_i64x4(p.y[c])));
                        (p.d[c], p.s[c]) = head(xb);
                    }
                    o.write(p);
                }
            }

            /// Decodes block positions `0..out.len()` of four weight rows for [`wide`], and
            /// requests the next four rows' lines (a gemm's rows are contiguous) as it reads
            /// these, for matrices streamed from L3.
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn decode_quad(w: [&[$W]; WIDE_R], out: &mut [MaybeUninit<Quad>]) {
                let ahead = WIDE_R * w[0].len() * std::mem::size_of::<$W>();
                for (b, o) in out.iter_mut().enumerate() {
                    for r in 0..WIDE_R {
                        prefetch_line((&w[r][b] as *const $W as *const u8).wrapping_add(ahead));
                    }
                    let (d, m) = heads4([&w[0][b], &w[1][b], &w[2][b], &w[3][b]]);
                    o.write(Quad { u: [decode2(&w[0][b], &w[1][b]), decode2(&w[2][b], &w[3][b])], d, m });
                }
            }

            /// 4 weight rows (decoded by [`decode_quad`]) x 8 tokens, each output bit-identical
            /// to [`tile`]'s (and so to `type0`'s `dot`): the same integer lanes, float
            /// operations and sums.
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn wide(quad: &[Quad], prep: &[Prep]) -> [[f32; WIDE_C]; WIDE_R] {
                assert_eq!(quad.len(), prep.len());
                // acc[i][c]: rows 2i (low half) and 2i + 1 (high half) for token c.
                let mut acc = [[_mm512_setzero_ps(); WIDE_C]; 2];
                // summs[i] lane h * 8 + c: row 2i + h, token c (m * s, added after hsum).
                let mut summs = [_mm512_setzero_ps(); 2];
                for (q, p) in quad.iter().zip(prep) {
                    for c in 0..WIDE_C {
                        let y = _mm512_broadcast_i64x4(p.y[c]);
                        let st = _mm512_broadcast_i64x4(p.st[c]);
                        let dy = _mm512_set1_ps(p.d[c]);
                        for i in 0..2 {
                            let lanes = _mm512_dpbusd_epi32(st, q.u[i], y);
                            acc[i][c] = _mm512_fmadd_ps(_mm512_mul_ps(q.d[i], dy), _mm512_cvtepi32_ps(lanes), acc[i][c]);
                        }
                    }
                    if $has_min {
                        let sv = _mm512_broadcast_f32x8(ld_f32(&p.s, 0));
                        for i in 0..2 {
                            summs[i] = _mm512_fmadd_ps(q.m[i], sv, summs[i]);
                        }
                    }
                }
                let mut out = [[0f32; WIDE_C]; WIDE_R];
                for i in 0..2 {
                    let mut sm = [0f32; 16];
                    st_f32(&mut sm, 0, _mm512_castps512_ps256(summs[i]));
                    st_f32(&mut sm, 8, _mm512_extractf32x8_ps::<1>(summs[i]));
                    for c in 0..WIDE_C {
                        let (a, b) = hsum_halves(acc[i][c]);
                        (out[2 * i][c], out[2 * i + 1][c]) = if $has_min { (a + sm[c], b + sm[8 + c]) } else { (a, b) };
                    }
                }
                out
            }

            /// The batched product: groups of 8 tokens by 4-row [`wide`] tiles (a chunk's last
            /// rows by [`tile`]), everything else (fewer than 8 tokens, rows longer than
            /// [`MAX_PREP_BLOCKS`]) by `narrow`, the 8 x 4 tile driver. Same bits either way.
            #[allow(clippy::too_many_arguments)]
            pub fn gemm(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize, narrow: GemmFn) {
                let nb = n / QK8_0;
                if nc < WIDE_C || nb > MAX_PREP_BLOCKS || nb * QK8_0 != n {
                    return narrow(n, w, nr, x, nc, out, stride);
                }
                let (wrb, xrb) = (nb * std::mem::size_of::<$W>(), nb * std::mem::size_of::<$X>());
                assert_eq!(w.len(), nr * wrb, "gemm: weight bytes for {nr} rows of {n}");
                assert_eq!(x.len(), nc * xrb, "gemm: activation bytes for {nc} rows of {n}");
                if nr == 0 {
                    return;
                }
                assert!(out.len() >= (nc - 1) * stride + nr, "gemm: output too small");
                let (wb, xb) = (as_blocks::<$W>(w), as_blocks::<$X>(x));
                let wrow = |r: usize| &wb[r * nb..(r + 1) * nb];
                let xrow = |c: usize| &xb[c * nb..(c + 1) * nb];
                // As many groups of 8 tokens as the stack's Prep slots hold are prepared, then
                // each 4 rows are decoded once for all of them.
                let mut prep = [const { MaybeUninit::<Prep>::uninit() }; PREP_SLOTS];
                let mut quad = [const { MaybeUninit::<Quad>::uninit() }; MAX_PREP_BLOCKS];
                let max_groups = PREP_SLOTS / nb;
                // SAFETY (every kernel call below): `gemm` is installed only by `install_vnni`,
                // after AVX-512 F/DQ/BW/VL/VNNI and AVX2+FMA+F16C were detected.
                let mut c = 0;
                while c + WIDE_C <= nc {
                    let groups = ((nc - c) / WIDE_C).min(max_groups);
                    for k in 0..groups {
                        unsafe { prepare(std::array::from_fn(|j| xrow(c + WIDE_C * k + j)), &mut prep[k * nb..(k + 1) * nb]) };
                    }
                    // SAFETY: `prepare` has just written entries 0..groups * nb, and
                    // `decode_quad` entries 0..nb before each use; both are plain data.
                    let p = |k: usize| unsafe { std::slice::from_raw_parts(prep[k * nb..].as_ptr().cast::<Prep>(), nb) };
                    let mut r = 0;
                    while r + WIDE_R <= nr {
                        unsafe { decode_quad(std::array::from_fn(|i| wrow(r + i)), &mut quad[..nb]) };
                        let q = unsafe { std::slice::from_raw_parts(quad.as_ptr().cast::<Quad>(), nb) };
                        for k in 0..groups {
                            let o = unsafe { wide(q, p(k)) };
                            for (i, orow) in o.iter().enumerate() {
                                for (j, &v) in orow.iter().enumerate() {
                                    out[(c + WIDE_C * k + j) * stride + r + i] = v;
                                }
                            }
                        }
                        r += WIDE_R;
                    }
                    for r in r..nr {
                        for h in 0..groups * WIDE_C / 4 {
                            let o = unsafe { tile::<1, 4>([wrow(r)], std::array::from_fn(|j| xrow(c + 4 * h + j))) };
                            for (j, &v) in o[0].iter().enumerate() {
                                out[(c + 4 * h + j) * stride + r] = v;
                            }
                        }
                    }
                    c += groups * WIDE_C;
                }
                if c < nc {
                    narrow(n, w, nr, &x[c * xrb..], nc - c, &mut out[c * stride..], stride);
                }
            }
        }
    };
}

vnni_type0!(q4_1, BlockQ4_1, BlockQ8_1, offset: 0, min: true,
    decode: |b| nibbles(&b.qs),
    decode2: |a, b| nibbles_pair(&a.qs, &b.qs));

vnni_type0!(q5_1, BlockQ5_1, BlockQ8_1, offset: 0, min: true,
    decode: |b| five_bits(&b.qs, b.qh),
    decode2: |a, b| add_fifth_bits(nibbles_pair(&a.qs, &b.qs), a.qh, b.qh));

// Q5_0's stored bits are q + 16 already: the nibble plus the fifth bit.
vnni_type0!(q5_0, BlockQ5_0, BlockQ8_0, offset: 16, min: false,
    decode: |b| five_bits(&b.qs, b.qh),
    decode2: |a, b| add_fifth_bits(nibbles_pair(&a.qs, &b.qs), a.qh, b.qh));

// Q8_0: flipping the sign bit gives q + 128 as an unsigned byte.
vnni_type0!(q8_0, BlockQ8_0, BlockQ8_0, offset: 128, min: false,
    decode: |b| _mm256_xor_si256(ld_i8(&b.qs, 0), _mm256_set1_epi8(0x80u8 as i8)),
    decode2: |a, b| _mm512_xor_si512(join_i(ld_i8(&a.qs, 0), ld_i8(&b.qs, 0)), _mm512_set1_epi8(0x80u8 as i8)));
