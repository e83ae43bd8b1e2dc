//! Llama 2/3 (Mistral, SmolLM): pre-norm, RoPE on adjacent pairs, SwiGLU FFN.

use crate::attention::attention;
use crate::config::Config;
use crate::debug::dump;
use crate::matmul::Matmul;
use crate::model::{embed, rope_rows, Model, State};
use crate::ops::{add_inplace, pair_par, rms_norm_rows_par, swiglu_inplace};
use crate::weights::{Loader, Matrix};
use crate::EngineError;

/// The tensors of one pre-norm attention + gated-FFN block, shared by the llama family.
pub struct Layer {
    pub attn_norm: Vec<f32>,
    pub wq: Matrix,
    pub wk: Matrix,
    pub wv: Matrix,
    pub wo: Matrix,
    pub ffn_norm: Vec<f32>,
    pub gate: Matrix,
    pub up: Matrix,
    pub down: Matrix,
}

impl Layer {
    pub fn load(l: &Loader, c: &Config, i: usize) -> Result<Layer, EngineError> {
        let p = |s: &str| format!("blk.{i}.{s}");
        Ok(Layer {
            attn_norm: l.vector(&p("attn_norm.weight"), c.n_embd)?,
            wq: l.matrix(&p("attn_q.weight"), c.n_embd, c.n_embd_q())?,
            wk: l.matrix(&p("attn_k.weight"), c.n_embd, c.n_embd_kv())?,
            wv: l.matrix(&p("attn_v.weight"), c.n_embd, c.n_embd_kv())?,
            wo: l.matrix(&p("attn_output.weight"), c.n_embd_q(), c.n_embd)?,
            ffn_norm: l.vector(&p("ffn_norm.weight"), c.n_embd)?,
            gate: l.matrix(&p("ffn_gate.weight"), c.n_embd, c.n_ff)?,
            up: l.matrix(&p("ffn_up.weight"), c.n_embd, c.n_ff)?,
            down: l.matrix(&p("ffn_down.weight"), c.n_ff, c.n_embd)?,
        })
    }
}

pub struct Llama {
    pub layers: Vec<Layer>,
}

impl Llama {
    pub fn load(l: &Loader, c: &Config) -> Result<Llama, EngineError> {
        Ok(Llama { layers: (0..c.n_layer).map(|i| Layer::load(l, c, i)).collect::<Result<_, _>>()? })
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
            dump("attn_norm", il, xn, n, d);
            let (k_new, v_new) = kv.rows_mut(il, pos0, n);
            mm.run_group([&l.wq, &l.wk, &l.wv], xn, n, [&mut *q, &mut *k_new, &mut *v_new]);
            dump("Qcur", il, q, n, dq);
            rope_rows(pool, &c.rope, rope, q, n, c.head_dim);
            dump("Qrope", il, q, n, dq);
            rope_rows(pool, &c.rope, rope, k_new, n, c.head_dim);
            dump("Kcur", il, k_new, n, c.n_embd_kv());
            kv.commit(il, pos0, n);
            attention(pool, &m.attn_shape(il, c.attn_scale, *mode, *flash), q, &kv.layer(il), n, pos0, attn, attn_scratch);
            dump("kqv_out", il, attn, n, dq);
            mm.run(&l.wo, attn, n, xn);
            dump("attn_out", il, xn, n, d);
            add_inplace(x, xn);

            rms_norm_rows_par(pool, x, &l.ffn_norm, c.rms_eps, xn, n);
            mm.run_group([&l.gate, &l.up], xn, n, [&mut *gate, &mut *up]);
            pair_par(pool, gate, up, swiglu_inplace);
            dump("ffn_swiglu", il, gate, n, ff);
            mm.run(&l.down, gate, n, xn);
            add_inplace(x, xn);
            dump("l_out", il, x, n, d);
        }
    }
}
