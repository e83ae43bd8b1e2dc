//! AVX-512 VNNI batched products for Q5_0 and Q8_0 weights in our own float order: sixteen
//! weight rows interleaved in 4-byte groups, one output per float lane.
//!
//! ggml's order for these types (`type0`, and [`super::vnni`] which reproduces it) keeps eight
//! float lanes per output and block: per block and output pair it costs a `vpdpbusd`, a
//! conversion, a multiply and an FMA, which bounds a Qwen2.5 prefill (70% of its multiply-adds
//! are Q5_0) at about 16 multiply-adds per vector operation. Here a register holds one 4-byte
//! group of sixteen rows (lane r: row r's bytes 4k..4k+4), and the token's matching 4 bytes
//! are broadcast, so eight `vpdpbusd` leave each lane with its row's exact block sum; one
//! conversion, one multiply and one FMA then scale sixteen outputs: eleven operations for 512
//! multiply-adds. The price is the order: each block's integer sum is exact, but it is scaled
//! and added as one float per block, not as ggml's eight lanes, so the last bits differ from
//! llama.cpp's: the golden tests (which need those bits) do not apply, so it is opt-in
//! (`MatmulMode::OwnOrder`), held to the exact value by `tests/fast_batch_x86.rs` and to
//! llama.cpp's perplexity by the engine's tests. Every output still comes from its own row and token alone, so the result
//! does not depend on threads or tiling.
//!
//! The rows are decoded into this layout once per call and read by every group of 8 tokens
//! (the `Panel`s on the stack). Weights are unsigned by an offset as in `vnni` (Q5_0: the
//! stored q + 16; Q8_0: the sign bit flipped, q + 128), and each lane starts at -offset * (the
//! token block's sum), so the integer sums are exact.
//!
//! Idea of interleaving rows so that one register holds several outputs: ik_llama.cpp's
//! `_R4`/`_R8` repacked types and ggml's `repack.cpp` (there at load, here per call).

use super::own;
use super::util::*;
use crate::blocks::*;
use crate::kernels::GemmFn;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Rows per panel (one per 32-bit lane).
const R: usize = 16;
/// Tokens per group: each panel block is loaded once per group.
const C: usize = 8; // `group` writes out its 8 tokens
/// Tokens prepared per pass (each pass decodes every panel once).
const PASS: usize = 64;
/// Longest row, in blocks, that fits the stack buffers (5120 columns); longer rows go by the
/// exact-order kernel.
const MAX_BLOCKS: usize = 160;

/// One block of sixteen rows: `z[k]` lane r holds row r's unsigned bytes 4k..4k+4, `d` lane r
/// its scale. 576 bytes.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Panel {
    z: [__m512i; 8],
    d: __m512,
}

/// One token block: its scale, and the lane start -offset * (sum of its 32 quants).
#[derive(Clone, Copy)]
struct TokenBlock {
    d: f32,
    start: i32,
}

/// The 16-entry table from four bits to four bytes, bit i of the index giving 16 in byte i
/// (Q5_0's fifth bits, looked up by `vpermd`).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn fifth_bit_table() -> __m512i {
    let t: [i32; 16] = std::array::from_fn(|x| (0..4).map(|i| (((x >> i) & 1) as i32) << (8 * i + 4)).sum());
    // SAFETY: 64 bytes read from a 64-byte array.
    unsafe { _mm512_loadu_si512(t.as_ptr().cast()) }
}

/// Sixteen rows' 16-byte pieces, each at `p[r]`, as four registers of dwords: result `m` lane
/// r holds dword m of row r's piece. Loads four rows per register (row 4l + j in 128-bit lane
/// l of register j), then a 4 x 4 dword transpose inside each 128-bit lane, which leaves lane
/// 4l + j of result m holding row 4l + j's dword m: the natural row order.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn transpose16(p: [&[u8; 16]; R]) -> [__m512i; 4] {
    let ld = |r: usize| ld128_u8(p[r], 0);
    let reg = |j: usize| {
        let v = _mm512_castsi128_si512(ld(j));
        let v = _mm512_inserti32x4::<1>(v, ld(4 + j));
        let v = _mm512_inserti32x4::<2>(v, ld(8 + j));
        _mm512_inserti32x4::<3>(v, ld(12 + j))
    };
    let (p0, p1, p2, p3) = (reg(0), reg(1), reg(2), reg(3));
    let (t0, t1) = (_mm512_unpacklo_epi32(p0, p1), _mm512_unpackhi_epi32(p0, p1));
    let (t2, t3) = (_mm512_unpacklo_epi32(p2, p3), _mm512_unpackhi_epi32(p2, p3));
    [_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2), _mm512_unpacklo_epi64(t1, t3), _mm512_unpackhi_epi64(t1, t3)]
}

/// The first 4 bytes of each of sixteen blocks, one per lane (for `d` and Q5_0's `qh`).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn dword16(p: [&[u8; 4]; R]) -> __m512i {
    let v: [u32; R] = std::array::from_fn(|r| u32::from_le_bytes(*p[r]));
    // SAFETY: 64 bytes read from a 64-byte array.
    unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
}

/// Sixteen f16 scales as f32, exactly.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn scales16(d: [half::f16; R]) -> __m512 {
    let v: [u16; R] = std::array::from_fn(|r| d[r].to_bits());
    // SAFETY: 32 bytes read from a 32-byte array.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(v.as_ptr().cast()) })
}

/// Block `b` of sixteen Q5_0 rows: the nibbles of `qs` dword m are elements 4m..4m+4 (low) and
/// 16+4m.. (high), i.e. the token's dwords m and 4 + m; element e's fifth bit is bit e of `qh`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn decode_q5_0(w: &[&[BlockQ5_0]; R], b: usize, table: __m512i) -> Panel {
    let t = transpose16(std::array::from_fn(|r| &w[r][b].qs));
    let qh = dword16(std::array::from_fn(|r| &w[r][b].qh));
    let lo = _mm512_set1_epi8(0x0F);
    let mut z = [_mm512_setzero_si512(); 8];
    for m in 0..4 {
        z[m] = _mm512_and_si512(t[m], lo);
        z[4 + m] = _mm512_and_si512(_mm512_srli_epi32::<4>(t[m]), lo);
    }
    for (k, zk) in z.iter_mut().enumerate() {
        // Elements 4k..4k+4: bits 4k..4k+4 of qh (vpermd reads the index's low 4 bits).
        let bits = _mm512_srlv_epi32(qh, _mm512_set1_epi32(4 * k as i32));
        *zk = _mm512_or_si512(*zk, _mm512_permutexvar_epi32(bits, table));
    }
    Panel { z, d: scales16(std::array::from_fn(|r| w[r][b].d)) }
}

/// Block `b` of sixteen Q8_0 rows, the sign bits flipped (q + 128).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn decode_q8_0(w: &[&[BlockQ8_0]; R], b: usize, _table: __m512i) -> Panel {
    let flip = _mm512_set1_epi8(0x80u8 as i8);
    let mut z = [_mm512_setzero_si512(); 8];
    for h in 0..2 {
        let t = transpose16(std::array::from_fn(|r| bytemuck::cast_ref::<[i8; 16], [u8; 16]>(w[r][b].qs[16 * h..16 * h + 16].try_into().unwrap())));
        for m in 0..4 {
            z[4 * h + m] = _mm512_xor_si512(t[m], flip);
        }
    }
    Panel { z, d: scales16(std::array::from_fn(|r| w[r][b].d)) }
}

/// Each token block's scale and lane start.
fn token_block(x: &BlockQ8_0, offset: i32) -> TokenBlock {
    let s: i32 = x.qs.iter().map(|&q| q as i32).sum();
    TokenBlock { d: x.d.to_f32(), start: -offset * s }
}

/// Sixteen rows (decoded) x 8 tokens: `out[c * stride..][..16]` lane r = row r . token c.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn group(panels: &[Panel], x: [&[BlockQ8_0]; C], tb: [&[TokenBlock]; C], out: &mut [f32], stride: usize) {
    let mut acc = [_mm512_setzero_ps(); C];
    for (b, p) in panels.iter().enumerate() {
        // The block's eight registers and scales are loaded once for the 8 tokens; each
        // token's lanes are written out (not a loop) so that its accumulator stays in a
        // register (a loop over tokens was left rolled, its accumulators on the stack).
        let z = p.z;
        macro_rules! token {
            ($c:literal) => {{
                let qs = &x[$c][b].qs;
                let t = tb[$c][b];
                let y = |k: usize| _mm512_set1_epi32(i32::from_le_bytes([qs[4 * k] as u8, qs[4 * k + 1] as u8, qs[4 * k + 2] as u8, qs[4 * k + 3] as u8]));
                let mut s = _mm512_set1_epi32(t.start);
                for k in 0..8 {
                    s = _mm512_dpbusd_epi32(s, z[k], y(k));
                }
                acc[$c] = _mm512_fmadd_ps(_mm512_mul_ps(p.d, _mm512_set1_ps(t.d)), _mm512_cvtepi32_ps(s), acc[$c]);
            }};
        }
        token!(0);
        token!(1);
        token!(2);
        token!(3);
        token!(4);
        token!(5);
        token!(6);
        token!(7);
    }
    store_tokens(&acc, out, stride);
}

/// Stores each token's sixteen outputs (one per row) at `out[c * stride..][..16]`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn store_tokens(acc: &[__m512; C], out: &mut [f32], stride: usize) {
    for (c, a) in acc.iter().enumerate() {
        let o = &mut out[c * stride..c * stride + R];
        // SAFETY: 16 floats stored into a 16-float slice.
        unsafe { _mm512_storeu_ps(o.as_mut_ptr(), *a) };
    }
}

/// Sixteen rows x groups of 8 tokens, 64 tokens per pass.
const SHAPE: own::Shape = own::Shape { rows: R, tokens: C, pass: PASS, max_blocks: MAX_BLOCKS, block: QK8_0 };

macro_rules! rows16 {
    ($name:ident, $W:ty, offset: $off:literal, decode: $decode:ident) => {
        pub(super) mod $name {
            use super::*;

            /// Decodes sixteen rows (`rows`, `nb` blocks each) into `panels` and multiplies
            /// them by every group of 8 of the tokens `x` (prepared: `tbs`), into `out` (row
            /// r0's column of the first token).
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn panel_rows(rows: &[$W], nb: usize, panels: &mut [MaybeUninit<Panel>], x: &[BlockQ8_0], tbs: &[TokenBlock], out: &mut [f32], stride: usize, table: __m512i) {
                let rows: [&[$W]; R] = std::array::from_fn(|r| &rows[r * nb..(r + 1) * nb]);
                let panels = &mut panels[..nb];
                for (b, p) in panels.iter_mut().enumerate() {
                    p.write($decode(&rows, b, table));
                }
                // SAFETY: entries 0..nb were just written; `Panel` is plain data.
                let ps = unsafe { std::slice::from_raw_parts(panels.as_ptr().cast::<Panel>(), nb) };
                for g in (0..tbs.len() / nb).step_by(C) {
                    let xg = std::array::from_fn(|c| &x[(g + c) * nb..(g + c + 1) * nb]);
                    group(ps, xg, std::array::from_fn(|c| &tbs[(g + c) * nb..(g + c + 1) * nb]), &mut out[g * stride..], stride);
                }
            }

            /// The batched product ([`own::gemm`]: leftover rows and tokens by `exact`).
            #[allow(clippy::too_many_arguments)]
            pub fn gemm(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize, exact: GemmFn) {
                let mut panels = [const { MaybeUninit::<Panel>::uninit() }; MAX_BLOCKS];
                let mut tbs = [TokenBlock { d: 0.0, start: 0 }; PASS * MAX_BLOCKS];
                // SAFETY (every kernel call): `gemm` is installed only by `install_vnni`, after
                // AVX-512 F/DQ/BW/VL/VNNI and AVX2+FMA+F16C were detected.
                let table = unsafe { fifth_bit_table() };
                own::gemm::<$W, BlockQ8_0, TokenBlock>(
                    &SHAPE, n, w, nr, x, nc, out, stride, exact, &mut tbs,
                    |xb| token_block(xb, $off),
                    |rows, nb, xs, tbs, o| unsafe { panel_rows(rows, nb, &mut panels, xs, tbs, o, stride, table) },
                )
            }
        }
    };
}

rows16!(q5_0, BlockQ5_0, offset: 16, decode: decode_q5_0);
rows16!(q8_0, BlockQ8_0, offset: 128, decode: decode_q8_0);
