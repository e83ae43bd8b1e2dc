//! A loaded model (weights in the mmap, hyperparameters) and the run state of one sequence
//! (KV cache and every scratch buffer, sized once). `forward` feeds tokens at the end of the
//! sequence and returns logits; nothing is allocated per call.

use crate::arch::Layers;
use crate::attention::AttnShape;
use crate::config::{Config, RopeConfig};
use crate::kv_cache::{KvCache, KvShape, KvType};
use crate::matmul::{act_bytes, Matmul, MatmulMode};
use crate::pool::ThreadPool;
use crate::rope::{rope_apply, rope_cache, rope_shift_cache};
use crate::weights::{Loader, Matrix};
use crate::EngineError;
use gguf::GgufFile;
use std::path::Path;

/// Rows of logits computed per output matmul when every position's logits are wanted.
const LOGIT_ROWS: usize = 16;

/// Tensors every architecture has: embedding, final norm, output projection.
pub struct Common {
    pub tok_embd: Matrix,
    pub output_norm: Vec<f32>,
    /// `output.weight`, or the embedding itself when the model ties them.
    pub output: Matrix,
    /// Llama-3 style rope frequency divisors (`rope_freqs.weight`).
    pub rope_freqs: Option<Vec<f32>>,
}

pub struct Model {
    pub file: GgufFile,
    pub config: Config,
    pub common: Common,
    pub layers: Layers,
}

/// Sizes of a run state.
#[derive(Clone, Copy, Debug)]
pub struct StateOptions {
    pub n_ctx: usize,
    /// Most tokens processed in one forward step (prompt batch size).
    pub n_batch: usize,
    pub n_threads: usize,
    pub mode: MatmulMode,
    /// Element types of the cached keys and values.
    pub cache_type_k: KvType,
    pub cache_type_v: KvType,
    /// Keep every position in sliding-window layers instead of a ring of window + n_batch - 1
    /// (llama.cpp's `--swa-full`); results are the same, memory is not.
    pub swa_full: bool,
    /// Which attention computes the layers ([`FlashAttn`]).
    pub flash_attn: FlashAttn,
}

/// Attention path (llama.cpp's `-fa on|off|auto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FlashAttn {
    /// Flash unless both cache types are F32: an F32/F32 cache keeps the exact path, which
    /// matches llama.cpp's `-fa off` outputs (the golden files).
    #[default]
    Auto,
    /// [`crate::flash`]: blockwise online softmax, batch- and thread-invariant.
    On,
    /// [`crate::attention`]'s exact path (llama.cpp without flash attention).
    Off,
}

impl FlashAttn {
    pub fn from_name(s: &str) -> Option<FlashAttn> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Some(FlashAttn::Auto),
            "on" | "1" | "true" => Some(FlashAttn::On),
            "off" | "0" | "false" => Some(FlashAttn::Off),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FlashAttn::Auto => "auto",
            FlashAttn::On => "on",
            FlashAttn::Off => "off",
        }
    }

    /// Whether flash attention is used with these cache types.
    pub fn enabled(self, type_k: KvType, type_v: KvType) -> bool {
        match self {
            FlashAttn::Auto => !(type_k == KvType::F32 && type_v == KvType::F32),
            FlashAttn::On => true,
            FlashAttn::Off => false,
        }
    }
}

impl Default for StateOptions {
    /// The library default cache is F32: the type llama.cpp's reference outputs (golden files)
    /// were made with, so a state is exact unless asked otherwise. The CLI defaults to F16, as
    /// llama.cpp's tools do.
    fn default() -> Self {
        StateOptions {
            n_ctx: 4096,
            n_batch: 512,
            n_threads: crate::pool::default_threads(),
            mode: MatmulMode::Fast,
            cache_type_k: KvType::F32,
            cache_type_v: KvType::F32,
            swa_full: false,
            flash_attn: FlashAttn::Auto,
        }
    }
}

/// The state of one sequence: KV cache, position and scratch buffers.
pub struct State {
    pub pool: ThreadPool,
    pub kv: KvCache,
    /// Tokens already in the cache.
    pub n_past: usize,
    pub n_batch: usize,
    pub mode: MatmulMode,
    /// Attention through [`crate::flash`] (decided from [`StateOptions::flash_attn`]).
    pub flash: bool,
    /// Residual stream, [n_batch][n_embd].
    pub x: Vec<f32>,
    /// Normed input of the current sub-block, and output of projections back to n_embd.
    pub xn: Vec<f32>,
    /// Queries, [n_batch][n_head * head_dim].
    pub q: Vec<f32>,
    /// Attention output, [n_batch][max(n_head * head_dim, n_embd)].
    pub attn: Vec<f32>,
    /// FFN gate and up projections, [n_batch][n_ff].
    pub gate: Vec<f32>,
    pub up: Vec<f32>,
    /// Quantized activations for the matmuls.
    pub act: Vec<u8>,
    /// Rope cos/sin per batch position: [n_batch][n_rot] for global layers, then windowed ones.
    pub rope: Vec<f32>,
    pub rope_swa: Vec<f32>,
    /// Output logits, [LOGIT_ROWS][n_vocab].
    pub logits: Vec<f32>,
    /// Attention scratch: per-thread score rows and V accumulators (exact path), or flash
    /// attention's tiles and decode partials.
    pub attn_scratch: Vec<f32>,
}

impl State {
    /// Bytes of scratch (everything but the KV cache).
    pub fn scratch_bytes(&self) -> usize {
        4 * (self.x.len() + self.xn.len() + self.q.len() + self.attn.len() + self.gate.len() + self.up.len())
            + self.act.len()
            + 4 * (self.rope.len() + self.rope_swa.len() + self.logits.len() + self.attn_scratch.len())
            + self.kv.staging_bytes()
    }

    /// Forget the sequence (the cache is overwritten from position 0).
    pub fn reset(&mut self) {
        self.n_past = 0;
        self.kv.clear();
    }

    /// Forget every position from `n_past` on and keep the ones before it (a chat rewinds to
    /// the prefix its next prompt shares with the cache). The cache is written in place by
    /// position and attention reads only positions up to the current one, so the dropped rows
    /// are simply overwritten by the next forward. A sliding-window ring may already have
    /// overwritten keys the kept prefix's next queries read; then the whole sequence is
    /// forgotten (n_past becomes 0) and the caller feeds it again: read `n_past` after this.
    pub fn truncate(&mut self, n_past: usize) {
        if n_past >= self.n_past {
            return;
        }
        if self.kv.can_rewind(self.n_past, n_past) {
            self.n_past = n_past;
        } else {
            self.reset();
        }
    }
}

impl Model {
    pub fn load(path: impl AsRef<Path>) -> Result<Model, EngineError> {
        let file = GgufFile::open(path)?;
        Model::from_gguf(file)
    }

    pub fn from_gguf(file: GgufFile) -> Result<Model, EngineError> {
        let config = Config::from_gguf(&file)?;
        let (common, layers) = {
            let l = Loader { file: &file };
            let c = &config;
            let tok_embd = l.matrix("token_embd.weight", c.n_embd, c.n_vocab)?;
            let output = match l.matrix_opt("output.weight", c.n_embd, c.n_vocab)? {
                Some(m) => m,
                None => tok_embd.clone(),
            };
            let common = Common {
                output_norm: l.vector("output_norm.weight", c.n_embd)?,
                rope_freqs: l.vector_opt("rope_freqs.weight", c.rope.n_rot / 2)?,
                tok_embd,
                output,
            };
            (common, Layers::load(&l, c)?)
        };
        Ok(Model { file, config, common, layers })
    }

    /// A run state; an error if the cache types do not fit the model's head size.
    pub fn new_state(&self, o: StateOptions) -> Result<State, EngineError> {
        let c = &self.config;
        let nb = o.n_batch.max(1);
        let dq = c.n_embd_q();
        let widest_input = c.n_embd.max(dq).max(c.n_ff);
        let kv_shape = KvShape {
            n_ctx: o.n_ctx,
            n_batch: nb,
            n_head_kv: c.n_head_kv,
            head_dim: c.head_dim,
            type_k: o.cache_type_k,
            type_v: o.cache_type_v,
            swa_full: o.swa_full,
        };
        let windows: Vec<Option<usize>> = (0..c.n_layer).map(|il| c.layer_window(il)).collect();
        let kv = KvCache::new(kv_shape, &windows)?;
        let flash = o.flash_attn.enabled(o.cache_type_k, o.cache_type_v);
        let nt = o.n_threads.max(1);
        let attn_scratch = if flash {
            crate::flash::scratch_len(o.n_ctx, c.n_head, c.n_head_kv, c.head_dim, nt)
        } else {
            nt * crate::attention::scratch_per_thread(o.n_ctx, c.head_dim)
        };
        Ok(State {
            pool: ThreadPool::new(o.n_threads.max(1)),
            kv,
            n_past: 0,
            n_batch: nb,
            mode: o.mode,
            flash,
            x: vec![0.0; nb * c.n_embd],
            xn: vec![0.0; nb * c.n_embd],
            q: vec![0.0; nb * dq],
            attn: vec![0.0; nb * dq.max(c.n_embd)],
            gate: vec![0.0; nb * c.n_ff],
            up: vec![0.0; nb * c.n_ff],
            act: vec![0; act_bytes(widest_input, nb.max(LOGIT_ROWS))],
            rope: vec![0.0; nb * c.rope.n_rot],
            rope_swa: vec![0.0; nb * c.rope_swa.n_rot],
            logits: vec![0.0; LOGIT_ROWS * c.n_vocab],
            attn_scratch: vec![0.0; attn_scratch],
        })
    }

    /// Context shift (llama.cpp's `--context-shift`): keep the first `n_keep` cached tokens,
    /// drop the `n_discard` after them, and move the rest down by `n_discard` positions in
    /// place, rotating their keys back by as many positions with each layer's own RoPE.
    /// Afterwards `st.n_past` is `n_discard` smaller and generation goes on from there.
    pub fn shift_context(&self, st: &mut State, n_keep: usize, n_discard: usize) -> Result<(), EngineError> {
        let n_past = st.n_past;
        if n_discard == 0 || n_keep + n_discard > n_past {
            return Err(EngineError::BadShift { n_keep, n_discard, n_past });
        }
        let c = &self.config;
        let ff = self.common.rope_freqs.as_deref();
        let delta = -(n_discard as i64);
        rope_shift_cache(&c.rope, ff, delta, &mut st.rope[..c.rope.n_rot]);
        if c.sliding_window.is_some() {
            rope_shift_cache(&c.rope_swa, ff, delta, &mut st.rope_swa[..c.rope_swa.n_rot]);
        }
        for il in 0..c.n_layer {
            let table = if c.layer_window(il).is_some() { &st.rope_swa[..c.rope_swa.n_rot] } else { &st.rope[..c.rope.n_rot] };
            st.kv.shift(il, n_past, n_keep, n_discard, c.layer_rope(il), table);
        }
        st.n_past -= n_discard;
        Ok(())
    }

    fn check(&self, st: &State, tokens: &[u32]) -> Result<(), EngineError> {
        if tokens.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        if let Some(&id) = tokens.iter().find(|&&t| t as usize >= self.config.n_vocab) {
            return Err(EngineError::BadToken { id, n_vocab: self.config.n_vocab });
        }
        if st.n_past + tokens.len() > st.kv.n_ctx {
            return Err(if st.n_past == 0 {
                EngineError::PromptTooLong { n_prompt: tokens.len(), n_ctx: st.kv.n_ctx }
            } else {
                EngineError::ContextFull { n_ctx: st.kv.n_ctx }
            });
        }
        Ok(())
    }

    /// Feed `tokens` after the `st.n_past` already cached and return the logits of the last one.
    pub fn forward<'s>(&self, st: &'s mut State, tokens: &[u32]) -> Result<&'s [f32], EngineError> {
        self.check(st, tokens)?;
        let mut last = 0;
        for chunk in tokens.chunks(st.n_batch) {
            self.forward_hidden(st, chunk);
            last = chunk.len() - 1;
        }
        self.logits_rows(st, last, 1);
        Ok(&st.logits[..self.config.n_vocab])
    }

    /// Feed `tokens` and call `f(i, logits)` with the logits after every token `i`
    /// (perplexity, teacher forcing).
    pub fn forward_all(&self, st: &mut State, tokens: &[u32], f: &mut dyn FnMut(usize, &[f32])) -> Result<(), EngineError> {
        self.check(st, tokens)?;
        let nv = self.config.n_vocab;
        let mut done = 0;
        for chunk in tokens.chunks(st.n_batch) {
            self.forward_hidden(st, chunk);
            for r0 in (0..chunk.len()).step_by(LOGIT_ROWS) {
                let nr = LOGIT_ROWS.min(chunk.len() - r0);
                self.logits_rows(st, r0, nr);
                for r in 0..nr {
                    f(done + r0 + r, &st.logits[r * nv..(r + 1) * nv]);
                }
            }
            done += chunk.len();
        }
        Ok(())
    }

    /// Run one batch (at most n_batch tokens) through every layer and the final norm; the
    /// normed hidden states are left in `st.xn`.
    fn forward_hidden(&self, st: &mut State, tokens: &[u32]) {
        let n = tokens.len();
        let pos0 = st.n_past;
        let c = &self.config;
        let ff = self.common.rope_freqs.as_deref();
        rope_table(&c.rope, ff, pos0, n, &mut st.rope);
        if c.sliding_window.is_some() {
            rope_table(&c.rope_swa, ff, pos0, n, &mut st.rope_swa);
        }
        self.layers.forward(self, st, tokens, pos0);
        crate::ops::rms_norm_rows(&st.x, &self.common.output_norm, c.rms_eps, &mut st.xn, n);
        st.n_past += n;
    }

    /// Logits of hidden rows `r0 .. r0 + nr` of the last batch into `st.logits`.
    fn logits_rows(&self, st: &mut State, r0: usize, nr: usize) {
        let d = self.config.n_embd;
        let State { pool, xn, act, logits, mode, .. } = st;
        let mut mm = Matmul { pool, file: self.file.bytes(), mode: *mode, act };
        crate::debug::dump("result_norm", 0, &xn[r0 * d..(r0 + nr) * d], nr, d);
        mm.run(&self.common.output, &xn[r0 * d..(r0 + nr) * d], nr, logits);
        crate::debug::dump("result_output", 0, logits, nr, self.config.n_vocab);
        if let Some(cap) = self.config.final_logit_softcap {
            crate::ops::softcap_inplace(&mut logits[..nr * self.config.n_vocab], cap);
        }
    }

    /// Attention shape of layer `il`; `scale` is the multiplier applied to q·k.
    /// `mode` decides whether batches follow llama.cpp's batched order ([`MatmulMode::Fast`],
    /// [`MatmulMode::OwnOrder`]);
    /// `flash` ([`State::flash`]) selects the flash path.
    pub fn attn_shape(&self, il: usize, scale: f32, mode: MatmulMode, flash: bool) -> AttnShape {
        let c = &self.config;
        let batch_order = matches!(mode, MatmulMode::Fast | MatmulMode::OwnOrder);
        AttnShape { n_head: c.n_head, n_head_kv: c.n_head_kv, head_dim: c.head_dim, scale, window: c.layer_window(il), batch_order, flash }
    }
}

/// Cos/sin tables for positions pos0 .. pos0 + n.
fn rope_table(rope: &RopeConfig, ff: Option<&[f32]>, pos0: usize, n: usize, out: &mut [f32]) {
    for t in 0..n {
        rope_cache(rope, ff, pos0 + t, &mut out[t * rope.n_rot..(t + 1) * rope.n_rot]);
    }
}

/// Rotate `n` rows of `n_heads` heads each, in place, with the table from `rope_table`; rows
/// are spread over the pool (each is rotated alone, so the split changes nothing), a decode
/// step's single row stays on the caller.
pub fn rope_rows(pool: &crate::pool::ThreadPool, rope: &RopeConfig, table: &[f32], x: &mut [f32], n: usize, head_dim: usize) {
    let width = x.len() / n;
    let rows = crate::parallel::DisjointMut::new(&mut x[..n * width]);
    pool.parallel_for(n, crate::ops::par_rows(width), &|t0, t1| {
        for t in t0..t1 {
            // SAFETY: row t belongs to the one call that was handed t0..t1.
            let row = unsafe { rows.range(t * width..(t + 1) * width) };
            rope_apply(rope.kind, row, head_dim, rope.n_rot, &table[t * rope.n_rot..(t + 1) * rope.n_rot]);
        }
    });
}

/// Look up token embeddings into `x` ([n][n_embd]), dequantizing each row.
pub fn embed(file: &[u8], tok_embd: &Matrix, tokens: &[u32], x: &mut [f32]) {
    let d = tok_embd.cols;
    let rb = tok_embd.row_bytes();
    let wb = tok_embd.bytes(file);
    let dequantize = quant::kernels::kernels().get(tok_embd.ty).dequantize_row;
    for (t, &id) in tokens.iter().enumerate() {
        let id = id as usize;
        dequantize(&wb[id * rb..(id + 1) * rb], &mut x[t * d..(t + 1) * d]);
    }
}
