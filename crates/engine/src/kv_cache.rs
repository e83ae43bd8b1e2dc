//! The KV cache: allocated once, written in place, never copied per step.
//!
//! Per layer, K and V are head-major, `[n_head_kv][n_slots][head_dim]`, of one element type
//! each ([`KvType`]: F32, F16 or Q8_0, chosen separately for K and V as llama.cpp's
//! `-ctk`/`-ctv`). Position `p` lives in slot `p % n_slots`. Head-major because attention
//! walks one KV head's positions in order: its rows are then one contiguous stream.
//!
//! - Global layers have `n_slots = n_ctx`, so the slot is the position.
//! - Sliding-window layers (gemma3's local layers) keep only a ring of
//!   `min(n_ctx, window + n_batch - 1)` slots. Why that length: one forward step writes the keys
//!   of positions `pos0 .. pos0 + n` (n <= n_batch) and its first query, at `pos0`, still reads
//!   keys back to `pos0 - window + 1`. So the `window + n - 1` positions
//!   `pos0 - window + 1 ..= pos0 + n - 1` must sit in distinct slots, and with the ring that
//!   long, no row a query of the same batch needs is overwritten by that batch.
//!
//! An F32 layer with a single KV head, whose batch rows are contiguous in the ring, takes the K
//! and V matmul outputs (`[n][kv_dim]`) straight into its slots (RoPE then rotates them
//! there). Everything else (F16/Q8_0 rows, several heads, rows that wrap around the ring's
//! end) is produced in a staging buffer of n_batch rows and scattered into the heads' slots by
//! [`KvCache::commit`]: the conversion is the copy, as ggml's `set_rows`.
//!
//! With a quantized K (V) type whose head size is a multiple of 64, rows are stored rotated
//! by a Walsh-Hadamard transform, as llama.cpp does (`attn_rot`, llama-kv-cache.cpp): it
//! spreads outliers over the block before 8-bit rounding. Queries get the same rotation (the
//! transform is orthonormal, so q·k is unchanged) and attention output is rotated back.

use crate::config::RopeConfig;
use crate::ops::fwht_blocks;
use crate::rope::rope_apply;
use crate::EngineError;
use gguf::GgmlType;

/// Element type of cached keys or values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvType {
    F32,
    F16,
    Q8_0,
}

impl KvType {
    pub const ALL: [KvType; 3] = [KvType::F32, KvType::F16, KvType::Q8_0];

    /// llama.cpp's name for the type (`-ctk` values).
    pub fn name(self) -> &'static str {
        match self {
            KvType::F32 => "f32",
            KvType::F16 => "f16",
            KvType::Q8_0 => "q8_0",
        }
    }

    pub fn from_name(s: &str) -> Option<KvType> {
        KvType::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(s))
    }

    pub fn ggml(self) -> GgmlType {
        match self {
            KvType::F32 => GgmlType::F32,
            KvType::F16 => GgmlType::F16,
            KvType::Q8_0 => GgmlType::Q8_0,
        }
    }

    /// Bytes of `n` elements (n a multiple of the block size).
    pub fn row_bytes(self, n: usize) -> usize {
        self.ggml().row_bytes(n).expect("checked at construction: whole blocks")
    }

    /// Walsh-Hadamard block llama.cpp rotates rows of this type by (0: none): only quantized
    /// types, only heads that are a multiple of 64; for K the largest power of two dividing
    /// the head (`n_rot_k`), for V always 64 (`n_rot_v`).
    fn rotation(self, head_dim: usize, is_k: bool) -> usize {
        if self != KvType::Q8_0 || !head_dim.is_multiple_of(64) {
            return 0;
        }
        let mut n = 64;
        while is_k && head_dim.is_multiple_of(2 * n) {
            n *= 2;
        }
        n
    }
}

/// Sizes and types of a cache.
#[derive(Clone, Copy, Debug)]
pub struct KvShape {
    pub n_ctx: usize,
    /// Most positions written by one forward step.
    pub n_batch: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub type_k: KvType,
    pub type_v: KvType,
    /// Keep all n_ctx positions in sliding-window layers too (llama.cpp's `--swa-full`).
    pub swa_full: bool,
}

struct LayerCache {
    /// n_ctx for global layers, the ring length for windowed ones.
    n_slots: usize,
    /// Positions below this are gone (see [`KvCache::shift`]); attention starts here at the earliest.
    first_pos: usize,
    /// Backing storage, `n_head_kv x n_slots` head rows of the layer's K/V type viewed as
    /// bytes. f32 elements keep F32 rows 4-byte aligned and F16/Q8_0 blocks 2-byte aligned.
    k: Vec<f32>,
    v: Vec<f32>,
}

pub struct KvCache {
    pub n_ctx: usize,
    /// n_head_kv * head_dim.
    pub kv_dim: usize,
    pub head_dim: usize,
    pub type_k: KvType,
    pub type_v: KvType,
    /// Walsh-Hadamard block K / V rows are stored rotated by (0: not rotated).
    pub rot_k: usize,
    pub rot_v: usize,
    n_batch: usize,
    layers: Vec<LayerCache>,
    /// f32 rows of the current batch for K and V, [n_batch][kv_dim], used where the cache
    /// cannot take the matmul output in place (empty when no layer ever needs it).
    stage_k: Vec<f32>,
    stage_v: Vec<f32>,
}

/// f32 elements needed to hold `bytes` bytes.
fn words(bytes: usize) -> usize {
    bytes.div_ceil(4)
}

fn as_bytes(x: &[f32]) -> &[u8] {
    bytemuck::cast_slice(x)
}

fn as_bytes_mut(x: &mut [f32]) -> &mut [u8] {
    bytemuck::cast_slice_mut(x)
}

impl KvCache {
    /// `windows[il]`: the sliding window of layer il, if it has one.
    pub fn new(s: KvShape, windows: &[Option<usize>]) -> Result<KvCache, EngineError> {
        for (what, ty) in [("K", s.type_k), ("V", s.type_v)] {
            if !s.head_dim.is_multiple_of(ty.ggml().block_size()) {
                return Err(EngineError::BadCacheType { what, ty: ty.name(), head_dim: s.head_dim, block: ty.ggml().block_size() });
            }
        }
        let kv_dim = s.n_head_kv * s.head_dim;
        let n_batch = s.n_batch.clamp(1, s.n_ctx.max(1));
        let (kb, vb) = (s.type_k.row_bytes(kv_dim), s.type_v.row_bytes(kv_dim));
        let layers: Vec<LayerCache> = windows
            .iter()
            .map(|w| {
                let n_slots = match w {
                    Some(w) if !s.swa_full => (w + n_batch - 1).min(s.n_ctx),
                    _ => s.n_ctx,
                };
                LayerCache { n_slots, first_pos: 0, k: vec![0.0; words(n_slots * kb)], v: vec![0.0; words(n_slots * vb)] }
            })
            .collect();
        let mut kv = KvCache {
            n_ctx: s.n_ctx,
            kv_dim,
            head_dim: s.head_dim,
            type_k: s.type_k,
            type_v: s.type_v,
            rot_k: s.type_k.rotation(s.head_dim, true),
            rot_v: s.type_v.rotation(s.head_dim, false),
            n_batch,
            layers,
            stage_k: Vec::new(),
            stage_v: Vec::new(),
        };
        // Staging is needed by converted types, by several heads (scattered to their regions),
        // by rings (a batch may wrap around), and by a context shift of converted rows (one
        // row of scratch).
        let any_ring = kv.layers.iter().any(|l| l.n_slots < s.n_ctx);
        let staged = |ty: KvType| ty != KvType::F32 || any_ring || s.n_head_kv > 1;
        if staged(s.type_k) {
            kv.stage_k = vec![0.0; n_batch * kv_dim];
        }
        if staged(s.type_v) {
            kv.stage_v = vec![0.0; n_batch * kv_dim];
        }
        Ok(kv)
    }

    /// Bytes of cached K and V rows (all layers).
    pub fn bytes(&self) -> usize {
        let row = self.type_k.row_bytes(self.kv_dim) + self.type_v.row_bytes(self.kv_dim);
        self.layers.iter().map(|l| l.n_slots * row).sum()
    }

    /// Bytes of the staging rows (scratch, not cache).
    pub fn staging_bytes(&self) -> usize {
        4 * (self.stage_k.len() + self.stage_v.len())
    }

    /// Slots of layer `il`: n_ctx, or the ring length of a sliding-window layer.
    pub fn n_slots(&self, il: usize) -> usize {
        self.layers[il].n_slots
    }

    /// Whether, after positions `..n_past` were written, going back to `keep` still finds every
    /// earlier key a query at `keep` or later reads. A ring of `window + n_batch - 1` slots
    /// holds `n_past - n_slots ..` and a query at `keep` reads back to `keep - window + 1`:
    /// so at most `n_batch` positions can be taken back.
    pub fn can_rewind(&self, n_past: usize, keep: usize) -> bool {
        self.layers.iter().all(|l| l.n_slots >= self.n_ctx || n_past.saturating_sub(keep) <= self.n_batch)
    }

    /// Forget every position (the next forward writes from position 0).
    pub fn clear(&mut self) {
        for l in &mut self.layers {
            l.first_pos = 0;
        }
    }

    /// Stop attending to positions below `pos` in every layer (llama.cpp's `seq_rm` of a
    /// prefix, without moving anything).
    pub fn forget_before(&mut self, pos: usize) {
        for l in &mut self.layers {
            l.first_pos = l.first_pos.max(pos);
        }
    }

    fn n_head_kv(&self) -> usize {
        self.kv_dim / self.head_dim
    }

    /// Whether the batch rows `pos0 .. pos0 + n` of a layer of type `ty` are written straight
    /// into the cache: F32 rows of a single head (head-major is then position-major),
    /// contiguous in the slots.
    fn in_place(ty: KvType, n_head_kv: usize, n_slots: usize, pos0: usize, n: usize) -> bool {
        ty == KvType::F32 && n_head_kv == 1 && pos0 % n_slots + n <= n_slots
    }

    /// Mutable f32 K and V rows for positions `pos0 .. pos0 + n` of layer `il` (n <= n_batch):
    /// the cache slots themselves where they can take them, else staging rows. Call
    /// [`KvCache::commit`] once they hold their final (roped) values.
    pub fn rows_mut(&mut self, il: usize, pos0: usize, n: usize) -> (&mut [f32], &mut [f32]) {
        assert!(n <= self.n_batch, "a forward step writes at most n_batch rows");
        let (d, nh) = (self.kv_dim, self.n_head_kv());
        let l = &mut self.layers[il];
        let slot0 = pos0 % l.n_slots;
        let k = if Self::in_place(self.type_k, nh, l.n_slots, pos0, n) {
            &mut l.k[slot0 * d..(slot0 + n) * d]
        } else {
            &mut self.stage_k[..n * d]
        };
        let v = if Self::in_place(self.type_v, nh, l.n_slots, pos0, n) {
            &mut l.v[slot0 * d..(slot0 + n) * d]
        } else {
            &mut self.stage_v[..n * d]
        };
        (k, v)
    }

    /// Stores staged rows of positions `pos0 .. pos0 + n` into their heads' slots (rotating and
    /// converting them to the cache types); nothing to do for rows written in place.
    pub fn commit(&mut self, il: usize, pos0: usize, n: usize) {
        let (d, hd, nh) = (self.kv_dim, self.head_dim, self.n_head_kv());
        let l = &mut self.layers[il];
        let ns = l.n_slots;
        for (ty, rot, store, stage) in
            [(self.type_k, self.rot_k, &mut l.k, &mut self.stage_k), (self.type_v, self.rot_v, &mut l.v, &mut self.stage_v)]
        {
            if Self::in_place(ty, nh, ns, pos0, n) {
                continue;
            }
            let hb = ty.row_bytes(hd);
            let bytes = as_bytes_mut(store);
            for t in 0..n {
                let slot = (pos0 + t) % ns;
                for g in 0..nh {
                    let at = (g * ns + slot) * hb;
                    store_row(ty, rot, &mut stage[t * d + g * hd..t * d + (g + 1) * hd], &mut bytes[at..at + hb]);
                }
            }
        }
    }

    /// Layer `il` as attention reads it.
    pub fn layer(&self, il: usize) -> LayerKv<'_> {
        let l = &self.layers[il];
        LayerKv {
            type_k: self.type_k,
            type_v: self.type_v,
            head_dim: self.head_dim,
            kv_dim: self.kv_dim,
            n_ctx: self.n_ctx,
            n_slots: l.n_slots,
            first_pos: l.first_pos,
            rot_k: self.rot_k,
            rot_v: self.rot_v,
            slot_step: 1,
            head_step: l.n_slots,
            k: &l.k,
            v: &l.v,
        }
    }

    /// Context shift of layer `il`, as llama.cpp's `seq_rm(n_keep, n_keep + n_discard)` then
    /// `seq_add(n_keep + n_discard, n_past, -n_discard)`: positions `n_keep .. n_keep +
    /// n_discard` are dropped, the later ones move down by `n_discard` and their keys are
    /// rotated back by that many positions. `shift_table` holds the cos/sin of a rotation by
    /// `-n_discard` for this layer's RoPE ([`crate::rope::rope_shift_cache`]).
    ///
    /// Rows move inside each head's slots, with no allocation: the head's slot array rotates
    /// left by `n_discard` rows, which puts every moved row at its new slot (in a ring too:
    /// slot = position mod n_slots), then the kept prefix rows, which must not move, are copied
    /// back from where the rotation took them, highest first, so that none overwrites one not
    /// yet copied. A ring may have overwritten part of the kept prefix before; what is held
    /// afterwards is recorded as `first_pos` and attention never reads below it (llama.cpp's
    /// sliding-window cache likewise has no cells left for such positions).
    pub fn shift(&mut self, il: usize, n_past: usize, n_keep: usize, n_discard: usize, rope: &RopeConfig, shift_table: &[f32]) {
        let (hd, nh) = (self.head_dim, self.n_head_kv());
        let (kb, vb) = (self.type_k.row_bytes(hd), self.type_v.row_bytes(hd));
        let l = &mut self.layers[il];
        let n = l.n_slots;
        // Held before: every position in [h0, n_past) at slot pos % n.
        let h0 = l.first_pos.max(n_past.saturating_sub(n));
        let dn = n_discard % n;
        for (bytes, rb) in [(as_bytes_mut(&mut l.k), kb), (as_bytes_mut(&mut l.v), vb)] {
            for head in bytes[..nh * n * rb].chunks_exact_mut(n * rb) {
                head.rotate_left(dn * rb);
                for q in (h0..n_keep).rev() {
                    let (from, to) = ((q + n - dn) % n, q % n);
                    head.copy_within(from * rb..(from + 1) * rb, to * rb);
                }
            }
        }
        let p_new = n_past - n_discard;
        l.first_pos = if h0 <= n_keep { h0 } else { n_keep.max(h0.saturating_sub(n_discard)) };
        // Re-rotate the moved keys by -n_discard.
        let moved_from = n_keep.max(l.first_pos);
        let ty = self.type_k;
        for q in moved_from..p_new {
            for g in 0..nh {
                let r = g * n + q % n;
                if ty == KvType::F32 {
                    rope_apply(rope.kind, &mut l.k[r * hd..(r + 1) * hd], hd, rope.n_rot, shift_table);
                } else {
                    // Dequantize, undo the Hadamard rotation, rotate, store again (llama.cpp's
                    // build_rope_shift for quantized K: cast to f32, rope, copy back).
                    let row = &mut self.stage_k[..hd];
                    let src = &as_bytes(&l.k)[r * kb..(r + 1) * kb];
                    (quant::kernels::kernels().get(ty.ggml()).dequantize_row)(src, row);
                    if self.rot_k > 0 {
                        fwht_blocks(row, self.rot_k);
                    }
                    rope_apply(rope.kind, row, hd, rope.n_rot, shift_table);
                    store_row(ty, self.rot_k, row, &mut as_bytes_mut(&mut l.k)[r * kb..(r + 1) * kb]);
                }
            }
        }
    }
}

/// Writes one f32 row (rotating it in place first if `rot`) into `dst` as type `ty`, with
/// ggml's conversions (`set_rows`: fp32→fp16 rounding, `quantize_row_q8_0`).
fn store_row(ty: KvType, rot: usize, row: &mut [f32], dst: &mut [u8]) {
    if rot > 0 {
        fwht_blocks(row, rot);
    }
    match ty {
        KvType::F32 => dst.copy_from_slice(as_bytes(row)),
        _ => quant::kernels::kernels().quantize_row(ty.ggml(), row, dst),
    }
}

/// One layer of the cache as attention reads it: the row of position `pos` is in slot
/// `pos % n_slots`.
pub struct LayerKv<'a> {
    pub type_k: KvType,
    pub type_v: KvType,
    pub head_dim: usize,
    pub kv_dim: usize,
    /// Positions are below n_ctx.
    pub n_ctx: usize,
    pub n_slots: usize,
    /// Attention reads no position below this.
    pub first_pos: usize,
    pub rot_k: usize,
    pub rot_v: usize,
    /// Head row of (slot, head g) = slot * slot_step + g * head_step: the cache's head-major
    /// layout (1, n_slots), or position-major slices (n_head_kv, 1).
    slot_step: usize,
    head_step: usize,
    k: &'a [f32],
    v: &'a [f32],
}

impl<'a> LayerKv<'a> {
    /// An F32 layer over plain `[n_ctx][n_head_kv * head_dim]` slices (tests, tools).
    pub fn from_f32(k: &'a [f32], v: &'a [f32], n_head_kv: usize, head_dim: usize) -> LayerKv<'a> {
        let kv_dim = n_head_kv * head_dim;
        let n_ctx = k.len() / kv_dim;
        LayerKv {
            type_k: KvType::F32,
            type_v: KvType::F32,
            head_dim,
            kv_dim,
            n_ctx,
            n_slots: n_ctx,
            first_pos: 0,
            rot_k: 0,
            rot_v: 0,
            slot_step: n_head_kv,
            head_step: 1,
            k,
            v,
        }
    }

    /// Head `g` of the K row of position `pos` (F32 layers).
    #[inline]
    pub fn k_f32(&self, pos: usize, g: usize) -> &'a [f32] {
        self.k_f32_in(pos % self.n_slots, g)
    }

    #[inline]
    pub fn v_f32(&self, pos: usize, g: usize) -> &'a [f32] {
        self.v_f32_in(pos % self.n_slots, g)
    }

    /// Head `g` of the K row of position `pos`, as stored bytes.
    #[inline]
    pub fn k_bytes(&self, pos: usize, g: usize) -> &'a [u8] {
        self.k_bytes_in(pos % self.n_slots, g)
    }

    #[inline]
    pub fn v_bytes(&self, pos: usize, g: usize) -> &'a [u8] {
        self.v_bytes_in(pos % self.n_slots, g)
    }

    /// The slot after `slot` (positions p and p + 1 sit in consecutive slots, modulo the ring):
    /// a walk over positions steps slots without a division per row.
    #[inline]
    pub fn next_slot(&self, slot: usize) -> usize {
        if slot + 1 == self.n_slots {
            0
        } else {
            slot + 1
        }
    }

    /// As [`LayerKv::k_f32`], by slot (`pos % n_slots`).
    #[inline]
    pub fn k_f32_in(&self, slot: usize, g: usize) -> &'a [f32] {
        let at = self.head_row(slot, g) * self.head_dim;
        &self.k[at..at + self.head_dim]
    }

    #[inline]
    pub fn v_f32_in(&self, slot: usize, g: usize) -> &'a [f32] {
        let at = self.head_row(slot, g) * self.head_dim;
        &self.v[at..at + self.head_dim]
    }

    /// As [`LayerKv::k_bytes`], by slot.
    #[inline]
    pub fn k_bytes_in(&self, slot: usize, g: usize) -> &'a [u8] {
        head_bytes(self.k, self.type_k.row_bytes(self.head_dim), self.head_row(slot, g))
    }

    #[inline]
    pub fn v_bytes_in(&self, slot: usize, g: usize) -> &'a [u8] {
        head_bytes(self.v, self.type_v.row_bytes(self.head_dim), self.head_row(slot, g))
    }

    #[inline]
    fn head_row(&self, slot: usize, g: usize) -> usize {
        slot * self.slot_step + g * self.head_step
    }
}

/// Head row `r` (of `hb` bytes) of a store.
#[inline]
fn head_bytes(store: &[f32], hb: usize, r: usize) -> &[u8] {
    &as_bytes(store)[r * hb..(r + 1) * hb]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RopeKind, Yarn};
    use crate::rope::{rope_cache, rope_shift_cache};

    fn rope(kind: RopeKind) -> RopeConfig {
        RopeConfig {
            kind,
            n_rot: 64,
            freq_base: 10000.0,
            freq_scale: 1.0,
            yarn: Yarn { ext_factor: 0.0, attn_factor: 1.0, beta_fast: 32.0, beta_slow: 1.0, n_ctx_orig: 4096 },
        }
    }

    /// The unrotated key of position `pos` (any deterministic pattern).
    fn raw_key(pos: usize, kv_dim: usize) -> Vec<f32> {
        (0..kv_dim).map(|i| ((pos * 31 + i * 7) as f32 * 0.37).sin()).collect()
    }

    fn roped(r: &RopeConfig, x: &[f32], pos: usize, hd: usize) -> Vec<f32> {
        let mut t = vec![0.0; r.n_rot];
        rope_cache(r, None, pos, &mut t);
        let mut y = x.to_vec();
        rope_apply(r.kind, &mut y, hd, r.n_rot, &t);
        y
    }

    /// Reads back the K row of `pos` as f32 (undoing the Hadamard rotation).
    fn read_k(kv: &KvCache, il: usize, pos: usize) -> Vec<f32> {
        let l = kv.layer(il);
        let mut out = vec![0.0; kv.kv_dim];
        for g in 0..kv.kv_dim / kv.head_dim {
            let o = &mut out[g * kv.head_dim..(g + 1) * kv.head_dim];
            match kv.type_k {
                KvType::F32 => o.copy_from_slice(l.k_f32(pos, g)),
                ty => (quant::kernels::kernels().get(ty.ggml()).dequantize_row)(l.k_bytes(pos, g), o),
            }
        }
        if kv.rot_k > 0 {
            fwht_blocks(&mut out, kv.rot_k);
        }
        out
    }

    fn read_v(kv: &KvCache, il: usize, pos: usize) -> Vec<f32> {
        let l = kv.layer(il);
        let mut out = vec![0.0; kv.kv_dim];
        for g in 0..kv.kv_dim / kv.head_dim {
            let o = &mut out[g * kv.head_dim..(g + 1) * kv.head_dim];
            match kv.type_v {
                KvType::F32 => o.copy_from_slice(l.v_f32(pos, g)),
                ty => (quant::kernels::kernels().get(ty.ggml()).dequantize_row)(l.v_bytes(pos, g), o),
            }
        }
        if kv.rot_v > 0 {
            fwht_blocks(&mut out, kv.rot_v);
        }
        out
    }

    /// Fills positions 0..n_past in batches, as forward does: roped keys, values that name
    /// their position.
    fn fill(kv: &mut KvCache, r: &RopeConfig, n_past: usize, n_batch: usize) {
        let (d, hd) = (kv.kv_dim, kv.head_dim);
        for il in 0..kv.layers.len() {
            let mut pos0 = 0;
            while pos0 < n_past {
                let n = n_batch.min(n_past - pos0);
                let (k, v) = kv.rows_mut(il, pos0, n);
                for t in 0..n {
                    k[t * d..(t + 1) * d].copy_from_slice(&roped(r, &raw_key(pos0 + t, d), pos0 + t, hd));
                    v[t * d..(t + 1) * d].copy_from_slice(&raw_key(pos0 + t + 1000, d));
                }
                kv.commit(il, pos0, n);
                pos0 += n;
            }
        }
    }

    fn tolerance(ty: KvType) -> f32 {
        match ty {
            KvType::F32 => 1e-5,
            KvType::F16 => 2e-3,
            KvType::Q8_0 => 4e-2,
        }
    }

    #[test]
    fn q8_0_needs_whole_blocks_per_head() {
        let s = KvShape { n_ctx: 8, n_batch: 4, n_head_kv: 2, head_dim: 96 + 2, type_k: KvType::Q8_0, type_v: KvType::F16, swa_full: false };
        let e = KvCache::new(s, &[None]).err().expect("refused").to_string();
        assert!(e.contains("q8_0") && e.contains("98"), "{e}");
    }

    #[test]
    fn layout_is_head_major() {
        // Three heads, every type: what a batch writes for (position, head) reads back from
        // that head, and one head's consecutive slots are consecutive rows of memory.
        for ty in KvType::ALL {
            let (nh, hd) = (3, 64);
            let s = KvShape { n_ctx: 16, n_batch: 8, n_head_kv: nh, head_dim: hd, type_k: ty, type_v: ty, swa_full: false };
            let mut kv = KvCache::new(s, &[None]).unwrap();
            let row = |p: usize, g: usize| raw_key(p * nh + g, hd);
            let (k, v) = kv.rows_mut(0, 0, 5);
            for t in 0..5 {
                for g in 0..nh {
                    k[(t * nh + g) * hd..][..hd].copy_from_slice(&row(t, g));
                    v[(t * nh + g) * hd..][..hd].copy_from_slice(&row(t + 100, g));
                }
            }
            kv.commit(0, 0, 5);
            let l = kv.layer(0);
            let deq = quant::kernels::kernels().get(ty.ggml()).dequantize_row;
            for t in 0..5 {
                for g in 0..nh {
                    let mut got = vec![0.0; hd];
                    match ty {
                        KvType::F32 => got.copy_from_slice(l.v_f32(t, g)),
                        _ => deq(l.v_bytes(t, g), &mut got),
                    }
                    if kv.rot_v > 0 {
                        fwht_blocks(&mut got, kv.rot_v);
                    }
                    let err = row(t + 100, g).iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                    assert!(err <= tolerance(ty), "{ty:?} position {t} head {g}: error {err}");
                }
            }
            for g in 0..nh {
                let (a, b) = (l.k_bytes_in(1, g).as_ptr() as usize, l.k_bytes_in(2, g).as_ptr() as usize);
                assert_eq!(b - a, ty.row_bytes(hd), "{ty:?} head {g}: slots 1 and 2 not adjacent");
            }
            let (h0, h1) = (l.k_bytes_in(0, 0).as_ptr() as usize, l.k_bytes_in(0, 1).as_ptr() as usize);
            assert_eq!(h1 - h0, 16 * ty.row_bytes(hd), "{ty:?}: head 1 starts after head 0's 16 slots");
        }
    }

    #[test]
    fn ring_is_window_plus_batch_and_holds_what_each_batch_reads() {
        // window 8, batches of 5: the ring has 12 slots; every position a query of each batch
        // may read is still there after the batch wrote its rows.
        for ty in KvType::ALL {
            let s = KvShape { n_ctx: 64, n_batch: 5, n_head_kv: 1, head_dim: 64, type_k: ty, type_v: ty, swa_full: false };
            let mut kv = KvCache::new(s, &[Some(8), None]).unwrap();
            assert_eq!(kv.n_slots(0), 12);
            assert_eq!(kv.n_slots(1), 64);
            let r = rope(RopeKind::Neox);
            let mut pos0 = 0;
            while pos0 < 60 {
                let n = 5.min(60 - pos0);
                let (k, v) = kv.rows_mut(0, pos0, n);
                for t in 0..n {
                    k[t * 64..(t + 1) * 64].copy_from_slice(&roped(&r, &raw_key(pos0 + t, 64), pos0 + t, 64));
                    v[t * 64..(t + 1) * 64].copy_from_slice(&raw_key(pos0 + t + 1000, 64));
                }
                kv.commit(0, pos0, n);
                for p in (pos0 + 1).saturating_sub(8)..pos0 + n {
                    let want = roped(&r, &raw_key(p, 64), p, 64);
                    let got = read_k(&kv, 0, p);
                    let err = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                    assert!(err <= tolerance(ty), "{ty:?} position {p} after batch at {pos0}: error {err}");
                }
                pos0 += n;
            }
        }
    }

    #[test]
    fn shift_moves_rows_and_rerotates_keys_in_rings_and_full_layers() {
        // Layer 0: a ring (window 16, batch 4: 19 slots); layer 1: global (40 slots).
        for ty in KvType::ALL {
            for kind in [RopeKind::Norm, RopeKind::Neox] {
                for &(n_keep, n_past) in &[(0usize, 40usize), (3, 40), (1, 33), (10, 40), (25, 40)] {
                    let s = KvShape { n_ctx: 40, n_batch: 4, n_head_kv: 2, head_dim: 64, type_k: ty, type_v: ty, swa_full: false };
                    let mut kv = KvCache::new(s, &[Some(16), None]).unwrap();
                    let r = rope(kind);
                    fill(&mut kv, &r, n_past, 4);
                    let n_discard = (n_past - n_keep) / 2;
                    let mut table = vec![0.0; r.n_rot];
                    rope_shift_cache(&r, None, -(n_discard as i64), &mut table);
                    for il in 0..2 {
                        kv.shift(il, n_past, n_keep, n_discard, &r, &table);
                    }
                    let p_new = n_past - n_discard;
                    for il in 0..2 {
                        let first = kv.layer(il).first_pos;
                        let lowest_needed = if il == 0 { p_new - 15 } else { 0 };
                        if il == 1 {
                            assert_eq!(first, 0, "a global layer keeps everything");
                        }
                        for q in first.max(lowest_needed)..p_new {
                            let old = if q < n_keep { q } else { q + n_discard };
                            let want = roped(&r, &raw_key(old, kv.kv_dim), q, 64);
                            let got = read_k(&kv, il, q);
                            let err = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                            // Q8_0 rows are requantized once more by the shift.
                            assert!(err <= 2.0 * tolerance(ty), "{ty:?} {kind:?} keep {n_keep} layer {il} pos {q}: K error {err}");
                            let want_v = raw_key(old + 1000, kv.kv_dim);
                            let got_v = read_v(&kv, il, q);
                            let err = want_v.iter().zip(&got_v).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                            assert!(err <= tolerance(ty), "{ty:?} keep {n_keep} layer {il} pos {q}: V error {err}");
                        }
                        // In the ring, exactly the needed positions whose rows had been
                        // overwritten before the shift are below first_pos.
                        if il == 0 {
                            let held_before = n_past.saturating_sub(19);
                            for q in lowest_needed..p_new {
                                let old = if q < n_keep { q } else { q + n_discard };
                                assert_eq!(old >= held_before, q >= first, "keep {n_keep}: position {q}, first_pos {first}");
                            }
                        }
                    }
                }
            }
        }
    }
}
