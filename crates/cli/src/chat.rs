//! `vibrant chat`: a multi-turn conversation through the model's chat template, one user line
//! per turn from standard input, keeping the KV cache between turns.
//!
//! Each turn renders the whole conversation (add_generation_prompt = true), tokenizes all of it,
//! and feeds only the tokens past the longest prefix it shares with the cache, as llama-server's
//! prompt cache does. llama-cli instead tokenizes only the string difference between renderings;
//! we tokenize the whole text because then the cache always holds exactly what a single prompt of
//! the same text would: a difference tokenized alone can split differently at its seam, and the
//! template's rendering of a reply need not be the tokens the model generated (another
//! tokenization of the same text, or an end-of-turn token it sampled but never fed). Where they
//! differ, the cache is rewound to the shared prefix. Tokenizing a few thousand tokens a turn
//! costs milliseconds.
//!
//! A model without `tokenizer.chat_template` gets the built-in template for its architecture
//! (chatml for most), with a warning, as llama.cpp falls back to chatml.

use crate::common::{print_speed, ModelArgs, SamplingArgs};
use anyhow::{bail, Context, Result};
use engine::generate::{generate, Flow, GenParams, StopReason, Token};
use engine::sampler::Sampler;
use engine::{Model, State};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use tokenizer::{ChatTemplate, Message, TemplateSource, Tokenizer};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// System message (llama.cpp's -sys is accepted too); without it, the template's default.
    #[arg(long = "system")]
    pub system: Option<String>,
    /// Most tokens per reply (-1: until end of generation or a full context).
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_negative_numbers = true)]
    pub n_predict: i64,
    /// Use this Jinja template file instead of the model's.
    #[arg(long = "chat-template")]
    pub chat_template: Option<PathBuf>,
}

/// What one turn produced.
struct Reply {
    text: String,
    /// The context filled up: the chat cannot go on.
    context_full: bool,
}

/// The model and what a turn needs besides it; `cache` is the tokens in the KV cache, by position.
struct Session<'m> {
    model: &'m Model,
    tok: Tokenizer,
    st: State,
    sampler: Sampler,
    cache: Vec<u32>,
    n_predict: Option<usize>,
}

pub fn run(a: Args) -> Result<()> {
    let model = a.model.load()?;
    let tok = Tokenizer::from_gguf(&model.file).context("loading the tokenizer")?;
    let template = ChatTemplate::from_gguf(&model.file, a.chat_template.as_deref()).context("loading the chat template")?;
    if let TemplateSource::Builtin(name) = template.source() {
        eprintln!("warning: the model has no chat template; using the built-in {name} template");
    }
    let opts = a.model.state_options(&model)?;
    let mut session = Session {
        model: &model,
        tok,
        st: model.new_state(opts)?,
        sampler: Sampler::new(a.sampling.params(), model.config.n_vocab),
        // One more than the context: generate() appends the last sampled token, never fed.
        cache: Vec::with_capacity(opts.n_ctx + 1),
        n_predict: usize::try_from(a.n_predict).ok(),
    };
    let mut messages = Vec::new();
    if let Some(system) = &a.system {
        messages.push(Message::new("system", system.as_str()));
    }
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            print!("> ");
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("reading standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        if line.trim() == "/exit" {
            break;
        }
        messages.push(Message::new("user", line));
        let prompt = template.render(&messages, true).context("rendering the chat template")?;
        let prompt_tokens = session.tok.encode(&prompt, true, true);
        let Some(reply) = session.reply(&prompt_tokens)? else {
            eprintln!(
                "the conversation ({} tokens) no longer fits the context of {}: the chat ends here (raise -c for longer chats)",
                prompt_tokens.len(),
                session.st.kv.n_ctx
            );
            break;
        };
        messages.push(Message::new("assistant", reply.text));
        if reply.context_full {
            eprintln!("the context of {} tokens is full: the chat ends here (raise -c for longer chats)", session.st.kv.n_ctx);
            break;
        }
    }
    Ok(())
}

impl Session<'_> {
    /// Feeds what the cache lacks of `prompt_tokens` (the whole conversation so far), streams the
    /// reply to stdout and its speed to stderr. None: the prompt does not fit the context.
    fn reply(&mut self, prompt_tokens: &[u32]) -> Result<Option<Reply>> {
        let n_ctx = self.st.kv.n_ctx;
        if prompt_tokens.is_empty() {
            bail!("the chat template rendered an empty prompt");
        }
        if prompt_tokens.len() > n_ctx {
            return Ok(None);
        }
        // Feed at least the last token: its logits give the first token of the reply.
        let keep = common_prefix(&self.cache, prompt_tokens).min(prompt_tokens.len() - 1);
        // The state may keep less than asked (a sliding-window ring that has moved on).
        self.st.truncate(keep);
        let keep = self.st.n_past;
        self.cache.truncate(keep);
        // The first reply token comes from the prompt's logits, each later one needs a free slot.
        let room = n_ctx - prompt_tokens.len() + 1;
        let n_predict = self.n_predict.map_or(room, |n| n.min(room));
        let params = GenParams { n_predict, ignore_eos: false, n_probs: 0, context_shift: None };
        let tok = &self.tok;
        let mut decoder = tok.stream_decoder(false);
        let mut text = String::new();
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let new_tokens = &prompt_tokens[keep..];
        let mut on_token = |t: &Token| {
            // The end-of-generation token ends the reply and is not part of its text.
            if !t.is_eog {
                if let Some(piece) = decoder.push(t.id) {
                    let _ = write!(out, "{piece}");
                    let _ = out.flush();
                    text.push_str(&piece);
                }
            }
            Flow::Continue
        };
        let (st, sampler, cache) = (&mut self.st, &mut self.sampler, &mut self.cache);
        let stats = generate(self.model, st, sampler, new_tokens, cache, &params, &|id| tok.is_eog(id), &mut on_token)?;
        // A character cut off by -n comes out as U+FFFD rather than being lost.
        if let Some(piece) = decoder.finish() {
            write!(out, "{piece}")?;
            text.push_str(&piece);
        }
        writeln!(out)?;
        out.flush()?;
        // generate() leaves the last sampled token in the history without feeding it.
        self.cache.truncate(self.st.n_past);
        print_speed(&stats);
        // Full when generate() stopped on it or -n ran exactly into the end of the context.
        let context_full = stats.stop_reason == StopReason::ContextFull || self.st.n_past >= n_ctx;
        Ok(Some(Reply { text, context_full }))
    }
}

/// How many leading tokens `a` and `b` share.
fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::common_prefix;

    #[test]
    fn common_prefix_lengths() {
        assert_eq!(common_prefix(&[], &[1, 2]), 0);
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2]), 2);
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 5, 3]), 1);
        assert_eq!(common_prefix(&[4], &[1]), 0);
    }
}
