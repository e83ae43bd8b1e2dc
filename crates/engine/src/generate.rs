//! The generation loop: feed the prompt as one batch (chunked by n_batch), then decode one
//! token at a time until a maximum count, an end-of-generation token, or the caller says stop
//! (stop strings are matched by the caller, which has the text).

use crate::model::{Model, State};
use crate::perplexity::log_prob;
use crate::sampler::{top_logprobs, Sampler};
use crate::EngineError;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct GenParams {
    /// Most tokens to generate.
    pub n_predict: usize,
    /// Keep going past end-of-generation tokens.
    pub ignore_eos: bool,
    /// How many top log-probs to report per token (0: none).
    pub n_probs: usize,
    /// When the context is full: `Some(n_keep)` shifts it (keep the first n_keep tokens,
    /// drop half of the rest, as llama.cpp's `--context-shift`); `None` stops generation
    /// with [`StopReason::ContextFull`].
    pub context_shift: Option<usize>,
}

/// One generated token, as the callback sees it.
pub struct Token<'a> {
    pub id: u32,
    /// Log-probability of `id` under the full-vocabulary softmax of the raw logits.
    pub logprob: f32,
    /// The `n_probs` most likely tokens before sampling, (id, logprob), most likely first.
    pub top: &'a [(u32, f32)],
    pub is_eog: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flow {
    Continue,
    Stop,
}

#[derive(Clone, Debug, Default)]
pub struct GenStats {
    pub n_prompt: usize,
    pub n_generated: usize,
    pub prompt_time: Duration,
    /// Time of the decode steps (excludes the prompt).
    pub gen_time: Duration,
    /// Why generation ended.
    pub stop_reason: StopReason,
    /// Context shifts done (each dropped half of the tokens after the kept ones).
    pub n_shifts: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StopReason {
    #[default]
    Length,
    Eog,
    Caller,
    ContextFull,
}

impl GenStats {
    pub fn prompt_tps(&self) -> f64 {
        self.n_prompt as f64 / self.prompt_time.as_secs_f64().max(1e-9)
    }
    pub fn gen_tps(&self) -> f64 {
        // The first generated token comes from the prompt's logits; decode steps are one fewer.
        self.n_generated.saturating_sub(1) as f64 / self.gen_time.as_secs_f64().max(1e-9)
    }
}

/// Generate after `prompt`, which is appended to whatever `st` already holds (multi-turn chat
/// feeds only the new turn). `history` holds the tokens already in `st` and receives the prompt
/// and every generated token (the repetition penalties read it); give it capacity n_ctx up front
/// so the loop does not allocate (with a context shift it can outgrow that, and then grows).
#[allow(clippy::too_many_arguments)]
pub fn generate(
    model: &Model,
    st: &mut State,
    sampler: &mut Sampler,
    prompt: &[u32],
    history: &mut Vec<u32>,
    params: &GenParams,
    is_eog: &dyn Fn(u32) -> bool,
    on_token: &mut dyn FnMut(&Token) -> Flow,
) -> Result<GenStats, EngineError> {
    let mut stats = GenStats { n_prompt: prompt.len(), ..Default::default() };
    let t0 = Instant::now();
    model.forward(st, prompt)?;
    history.extend_from_slice(prompt);
    stats.prompt_time = t0.elapsed();
    let mut top = Vec::with_capacity(params.n_probs.max(1));
    let t1 = Instant::now();
    for i in 0..params.n_predict {
        if i > 0 {
            if st.n_past >= st.kv.n_ctx {
                // llama.cpp's n_discard: half of what follows the kept tokens.
                let n_discard = params.context_shift.map_or(0, |keep| st.n_past.saturating_sub(keep) / 2);
                match params.context_shift {
                    Some(n_keep) if n_discard > 0 => {
                        model.shift_context(st, n_keep, n_discard)?;
                        stats.n_shifts += 1;
                    }
                    _ => {
                        stats.stop_reason = StopReason::ContextFull;
                        break;
                    }
                }
            }
            let last = *history.last().expect("history holds the prompt");
            model.forward(st, &[last])?;
        }
        let n_vocab = model.config.n_vocab;
        let logits = &st.logits[..n_vocab];
        if params.n_probs > 0 {
            top_logprobs(logits, params.n_probs, &mut top);
        }
        let id = sampler.sample(logits, history);
        let logprob = log_prob(logits, id as usize) as f32;
        let eog = is_eog(id);
        history.push(id);
        stats.n_generated += 1;
        let flow = on_token(&Token { id, logprob, top: &top, is_eog: eog });
        if eog && !params.ignore_eos {
            stats.stop_reason = StopReason::Eog;
            break;
        }
        if flow == Flow::Stop {
            stats.stop_reason = StopReason::Caller;
            break;
        }
    }
    stats.gen_time = t1.elapsed();
    Ok(stats)
}
