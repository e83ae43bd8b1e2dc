//! Qwen2 / Qwen2.5: llama with biases on Q, K and V, and NeoX-style RoPE.

use crate::attention::attention;
use crate::config::Config;
use crate::matmul::Matmul;
use crate::model::{embed, rope_rows, Model, State};
use crate::ops::{add_bias_rows, add_inplace, pair_par, rms_norm_rows_par, swiglu_inplace};
use crate::weights::Loader;
use crate::EngineError;

use super::llama::Layer;

pub struct Biases {
    pub bq: Vec<f32>,
    pub bk: Vec<f32>,
    pub bv: Vec<f32>,
}

pub struct Qwen2 {
    pub layers: Vec<(Layer, Biases)>,
}

impl Qwen2 {
    pub fn load(l: &Loader, c: &Config) -> Result<Qwen2, EngineError> {
        let layers = (0..c.n_layer)
            .map(|i| {
                let p = |s: &str| format!("blk.{i}.{s}");
                let b = Biases {
                    bq: l.vector(&p("attn_q.bias"), c.n_embd_q())?,
                    bk: l.vector(&p("attn_k.bias"), c.n_embd_kv())?,
                    bv: l.vector(&p("attn_v.bias"), c.n_embd_kv())?,
                };
                Ok((Layer::load(l, c, i)?, b))
            })
            .collect::<Result<_, EngineError>>()?;
        Ok(Qwen2 { layers })
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
        for (il, (l, b)) in self.layers.iter().enumerate() {
            rms_norm_rows_par(pool, x, &l.attn_norm, c.rms_eps, xn, n);
            let (k_new, v_new) = kv.rows_mut(il, pos0, n);
            mm.run_group([&l.wq, &l.wk, &l.wv], xn, n, [&mut *q, &mut *k_new, &mut *v_new]);
            add_bias_rows(q, &b.bq);
            rope_rows(pool, &c.rope, rope, q, n, c.head_dim);
            add_bias_rows(k_new, &b.bk);
            rope_rows(pool, &c.rope, rope, k_new, n, c.head_dim);
            add_bias_rows(v_new, &b.bv);
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
