//! llama.cpp's tokenizer test vectors (tests/data/vocab): every text must tokenize to exactly
//! the ids llama.cpp produced (add_special = false, parse_special = false, as its
//! test-tokenizer-0 runs), and, where the tokenizer is lossless, detokenize back to the text.

mod common;

use tokenizer::Tokenizer;

fn check_with(name: &str, tok: &Tokenizer, cases: &[(String, Vec<u32>)], roundtrip: bool) {
    let mut failures = Vec::new();
    let mut roundtrip_failures = Vec::new();
    for (text, want) in cases {
        let got = tok.encode(text, false, false);
        if &got != want {
            failures.push(format!("{text:?}\n   want {want:?}\n    got {got:?}"));
        }
        let back = tok.decode(want, false);
        if roundtrip && &back != text {
            roundtrip_failures.push(format!("{text:?} -> {back:?}"));
        }
    }
    println!("{name}: {}/{} tokenized exactly", cases.len() - failures.len(), cases.len());
    assert!(failures.is_empty(), "{name}: {} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(roundtrip_failures.is_empty(), "{name}: detokenization differs:\n{}", roundtrip_failures.join("\n"));
}

fn check(name: &str) {
    check_with(name, &common::vocab(name), &common::cases(name), true);
}

#[test]
fn gpt_2() {
    check("gpt-2");
}

#[test]
fn llama_bpe() {
    check("llama-bpe");
}

#[test]
fn llama_spm() {
    check("llama-spm");
}

#[test]
fn qwen2() {
    check("qwen2");
}

#[test]
fn phi_3() {
    check("phi-3");
}

#[test]
fn deepseek_coder() {
    check("deepseek-coder");
}

#[test]
fn deepseek_llm() {
    check("deepseek-llm");
}

#[test]
fn falcon() {
    check("falcon");
}

#[test]
fn mpt() {
    check("mpt");
}

#[test]
fn refact() {
    check("refact");
}

#[test]
fn starcoder() {
    check("starcoder");
}

/// WordPiece lowercases and drops accents and control characters: no round trip.
#[test]
fn bert_bge() {
    check_with("bert-bge", &common::vocab("bert-bge"), &common::cases("bert-bge"), false);
}

/// llama.cpp's ggml-vocab-qwen35.gguf is byte for byte ggml-vocab-qwen2.gguf with
/// `tokenizer.ggml.pre` = "qwen35" instead of "qwen2"; it is rebuilt here rather than stored twice.
#[test]
fn qwen35() {
    let mut bytes = std::fs::read(common::data_dir().join("vocab/ggml-vocab-qwen2.gguf")).unwrap();
    let key = b"tokenizer.ggml.pre";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    // type (string = 8), length, text
    assert_eq!(&bytes[at..at + 4], &8u32.to_le_bytes());
    assert_eq!(&bytes[at + 4..at + 17], &[&5u64.to_le_bytes()[..], b"qwen2"].concat()[..]);
    bytes.splice(at + 4..at + 17, [&6u64.to_le_bytes()[..], b"qwen35"].concat());
    let f = gguf::GgufFile::from_bytes(bytes).unwrap();
    let tok = Tokenizer::from_gguf(&f).unwrap();
    assert_eq!(tok.pre(), "qwen35");
    let cases = common::cases("qwen35");
    check_with("qwen35", &tok, &cases, true);
}

/// Gemma 4 (SentencePiece-style BPE) and nomic-bert-moe (Unigram) cut down to a few thousand
/// tokens by scripts/gen-small-vocab.py; their .out files are llama.cpp's tokenization with the
/// cut vocabularies (see tests/data/PROVENANCE.md).
#[test]
fn gemma_4_small() {
    check("gemma-4-small");
}

/// Unigram drops nothing but normalizes (NFKC-like charsmap): no round trip.
#[test]
fn nomic_bert_moe_small() {
    check_with("nomic-bert-moe-small", &common::vocab("nomic-bert-moe-small"), &common::cases("nomic-bert-moe-small"), false);
}

/// Gemma 4's "</s>" is a normal token for llama.cpp even with parse_special: llama-tokenize
/// (BOS added, special tokens parsed) gives these ids for "</s>" with the cut vocabulary.
#[test]
fn gemma_4_end_of_sentence_text_is_plain_text() {
    let tok = common::vocab("gemma-4-small");
    assert_eq!(tok.encode("</s>", true, true), [2, 954, 1160, 1218]);
}
