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
mod pyrepr;

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
        env.set_formatter(pyrepr::format);
        // Python's `x is iterable`: none and numbers are not, an undefined value is.
        env.add_test("iterable", |v: Value| {
            use minijinja::value::ValueKind as K;
            !matches!(v.kind(), K::None | K::Bool | K::Number)
        });
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
        self.render_context(Value::from(msgs), Vec::new(), add_generation_prompt)
    }

    /// Renders a chat given as JSON, passing it to the template as it is, the way Hugging Face's
    /// `apply_chat_template` does: `json` is an array of message objects (any fields: "content"
    /// may be a list of parts, "tool_calls", ...), or an object with "messages" and other
    /// variables for the template ("tools", "documents", "enable_thinking", ...).
    pub fn render_json(&self, json: &str, add_generation_prompt: bool) -> Result<String, TokenizerError> {
        let bad = |m: String| TokenizerError::Messages(m);
        let v: Value = serde_json::from_str(json).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let (messages, extra) = match v.kind() {
            minijinja::value::ValueKind::Seq => (v, Vec::new()),
            minijinja::value::ValueKind::Map => {
                let mut extra = Vec::new();
                for k in v.try_iter().map_err(|e| bad(e.to_string()))? {
                    let name = k.as_str().unwrap_or_default().to_string();
                    if name != "messages" {
                        extra.push((name, v.get_item(&k).unwrap_or_default()));
                    }
                }
                let m = v.get_attr("messages").unwrap_or_default();
                if m.is_undefined() {
                    return Err(bad("the object has no \"messages\" array".into()));
                }
                (m, extra)
            }
            _ => return Err(bad("expected an array of messages or an object with \"messages\"".into())),
        };
        if messages.kind() != minijinja::value::ValueKind::Seq {
            return Err(bad("\"messages\" must be an array".into()));
        }
        for (i, m) in messages.try_iter().map_err(|e| bad(e.to_string()))?.enumerate() {
            if m.kind() != minijinja::value::ValueKind::Map {
                return Err(bad(format!("message {i} is not an object")));
            }
        }
        self.render_context(messages, extra, add_generation_prompt)
    }

    /// The variables Hugging Face passes: messages, tools and documents (none unless given),
    /// add_generation_prompt, the special tokens; `extra` adds or replaces variables.
    fn render_context(
        &self,
        messages: Value,
        extra: Vec<(String, Value)>,
        add_generation_prompt: bool,
    ) -> Result<String, TokenizerError> {
        let mut vars: Vec<(String, Value)> = vec![
            ("messages".into(), messages),
            ("tools".into(), Value::from(())),
            ("documents".into(), Value::from(())),
            ("add_generation_prompt".into(), Value::from(add_generation_prompt)),
            ("bos_token".into(), Value::from(self.bos_token.clone())),
            ("eos_token".into(), Value::from(self.eos_token.clone())),
        ];
        for (k, v) in extra {
            match vars.iter_mut().find(|(name, _)| *name == k) {
                Some(slot) => slot.1 = v,
                None => vars.push((k, v)),
            }
        }
        let ctx = Value::from_pairs(vars);
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
