//! Flash-style attention: online softmax over fixed KV blocks, K and V read in place from the
//! cache (F32, F16 or Q8_0), each K/V block read once for all query heads of a KV head (GQA).
//!
//! # What is computed, exactly
//!
//! For a query row (token at position p, head h, KV head g) the visible keys are `lo..=p` (lo:
//! the sliding window's start and the first position the cache still holds, as in the exact
//! path). That range is cut into blocks aligned to absolute positions: block b covers
//! `b*BLOCK .. (b+1)*BLOCK`, clipped to `lo..=p`. For each block, in position order:
//! `s_j = dot(q, k_j) * scale` ([`simd`]'s fixed-order dot), `m_b = max s_j`,
//! `p_j = exp(s_j - m_b)`, `l_b = Σ p_j` (8 lanes), `acc_b = Σ p_j v_j` (one fused
//! multiply-add per element, j in order). The blocks are then merged in increasing order by the
//! online rule (`m = max(m, m_b)`, both sides rescaled by `exp(old - m)`, see [`merge`]) and
//! the result is `acc / l`.
//!
//! Every quantity depends only on the row and on the block, never on which other rows were
//! computed with it or on which thread did it, so the output is **bit-identical however the
//! work is split**: prompt in one batch or token by token, any chunking, any thread count, and
//! either schedule below. (It is not bit-identical to llama.cpp, whose flash kernel rounds
//! differently; the default F16 cache is judged by perplexity.)
//!
//! # Schedules
//!
//! - Tiles (prefill): a task is a tile of query tokens × one KV head; it walks the blocks its
//!   rows see, skipping fully masked ones, merging each into the output rows as it goes.
//! - Blocks (decode: one or a few tokens, many blocks): a task is one KV head × one block; it
//!   writes the block's (m_b, l_b, acc_b) into preallocated partials, then a second parallel pass
//!   merges every row's partials in block order with the same [`merge`].
//!
//! With an F16 K the queries are rounded to f16 first, as llama.cpp's flash kernel converts Q to
//! K's type: the scores are then f32 sums of exact f16 × f16 products. Measured on the three
//! models' 2-chunk perplexity (BENCHMARKS.md, 2026-12-02) this keeps all of them within 0.5%
//! of the F32 reference, which f32 queries did not (Qwen2.5 -0.62%, SmolLM2 +0.52%): at that
//! level the figures move with any change of rounding, so we follow the reference's choice.
//!
//! Q8_0 keys are stored Walsh-Hadamard rotated ([`crate::kv_cache`]): queries are rotated the
//! same way (q·k is unchanged); rotated values are undone on the output row, as the exact path
//! does. All scratch is sized at load ([`scratch_len`]); nothing is allocated per call.

mod simd;
#[cfg(test)]
mod tests;

use crate::attention::AttnShape;
use crate::kv_cache::{KvType, LayerKv};
use crate::ops::fwht_blocks;
use crate::parallel::DisjointMut;
use crate::pool::ThreadPool;
use quant::kernels::DequantizeFn;
use simd::{Kern, Scalar};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// KV block length, in positions. Chosen from the sizes, not from a sweep (the shared machine
/// was too noisy to separate 128/256/512, BENCHMARKS.md 2026-12-02): a tile's scores (32 rows ×
/// 256) stay in L1/L2, the per-block merge (one rescale of each accumulator row) is under 1% of
/// a block's work, and decode at 4096 positions still splits into 16 tasks per KV head.
pub const BLOCK: usize = 256;
/// Query rows (tokens × heads of a group) per prefill tile.
const TILE_ROWS: usize = 32;
/// Most tokens for which the block schedule is used.
const DECODE_MAX_N: usize = 4;

/// How the work is split (the result does not depend on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Blocks for a few tokens over several blocks on several threads, else tiles.
    Auto,
    Tiles,
    Blocks,
}

/// Scratch sizes derived from the shapes.
struct Plan {
    group: usize,
    head_dim: usize,
    /// Tokens per prefill tile and its rows (tokens × group).
    tile_tokens: usize,
    rows: usize,
    /// Rows of one block-schedule partial (at most DECODE_MAX_N tokens).
    dec_tokens: usize,
    n_blocks: usize,
    n_head_kv: usize,
}

impl Plan {
    fn new(n_ctx: usize, n_head: usize, n_head_kv: usize, head_dim: usize) -> Plan {
        let group = n_head / n_head_kv;
        let tile_tokens = (TILE_ROWS / group).max(1);
        Plan {
            group,
            head_dim,
            tile_tokens,
            rows: tile_tokens * group,
            dec_tokens: DECODE_MAX_N.min(tile_tokens),
            n_blocks: n_ctx.div_ceil(BLOCK).max(1),
            n_head_kv,
        }
    }

    /// Per thread: rotated queries, scores, block accumulators (rows × head_dim each for the
    /// first and last, rows × BLOCK for scores), block and running (m, l) per row, eight K
    /// rows and a block of V rows converted to f32.
    fn per_thread(&self) -> usize {
        self.rows * (2 * self.head_dim + BLOCK + 4) + (8 + BLOCK) * self.head_dim
    }

    /// One block-schedule partial: acc_b then (m_b, l_b) for each row.
    fn slot(&self) -> usize {
        self.dec_tokens * self.group * (self.head_dim + 2)
    }

    fn partials(&self) -> usize {
        self.n_head_kv * self.n_blocks * self.slot()
    }
}

/// f32 scratch [`attention`] needs in total for `n_threads` threads (per-thread tiles and the
/// decode partials).
pub fn scratch_len(n_ctx: usize, n_head: usize, n_head_kv: usize, head_dim: usize, n_threads: usize) -> usize {
    let p = Plan::new(n_ctx, n_head, n_head_kv, head_dim);
    n_threads * p.per_thread() + p.partials()
}

/// One thread's working rows.
struct Work<'a> {
    qr: &'a mut [f32],
    sc: &'a mut [f32],
    accb: &'a mut [f32],
    /// (m_b, l_b) per row.
    ml: &'a mut [f32],
    /// Running (m, l) per row.
    run: &'a mut [f32],
    /// Eight keys, then a block of values, as f32 rows.
    k8: &'a mut [f32],
    vblk: &'a mut [f32],
}

impl<'a> Work<'a> {
    fn new(p: &Plan, mine: &'a mut [f32]) -> Work<'a> {
        let (r, hd) = (p.rows, p.head_dim);
        let (qr, rest) = mine.split_at_mut(r * hd);
        let (sc, rest) = rest.split_at_mut(r * BLOCK);
        let (accb, rest) = rest.split_at_mut(r * hd);
        let (ml, rest) = rest.split_at_mut(2 * r);
        let (run, rest) = rest.split_at_mut(2 * r);
        let (k8, vblk) = rest.split_at_mut(8 * hd);
        Work { qr, sc, accb, ml, run, k8, vblk: &mut vblk[..BLOCK * hd] }
    }
}

/// What every task reads.
struct Ctx<'a> {
    s: &'a AttnShape,
    kv: &'a LayerKv<'a>,
    q: &'a [f32],
    pos0: usize,
    group: usize,
    dequant: DequantizeFn,
}

impl<'a> Ctx<'a> {
    /// First position a query at `p` attends to.
    fn lo(&self, p: usize) -> usize {
        self.s.window.map_or(0, |w| (p + 1).saturating_sub(w)).max(self.kv.first_pos)
    }

    /// Visible positions of batch token `t` within block `b` (empty when start > end).
    fn range(&self, t: usize, b: usize) -> (usize, usize) {
        let p = self.pos0 + t;
        (self.lo(p).max(b * BLOCK), p.min(b * BLOCK + BLOCK - 1))
    }

    /// The f32 values of the cached K (`is_k`) or V row in `slot` into `dst`.
    #[inline(always)]
    fn load_row<K: Kern>(&self, is_k: bool, slot: usize, g: usize, dst: &mut [f32]) {
        let ty = if is_k { self.kv.type_k } else { self.kv.type_v };
        match ty {
            KvType::F32 => dst.copy_from_slice(if is_k { self.kv.k_f32_in(slot, g) } else { self.kv.v_f32_in(slot, g) }),
            KvType::F16 => K::f16_row(if is_k { self.kv.k_bytes_in(slot, g) } else { self.kv.v_bytes_in(slot, g) }, dst),
            KvType::Q8_0 => (self.dequant)(if is_k { self.kv.k_bytes_in(slot, g) } else { self.kv.v_bytes_in(slot, g) }, dst),
        }
    }
}

/// Copies the query rows of tokens `t0..t1`, heads of KV head `g`, into `qr` (row r = (t - t0)
/// * group + i), rotated like the cached keys, rounded to f16 for an F16 K (module docs).
fn load_q(c: &Ctx, g: usize, t0: usize, t1: usize, qr: &mut [f32]) {
    let hd = c.s.head_dim;
    let dq = c.s.n_head * hd;
    let w = c.group * hd;
    for t in t0..t1 {
        let dst = &mut qr[(t - t0) * w..(t - t0 + 1) * w];
        dst.copy_from_slice(&c.q[t * dq + g * w..t * dq + (g + 1) * w]);
        if c.kv.rot_k > 0 {
            fwht_blocks(dst, c.kv.rot_k);
        }
        if c.kv.type_k == KvType::F16 {
            dst.iter_mut().for_each(|x| *x = half::f16::from_f32(*x).to_f32());
        }
    }
}

/// Block `b`'s partial (m_b, l_b, acc_b) for the rows of tokens `t0..t1` and KV head `g`, into
/// `ml` and `accb`; a row that sees nothing in the block gets l_b = 0.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<K: Kern>(c: &Ctx, g: usize, b: usize, t0: usize, t1: usize, w: &mut Work, ml: &mut [f32], accb: &mut [f32]) {
    let (hd, gs, b0) = (c.s.head_dim, c.group, b * BLOCK);
    let (jmin, jmax) = (c.range(t0, b).0, c.range(t1 - 1, b).1);
    // Scores, eight keys at a time (converted once for all rows); a row's scores outside its
    // range are computed for nothing and never read.
    // Slots are stepped, not divided out per row (`next_slot`).
    let first_slot = jmin % c.kv.n_slots;
    let mut slot = first_slot;
    let mut j0 = jmin;
    while j0 <= jmax {
        let nk = (jmax + 1 - j0).min(8);
        for i in 0..8 {
            let dst = &mut w.k8[i * hd..(i + 1) * hd];
            if i < nk {
                c.load_row::<K>(true, slot, g, dst);
                slot = c.kv.next_slot(slot);
            } else {
                dst.fill(0.0);
            }
        }
        // Rows two at a time (sharing the key loads); a pair runs if either row's token sees
        // one of these keys.
        let sees = |r: usize| {
            let (a, e) = c.range(t0 + r / gs, b);
            j0 + nk > a && j0 <= e
        };
        let rows = (t1 - t0) * gs;
        let mut r = 0;
        while r < rows {
            let pair = r + 1 < rows;
            if sees(r) || (pair && sees(r + 1)) {
                let q = |r: usize| &w.qr[r * hd..(r + 1) * hd];
                let s = if pair { K::dot8x2(q(r), q(r + 1), w.k8) } else { [K::dot8(q(r), w.k8), [0.0; 8]] };
                for (h, s8) in s.iter().enumerate().take(1 + pair as usize) {
                    for (i, &x) in s8.iter().enumerate().take(nk) {
                        w.sc[(r + h) * BLOCK + j0 + i - b0] = x * c.s.scale;
                    }
                }
            }
            r += 2;
        }
        j0 += 8;
    }
    let mut slot = first_slot;
    for j in jmin..=jmax {
        c.load_row::<K>(false, slot, g, &mut w.vblk[(j - jmin) * hd..(j - jmin + 1) * hd]);
        slot = c.kv.next_slot(slot);
    }
    for t in t0..t1 {
        let (a, e) = c.range(t, b);
        let rows = (t - t0) * gs..(t - t0 + 1) * gs;
        if a > e {
            for r in rows {
                (ml[2 * r], ml[2 * r + 1]) = (f32::NEG_INFINITY, 0.0);
            }
            continue;
        }
        for r in rows.clone() {
            let row = &mut w.sc[r * BLOCK + a - b0..r * BLOCK + e - b0 + 1];
            let m = row_max(row);
            (ml[2 * r], ml[2 * r + 1]) = (m, K::exp_sum(row, m));
        }
        // The token's rows share the range: one pass over its V rows for all of them.
        let v = &w.vblk[(a - jmin) * hd..(e - jmin + 1) * hd];
        K::pv(&mut accb[rows.start * hd..rows.end * hd], hd, &w.sc[rows.start * BLOCK + a - b0..], BLOCK, e - a + 1, v);
    }
}

/// The largest of `row` (scores, never NaN for finite inputs), in 16 independent lanes so it
/// vectorizes; a maximum does not depend on the order it is taken in.
#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    let mut l = [f32::NEG_INFINITY; 16];
    let mut chunks = row.chunks_exact(16);
    for c in &mut chunks {
        for i in 0..16 {
            l[i] = if c[i] > l[i] { c[i] } else { l[i] };
        }
    }
    let mut m = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    for x in l {
        m = if x > m { x } else { m };
    }
    m
}

/// Merges a block partial into a row's running state (m, l, acc; l = 0: nothing yet).
#[inline(always)]
fn merge<K: Kern>(acc: &mut [f32], m: &mut f32, l: &mut f32, mb: f32, lb: f32, accb: &[f32]) {
    if lb == 0.0 {
        return;
    }
    if *l == 0.0 {
        acc.copy_from_slice(accb);
        (*m, *l) = (mb, lb);
        return;
    }
    let mn = if mb > *m { mb } else { *m };
    let (a, bf) = (simd::exp(*m - mn), simd::exp(mb - mn));
    *l = lb.mul_add(bf, *l * a);
    K::rescale_add(acc, a, accb, bf);
    *m = mn;
}

/// `acc / l`, rotated back if V rows are stored rotated.
fn finish(acc: &mut [f32], l: f32, rot_v: usize) {
    let inv = if l > 0.0 { 1.0 / l } else { 0.0 };
    for x in acc.iter_mut() {
        *x *= inv;
    }
    if rot_v > 0 {
        fwht_blocks(acc, rot_v);
    }
}

/// Tile schedule: tokens `t0..t1` × KV head `g`, all blocks, merged into the output rows.
#[inline(always)]
fn tile_task<K: Kern>(c: &Ctx, g: usize, t0: usize, t1: usize, w: &mut Work, out: &DisjointMut<f32>) {
    let (hd, gs) = (c.s.head_dim, c.group);
    let dq = c.s.n_head * hd;
    load_q(c, g, t0, t1, w.qr);
    let rows = (t1 - t0) * gs;
    for r in 0..rows {
        (w.run[2 * r], w.run[2 * r + 1]) = (f32::NEG_INFINITY, 0.0);
    }
    let (ml, accb) = (std::mem::take(&mut w.ml), std::mem::take(&mut w.accb));
    for b in c.lo(c.pos0 + t0) / BLOCK..=(c.pos0 + t1 - 1) / BLOCK {
        block::<K>(c, g, b, t0, t1, w, ml, accb);
        for t in t0..t1 {
            // SAFETY: the heads of KV head g of token t belong to this task alone.
            let o = unsafe { out.range(t * dq + g * gs * hd..t * dq + (g + 1) * gs * hd) };
            for i in 0..gs {
                let r = (t - t0) * gs + i;
                let (m, l) = w.run[2 * r..2 * r + 2].split_at_mut(1);
                merge::<K>(&mut o[i * hd..(i + 1) * hd], &mut m[0], &mut l[0], ml[2 * r], ml[2 * r + 1], &accb[r * hd..(r + 1) * hd]);
            }
        }
    }
    for t in t0..t1 {
        // SAFETY: as above.
        let o = unsafe { out.range(t * dq + g * gs * hd..t * dq + (g + 1) * gs * hd) };
        for i in 0..gs {
            finish(&mut o[i * hd..(i + 1) * hd], w.run[2 * ((t - t0) * gs + i) + 1], c.kv.rot_v);
        }
    }
    (w.ml, w.accb) = (ml, accb);
}

/// Block schedule, first pass: all `n` tokens × KV head `g` × block `b`, into `slot`.
#[inline(always)]
fn block_task<K: Kern>(c: &Ctx, g: usize, b: usize, n: usize, w: &mut Work, slot: &mut [f32]) {
    load_q(c, g, 0, n, w.qr);
    let (accb, ml) = slot.split_at_mut(slot.len() / (c.s.head_dim + 2) * c.s.head_dim);
    block::<K>(c, g, b, 0, n, w, ml, accb);
}

/// Block schedule, second pass: token `t`, KV head `g`: merge partials of blocks `nb` in order.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn merge_task<K: Kern>(c: &Ctx, t: usize, g: usize, nb: usize, n_blocks: usize, partials: &[f32], slot: usize, o: &mut [f32]) {
    let (hd, gs) = (c.s.head_dim, c.group);
    for i in 0..gs {
        let r = t * gs + i;
        let (mut m, mut l) = (f32::NEG_INFINITY, 0.0);
        let acc = &mut o[i * hd..(i + 1) * hd];
        for bi in 0..nb {
            let s = &partials[(g * n_blocks + bi) * slot..][..slot];
            let (accb, ml) = s.split_at(slot / (hd + 2) * hd);
            merge::<K>(acc, &mut m, &mut l, ml[2 * r], ml[2 * r + 1], &accb[r * hd..(r + 1) * hd]);
        }
        finish(acc, l, c.kv.rot_v);
    }
}

/// The tasks compiled for one x86 kernel set, with its target features enabled so the kernels
/// inline into one loop nest.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_entry {
    ($m:ident, $K:ident, $features:literal) => {
        mod $m {
            use super::*;
            use simd::$K;

            #[target_feature(enable = $features)]
            pub(super) fn tile(c: &Ctx, g: usize, t0: usize, t1: usize, w: &mut Work, out: &DisjointMut<f32>) {
                tile_task::<$K>(c, g, t0, t1, w, out)
            }

            #[target_feature(enable = $features)]
            pub(super) fn block(c: &Ctx, g: usize, b: usize, n: usize, w: &mut Work, slot: &mut [f32]) {
                block_task::<$K>(c, g, b, n, w, slot)
            }

            #[target_feature(enable = $features)]
            #[allow(clippy::too_many_arguments)]
            pub(super) fn merge(c: &Ctx, t: usize, g: usize, nb: usize, n_blocks: usize, partials: &[f32], slot: usize, o: &mut [f32]) {
                merge_task::<$K>(c, t, g, nb, n_blocks, partials, slot, o)
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
x86_entry!(avx2_entry, Avx2, "avx2,fma,f16c");
#[cfg(target_arch = "x86_64")]
x86_entry!(avx512_entry, Avx512, "avx2,fma,f16c,avx512f,avx512dq,avx512vl");

/// Which kernel set runs: the widest the CPU has, AVX-512 only where the process's kernel
/// level is `avx512` (so `VIBRANT_KERNELS=avx2` runs AVX2 here too). All give the same bits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isa {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if simd::avx512() && quant::kernels::kernels().level == quant::kernels::Level::Avx512 {
            return Isa::Avx512;
        }
        if simd::avx2() {
            return Isa::Avx2;
        }
    }
    Isa::Scalar
}

/// `out[t][h] = softmax(q[t][h] · K[lo..=p]ᵀ · scale) · V[lo..=p]` for p = pos0 + t, as
/// [`crate::attention::attention`] but computed by blocks (module docs); `scratch` holds
/// [`scratch_len`] floats for the pool's thread count.
#[allow(clippy::too_many_arguments)]
pub fn attention(pool: &ThreadPool, s: &AttnShape, q: &[f32], kv: &LayerKv, n: usize, pos0: usize, out: &mut [f32], scratch: &mut [f32]) {
    attention_with(pool, s, q, kv, n, pos0, out, scratch, Schedule::Auto)
}

/// [`attention`] with a chosen schedule (tests compare them).
#[allow(clippy::too_many_arguments)]
pub fn attention_with(
    pool: &ThreadPool,
    s: &AttnShape,
    q: &[f32],
    kv: &LayerKv,
    n: usize,
    pos0: usize,
    out: &mut [f32],
    scratch: &mut [f32],
    sched: Schedule,
) {
    let p = Plan::new(kv.n_ctx, s.n_head, s.n_head_kv, s.head_dim);
    let nt = pool.n_threads();
    assert!(scratch.len() >= nt * p.per_thread() + p.partials(), "flash attention scratch too small");
    assert!(n > 0 && pos0 + n <= kv.n_ctx, "positions past the context");
    let hd = s.head_dim;
    let dq = s.n_head * hd;
    let dequant = quant::kernels::kernels().get(gguf::GgmlType::Q8_0).dequantize_row;
    let c = Ctx { s, kv, q, pos0, group: p.group, dequant };
    let b_first = c.lo(pos0) / BLOCK;
    let nb = (pos0 + n - 1) / BLOCK + 1 - b_first;
    let blocks = match sched {
        Schedule::Auto => nt > 1 && n <= p.dec_tokens && nb >= 2,
        Schedule::Tiles => false,
        Schedule::Blocks => {
            assert!(n <= p.dec_tokens, "the block schedule takes at most {} tokens", p.dec_tokens);
            true
        }
    };
    let isa = isa();
    let (threads, partials) = scratch.split_at_mut(nt * p.per_thread());
    let threads = DisjointMut::new(threads);
    let out = DisjointMut::new(&mut out[..n * dq]);
    let next = AtomicUsize::new(0);
    if !blocks {
        let n_tiles = n.div_ceil(p.tile_tokens);
        pool.run(&|tid, _| {
            // SAFETY: each thread uses only its own slice of the scratch.
            let mut w = Work::new(&p, unsafe { threads.range(tid * p.per_thread()..(tid + 1) * p.per_thread()) });
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= n_tiles * s.n_head_kv {
                    break;
                }
                // Last tiles first: under the causal mask they have the most blocks.
                let (tile, g) = (n_tiles - 1 - i / s.n_head_kv, i % s.n_head_kv);
                let (t0, t1) = (tile * p.tile_tokens, ((tile + 1) * p.tile_tokens).min(n));
                match isa {
                    // SAFETY: the CPU has the entry's features (isa).
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => unsafe { avx2_entry::tile(&c, g, t0, t1, &mut w, &out) },
                    // SAFETY: as above.
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 => unsafe { avx512_entry::tile(&c, g, t0, t1, &mut w, &out) },
                    Isa::Scalar => tile_task::<Scalar>(&c, g, t0, t1, &mut w, &out),
                }
            }
        });
        return;
    }
    let slot = p.slot();
    {
        let parts = DisjointMut::new(&mut partials[..]);
        pool.run(&|tid, _| {
            // SAFETY: each thread uses only its own slice of the scratch.
            let mut w = Work::new(&p, unsafe { threads.range(tid * p.per_thread()..(tid + 1) * p.per_thread()) });
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= nb * s.n_head_kv {
                    break;
                }
                let (g, bi) = (i / nb, i % nb);
                let at = (g * p.n_blocks + bi) * slot;
                // SAFETY: partial slot (g, bi) is written by the task that claimed i alone.
                let sl = unsafe { parts.range(at..at + slot) };
                match isa {
                    // SAFETY: the CPU has the entry's features (isa).
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => unsafe { avx2_entry::block(&c, g, b_first + bi, n, &mut w, sl) },
                    // SAFETY: as above.
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 => unsafe { avx512_entry::block(&c, g, b_first + bi, n, &mut w, sl) },
                    Isa::Scalar => block_task::<Scalar>(&c, g, b_first + bi, n, &mut w, sl),
                }
            }
        });
    }
    let partials = &*partials;
    pool.parallel_for(n * s.n_head_kv, 1, &|i0, i1| {
        for i in i0..i1 {
            let (t, g) = (i / s.n_head_kv, i % s.n_head_kv);
            let w = p.group * hd;
            // SAFETY: the heads of KV head g of token t belong to index i alone.
            let o = unsafe { out.range(t * dq + g * w..t * dq + (g + 1) * w) };
            match isa {
                // SAFETY: the CPU has the entry's features (isa).
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { avx2_entry::merge(&c, t, g, nb, p.n_blocks, partials, slot, o) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe { avx512_entry::merge(&c, t, g, nb, p.n_blocks, partials, slot, o) },
                Isa::Scalar => merge_task::<Scalar>(&c, t, g, nb, p.n_blocks, partials, slot, o),
            }
        }
    });
}
