//! Perplexity exactly as llama.cpp's `llama-perplexity` computes it: the text is cut into
//! chunks of n_ctx tokens, each evaluated from an empty cache with its first token replaced
//! by BOS where the model uses one, and the second half of each chunk (positions
//! n_ctx/2 .. n_ctx-2) scores the next token.

use crate::model::{Model, State};
use crate::EngineError;

#[derive(Clone, Debug)]
pub struct Perplexity {
    pub ppl: f64,
    /// llama.cpp's "+/-" figure: ppl * sqrt(var(nll) / (count - 1)).
    pub stderr: f64,
    pub chunks: usize,
    pub scored_tokens: usize,
}

/// `progress(chunk_index, n_chunks, running_ppl)` is called after each chunk.
pub fn perplexity(
    model: &Model,
    st: &mut State,
    tokens: &[u32],
    n_ctx: usize,
    bos: Option<u32>,
    max_chunks: Option<usize>,
    progress: &mut dyn FnMut(usize, usize, f64),
) -> Result<Perplexity, EngineError> {
    if n_ctx < 4 {
        return Err(EngineError::BadConfig { key: "n_ctx".into(), why: "perplexity needs a context of at least 4".into() });
    }
    let mut n_chunks = tokens.len() / n_ctx;
    if let Some(m) = max_chunks {
        n_chunks = n_chunks.min(m);
    }
    if n_chunks == 0 {
        return Err(EngineError::PromptTooLong { n_prompt: tokens.len(), n_ctx });
    }
    let first = n_ctx / 2;
    let (mut nll, mut nll2, mut count) = (0f64, 0f64, 0usize);
    let mut chunk = vec![0u32; n_ctx];
    for c in 0..n_chunks {
        chunk.copy_from_slice(&tokens[c * n_ctx..(c + 1) * n_ctx]);
        if let Some(b) = bos {
            chunk[0] = b;
        }
        st.reset();
        let targets = &tokens[c * n_ctx..(c + 1) * n_ctx];
        model.forward_all(st, &chunk, &mut |j, logits| {
            if j >= first && j + 1 < n_ctx {
                let v = -log_prob(logits, targets[j + 1] as usize);
                nll += v;
                nll2 += v * v;
                count += 1;
            }
        })?;
        progress(c, n_chunks, (nll / count as f64).exp());
    }
    let mean = nll / count as f64;
    let ppl = mean.exp();
    let var = nll2 / count as f64 - mean * mean;
    let stderr = if var > 0.0 && count > 1 { (var / (count - 1) as f64).sqrt() * ppl } else { 0.0 };
    Ok(Perplexity { ppl, stderr, chunks: n_chunks, scored_tokens: count })
}

/// log softmax(logits)[tok], accumulated in f64.
pub fn log_prob(logits: &[f32], tok: usize) -> f64 {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    (logits[tok] - max) as f64 - sum.ln()
}
