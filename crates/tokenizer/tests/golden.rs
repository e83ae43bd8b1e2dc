//! llama.cpp's outputs on real models (tests/data/golden): prompts tokenize to exactly the
//! reference prompt tokens (add_special = parse_special = true), chat messages render with the
//! model's own template to exactly the reference prompt, and completions detokenize (streamed)
//! to the reference completion text.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use tokenizer::{ChatTemplate, Message, Tokenizer};

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

struct Counts {
    tokens: usize,
    rendered: usize,
    chats: usize,
    completions: usize,
    total: usize,
}

fn check(json: &Path, model: PathBuf) -> Counts {
    let d: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let file = gguf::GgufFile::open(&model).unwrap();
    let tok = Tokenizer::from_gguf(&file).unwrap();
    let tmpl = ChatTemplate::from_gguf(&file, None).unwrap();
    let mut c = Counts { tokens: 0, rendered: 0, chats: 0, completions: 0, total: 0 };
    let mut errors = Vec::new();
    for case in d["cases"].as_array().unwrap() {
        c.total += 1;
        let prompt = match case["kind"].as_str().unwrap() {
            "text" => case["prompt"].as_str().unwrap().to_string(),
            "chat" => {
                c.chats += 1;
                let msgs: Vec<Message> = case["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
                    .collect();
                let want = case["rendered"].as_str().unwrap();
                let got = tmpl.render(&msgs, true).unwrap();
                if got == want {
                    c.rendered += 1;
                } else {
                    errors.push(format!("render: want {want:?}\n got {got:?}"));
                }
                want.to_string()
            }
            k => panic!("unknown case kind {k}"),
        };
        let want = ids(&case["prompt_tokens"]);
        let got = tok.encode(&prompt, true, true);
        if got == want {
            c.tokens += 1;
        } else {
            errors.push(format!("tokens of {prompt:?}:\n want {want:?}\n  got {got:?}"));
        }
        let mut dec = tok.stream_decoder(false);
        let mut text = String::new();
        for id in ids(&case["completion_tokens"]) {
            text.extend(dec.push(id));
        }
        text.extend(dec.finish());
        if text == case["completion_text"].as_str().unwrap() {
            c.completions += 1;
        } else {
            errors.push(format!("completion: want {:?}\n got {text:?}", case["completion_text"]));
        }
    }
    println!(
        "{}: prompt tokens {}/{}, chat prompts rendered {}/{}, completion text {}/{}",
        json.file_name().unwrap().to_string_lossy(),
        c.tokens,
        c.total,
        c.rendered,
        c.chats,
        c.completions,
        c.total
    );
    assert!(errors.is_empty(), "{}:\n{}", json.display(), errors.join("\n"));
    c
}

fn real(json: &str, model: &str) {
    check(&common::data_dir().join("golden").join(json), common::model_path(model));
}

#[test]
fn smollm2() {
    real("smollm2-135m-instruct-q4_1.json", "SmolLM2-135M-Instruct.Q4_1.gguf");
}

#[test]
fn qwen25_coder() {
    real("qwen2.5-coder-0.5b-instruct-q4_k_m.json", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
}

#[test]
fn gemma3() {
    real("gemma-3-270m-q4_k_m.json", "gemma-3-270m-q4_k_m.gguf");
}

#[test]
fn tiny_models() {
    let dir = common::data_dir().join("golden/tiny");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let model = common::data_dir().join("models-tiny").join(p.with_extension("gguf").file_name().unwrap());
            check(&p, model);
            n += 1;
        }
    }
    assert_eq!(n, 4);
}
