//! Qwen3: llama with per-head RMSNorm on Q and K before RoPE (QK-norm), NeoX-style RoPE.

use crate::attention::attention;
use crate::config::Config;
use crate::matmul::Matmul;
use crate::model::{embed, rope_rows, Model, State};
use crate::ops::{add_inplace, pair_par, rms_norm_inplace, rms_norm_rows_par, swiglu_inplace};
use crate::weights::Loader;
use crate::EngineError;

use super::llama::Layer;

pub struct QkNorm {
    pub q_norm: Vec<f32>,
    pub k_norm: Vec<f32>,
}

impl QkNorm {
    pub fn load(l: &Loader, c: &Config, i: usize) -> Result<QkNorm, EngineError> {
        Ok(QkNorm {
            q_norm: l.vector(&format!("blk.{i}.attn_q_norm.weight"), c.head_dim)?,
            k_norm: l.vector(&format!("blk.{i}.attn_k_norm.weight"), c.head_dim)?,
        })
    }
}

/// RMSNorm each head (`w.len()` values) of `x` in place.
pub fn norm_heads(x: &mut [f32], w: &[f32], eps: f32) {
    for head in x.chunks_exact_mut(w.len()) {
        rms_norm_inplace(head, w, eps);
    }
}

pub struct Qwen3 {
    pub layers: Vec<(Layer, QkNorm)>,
}

impl Qwen3 {
    pub fn load(l: &Loader, c: &Config) -> Result<Qwen3, EngineError> {
        let layers = (0..c.n_layer)
            .map(|i| Ok((Layer::load(l, c, i)?, QkNorm::load(l, c, i)?)))
            .collect::<Result<_, EngineError>>()?;
        Ok(Qwen3 { layers })
    }

    pub fn forward(&self, m: &Model, st: &mut State, tokens: &[u32], pos0: usize) {
        let (c, file, n) = (&m.config, m.file.bytes(), tokens.len());
        let (d, dq, ff) = (c.n_embd, c.n_embd_q(), c.n_ff);
        let State { pool, kv, x, xn, q, attn, gate, up, act, rope, mode, flash, attn_scratch, .. } = st;
        let pool = &*pool;
        let mut mm = Matmul { pool, file, mode: *mode, act };
        let (x, xn, q, attn) = (&mut x[..n * d], &mut xn[..n * d], &mut q[..n * dq], &mut attn[..n * dq]);
        let (gate, up) = (&mut gate[..n * ff], &mut up[..n * ff]);

        embed(file, &m.common.tok_embd, tokens, x);
        for (il, (l, qk)) in self.layers.iter().enumerate() {
            rms_norm_rows_par(pool, x, &l.attn_norm, c.rms_eps, xn, n);
            let (k_new, v_new) = kv.rows_mut(il, pos0, n);
            mm.run_group([&l.wq, &l.wk, &l.wv], xn, n, [&mut *q, &mut *k_new, &mut *v_new]);
            norm_heads(q, &qk.q_norm, c.rms_eps);
            rope_rows(pool, &c.rope, rope, q, n, c.head_dim);
            norm_heads(k_new, &qk.k_norm, c.rms_eps);
            rope_rows(pool, &c.rope, rope, k_new, n, c.head_dim);
            kv.commit(il, pos0, n);
            attention(pool, &m.attn_shape(il, c.attn_scale, *mode, *flash), q, &kv.layer(il), n, pos0, attn, attn_scratch);
            mm.run(&l.wo, attn, n, xn);
            add_inplace(x, xn);

            rms_norm_rows_par(pool, x, &l.ffn_norm, c.rms_eps, xn, n);
            mm.run_group([&l.gate, &l.up], xn, n, [&mut *gate, &mut *up]);
            pair_par(pool, gate, up, swiglu_inplace);
            mm.run(&l.down, gate, n, xn);
            add_inplace(x, xn);
        }
    }
}
