#![allow(dead_code)]
use std::path::{Path, PathBuf};

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn load(path: &Path) -> tokenizer::Tokenizer {
    let f = gguf::GgufFile::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tokenizer::Tokenizer::from_gguf(&f).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn vocab(name: &str) -> tokenizer::Tokenizer {
    load(&data_dir().join(format!("vocab/ggml-vocab-{name}.gguf")))
}

/// A real model from `models/`: fetched by scripts/fetch-models.sh when missing.
pub fn model_path(file: &str) -> PathBuf {
    let dir = std::env::var_os("VIBRANT_MODELS").map(PathBuf::from).unwrap_or_else(|| repo_dir().join("models"));
    let p = dir.join(file);
    if !p.exists() {
        let status = std::process::Command::new("bash")
            .arg(repo_dir().join("scripts/fetch-models.sh"))
            .arg(file)
            .status();
        assert!(
            p.exists(),
            "{} is missing and scripts/fetch-models.sh could not fetch it ({status:?}); run `scripts/fetch-models.sh` first",
            p.display()
        );
    }
    p
}

/// (text, expected ids) pairs of llama.cpp's tokenizer test vectors.
pub fn cases(name: &str) -> Vec<(String, Vec<u32>)> {
    let base = data_dir().join(format!("vocab/ggml-vocab-{name}.gguf"));
    cases_at(&base)
}

/// [`cases`] for the vocabulary file `base` (its `.inp` / `.out` beside it).
pub fn cases_at(base: &Path) -> Vec<(String, Vec<u32>)> {
    let name = base.display();
    let inp = std::fs::read_to_string(base.with_extension("gguf.inp")).unwrap();
    let out = std::fs::read_to_string(base.with_extension("gguf.out")).unwrap();
    let mut texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    // Most .inp files end with a separator, some (gemma-4) do not.
    if texts.last() == Some(&"") {
        texts.pop();
    }
    let ids: Vec<Vec<u32>> =
        out.lines().map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect()).collect();
    assert_eq!(texts.len(), ids.len(), "{name}: .inp and .out disagree on the number of cases");
    texts.into_iter().map(String::from).zip(ids).collect()
}

/// A minimal GGUF (no tensors) with the given metadata, for synthetic vocabularies.
pub enum Kv<'a> {
    Str(&'a str),
    U32(u32),
    Bool(bool),
    Strs(Vec<String>),
    I32s(Vec<i32>),
    F32s(Vec<f32>),
}

pub fn gguf_bytes(kvs: &[(&str, Kv)]) -> Vec<u8> {
    fn s(out: &mut Vec<u8>, t: &str) {
        out.extend((t.len() as u64).to_le_bytes());
        out.extend(t.as_bytes());
    }
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(0u64.to_le_bytes());
    out.extend((kvs.len() as u64).to_le_bytes());
    for (k, v) in kvs {
        s(&mut out, k);
        match v {
            Kv::Str(t) => {
                out.extend(8u32.to_le_bytes());
                s(&mut out, t);
            }
            Kv::U32(x) => {
                out.extend(4u32.to_le_bytes());
                out.extend(x.to_le_bytes());
            }
            Kv::Bool(b) => {
                out.extend(7u32.to_le_bytes());
                out.push(*b as u8);
            }
            Kv::Strs(v) => {
                out.extend(9u32.to_le_bytes());
                out.extend(8u32.to_le_bytes());
                out.extend((v.len() as u64).to_le_bytes());
                for t in v {
                    s(&mut out, t);
                }
            }
            Kv::I32s(v) => {
                out.extend(9u32.to_le_bytes());
                out.extend(5u32.to_le_bytes());
                out.extend((v.len() as u64).to_le_bytes());
                for x in v {
                    out.extend(x.to_le_bytes());
                }
            }
            Kv::F32s(v) => {
                out.extend(9u32.to_le_bytes());
                out.extend(6u32.to_le_bytes());
                out.extend((v.len() as u64).to_le_bytes());
                for x in v {
                    out.extend(x.to_le_bytes());
                }
            }
        }
    }
    while !out.len().is_multiple_of(32) {
        out.push(0);
    }
    out
}
