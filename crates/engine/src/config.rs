//! Hyperparameters read from GGUF metadata, with llama.cpp's key names and defaults.

use crate::EngineError;
use gguf::GgufFile;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
    Qwen3,
    Gemma3,
    Phi3,
}

impl Arch {
    pub fn from_name(name: &str) -> Result<Arch, EngineError> {
        Ok(match name {
            "llama" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            "qwen3" => Arch::Qwen3,
            "gemma3" => Arch::Gemma3,
            "phi3" => Arch::Phi3,
            other => return Err(EngineError::UnsupportedArch(other.to_string())),
        })
    }
}

/// How rotary embeddings pair up the dimensions of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeKind {
    /// Adjacent pairs (x[2i], x[2i+1]): llama, ggml's mode 0.
    Norm,
    /// Halves (x[i], x[i + n_rot/2]): GPT-NeoX style, used by qwen2/qwen3/gemma3/phi3.
    Neox,
}

/// YaRN parameters (ggml's `rope_yarn`); `ext_factor == 0` means plain (linear) scaling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Yarn {
    pub ext_factor: f32,
    pub attn_factor: f32,
    pub beta_fast: f32,
    pub beta_slow: f32,
    pub n_ctx_orig: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RopeConfig {
    pub kind: RopeKind,
    /// Rotated dimensions per head (may be less than head_dim).
    pub n_rot: usize,
    pub freq_base: f32,
    /// 1 / linear scaling factor.
    pub freq_scale: f32,
    pub yarn: Yarn,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub arch: Arch,
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Per-head dimension of Q and K (`attention.key_length`, default n_embd / n_head).
    pub head_dim: usize,
    /// Per-head dimension of V (`attention.value_length`).
    pub head_dim_v: usize,
    pub n_ff: usize,
    pub n_ctx_train: usize,
    pub rms_eps: f32,
    pub rope: RopeConfig,
    /// Rope for sliding-window layers, where it differs (gemma3 local layers use base 10000).
    pub rope_swa: RopeConfig,
    /// Sliding window length in tokens, if the model has windowed layers.
    pub sliding_window: Option<usize>,
    /// Every `swa_period`-th layer is global; the others are windowed (gemma3: 6).
    pub swa_period: usize,
    /// Multiplier applied to the attention scores (1/sqrt(head_dim) for most models).
    pub attn_scale: f32,
    pub final_logit_softcap: Option<f32>,
}

impl Config {
    pub fn from_gguf(f: &GgufFile) -> Result<Config, EngineError> {
        let arch_name = f.get_str("general.architecture")?;
        let arch = Arch::from_name(arch_name)?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let u = |k: &str| -> Result<usize, EngineError> { Ok(f.get_u64(&key(k))? as usize) };
        let u_or = |k: &str, d: usize| -> Result<usize, EngineError> {
            if f.get(&key(k)).is_some() { u(k) } else { Ok(d) }
        };
        let f32_or = |k: &str, d: f32| -> Result<f32, EngineError> {
            if f.get(&key(k)).is_some() { Ok(f.get_f32(&key(k))?) } else { Ok(d) }
        };
        let bad = |k: &str, why: &str| EngineError::BadConfig { key: key(k), why: why.to_string() };

        let n_embd = u("embedding_length")?;
        let n_layer = u("block_count")?;
        let n_head = u("attention.head_count")?;
        let n_head_kv = u_or("attention.head_count_kv", n_head)?;
        if n_embd == 0 || n_layer == 0 || n_head == 0 || n_head_kv == 0 {
            return Err(bad("embedding_length/block_count/head_count", "must be > 0"));
        }
        if n_head % n_head_kv != 0 {
            return Err(bad("attention.head_count_kv", "must divide head_count"));
        }
        let head_dim = u_or("attention.key_length", n_embd / n_head)?;
        let head_dim_v = u_or("attention.value_length", head_dim)?;
        if head_dim == 0 || head_dim % 2 != 0 || head_dim > 1024 || head_dim_v != head_dim {
            return Err(bad("attention.key_length", "must be even, <= 1024 and equal to value_length"));
        }
        let n_ff = u("feed_forward_length")?;
        let n_ctx_train = u_or("context_length", 4096)?;
        let rms_eps = f32_or("attention.layer_norm_rms_epsilon", 1e-5)?;
        let n_rot = u_or("rope.dimension_count", head_dim)?;
        if n_rot > head_dim || n_rot % 2 != 0 {
            return Err(bad("rope.dimension_count", "must be even and <= head_dim"));
        }
        let n_vocab = match f.get_array("tokenizer.ggml.tokens") {
            Ok(a) => a.len(),
            Err(_) => u("vocab_size")?,
        };

        let kind = match arch {
            Arch::Llama => RopeKind::Norm,
            Arch::Qwen2 | Arch::Qwen3 | Arch::Gemma3 | Arch::Phi3 => RopeKind::Neox,
        };
        let freq_base = f32_or("rope.freq_base", 10000.0)?;
        let mut freq_scale = 1.0;
        let mut yarn = Yarn { ext_factor: 0.0, attn_factor: 1.0, beta_fast: 32.0, beta_slow: 1.0, n_ctx_orig: n_ctx_train as u32 };
        let scaling = f.get(&key("rope.scaling.type")).and_then(|v| v.as_str().map(str::to_string));
        let factor = f32_or("rope.scaling.factor", 0.0)?;
        match scaling.as_deref() {
            None | Some("none") => {}
            Some("linear") => {
                if factor > 0.0 {
                    freq_scale = 1.0 / factor;
                }
            }
            Some("yarn") => {
                if factor > 0.0 {
                    freq_scale = 1.0 / factor;
                }
                yarn.n_ctx_orig = u_or("rope.scaling.original_context_length", n_ctx_train)? as u32;
                // llama.cpp: ext_factor defaults to 1 for YaRN; attn_factor from metadata if present.
                yarn.ext_factor = 1.0;
                yarn.attn_factor = f32_or("rope.scaling.attn_factor", 1.0)?;
                yarn.beta_fast = f32_or("rope.scaling.yarn_beta_fast", 32.0)?;
                yarn.beta_slow = f32_or("rope.scaling.yarn_beta_slow", 1.0)?;
            }
            // llama3 scaling arrives as the `rope_freqs.weight` tensor, read with the weights.
            Some("llama3") => {}
            Some(other) => return Err(bad("rope.scaling.type", &format!("unknown scaling {other:?}"))),
        }
        let rope = RopeConfig { kind, n_rot, freq_base, freq_scale, yarn };

        let mut rope_swa = rope.clone();
        let mut sliding_window = None;
        let mut swa_period = 0;
        let mut attn_scale = 1.0 / (head_dim as f32).sqrt();
        let mut final_logit_softcap = None;
        if arch == Arch::Gemma3 {
            // Gemma 3: five local (windowed) layers per global one; local layers use base 10000
            // without scaling (llama.cpp: rope_freq_base_train_swa).
            let w = u_or("attention.sliding_window", 0)?;
            if w > 0 {
                sliding_window = Some(w);
                swa_period = 6;
            }
            rope_swa.freq_base = 10000.0;
            rope_swa.freq_scale = 1.0;
            // Q is scaled by 1/sqrt(query_pre_attn_scalar) = 1/sqrt(head_dim) for these sizes.
            attn_scale = 1.0 / (head_dim as f32).sqrt();
            let cap = f32_or("final_logit_softcapping", 0.0)?;
            if cap > 0.0 {
                final_logit_softcap = Some(cap);
            }
        }
        Ok(Config {
            arch,
            n_vocab,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            head_dim_v,
            n_ff,
            n_ctx_train,
            rms_eps,
            rope,
            rope_swa,
            sliding_window,
            swa_period,
            attn_scale,
            final_logit_softcap,
        })
    }

    /// Width of Q for one token (all heads).
    pub fn n_embd_q(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Width of K (and V) for one token (all KV heads).
    pub fn n_embd_kv(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Whether layer `il` attends over a sliding window (and the window length).
    pub fn layer_window(&self, il: usize) -> Option<usize> {
        match self.sliding_window {
            Some(w) if self.swa_period > 0 && il % self.swa_period < self.swa_period - 1 => Some(w),
            _ => None,
        }
    }

    pub fn layer_rope(&self, il: usize) -> &RopeConfig {
        if self.layer_window(il).is_some() { &self.rope_swa } else { &self.rope }
    }
}
