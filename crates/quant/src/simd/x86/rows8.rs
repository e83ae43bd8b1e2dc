//! AVX2 batched product for Q5_0 weights in our own float order: eight weight rows
//! interleaved in 4-byte groups, one output per float lane ([`super::rows16`] for AVX2, without
//! VNNI). Opt-in (`MatmulMode::OwnOrder`), as its last bits are not llama.cpp's.
//!
//! ggml's AVX2 order spends, per output and block, the sign fix-ups, `vpmaddubsw`, `vpmaddwd`,
//! a conversion, a multiply and an FMA on 32 multiply-adds. Here a register holds one 4-byte
//! group of eight rows (lane r: row r's quants 4k..4k+4) and the token's matching 4 bytes are
//! broadcast. The roles of `vpmaddubsw` are swapped: the token's quants are the unsigned side,
//! offset by 128 (y + 128 in 1..=255), the weights q in -16..=15 the signed side, so each pair
//! sum is within ±8160 and four products add in 16 bits without saturating (at most 32640).
//! The offset comes back out as -128 * (the row block's sum of q), a per-row start value that
//! does not depend on the token. Per 8 outputs and block: eight `vpmaddubsw`, six 16-bit adds,
//! two `vpmaddwd`, two 32-bit adds, then one conversion, multiply and FMA.
//!
//! Q8_0 weights (q in -128..=127) would saturate a single `vpmaddubsw` pair with this offset,
//! so they keep ggml's order on AVX2.

use super::own;
use super::util::*;
use crate::blocks::*;
use crate::kernels::GemmFn;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Rows per panel (one per 32-bit lane).
const R: usize = 8;
/// Tokens per group: each panel block is read once per group.
const C: usize = 8;
/// Tokens prepared per pass (each pass decodes every panel once).
const PASS: usize = 32;
/// Longest row, in blocks, that fits the stack buffers (5120 columns).
const MAX_BLOCKS: usize = 160;

/// One block of eight Q5_0 rows: `z[k]` lane r holds row r's signed quants 4k..4k+4, `d` lane
/// r its scale, `start` lane r -128 * (the sum of its 32 quants). 320 bytes.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Panel {
    z: [__m256i; 8],
    d: __m256,
    start: __m256i,
}

/// One token block: its quants + 128 (as unsigned bytes) and its scale.
#[derive(Clone, Copy)]
#[repr(C, align(4))]
struct TokenBlock {
    y: [u8; 32],
    d: f32,
}

/// Eight rows' 16-byte pieces as four registers of dwords: result `m` lane r holds dword m of
/// row r's piece (row 4l + j loaded into 128-bit lane l of register j, then a 4 x 4 dword
/// transpose inside each 128-bit lane, which leaves the rows in natural order).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn transpose8(p: [&[u8; 16]; R]) -> [__m256i; 4] {
    let reg = |j: usize| _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(ld128_u8(p[j], 0)), ld128_u8(p[4 + j], 0));
    let (p0, p1, p2, p3) = (reg(0), reg(1), reg(2), reg(3));
    let (t0, t1) = (_mm256_unpacklo_epi32(p0, p1), _mm256_unpackhi_epi32(p0, p1));
    let (t2, t3) = (_mm256_unpacklo_epi32(p2, p3), _mm256_unpackhi_epi32(p2, p3));
    [_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2), _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)]
}

/// Block `b` of eight Q5_0 rows (element e's fifth bit is bit e of `qh`; the nibbles of `qs`
/// dword m are elements 4m.. (low) and 16 + 4m.. (high)).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn decode(w: &[&[BlockQ5_0]; R], b: usize) -> Panel {
    let t = transpose8(std::array::from_fn(|r| &w[r][b].qs));
    let qhv: [u32; R] = std::array::from_fn(|r| u32::from_le_bytes(w[r][b].qh));
    let qh = ld_i32x8(&qhv);
    let lo = _mm256_set1_epi8(0x0F);
    let mut z = [_mm256_setzero_si256(); 8];
    for m in 0..4 {
        z[m] = _mm256_and_si256(t[m], lo);
        z[4 + m] = _mm256_and_si256(_mm256_srli_epi32::<4>(t[m]), lo);
    }
    // Byte i of group k takes bit 4k + i of its lane's qh: copy qh's byte k / 2 into all four
    // bytes, keep bit 4 * (k % 2) + i of byte i, and turn a set bit into 16.
    let sixteen = _mm256_set1_epi8(16);
    for (k, zk) in z.iter_mut().enumerate() {
        let sel = (k / 2) as i8;
        let pick = _mm256_setr_epi8(
            sel, sel, sel, sel, sel + 4, sel + 4, sel + 4, sel + 4, sel + 8, sel + 8, sel + 8, sel + 8, sel + 12, sel + 12, sel + 12, sel + 12,
            sel, sel, sel, sel, sel + 4, sel + 4, sel + 4, sel + 4, sel + 8, sel + 8, sel + 8, sel + 8, sel + 12, sel + 12, sel + 12, sel + 12,
        );
        let s = (4 * (k % 2)) as u32;
        let bit = |i: u32| (1u32 << (s + i)) as u8 as i8;
        let mask = _mm256_set1_epi32(i32::from_le_bytes([bit(0) as u8, bit(1) as u8, bit(2) as u8, bit(3) as u8]));
        let bits = _mm256_and_si256(_mm256_shuffle_epi8(qh, pick), mask);
        let set = _mm256_cmpeq_epi8(bits, mask);
        *zk = _mm256_sub_epi8(_mm256_or_si256(*zk, _mm256_and_si256(set, sixteen)), sixteen);
    }
    // The row sums of q: byte pairs by vpmaddubsw with ones (|pair| <= 32), summed over the
    // eight groups in 16 bits (<= 256), then widened.
    let ones8 = _mm256_set1_epi8(1);
    let mut s16 = _mm256_setzero_si256();
    for zk in &z {
        s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(ones8, *zk));
    }
    let sums = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
    let start = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32::<7>(sums));
    let dv: [u16; R] = std::array::from_fn(|r| w[r][b].d.to_bits());
    // SAFETY: 16 bytes read from a 16-byte array.
    let d = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(dv.as_ptr().cast()) });
    Panel { z, d, start }
}

/// Eight i32 from an array.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn ld_i32x8(v: &[u32; 8]) -> __m256i {
    // SAFETY: 32 bytes read from a 32-byte array.
    unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
}

/// A token block prepared: quants + 128, scale as f32.
fn token_block(x: &BlockQ8_0) -> TokenBlock {
    TokenBlock { y: std::array::from_fn(|i| (x.qs[i] as u8) ^ 0x80), d: x.d.to_f32() }
}

/// Eight rows (decoded) x 8 tokens, into `out[c * stride..][..8]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn group(panels: &[Panel], tb: [&[TokenBlock]; C], out: &mut [f32], stride: usize) {
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); C];
    for (b, p) in panels.iter().enumerate() {
        // Written out per token (not a loop) so the accumulators stay in registers.
        macro_rules! token {
            ($c:literal) => {{
                let t = &tb[$c][b];
                let y = |k: usize| _mm256_set1_epi32(i32::from_le_bytes([t.y[4 * k], t.y[4 * k + 1], t.y[4 * k + 2], t.y[4 * k + 3]]));
                let m = |k: usize| _mm256_maddubs_epi16(y(k), p.z[k]);
                let a = _mm256_add_epi16(_mm256_add_epi16(m(0), m(1)), _mm256_add_epi16(m(2), m(3)));
                let h = _mm256_add_epi16(_mm256_add_epi16(m(4), m(5)), _mm256_add_epi16(m(6), m(7)));
                let s = _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(a, ones), _mm256_madd_epi16(h, ones)), p.start);
                acc[$c] = _mm256_fmadd_ps(_mm256_mul_ps(p.d, _mm256_set1_ps(t.d)), _mm256_cvtepi32_ps(s), acc[$c]);
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
    for (c, a) in acc.iter().enumerate() {
        let o = &mut out[c * stride..c * stride + R];
        // SAFETY: 8 floats stored into an 8-float slice.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *a) };
    }
}

/// Decodes eight rows (`rows`, `nb` blocks each) into `panels` and multiplies them by every
/// group of 8 of the prepared tokens `tbs`, into `out` (row r0's column of the first token).
#[target_feature(enable = "avx2,fma,f16c")]
fn panel_rows(rows: &[BlockQ5_0], nb: usize, panels: &mut [MaybeUninit<Panel>], tbs: &[TokenBlock], out: &mut [f32], stride: usize) {
    let rows: [&[BlockQ5_0]; R] = std::array::from_fn(|r| &rows[r * nb..(r + 1) * nb]);
    let panels = &mut panels[..nb];
    for (b, p) in panels.iter_mut().enumerate() {
        p.write(decode(&rows, b));
    }
    // SAFETY: entries 0..nb were just written; `Panel` is plain data.
    let ps = unsafe { std::slice::from_raw_parts(panels.as_ptr().cast::<Panel>(), nb) };
    for g in (0..tbs.len() / nb).step_by(C) {
        group(ps, std::array::from_fn(|c| &tbs[(g + c) * nb..(g + c + 1) * nb]), &mut out[g * stride..], stride);
    }
}

/// Eight rows x groups of 8 tokens, 32 tokens per pass.
const SHAPE: own::Shape = own::Shape { rows: R, tokens: C, pass: PASS, max_blocks: MAX_BLOCKS, block: QK8_0 };

pub(super) mod q5_0 {
    use super::*;

    /// The batched product ([`own::gemm`]: leftover rows and tokens by `exact`).
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize, exact: GemmFn) {
        let mut panels = [const { MaybeUninit::<Panel>::uninit() }; MAX_BLOCKS];
        let mut tbs = [TokenBlock { y: [0; 32], d: 0.0 }; PASS * MAX_BLOCKS];
        // SAFETY (the kernel call): `gemm` is installed only by `install`, after AVX2+FMA+F16C
        // were detected.
        own::gemm::<BlockQ5_0, BlockQ8_0, TokenBlock>(
            &SHAPE, n, w, nr, x, nc, out, stride, exact, &mut tbs,
            token_block,
            |rows, nb, _, tbs, o| unsafe { panel_rows(rows, nb, &mut panels, tbs, o, stride) },
        )
    }
}
