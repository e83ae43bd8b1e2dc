//! `vibrant run`: generate text from a prompt, streaming it to stdout.

use crate::common::{print_speed, ModelArgs, SamplingArgs};
use anyhow::{bail, Context, Result};
use engine::generate::{generate, Flow, GenParams, StopReason};
use engine::sampler::Sampler;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use tokenizer::Tokenizer;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt text.
    #[arg(short = 'p', long = "prompt", conflicts_with = "file")]
    pub prompt: Option<String>,
    /// Read the prompt from a file.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Tokens to generate (-1: until end of generation or a full context).
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_negative_numbers = true)]
    pub n_predict: i64,
    /// Keep generating past end-of-generation tokens.
    #[arg(long = "ignore-eos")]
    pub ignore_eos: bool,
    /// Stop when the generated text contains this string (may repeat).
    #[arg(long = "stop")]
    pub stop: Vec<String>,
    /// Report the K most likely tokens at every step (with --json).
    #[arg(long = "n-probs", default_value_t = 0)]
    pub n_probs: usize,
    /// Print one JSON object at the end instead of streaming text.
    #[arg(long = "json")]
    pub json: bool,
    /// When the context fills up, drop the older half of the tokens after the kept ones and
    /// go on (llama.cpp's --context-shift); without it generation stops at a full context.
    #[arg(long = "context-shift")]
    pub context_shift: bool,
    /// Prompt tokens kept by a context shift, besides the BOS token (-1: the whole prompt).
    #[arg(long = "keep", default_value_t = 0, allow_negative_numbers = true)]
    pub keep: i64,
}

pub fn run(a: Args) -> Result<()> {
    let prompt = match (&a.prompt, &a.file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
        (None, None) => bail!("give a prompt with -p TEXT or -f FILE"),
    };
    let model = a.model.load()?;
    let tok = Tokenizer::from_gguf(&model.file).context("loading the tokenizer")?;
    let opts = a.model.state_options(&model)?;
    let mut st = model.new_state(opts)?;
    // As llama.cpp: special tokens per the model's metadata, and special tokens parsed in text.
    let prompt_tokens = tok.encode(&prompt, true, true);
    if prompt_tokens.is_empty() {
        bail!("the prompt is empty");
    }
    if prompt_tokens.len() > opts.n_ctx {
        bail!("the prompt has {} tokens but the context holds {} (raise -c)", prompt_tokens.len(), opts.n_ctx);
    }
    // llama-cli's n_keep: out of range or -1 means the whole prompt; otherwise the BOS token,
    // if the model adds one, is kept on top of the count.
    let n_keep = if a.keep < 0 || a.keep as usize > prompt_tokens.len() {
        prompt_tokens.len()
    } else {
        a.keep as usize + usize::from(tok.add_bos())
    };
    let context_shift = a.context_shift.then_some(n_keep);
    let n_predict = match (a.n_predict < 0, a.context_shift) {
        (false, _) => a.n_predict as usize,
        // -1 with context shift: until end of generation, however long.
        (true, true) => usize::MAX,
        (true, false) => opts.n_ctx - prompt_tokens.len(),
    };
    let params = GenParams { n_predict, ignore_eos: a.ignore_eos, n_probs: a.n_probs, context_shift };
    let mut sampler = Sampler::new(a.sampling.params(), model.config.n_vocab);
    if a.ignore_eos {
        sampler.ban(tok.eog_ids());
    }
    let mut history = Vec::with_capacity(opts.n_ctx);
    let mut decoder = tok.stream_decoder(false);
    let mut text = String::new();
    let mut records = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if !a.json {
        write!(out, "{prompt}")?;
        out.flush()?;
    }
    let stats = generate(&model, &mut st, &mut sampler, &prompt_tokens, &mut history, &params, &|id| tok.is_eog(id), &mut |t| {
        let piece = if t.is_eog && !a.ignore_eos { String::new() } else { decoder.push(t.id).unwrap_or_default() };
        if a.json {
            records.push(json!({
                "id": t.id,
                "text": tok.decode(&[t.id], false),
                "logprob": t.logprob,
                "top": t.top.iter().map(|&(id, lp)| json!([id, lp])).collect::<Vec<_>>(),
            }));
        } else if !piece.is_empty() {
            let _ = write!(out, "{piece}");
            let _ = out.flush();
        }
        text.push_str(&piece);
        if a.stop.iter().any(|s| text.contains(s.as_str())) { Flow::Stop } else { Flow::Continue }
    })?;
    if a.json {
        let obj = json!({
            "prompt_tokens": prompt_tokens,
            "tokens": records,
            "text": text,
            "timings": {
                "prompt_n": stats.n_prompt,
                "prompt_ms": stats.prompt_time.as_secs_f64() * 1e3,
                "prompt_per_second": stats.prompt_tps(),
                "predicted_n": stats.n_generated,
                "predicted_ms": stats.gen_time.as_secs_f64() * 1e3,
                "predicted_per_second": stats.gen_tps(),
                "stop_reason": format!("{:?}", stats.stop_reason),
                "context_shifts": stats.n_shifts,
            },
        });
        writeln!(out, "{obj}")?;
    } else {
        writeln!(out)?;
    }
    print_speed(&stats);
    if stats.n_shifts > 0 {
        eprintln!("context shifts: {} (n_keep {n_keep})", stats.n_shifts);
    }
    if stats.stop_reason == StopReason::ContextFull {
        eprintln!(
            "stopped: the context is full ({} tokens); raise -c or pass --context-shift{}",
            opts.n_ctx,
            if a.context_shift { " with a smaller --keep" } else { "" }
        );
    }
    Ok(())
}
