//! Perplexity on tests/data/text/gpl-3.txt within 0.5% of llama.cpp's. CI scores the first
//! 2 chunks against llama.cpp's own 2-chunk figure (golden-extra/perplexity-2chunks.json);
//! the full 14-chunk run is recorded in BENCHMARKS.md.

mod common;

use common::*;
use engine::kv_cache::KvType;
use engine::perplexity::perplexity;
use engine::{Model, StateOptions};

fn check(file: &str) {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("golden-extra/perplexity-2chunks.json")).unwrap()).unwrap();
    let want = reference["results"][file]["ppl"].as_f64().unwrap();
    let model = Model::load(&real_model(file)).unwrap();
    let tok = tokenizer::Tokenizer::from_gguf(&model.file).unwrap();
    let text = std::fs::read_to_string(data("text/gpl-3.txt")).unwrap();
    let tokens = tok.encode(&text, true, false);
    let bos = if tok.add_bos() { tok.bos_id() } else { None };
    // llama.cpp's figure was made with -ctk f32 -ctv f32.
    let opts = StateOptions { n_ctx: 512, n_batch: 512, n_threads: 2, cache_type_k: KvType::F32, cache_type_v: KvType::F32, ..Default::default() };
    let mut st = model.new_state(opts).unwrap();
    let r = perplexity(&model, &mut st, &tokens, 512, bos, Some(2), &mut |_, _, _| {}).unwrap();
    let rel = (r.ppl - want).abs() / want;
    eprintln!("{file}: PPL {:.4} +/- {:.5}, llama.cpp {want}, relative difference {rel:.2e}", r.ppl, r.stderr);
    assert_eq!(r.chunks, 2);
    assert!(rel < 0.005, "{file}: PPL {:.4} vs llama.cpp {want}", r.ppl);
}

#[test]
fn smollm2_perplexity_matches_llama_cpp() {
    check("SmolLM2-135M-Instruct.Q4_1.gguf");
}

#[test]
fn qwen2_5_perplexity_matches_llama_cpp() {
    check("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
}

#[test]
fn gemma3_perplexity_matches_llama_cpp() {
    check("gemma-3-270m-q4_k_m.gguf");
}
