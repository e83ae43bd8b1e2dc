//! `vibrant inspect MODEL [--json]`: a GGUF file's metadata and tensor table.
//!
//! The human form summarizes long arrays and strings; `--json` prints everything:
//! `{"version": N, "metadata": {key: value}, "tensors": [{"name", "type", "shape", "offset"}]}`
//! with metadata in file order, shapes in ggml order (ne0 first) and offsets relative to the
//! data section.

use anyhow::{anyhow, bail, Result};
use gguf::{Array, GgufFile, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// GGUF file, or one of: smollm2, qwen2.5, gemma3.
    #[arg(value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// The same, as an option (`-m MODEL`), like the other subcommands take it.
    #[arg(short = 'm', long = "model", value_name = "MODEL", conflicts_with = "model")]
    pub model_opt: Option<PathBuf>,
    /// Print the whole file description as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arrays longer than this are summarized in the human form.
const ARRAY_SHOWN: usize = 8;
/// Strings longer than this (in chars) are cut in the human form.
const STRING_SHOWN: usize = 80;

pub fn run(args: Args) -> Result<()> {
    let Some(arg) = args.model.or(args.model_opt) else {
        bail!("no model given: vibrant inspect MODEL [--json]");
    };
    let path = crate::common::resolve_model(&arg)?;
    let file = GgufFile::open(&path).map_err(|e| match e {
        gguf::GgufError::Io { .. } => anyhow!("{e}"), // names the path already
        e => anyhow!("{}: {e}", path.display()),
    })?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if args.json { write_json(&mut out, &file) } else { write_human(&mut out, &file) };
    match written.and_then(|_| out.flush()) {
        // `vibrant inspect x | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

// ---- JSON ----

fn write_json(out: &mut impl Write, f: &GgufFile) -> std::io::Result<()> {
    // Assembled by hand, one key or tensor per line, so metadata keeps its file order.
    writeln!(out, "{{\"version\": {},", f.version)?;
    write!(out, " \"metadata\": {{")?;
    for (i, (key, value)) in f.metadata.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        write!(out, "{sep}\n  {}: {}", Json::from(key.as_str()), value_json(value))?;
    }
    write!(out, "\n }},\n \"tensors\": [")?;
    for (i, t) in f.tensors.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let (name, shape) = (Json::from(t.name.as_str()), Json::from(t.dims.clone()));
        let (ty, offset) = (t.ty.name(), t.offset);
        write!(out, "{sep}\n  {{\"name\": {name}, \"type\": \"{ty}\", \"shape\": {shape}, \"offset\": {offset}}}")?;
    }
    writeln!(out, "\n ]}}")
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::U8(x) => Json::from(*x),
        Value::I8(x) => Json::from(*x),
        Value::U16(x) => Json::from(*x),
        Value::I16(x) => Json::from(*x),
        Value::U32(x) => Json::from(*x),
        Value::I32(x) => Json::from(*x),
        Value::U64(x) => Json::from(*x),
        Value::I64(x) => Json::from(*x),
        Value::F32(x) => f32_json(*x),
        Value::F64(x) => Json::from(*x),
        Value::Bool(x) => Json::from(*x),
        Value::String(s) => Json::from(s.as_str()),
        Value::Array(a) => array_json(a),
    }
}

/// An f32 as the shortest decimal that reads back as the same f32 (1e-5, not
/// 9.999999747378752e-6). JSON has no NaN or infinity: those become null.
fn f32_json(x: f32) -> Json {
    x.to_string().parse::<f64>().map(Json::from).unwrap_or(Json::Null)
}

fn array_json(a: &Array) -> Json {
    fn list<T: Copy>(v: &[T], f: impl Fn(T) -> Json) -> Json {
        Json::Array(v.iter().map(|&x| f(x)).collect())
    }
    match a {
        Array::U8(v) => list(v, Json::from),
        Array::I8(v) => list(v, Json::from),
        Array::U16(v) => list(v, Json::from),
        Array::I16(v) => list(v, Json::from),
        Array::U32(v) => list(v, Json::from),
        Array::I32(v) => list(v, Json::from),
        Array::U64(v) => list(v, Json::from),
        Array::I64(v) => list(v, Json::from),
        Array::F32(v) => list(v, f32_json),
        Array::F64(v) => list(v, Json::from),
        Array::Bool(v) => list(v, Json::from),
        Array::String(v) => Json::Array(v.iter().map(|s| Json::from(s.as_str())).collect()),
        Array::Array(v) => Json::Array(v.iter().map(array_json).collect()),
    }
}

// ---- human ----

fn write_human(out: &mut impl Write, f: &GgufFile) -> std::io::Result<()> {
    writeln!(
        out,
        "GGUF v{}: {} metadata keys, {} tensors, alignment {}, data section at byte {} of {}",
        f.version,
        f.metadata.len(),
        f.tensors.len(),
        f.alignment,
        f.data_offset,
        f.bytes().len()
    )?;
    writeln!(out, "\nmetadata:")?;
    let key_w = f.metadata.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in &f.metadata {
        writeln!(out, "  {key:key_w$}  {:<16} {}", value.type_name(), value_text(value))?;
    }

    writeln!(out, "\ntensors (offsets from the data section):")?;
    let rows: Vec<[String; 5]> = f
        .tensors
        .iter()
        .map(|t| {
            let shape = t.dims.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
            [t.name.clone(), t.ty.name().into(), format!("[{shape}]"), t.offset.to_string(), t.size.to_string()]
        })
        .collect();
    let header = ["name", "type", "shape", "offset", "bytes"].map(String::from);
    let mut w = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (wi, cell) in w.iter_mut().zip(row) {
            *wi = (*wi).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let [n, ty, shape, off, size] = row;
        writeln!(out, "  {n:<0$}  {ty:<1$}  {shape:<2$}  {off:>3$}  {size:>4$}", w[0], w[1], w[2], w[3], w[4])?;
    }

    let total: u64 = f.tensors.iter().map(|t| t.size).sum();
    writeln!(out, "\ntotal: {} tensors, {}", f.tensors.len(), bytes_text(total))?;
    let mut per_type: BTreeMap<&str, (usize, u64, u64)> = BTreeMap::new();
    for t in &f.tensors {
        let e = per_type.entry(t.ty.name()).or_default();
        e.0 += 1;
        e.1 += t.size;
        e.2 += t.n_elements();
    }
    let size_w = per_type.values().map(|e| bytes_text(e.1).len()).max().unwrap_or(0);
    for (ty, (n, bytes, elems)) in per_type {
        let bits = if elems == 0 { 0.0 } else { bytes as f64 * 8.0 / elems as f64 };
        writeln!(out, "  {ty:<5} {n:>5} tensors  {:<size_w$}  {bits:.2} bits/weight", bytes_text(bytes))?;
    }
    Ok(())
}

fn bytes_text(n: u64) -> String {
    format!("{n} bytes ({:.2} MiB)", n as f64 / (1024.0 * 1024.0))
}

/// A value on one line: strings quoted and escaped (cut past STRING_SHOWN chars), arrays
/// longer than ARRAY_SHOWN as `[type; N] first few…`.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => string_text(s),
        Value::Array(a) => array_text(a),
        Value::U8(x) => x.to_string(),
        Value::I8(x) => x.to_string(),
        Value::U16(x) => x.to_string(),
        Value::I16(x) => x.to_string(),
        Value::U32(x) => x.to_string(),
        Value::I32(x) => x.to_string(),
        Value::U64(x) => x.to_string(),
        Value::I64(x) => x.to_string(),
        Value::F32(x) => x.to_string(),
        Value::F64(x) => x.to_string(),
        Value::Bool(x) => x.to_string(),
    }
}

fn string_text(s: &str) -> String {
    let n = s.chars().count();
    if n <= STRING_SHOWN {
        return format!("{s:?}");
    }
    let head: String = s.chars().take(STRING_SHOWN).collect();
    let quoted = format!("{head:?}");
    format!("{}…\" ({n} chars)", &quoted[..quoted.len() - 1])
}

fn array_text(a: &Array) -> String {
    let items = array_items(a, ARRAY_SHOWN);
    if a.len() <= ARRAY_SHOWN {
        format!("[{}]", items.join(", "))
    } else {
        format!("[{}; {}] {}, …", elem_type_text(a), a.len(), items.join(", "))
    }
}

fn elem_type_text(a: &Array) -> String {
    match a {
        Array::Array(v) => v.first().map(|inner| format!("array[{}]", elem_type_text(inner))).unwrap_or("array".into()),
        a => a.elem_type().name().to_string(),
    }
}

/// The first `n` elements, each as text.
fn array_items(a: &Array, n: usize) -> Vec<String> {
    fn first<T>(v: &[T], n: usize, f: impl Fn(&T) -> String) -> Vec<String> {
        v.iter().take(n).map(f).collect()
    }
    match a {
        Array::U8(v) => first(v, n, u8::to_string),
        Array::I8(v) => first(v, n, i8::to_string),
        Array::U16(v) => first(v, n, u16::to_string),
        Array::I16(v) => first(v, n, i16::to_string),
        Array::U32(v) => first(v, n, u32::to_string),
        Array::I32(v) => first(v, n, i32::to_string),
        Array::U64(v) => first(v, n, u64::to_string),
        Array::I64(v) => first(v, n, i64::to_string),
        Array::F32(v) => first(v, n, f32::to_string),
        Array::F64(v) => first(v, n, f64::to_string),
        Array::Bool(v) => first(v, n, bool::to_string),
        Array::String(v) => first(v, n, |s| string_text(s)),
        Array::Array(v) => first(v, n, array_text),
    }
}
