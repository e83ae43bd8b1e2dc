//! AVX-512 VNNI batched product for Q4_K weights in our own float order ([`super::rows16`] for
//! the K-quants; opt-in through `MatmulMode::OwnOrder`, as its last bits are not llama.cpp's).
//!
//! A Q4_K super-block is eight sub-blocks of 32 nibbles q (0..15), each with a 6-bit scale and
//! min: w = d * sc * q - dmin * m. Against a Q8_K token block (scale dy, quants y, sums of each
//! 16) the dot is dy * (sum_s d * sc_s * isum_s - sum_s dmin * m_s * ysum_s). Sixteen rows are
//! interleaved in 4-byte groups (lane r = row r); the nibbles are unsigned, so `vpdpbusd` takes
//! them as they are against the broadcast token bytes, and eight of them give each lane its
//! sub-block's exact isum. Per sub-block one conversion and one FMA with the row's d * sc add it
//! to a float sum; the mins take one FMA per sub-block with the token's ysum broadcast; one
//! subtraction and one FMA with dy finish the super-block. 90 operations for 4096 multiply-adds,
//! where ggml's order spends them per output.

use super::own;
use super::rows16::{store_tokens, transpose16};
use crate::blocks::*;
use crate::kernels::GemmFn;
use crate::reference::kquant_common::get_scale_min_k4;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Rows per panel (one per 32-bit lane).
const R: usize = 16;
/// Tokens per group: each panel sub-block is loaded once per group.
const C: usize = 8;
/// Tokens prepared per pass (each pass decodes every panel once).
const PASS: usize = 32;
/// Longest row, in super-blocks, that fits the stack buffers (5120 columns).
const MAX_BLOCKS: usize = 20;

/// One super-block of sixteen rows: `z[g]` lane r holds row r's nibbles 4g..4g+4 (the token's
/// dword g), `dsc[s]` / `dm[s]` lane r its d * sc and dmin * m of sub-block s. 5 KiB.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Panel {
    z: [__m512i; 64],
    dsc: [__m512; 8],
    dm: [__m512; 8],
}

/// One token super-block: its scale and the sums of each sub-block's 32 quants.
#[derive(Clone, Copy)]
struct TokenBlock {
    d: f32,
    ysum: [f32; 8],
}

/// Super-block `b` of sixteen Q4_K rows. Bytes 32j..32j+32 of `qs` hold elements 64j.. in their
/// low nibbles and 64j+32.. in their high ones, so `qs` dword t gives the token's dwords
/// 16(t/8) + t%8 (low) and 16(t/8) + 8 + t%8 (high).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn decode(w: &[&[BlockQ4K]; R], b: usize) -> Panel {
    let lo = _mm512_set1_epi8(0x0F);
    let mut z = [_mm512_setzero_si512(); 64];
    for p in 0..8 {
        let t = transpose16(std::array::from_fn(|r| w[r][b].qs[16 * p..16 * p + 16].try_into().unwrap()));
        for (m, tm) in t.iter().enumerate() {
            let dword = 4 * p + m;
            let g = 16 * (dword / 8) + dword % 8;
            z[g] = _mm512_and_si512(*tm, lo);
            z[g + 8] = _mm512_and_si512(_mm512_srli_epi32::<4>(*tm), lo);
        }
    }
    let mut dsc = [[0f32; R]; 8];
    let mut dm = [[0f32; R]; 8];
    for r in 0..R {
        let blk = &w[r][b];
        let (d, dmin) = (blk.d.to_f32(), blk.dmin.to_f32());
        for s in 0..8 {
            let (sc, m) = get_scale_min_k4(s, &blk.scales);
            dsc[s][r] = d * sc as f32;
            dm[s][r] = dmin * m as f32;
        }
    }
    // SAFETY: each load reads 64 bytes from a 16-float array.
    let ld = |v: &[f32; R]| unsafe { _mm512_loadu_ps(v.as_ptr()) };
    Panel { z, dsc: std::array::from_fn(|s| ld(&dsc[s])), dm: std::array::from_fn(|s| ld(&dm[s])) }
}

/// A token super-block prepared: its scale and sub-block sums (from the sums of 16).
fn token_block(x: &BlockQ8K) -> TokenBlock {
    TokenBlock { d: x.d, ysum: std::array::from_fn(|s| (x.bsums[2 * s] as i32 + x.bsums[2 * s + 1] as i32) as f32) }
}

/// Sixteen rows (decoded) x 8 tokens, into `out[c * stride..][..16]`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn group(panels: &[Panel], x: [&[BlockQ8K]; C], tb: [&[TokenBlock]; C], out: &mut [f32], stride: usize) {
    let mut acc = [_mm512_setzero_ps(); C];
    for (b, p) in panels.iter().enumerate() {
        let mut f = [_mm512_setzero_ps(); C];
        for s in 0..8 {
            let z: [__m512i; 8] = std::array::from_fn(|k| p.z[8 * s + k]);
            // Written out per token (not a loop) so that the sums stay in registers.
            macro_rules! token {
                ($c:literal) => {{
                    let qs = &x[$c][b].qs;
                    let y = |k: usize| {
                        let o = 32 * s + 4 * k;
                        _mm512_set1_epi32(i32::from_le_bytes([qs[o] as u8, qs[o + 1] as u8, qs[o + 2] as u8, qs[o + 3] as u8]))
                    };
                    let mut i = _mm512_setzero_si512();
                    for k in 0..8 {
                        i = _mm512_dpbusd_epi32(i, z[k], y(k));
                    }
                    f[$c] = _mm512_fmadd_ps(p.dsc[s], _mm512_cvtepi32_ps(i), f[$c]);
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
        for c in 0..C {
            let t = &tb[c][b];
            let mut mins = _mm512_setzero_ps();
            for s in 0..8 {
                mins = _mm512_fmadd_ps(p.dm[s], _mm512_set1_ps(t.ysum[s]), mins);
            }
            acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(t.d), _mm512_sub_ps(f[c], mins), acc[c]);
        }
    }
    store_tokens(&acc, out, stride);
}

/// Decodes sixteen rows (`rows`, `nb` super-blocks each) into `panels` and multiplies them by
/// every group of 8 of the tokens `x` (prepared: `tbs`), into `out` (row r0's column of the
/// first token).
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn panel_rows(rows: &[BlockQ4K], nb: usize, panels: &mut [MaybeUninit<Panel>], x: &[BlockQ8K], tbs: &[TokenBlock], out: &mut [f32], stride: usize) {
    let rows: [&[BlockQ4K]; R] = std::array::from_fn(|r| &rows[r * nb..(r + 1) * nb]);
    let panels = &mut panels[..nb];
    for (b, p) in panels.iter_mut().enumerate() {
        p.write(decode(&rows, b));
    }
    // SAFETY: entries 0..nb were just written; `Panel` is plain data.
    let ps = unsafe { std::slice::from_raw_parts(panels.as_ptr().cast::<Panel>(), nb) };
    for g in (0..tbs.len() / nb).step_by(C) {
        let xg = std::array::from_fn(|c| &x[(g + c) * nb..(g + c + 1) * nb]);
        group(ps, xg, std::array::from_fn(|c| &tbs[(g + c) * nb..(g + c + 1) * nb]), &mut out[g * stride..], stride);
    }
}

/// Sixteen rows x groups of 8 tokens, 32 tokens per pass.
const SHAPE: own::Shape = own::Shape { rows: R, tokens: C, pass: PASS, max_blocks: MAX_BLOCKS, block: QK_K };

pub(super) mod q4_k {
    use super::*;

    /// The batched product ([`own::gemm`]: leftover rows and tokens by `exact`).
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize, exact: GemmFn) {
        let mut panels = [const { MaybeUninit::<Panel>::uninit() }; MAX_BLOCKS];
        let mut tbs = [TokenBlock { d: 0.0, ysum: [0.0; 8] }; PASS * MAX_BLOCKS];
        own::gemm::<BlockQ4K, BlockQ8K, TokenBlock>(
            &SHAPE, n, w, nr, x, nc, out, stride, exact, &mut tbs,
            token_block,
            // SAFETY: `gemm` is installed only by `install_vnni`, after AVX-512
            // F/DQ/BW/VL/VNNI and AVX2+FMA+F16C were detected.
            |rows, nb, xs, tbs, o| unsafe { panel_rows(rows, nb, &mut panels, xs, tbs, o, stride) },
        )
    }
}
