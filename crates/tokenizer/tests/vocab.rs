//! llama.cpp's tokenizer test vectors (tests/data/vocab): every text must tokenize to exactly
//! the ids llama.cpp produced (add_special = false, parse_special = false, as its
//! test-tokenizer-0 runs), and detokenize back to the text.

mod common;

fn check(name: &str) {
    let tok = common::vocab(name);
    let cases = common::cases(name);
    let mut failures = Vec::new();
    let mut roundtrip_failures = Vec::new();
    for (text, want) in &cases {
        let got = tok.encode(text, false, false);
        if &got != want {
            failures.push(format!("{text:?}\n   want {want:?}\n    got {got:?}"));
        }
        let back = tok.decode(want, false);
        if &back != text {
            roundtrip_failures.push(format!("{text:?} -> {back:?}"));
        }
    }
    println!(
        "{name}: {}/{} tokenized exactly, {}/{} detokenized back",
        cases.len() - failures.len(),
        cases.len(),
        cases.len() - roundtrip_failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{name}: {} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(roundtrip_failures.is_empty(), "{name}: detokenization differs:\n{}", roundtrip_failures.join("\n"));
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
