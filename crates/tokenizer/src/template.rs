//! Chat templates: `tokenizer.chat_template` rendered with MiniJinja the way Hugging Face's
//! `apply_chat_template` renders it with Jinja2 (`trim_blocks` and `lstrip_blocks` on, loop
//! controls, Python string/dict methods, `raise_exception`, `strftime_now`, and a `tojson` that
//! behaves like Python's `json.dumps`). Files without a template get a built-in one chosen by
//! architecture.

use std::path::Path;

use gguf::{Array, GgufFile, Value as GValue};
use minijinja::{Environment, Error, ErrorKind, Value};

use crate::TokenizerError;

mod builtin;
mod pyfns;

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Message {
        Message { role: role.into(), content: content.into() }
    }
}

/// Where a template came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateSource {
    /// `tokenizer.chat_template` in the model file.
    Model,
    /// A file given by the user (`--chat-template`).
    File(std::path::PathBuf),
    /// A built-in template, picked by `general.architecture`; the name says which.
    Builtin(&'static str),
}

pub struct ChatTemplate {
    env: Environment<'static>,
    source_text: String,
    origin: TemplateSource,
    bos_token: String,
    eos_token: String,
}

const NAME: &str = "chat";

impl ChatTemplate {
    /// The model's template, or `override_path`'s contents when given, or a built-in template
    /// for the architecture when the file has none (logged).
    pub fn from_gguf(file: &GgufFile, override_path: Option<&Path>) -> Result<ChatTemplate, TokenizerError> {
        let (text, origin) = if let Some(p) = override_path {
            let t = std::fs::read_to_string(p).map_err(|e| TokenizerError::Io { path: p.to_path_buf(), source: e })?;
            (t, TemplateSource::File(p.to_path_buf()))
        } else if let Some(t) = file.get("tokenizer.chat_template").and_then(GValue::as_str) {
            (t.to_string(), TemplateSource::Model)
        } else {
            let arch = file.get("general.architecture").and_then(GValue::as_str).unwrap_or("");
            let (name, t) = builtin::for_arch(arch);
            tracing::info!("the model has no tokenizer.chat_template; using the built-in {name} template for architecture {arch:?}");
            (t.to_string(), TemplateSource::Builtin(name))
        };
        // bos_token / eos_token: the texts of the ids the tokenizer uses (llama.cpp's defaults
        // when the file does not say: 1 and 2 for SentencePiece, 11 for byte-level BPE).
        let model = file.get("tokenizer.ggml.model").and_then(GValue::as_str).unwrap_or("");
        let (def_bos, def_eos) = match model {
            "llama" => (Some(1), Some(2)),
            "gpt2" => (Some(11), Some(11)),
            _ => (None, None),
        };
        let token_text = |key: &str, default: Option<u64>| -> String {
            let id = file.get(key).and_then(GValue::as_u64).or(default);
            match (id, file.get("tokenizer.ggml.tokens")) {
                (Some(id), Some(GValue::Array(Array::String(toks)))) => toks.get(id as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            }
        };
        let bos = token_text("tokenizer.ggml.bos_token_id", def_bos);
        let eos = token_text("tokenizer.ggml.eos_token_id", def_eos);
        ChatTemplate::new(text, origin, bos, eos)
    }

    /// A template from its source text.
    pub fn new(
        text: String,
        origin: TemplateSource,
        bos_token: String,
        eos_token: String,
    ) -> Result<ChatTemplate, TokenizerError> {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .map_err(|e| TokenizerError::Template(e.to_string()))?,
        );
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_function("strftime_now", |fmt: String| -> String { pyfns::strftime_now(&fmt) });
        env.add_filter("tojson", pyfns::tojson);
        let cleaned = strip_generation_tags(&text);
        env.add_template_owned(NAME, cleaned).map_err(|e| TokenizerError::Template(describe(&e)))?;
        Ok(ChatTemplate { env, source_text: text, origin, bos_token, eos_token })
    }

    pub fn source(&self) -> &TemplateSource {
        &self.origin
    }

    pub fn text(&self) -> &str {
        &self.source_text
    }

    /// Renders `messages` (`add_generation_prompt` appends the assistant header).
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, TokenizerError> {
        let msgs: Vec<Value> = messages
            .iter()
            .map(|m| Value::from_pairs([("role", m.role.as_str()), ("content", m.content.as_str())]))
            .collect();
        let ctx = minijinja::context! {
            messages => msgs,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.clone(),
            eos_token => self.eos_token.clone(),
        };
        let tmpl = self.env.get_template(NAME).map_err(|e| TokenizerError::Template(describe(&e)))?;
        tmpl.render(ctx).map_err(|e| TokenizerError::Template(describe(&e)))
    }
}

/// One-line description of a template error, with its cause.
fn describe(e: &Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s.replace('\n', " ")
}

/// Hugging Face's `{% generation %}` / `{% endgeneration %}` only mark assistant text for
/// training masks; they render nothing, and MiniJinja does not know them.
fn strip_generation_tags(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut rest = t;
    while let Some(i) = rest.find("{%") {
        let Some(j) = rest[i..].find("%}") else { break };
        let inner = rest[i + 2..i + j].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        out.push_str(&rest[..i]);
        if inner != "generation" && inner != "endgeneration" {
            out.push_str(&rest[i..i + j + 2]);
        }
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    out
}
