//! Options shared by the subcommands that run a model, and model-path resolution.

use anyhow::{bail, Context, Result};
use engine::generate::GenStats;
use engine::sampler::SamplerParams;
use engine::kv_cache::KvType;
use engine::{FlashAttn, MatmulMode, Model, StateOptions};
use std::path::{Path, PathBuf};

/// Short names for the project's real models; `-m smollm2` fetches the model if needed.
const KNOWN_MODELS: &[(&str, &str)] = &[
    ("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    ("qwen2.5", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
    ("gemma3", "gemma-3-270m-q4_k_m.gguf"),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_dir() -> PathBuf {
    std::env::var_os("VIBRANT_MODELS").map(PathBuf::from).unwrap_or_else(|| repo_root().join("models"))
}

/// A path as given, or a known model name resolved under `models/` (fetched if missing).
pub fn resolve_model(arg: &Path) -> Result<PathBuf> {
    if arg.exists() {
        return Ok(arg.to_path_buf());
    }
    let name = arg.to_string_lossy();
    let Some((short, file)) = KNOWN_MODELS.iter().find(|(s, f)| *s == name || *f == name) else {
        bail!("{}: no such file (known model names: smollm2, qwen2.5, gemma3)", arg.display());
    };
    let path = models_dir().join(file);
    if !path.exists() {
        let script = repo_root().join("scripts/fetch-models.sh");
        eprintln!("fetching {short} with {}", script.display());
        let status = std::process::Command::new(&script)
            .arg(short)
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        if !status.success() || !path.exists() {
            bail!("could not fetch {short}; see the messages above");
        }
    }
    Ok(path)
}

pub const DEFAULT_CTX: usize = 4096;

/// Model and runtime options shared by run, chat, perplexity and bench.
#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    /// GGUF model file, or one of: smollm2, qwen2.5, gemma3 (fetched if missing).
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// Threads (default: number of physical cores).
    #[arg(short = 't', long = "threads")]
    pub threads: Option<usize>,
    /// Context size in tokens.
    #[arg(short = 'c', long = "ctx-size", default_value_t = DEFAULT_CTX)]
    pub ctx: usize,
    /// Prompt batch size: most tokens processed in one forward step.
    #[arg(short = 'b', long = "batch-size", default_value_t = 512)]
    pub batch: usize,
    /// Batch-invariant results: every batch size multiplied in the single-token order, so the
    /// logits are bit-identical for any -b and -t (default: llama.cpp's kernels, whose results
    /// depend on the batch size, for parity with it).
    #[arg(long = "deterministic", conflicts_with = "fast_prefill")]
    pub deterministic: bool,
    /// Batches of 8+ tokens of Q5_0/Q8_0/Q4_K weights (AVX-512 VNNI; Q5_0 only on AVX2) through
    /// our own interleaved kernels: faster prefill, but not llama.cpp's rounding, so logits
    /// differ from its in the last bits, which a long generation can amplify.
    #[arg(long = "fast-prefill")]
    pub fast_prefill: bool,
    /// KV cache type for K: f32, f16 or q8_0 (also -ctk, as llama.cpp spells it).
    #[arg(long = "cache-type-k", default_value = "f16", value_parser = parse_kv_type)]
    pub cache_type_k: KvType,
    /// KV cache type for V: f32, f16 or q8_0 (also -ctv).
    #[arg(long = "cache-type-v", default_value = "f16", value_parser = parse_kv_type)]
    pub cache_type_v: KvType,
    /// Keep every position in sliding-window layers instead of a ring of window + batch.
    #[arg(long = "swa-full")]
    pub swa_full: bool,
    /// Attention path: on (blockwise online softmax, batch- and thread-invariant), off (exact,
    /// llama.cpp's -fa off), auto (on unless both cache types are f32). Also -fa.
    #[arg(long = "flash-attn", default_value = "auto", value_parser = parse_flash)]
    pub flash_attn: FlashAttn,
    /// Use the plain f32 reference matmul (slow; for checking).
    #[arg(long = "reference", hide = true)]
    pub reference: bool,
}

fn parse_flash(s: &str) -> Result<FlashAttn, String> {
    FlashAttn::from_name(s).ok_or_else(|| format!("unknown flash attention setting {s:?} (expected on, off or auto)"))
}

fn parse_kv_type(s: &str) -> Result<KvType, String> {
    KvType::from_name(s).ok_or_else(|| format!("unknown cache type {s:?} (expected f32, f16 or q8_0)"))
}

impl ModelArgs {
    pub fn load(&self) -> Result<Model> {
        let path = resolve_model(&self.model)?;
        Model::load(&path).with_context(|| format!("loading {}", path.display()))
    }

    pub fn state_options(&self, model: &Model) -> Result<StateOptions> {
        if self.ctx == 0 || self.batch == 0 {
            bail!("--ctx-size and --batch-size must be > 0");
        }
        if self.threads == Some(0) {
            bail!("--threads must be > 0");
        }
        let _ = model;
        Ok(StateOptions {
            n_ctx: self.ctx,
            n_batch: self.batch.min(self.ctx),
            n_threads: self.threads.unwrap_or_else(engine::pool::default_threads),
            mode: if self.reference {
                MatmulMode::Reference
            } else if self.deterministic {
                MatmulMode::Deterministic
            } else if self.fast_prefill {
                MatmulMode::OwnOrder
            } else {
                MatmulMode::Fast
            },
            cache_type_k: self.cache_type_k,
            cache_type_v: self.cache_type_v,
            swa_full: self.swa_full,
            flash_attn: self.flash_attn,
        })
    }
}

/// llama.cpp's sampling options and defaults.
#[derive(clap::Args, Clone, Debug)]
pub struct SamplingArgs {
    /// Temperature; 0 means greedy.
    #[arg(long = "temp", default_value_t = 0.8)]
    pub temp: f32,
    #[arg(long = "top-k", default_value_t = 40)]
    pub top_k: i32,
    #[arg(long = "top-p", default_value_t = 0.95)]
    pub top_p: f32,
    #[arg(long = "min-p", default_value_t = 0.05)]
    pub min_p: f32,
    #[arg(long = "repeat-penalty", default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Tokens the penalties look back over (0: none, -1: all).
    #[arg(long = "repeat-last-n", default_value_t = 64, allow_negative_numbers = true)]
    pub repeat_last_n: i32,
    #[arg(long = "presence-penalty", default_value_t = 0.0)]
    pub presence_penalty: f32,
    #[arg(long = "frequency-penalty", default_value_t = 0.0)]
    pub frequency_penalty: f32,
    /// Random seed (default: random).
    #[arg(short = 's', long = "seed")]
    pub seed: Option<u64>,
}

impl SamplingArgs {
    pub fn params(&self) -> SamplerParams {
        let seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
        });
        SamplerParams {
            temp: self.temp,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: self.repeat_last_n,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            seed,
        }
    }
}

/// Prompt and generation speed on stderr, one line (after each reply of run and chat).
pub fn print_speed(stats: &GenStats) {
    eprintln!(
        "prompt eval: {} tokens, {:.1} tok/s | eval: {} tokens, {:.1} tok/s | stop: {:?}",
        stats.n_prompt,
        stats.prompt_tps(),
        stats.n_generated,
        stats.gen_tps(),
        stats.stop_reason
    );
}
