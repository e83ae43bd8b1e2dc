//! `vibrant tokenize -m MODEL [--no-special] [--pieces] [TEXT | -]`: print the token ids of a text.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Path to a GGUF file.
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// Tokenize as plain text: no BOS/EOS and no special tokens parsed from the text
    /// (add_special = false, parse_special = false, as llama.cpp's tokenizer tests run).
    #[arg(long)]
    pub no_special: bool,
    /// Print one token per line: its id, a tab, and its piece as a quoted string.
    #[arg(long)]
    pub pieces: bool,
    /// The text; `-` or nothing reads standard input (all of it, byte for byte).
    pub text: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let text = match args.text.as_deref() {
        Some(t) if t != "-" => t.to_string(),
        _ => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
            String::from_utf8(buf).map_err(|e| anyhow::anyhow!("standard input is not valid UTF-8 ({})", e.utf8_error()))?
        }
    };
    let file = gguf::GgufFile::open(&args.model).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tok = tokenizer::Tokenizer::from_gguf(&file).with_context(|| format!("{}", args.model.display()))?;
    let special = !args.no_special;
    let ids = tok.encode(&text, special, special);
    let mut out = std::io::stdout().lock();
    if args.pieces {
        for &id in &ids {
            writeln!(out, "{id}\t{}", quote(tok.token_to_piece(id, true)))?;
        }
    } else {
        let line: Vec<String> = ids.iter().map(u32::to_string).collect();
        writeln!(out, "{}", line.join(" "))?;
    }
    Ok(())
}

/// A piece as a double-quoted string with escapes; bytes that are not (yet) whole UTF-8
/// characters are shown as \xNN.
fn quote(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                c if c.is_control() => s.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02X}"));
        }
    }
    s.push('"');
    s
}
