//! `vibrant template -m MODEL [MESSAGES.json | -] [--chat-template FILE]`: render an
//! OpenAI-style message list with the model's chat template (add_generation_prompt = true).

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use tokenizer::ChatTemplate;

#[derive(clap::Args)]
pub struct Args {
    /// Path to a GGUF file.
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// A JSON array of messages ({"role", "content", ...}), or an object with "messages" and
    /// other template variables ("tools", ...); `-` or nothing reads standard input.
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
    let file = gguf::GgufFile::open(&args.model).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tmpl = ChatTemplate::from_gguf(&file, args.chat_template.as_deref())?;
    let prompt = tmpl.render_json(&json, true)?;
    let mut out = std::io::stdout().lock();
    out.write_all(prompt.as_bytes())?;
    out.flush()?;
    Ok(())
}
