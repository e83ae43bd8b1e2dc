//! `vibrant template -m MODEL [MESSAGES.json | -] [--chat-template FILE]`: render an
//! OpenAI-style message list with the model's chat template (add_generation_prompt = true).

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tokenizer::{ChatTemplate, Message};

#[derive(clap::Args)]
pub struct Args {
    /// Path to a GGUF file.
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// A JSON array of {"role", "content"} objects; `-` or nothing reads standard input.
    pub messages: Option<PathBuf>,
    /// Use this Jinja template file instead of the model's.
    #[arg(long = "chat-template")]
    pub chat_template: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let json = match &args.messages {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        _ => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading standard input")?;
            s
        }
    };
    let messages = parse_messages(&json)?;
    let file = gguf::GgufFile::open(&args.model).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tmpl = ChatTemplate::from_gguf(&file, args.chat_template.as_deref())?;
    let prompt = tmpl.render(&messages, true)?;
    let mut out = std::io::stdout().lock();
    out.write_all(prompt.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Parses `[{"role": ..., "content": ...}]`. Content may be a string, null, or a list of
/// `{"type": "text", "text": ...}` parts (joined).
pub fn parse_messages(json: &str) -> Result<Vec<Message>> {
    let v: Value = serde_json::from_str(json).context("messages are not valid JSON")?;
    let Value::Array(items) = v else { bail!("messages must be a JSON array of {{\"role\", \"content\"}} objects") };
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let role = m.get("role").and_then(Value::as_str).with_context(|| format!("message {i} has no \"role\" string"))?;
            let content = match m.get("content") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => {
                    let mut s = String::new();
                    for p in parts {
                        match p.get("text").and_then(Value::as_str) {
                            Some(t) => s.push_str(t),
                            None => bail!("message {i}: only text content parts are supported"),
                        }
                    }
                    s
                }
                Some(_) => bail!("message {i}: \"content\" must be a string or a list of text parts"),
            };
            Ok(Message::new(role, content))
        })
        .collect()
}
