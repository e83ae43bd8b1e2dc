//! `vibrant perplexity`: perplexity of a text file, computed as llama.cpp's llama-perplexity
//! does (see engine::perplexity), ending with its "Final estimate" line.

use crate::common::ModelArgs;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use tokenizer::Tokenizer;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Text file to score.
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Score at most this many chunks (default: all).
    #[arg(long = "chunks")]
    pub chunks: Option<usize>,
}

pub fn run(mut a: Args) -> Result<()> {
    // llama-perplexity's default context is 512, not a model-run's 4096.
    if a.model.ctx == crate::common::DEFAULT_CTX {
        a.model.ctx = 512;
    }
    let text = std::fs::read_to_string(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let model = a.model.load()?;
    let tok = Tokenizer::from_gguf(&model.file).context("loading the tokenizer")?;
    let mut opts = a.model.state_options(&model)?;
    opts.n_batch = opts.n_ctx;
    let mut st = model.new_state(opts)?;
    let tokens = tok.encode(&text, true, false);
    let bos = if tok.add_bos() { tok.bos_id() } else { None };
    let n_chunks = (tokens.len() / opts.n_ctx).min(a.chunks.unwrap_or(usize::MAX));
    eprintln!("{} tokens, {n_chunks} chunks of {}", tokens.len(), opts.n_ctx);
    let bar = ProgressBar::new(n_chunks as u64);
    bar.set_style(ProgressStyle::with_template("[{elapsed_precise}] {bar:40} {pos}/{len} chunks, ppl {msg}").expect("valid template"));
    let r = engine::perplexity::perplexity(&model, &mut st, &tokens, opts.n_ctx, bos, a.chunks, &mut |c, _, ppl| {
        bar.set_position(c as u64 + 1);
        bar.set_message(format!("{ppl:.4}"));
    })?;
    bar.finish();
    println!("Final estimate: PPL = {:.4} +/- {:.5}", r.ppl, r.stderr);
    Ok(())
}
