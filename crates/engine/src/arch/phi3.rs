//! Phi-3: one fused QKV projection and one fused gate-up projection; Q is pre-scaled by
//! 1/sqrt(head_dim) (as llama.cpp does) and the softmax scale is 1. NeoX-style RoPE.
//! The fused tensors are split at load into row ranges of the same mapped bytes, so the
//! forward below multiplies straight into Q, the K/V cache, gate and up — no split copies.

use crate::attention::attention;
use crate::config::Config;
use crate::matmul::Matmul;
use crate::model::{embed, rope_rows, Model, State};
use crate::ops::{add_inplace, pair_par, rms_norm_rows_par, scale_inplace, swiglu_inplace};
use crate::weights::Loader;
use crate::EngineError;

use super::llama::Layer;

pub struct Phi3 {
    pub layers: Vec<Layer>,
}

impl Phi3 {
    pub fn load(l: &Loader, c: &Config) -> Result<Phi3, EngineError> {
        let (d, dq, dkv, ff) = (c.n_embd, c.n_embd_q(), c.n_embd_kv(), c.n_ff);
        let layers = (0..c.n_layer)
            .map(|i| {
                let p = |s: &str| format!("blk.{i}.{s}");
                let qkv = l.matrix(&p("attn_qkv.weight"), d, dq + 2 * dkv)?;
                // ggml's phi3 builder takes Q, K, V as consecutive row blocks, and the gate as the
                // first half of ffn_up.
                let gate_up = l.matrix(&p("ffn_up.weight"), d, 2 * ff)?;
                Ok(Layer {
                    attn_norm: l.vector(&p("attn_norm.weight"), d)?,
                    wq: qkv.rows_slice(0..dq, &p("attn_qkv.weight[q]")),
                    wk: qkv.rows_slice(dq..dq + dkv, &p("attn_qkv.weight[k]")),
                    wv: qkv.rows_slice(dq + dkv..dq + 2 * dkv, &p("attn_qkv.weight[v]")),
                    wo: l.matrix(&p("attn_output.weight"), dq, d)?,
                    ffn_norm: l.vector(&p("ffn_norm.weight"), d)?,
                    gate: gate_up.rows_slice(0..ff, &p("ffn_up.weight[gate]")),
                    up: gate_up.rows_slice(ff..2 * ff, &p("ffn_up.weight[up]")),
                    down: l.matrix(&p("ffn_down.weight"), ff, d)?,
                })
            })
            .collect::<Result<_, EngineError>>()?;
        Ok(Phi3 { layers })
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
        for (il, l) in self.layers.iter().enumerate() {
            rms_norm_rows_par(pool, x, &l.attn_norm, c.rms_eps, xn, n);
            let (k_new, v_new) = kv.rows_mut(il, pos0, n);
            mm.run_group([&l.wq, &l.wk, &l.wv], xn, n, [&mut *q, &mut *k_new, &mut *v_new]);
            rope_rows(pool, &c.rope, rope, q, n, c.head_dim);
            scale_inplace(q, c.attn_scale);
            rope_rows(pool, &c.rope, rope, k_new, n, c.head_dim);
            kv.commit(il, pos0, n);
            attention(pool, &m.attn_shape(il, 1.0, *mode, *flash), q, &kv.layer(il), n, pos0, attn, attn_scratch);
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
