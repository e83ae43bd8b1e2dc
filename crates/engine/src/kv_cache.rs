//! The KV cache: allocated once for the whole context, written in place, never copied.
//!
//! Per layer, K and V are `[n_ctx][n_head_kv * head_dim]` f32: the K and V matmuls of a batch
//! write their output rows straight into the cache slots of their positions, and RoPE then
//! rotates those rows in place. Attention reads each head's vectors as contiguous rows.

pub struct KvCache {
    pub n_ctx: usize,
    /// n_head_kv * head_dim.
    pub kv_dim: usize,
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl KvCache {
    pub fn new(n_layer: usize, n_ctx: usize, kv_dim: usize) -> KvCache {
        KvCache {
            n_ctx,
            kv_dim,
            k: (0..n_layer).map(|_| vec![0.0; n_ctx * kv_dim]).collect(),
            v: (0..n_layer).map(|_| vec![0.0; n_ctx * kv_dim]).collect(),
        }
    }

    /// Bytes held by the cache.
    pub fn bytes(&self) -> usize {
        self.k.iter().chain(&self.v).map(|l| l.len() * 4).sum()
    }

    /// The whole K and V of layer `il` (every slot, for attention to read).
    pub fn layer(&self, il: usize) -> (&[f32], &[f32]) {
        (&self.k[il], &self.v[il])
    }

    /// Mutable K and V rows for positions `pos0 .. pos0 + n` of layer `il`.
    pub fn rows_mut(&mut self, il: usize, pos0: usize, n: usize) -> (&mut [f32], &mut [f32]) {
        let r = pos0 * self.kv_dim..(pos0 + n) * self.kv_dim;
        (&mut self.k[il][r.clone()], &mut self.v[il][r])
    }
}
