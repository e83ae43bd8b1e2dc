//! Gemma 3: embeddings scaled by √n_embd, RMSNorm before and after both attention and FFN,
//! per-head QK-norm, GeGLU (tanh GELU) FFN, and five sliding-window layers per global layer,
//! the windowed ones with their own RoPE base. Q is pre-scaled; the softmax scale is 1.

use crate::attention::attention;
use crate::config::Config;
use crate::debug::dump;
use crate::matmul::Matmul;
use crate::model::{embed, rope_rows, Model, State};
use crate::ops::{add_inplace, geglu_inplace, pair_par, rms_norm_rows_par, scale_inplace};
use crate::weights::Loader;
use crate::EngineError;

use super::llama::Layer;
use super::qwen3::{norm_heads, QkNorm};

pub struct PostNorms {
    pub post_attn_norm: Vec<f32>,
    pub post_ffn_norm: Vec<f32>,
}

pub struct Gemma3 {
    pub layers: Vec<(Layer, QkNorm, PostNorms)>,
}

impl Gemma3 {
    pub fn load(l: &Loader, c: &Config) -> Result<Gemma3, EngineError> {
        let layers = (0..c.n_layer)
            .map(|i| {
                let post = PostNorms {
                    post_attn_norm: l.vector(&format!("blk.{i}.post_attention_norm.weight"), c.n_embd)?,
                    post_ffn_norm: l.vector(&format!("blk.{i}.post_ffw_norm.weight"), c.n_embd)?,
                };
                Ok((Layer::load(l, c, i)?, QkNorm::load(l, c, i)?, post))
            })
            .collect::<Result<_, EngineError>>()?;
        Ok(Gemma3 { layers })
    }

    pub fn forward(&self, m: &Model, st: &mut State, tokens: &[u32], pos0: usize) {
        let (c, file, n) = (&m.config, m.file.bytes(), tokens.len());
        let (d, dq, ff) = (c.n_embd, c.n_embd_q(), c.n_ff);
        let State { pool, kv, x, xn, q, attn, gate, up, act, rope, rope_swa, mode, flash, attn_scratch, .. } = st;
        let pool = &*pool;
        let mut mm = Matmul { pool, file, mode: *mode, act };
        let (x, xn, q) = (&mut x[..n * d], &mut xn[..n * d], &mut q[..n * dq]);
        let attn = &mut attn[..n * dq.max(d)];
        let (gate, up) = (&mut gate[..n * ff], &mut up[..n * ff]);

        embed(file, &m.common.tok_embd, tokens, x);
        scale_inplace(x, (d as f32).sqrt());
        for (il, (l, qk, post)) in self.layers.iter().enumerate() {
            let (rc, table) = if c.layer_window(il).is_some() { (&c.rope_swa, &*rope_swa) } else { (&c.rope, &*rope) };
            rms_norm_rows_par(pool, x, &l.attn_norm, c.rms_eps, xn, n);
            dump("attn_norm", il, xn, n, d);
            let (k_new, v_new) = kv.rows_mut(il, pos0, n);
            mm.run_group([&l.wq, &l.wk, &l.wv], xn, n, [&mut *q, &mut *k_new, &mut *v_new]);
            norm_heads(q, &qk.q_norm, c.rms_eps);
            rope_rows(pool, rc, table, q, n, c.head_dim);
            dump("Qcur", il, q, n, dq);
            scale_inplace(q, c.attn_scale);
            norm_heads(k_new, &qk.k_norm, c.rms_eps);
            rope_rows(pool, rc, table, k_new, n, c.head_dim);
            dump("Kcur", il, k_new, n, c.n_embd_kv());
            kv.commit(il, pos0, n);
            attention(pool, &m.attn_shape(il, 1.0, *mode, *flash), q, &kv.layer(il), n, pos0, &mut attn[..n * dq], attn_scratch);
            dump("kqv_out", il, &attn[..n * dq], n, dq);
            mm.run(&l.wo, &attn[..n * dq], n, xn);
            rms_norm_rows_par(pool, xn, &post.post_attn_norm, c.rms_eps, &mut attn[..n * d], n);
            dump("attn_post_norm", il, &attn[..n * d], n, d);
            add_inplace(x, &attn[..n * d]);
            dump("sa_out", il, x, n, d);

            rms_norm_rows_par(pool, x, &l.ffn_norm, c.rms_eps, xn, n);
            dump("ffn_norm", il, xn, n, d);
            mm.run_group([&l.gate, &l.up], xn, n, [&mut *gate, &mut *up]);
            pair_par(pool, gate, up, geglu_inplace);
            mm.run(&l.down, gate, n, xn);
            dump("ffn_out", il, xn, n, d);
            rms_norm_rows_par(pool, xn, &post.post_ffn_norm, c.rms_eps, &mut attn[..n * d], n);
            dump("ffn_post_norm", il, &attn[..n * d], n, d);
            add_inplace(x, &attn[..n * d]);
            dump("l_out", il, x, n, d);
        }
    }
}
