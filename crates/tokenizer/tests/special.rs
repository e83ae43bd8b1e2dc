//! Special tokens: matching in text, hiding on detokenization, end-of-generation ids, BOS/EOS
//! defaults, and metadata errors.

mod common;

use common::{gguf_bytes, Kv};
use tokenizer::{Tokenizer, TokenizerError};

#[test]
fn control_tokens_are_parsed_only_with_parse_special_and_never_split() {
    let tok = common::load(&common::model_path("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
    let im_start = tok.token_id("<|im_start|>").unwrap();
    let im_end = tok.token_id("<|im_end|>").unwrap();
    let ids = tok.encode("<|im_start|>user\nhi<|im_end|><|im_end|>", true, true);
    assert_eq!(ids[0], im_start);
    assert_eq!(&ids[ids.len() - 2..], &[im_end, im_end]);
    let plain = tok.encode("<|im_start|>user", false, false);
    assert!(!plain.contains(&im_start) && plain.len() > 3, "{plain:?}");
    // Hidden unless asked for.
    assert_eq!(tok.decode(&ids, false), "user\nhi");
    assert_eq!(tok.decode(&ids, true), "<|im_start|>user\nhi<|im_end|><|im_end|>");
    assert_eq!(tok.token_to_piece(im_end, false), b"");
    // User-defined tokens (<tool_call>) are matched even without parse_special, and shown.
    let tc = tok.token_id("<tool_call>").unwrap();
    assert_eq!(tok.encode("a<tool_call>b", false, false)[1], tc);
    assert_eq!(tok.decode(&[tc], false), "<tool_call>");
}

#[test]
fn end_of_generation_ids() {
    let q = common::load(&common::model_path("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
    assert_eq!(q.eos_id(), q.token_id("<|im_end|>"));
    assert!(q.is_eog(q.token_id("<|im_end|>").unwrap()));
    assert!(q.is_eog(q.token_id("<|endoftext|>").unwrap()));
    assert!(!q.is_eog(q.token_id("<|im_start|>").unwrap()));
    assert!(!q.add_bos());

    let g = common::load(&common::model_path("gemma-3-270m-q4_k_m.gguf"));
    assert_eq!(g.eot_id(), g.token_id("<end_of_turn>"));
    assert!(g.is_eog(g.eos_id().unwrap()));
    assert!(g.is_eog(g.token_id("<end_of_turn>").unwrap()));
    assert!(g.add_bos());
    assert_eq!(g.encode("Hi", true, true), [g.bos_id().unwrap(), g.token_id("Hi").unwrap()]);

    let s = common::load(&common::model_path("SmolLM2-135M-Instruct.Q4_1.gguf"));
    assert!(s.is_eog(s.token_id("<|im_end|>").unwrap()));
    assert!(s.is_eog(s.token_id("<|endoftext|>").unwrap()));

    let l = common::vocab("llama-bpe");
    assert!(l.is_eog(l.token_id("<|eot_id|>").unwrap()));
    assert_eq!(l.eot_id(), l.token_id("<|eot_id|>"));
    // llama-bpe adds BOS by default (no add_bos_token key in the file).
    assert_eq!(l.encode("hi", true, false)[0], 128000);
}

#[test]
fn spm_defaults_and_space_prefix() {
    let tok = common::vocab("llama-spm");
    assert_eq!(tok.bos_id(), Some(1));
    assert_eq!(tok.eos_id(), Some(2));
    let ids = tok.encode("Hello", true, false);
    assert_eq!(ids[0], 1);
    assert_eq!(tok.token_text(ids[1]), Some("▁Hello"));
    // After a special token the space prefix is added again.
    let ids = tok.encode("<s>Hello", false, true);
    assert_eq!(ids[0], 1);
    assert_eq!(tok.token_text(ids[1]), Some("▁Hello"));
    // As llama.cpp: removing BOS keeps the space prefix of the first word.
    assert_eq!(tok.decode_llama(&tok.encode("Hello world", true, false), true, false), " Hello world");
    assert_eq!(tok.decode(&tok.encode("Hello world", false, false), false), "Hello world");
}

fn synthetic(pre: &str) -> Result<Tokenizer, TokenizerError> {
    let toks: Vec<String> = ["a", "b", "ab", "<|end|>"].iter().map(|s| s.to_string()).collect();
    let bytes = gguf_bytes(&[
        ("general.architecture", Kv::Str("llama")),
        ("tokenizer.ggml.model", Kv::Str("gpt2")),
        ("tokenizer.ggml.pre", Kv::Str(pre)),
        ("tokenizer.ggml.tokens", Kv::Strs(toks)),
        ("tokenizer.ggml.token_type", Kv::I32s(vec![1, 1, 1, 3])),
        ("tokenizer.ggml.merges", Kv::Strs(vec!["a b".into()])),
        ("tokenizer.ggml.eos_token_id", Kv::U32(3)),
        ("tokenizer.ggml.add_bos_token", Kv::Bool(false)),
    ]);
    let f = gguf::GgufFile::from_bytes(bytes).unwrap();
    Tokenizer::from_gguf(&f)
}

#[test]
fn unknown_pre_tokenizer_is_a_clear_error() {
    let e = synthetic("no-such-pre").err().expect("must fail").to_string();
    assert!(e.contains("no-such-pre") && e.contains("qwen2") && e.contains("llama-bpe") && e.contains("tekken"), "{e}");
    let tok = synthetic("gpt-2").unwrap();
    assert_eq!(tok.encode("ab<|end|>ba", false, true), [2, 3, 1, 0]);
    assert!(tok.is_eog(3));
    let _ = common::Kv::F32s(vec![]);
}

#[test]
fn long_whitespace_runs_with_many_user_defined_tokens() {
    // Gemma has user-defined tokens for runs of 2..31 spaces and 1..31 newlines.
    let g = common::load(&common::model_path("gemma-3-270m-q4_k_m.gguf"));
    let text = format!("a{}b\n\n\n{}c", " ".repeat(200_000), "\n".repeat(100));
    let t = std::time::Instant::now();
    let ids = g.encode(&text, false, false);
    assert!(t.elapsed().as_secs_f64() < 5.0);
    assert_eq!(g.decode(&ids, false), text);
    // Longest first: 31-space tokens, then the rest.
    let sp31 = g.token_id(&" ".repeat(31)).unwrap();
    assert_eq!(ids.iter().filter(|&&i| i == sp31).count(), 200_000 / 31);
}
