//! Batch- and thread-invariant logits (issue #6) in `MatmulMode::Deterministic`: the logits
//! after a real 80-token prompt (which read every earlier position's keys and values in every
//! layer) are bit-identical whether it is fed in one batch, in chunks
//! of 64, 7 or 1 tokens, on 1 or 2 threads. And the default mode is shown to need this: there,
//! llama.cpp's batched kernels round differently from its single-token ones, so the logits do
//! depend on the batch (which is what makes the check above able to fail). Flash attention
//! with an F16 cache keeps the property, over a sequence longer than one KV block.

mod common;

use common::*;
use engine::kv_cache::KvType;
use engine::{FlashAttn, MatmulMode, Model, StateOptions};

/// The last position's logits for `tokens` fed in chunks of `chunk` on `threads` threads.
fn all_logits(model: &Model, tokens: &[u32], chunk: usize, threads: usize, mode: MatmulMode) -> Vec<f32> {
    let mut st = model.new_state(StateOptions { n_ctx: 256, n_batch: chunk, n_threads: threads, mode, ..Default::default() }).unwrap();
    model.forward(&mut st, tokens).unwrap().to_vec()
}

/// A real 80-token sequence: the golden file's prompts and completions, in order.
fn tokens(golden: &str) -> Vec<u32> {
    let g = load_golden(golden);
    g.cases.iter().flat_map(|c| c.prompt_tokens.iter().chain(&c.completion_tokens)).copied().take(80).collect()
}

fn check(golden: &str) {
    let g = load_golden(golden);
    let model = Model::load(&model_for_golden(&g, false)).unwrap();
    let toks = tokens(golden);
    assert!(toks.len() >= 70, "{golden}: want a prompt longer than the largest chunk");
    let one_batch = all_logits(&model, &toks, toks.len(), 1, MatmulMode::Deterministic);
    for threads in [1, 2] {
        for chunk in [toks.len(), 64, 7, 1] {
            let got = all_logits(&model, &toks, chunk, threads, MatmulMode::Deterministic);
            let bad = got.iter().zip(&one_batch).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            assert_eq!(bad, 0, "{golden}: chunks of {chunk} on {threads} threads: {bad} logits differ from one batch");
        }
    }
    // The default (llama.cpp parity) mode is not batch-invariant: one batch vs token by token.
    let fast_batch = all_logits(&model, &toks, toks.len(), 2, MatmulMode::Fast);
    let fast_single = all_logits(&model, &toks, 1, 2, MatmulMode::Fast);
    assert!(fast_batch != fast_single, "{golden}: llama.cpp's batched order unexpectedly equals its single-token order");
}

#[test]
fn smollm2_flash_logits_do_not_depend_on_batching_or_threads() {
    let model = Model::load(&real_model("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let tok = tokenizer::Tokenizer::from_gguf(&model.file).unwrap();
    let text = std::fs::read_to_string(data("text/gpl-3.txt")).unwrap();
    // 300 tokens: the last queries read two KV blocks (flash::BLOCK = 256).
    let toks: Vec<u32> = tok.encode(&text, true, false).into_iter().take(300).collect();
    assert!(toks.len() > engine::flash::BLOCK);
    let logits = |chunk: usize, threads: usize| {
        let o = StateOptions {
            n_ctx: 320,
            n_batch: chunk,
            n_threads: threads,
            mode: MatmulMode::Deterministic,
            cache_type_k: KvType::F16,
            cache_type_v: KvType::F16,
            flash_attn: FlashAttn::On,
            ..Default::default()
        };
        let mut st = model.new_state(o).unwrap();
        model.forward(&mut st, &toks).unwrap().to_vec()
    };
    let one_batch = logits(toks.len(), 1);
    for threads in [1, 2] {
        for chunk in [toks.len(), 64, 7, 1] {
            let got = logits(chunk, threads);
            let bad = got.iter().zip(&one_batch).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            assert_eq!(bad, 0, "flash: chunks of {chunk} on {threads} threads: {bad} logits differ from one batch");
        }
    }
}

#[test]
fn smollm2_logits_do_not_depend_on_batching_or_threads() {
    check("golden/smollm2-135m-instruct-q4_1.json");
}

#[test]
fn qwen25_logits_do_not_depend_on_batching_or_threads() {
    check("golden/qwen2.5-coder-0.5b-instruct-q4_k_m.json");
}

#[test]
fn gemma3_logits_do_not_depend_on_batching_or_threads() {
    check("golden/gemma-3-270m-q4_k_m.json");
}
