//! Perplexity on tests/data/text/gpl-3.txt within 0.5% of llama.cpp's. With the F32 cache
//! (llama.cpp's reference settings) CI scores the first 2 chunks against llama.cpp's own 2-chunk
//! figure (golden-extra/perplexity-2chunks.json). With the default F16 cache and flash
//! attention, whose rounding is not llama.cpp's `-fa off`, the same 0.5% bound is the criterion,
//! over all 14 chunks against golden/perplexity.json: an F16 cache turns any change of rounding
//! into f16-ulp flips of cached values, which move a 2-chunk figure by up to ±0.4% (BENCHMARKS.md),
//! so only the full text measures the cache type's cost rather than that noise.
//!
//! `MatmulMode::OwnOrder` (`--fast-prefill`: Q5_0/Q8_0/Q4_K batches in our own order on
//! AVX-512 VNNI, Q5_0 on AVX2) does not give llama.cpp's bits, so the golden tests cannot judge
//! it; it is held to the same 0.5% over the full text, with the default cache. (Without AVX2 it
//! runs the llama.cpp order, and the check is that of the default mode.)

mod common;

use common::*;
use engine::kv_cache::KvType;
use engine::perplexity::perplexity;
use engine::{FlashAttn, MatmulMode, Model, StateOptions};

fn check(file: &str) {
    // llama.cpp's figure was made with -ctk f32 -ctv f32 -fa off.
    check_with(file, KvType::F32, FlashAttn::Off);
}

fn check_with(file: &str, cache: KvType, flash_attn: FlashAttn) {
    check_mode(file, cache, flash_attn, MatmulMode::Fast);
}

fn check_mode(file: &str, cache: KvType, flash_attn: FlashAttn, mode: MatmulMode) {
    let chunks = if cache == KvType::F32 { Some(2) } else { None };
    let golden = if chunks.is_some() { "golden-extra/perplexity-2chunks.json" } else { "golden/perplexity.json" };
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(data(golden)).unwrap()).unwrap();
    let want = reference["results"][file]["ppl"].as_f64().unwrap();
    let model = Model::load(&real_model(file)).unwrap();
    let tok = tokenizer::Tokenizer::from_gguf(&model.file).unwrap();
    let text = std::fs::read_to_string(data("text/gpl-3.txt")).unwrap();
    let tokens = tok.encode(&text, true, false);
    let bos = if tok.add_bos() { tok.bos_id() } else { None };
    let opts = StateOptions { n_ctx: 512, n_batch: 512, n_threads: 2, cache_type_k: cache, cache_type_v: cache, flash_attn, mode, ..Default::default() };
    let mut st = model.new_state(opts).unwrap();
    let r = perplexity(&model, &mut st, &tokens, 512, bos, chunks, &mut |_, _, _| {}).unwrap();
    let rel = (r.ppl - want).abs() / want;
    eprintln!("{file} ({cache:?} cache, flash {flash_attn:?}, {mode:?}): PPL {:.4} +/- {:.5}, llama.cpp {want}, relative difference {rel:.2e}", r.ppl, r.stderr);
    assert_eq!(r.chunks as u64, reference["results"][file]["chunks"].as_u64().unwrap_or(2));
    assert!(rel < 0.005, "{file}: PPL {:.4} vs llama.cpp {want}", r.ppl);
}

#[test]
fn smollm2_perplexity_matches_llama_cpp() {
    check("SmolLM2-135M-Instruct.Q4_1.gguf");
}

#[test]
fn smollm2_perplexity_with_f16_cache_and_flash_attention() {
    check_with("SmolLM2-135M-Instruct.Q4_1.gguf", KvType::F16, FlashAttn::On);
}

#[test]
fn qwen2_5_perplexity_with_f16_cache_and_flash_attention() {
    check_with("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", KvType::F16, FlashAttn::On);
}

#[test]
fn gemma3_perplexity_with_f16_cache_and_flash_attention() {
    check_with("gemma-3-270m-q4_k_m.gguf", KvType::F16, FlashAttn::On);
}

#[test]
fn qwen2_5_perplexity_matches_llama_cpp() {
    check("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
}

#[test]
fn gemma3_perplexity_matches_llama_cpp() {
    check("gemma-3-270m-q4_k_m.gguf");
}

#[test]
fn qwen2_5_perplexity_with_fast_prefill() {
    check_mode("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", KvType::F16, FlashAttn::On, MatmulMode::OwnOrder);
}

#[test]
fn gemma3_perplexity_with_fast_prefill() {
    check_mode("gemma-3-270m-q4_k_m.gguf", KvType::F16, FlashAttn::On, MatmulMode::OwnOrder);
}
