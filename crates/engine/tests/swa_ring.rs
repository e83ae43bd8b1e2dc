//! Gemma 3's sliding-window layers keep a ring of window + n_batch - 1 positions instead of
//! the whole context, and give exactly the logits and the perplexity of the full-size cache
//! (llama.cpp's --swa-full), with an F32 and a Q8_0 cache.

mod common;

use common::*;
use engine::kv_cache::KvType;
use engine::perplexity::perplexity;
use engine::{Model, StateOptions};

fn gemma3() -> Model {
    Model::load(real_model("gemma-3-270m-q4_k_m.gguf")).unwrap()
}

fn text_tokens(model: &Model) -> Vec<u32> {
    let tok = tokenizer::Tokenizer::from_gguf(&model.file).unwrap();
    tok.encode(&std::fs::read_to_string(data("text/gpl-3.txt")).unwrap(), true, false)
}

#[test]
fn ring_layers_are_small_and_change_nothing() {
    let model = gemma3();
    let c = &model.config;
    let window = c.sliding_window.expect("gemma3 has windowed layers");
    let tokens = text_tokens(&model);
    let (n_ctx, n_batch) = (1024, 128);
    assert!(window + n_batch - 1 < n_ctx, "the test must exercise a ring");
    // F32 rows go in place where they can; Q8_0 rows always go through staging and conversion.
    for ty in [KvType::F32, KvType::Q8_0] {
        let opts = StateOptions { n_ctx, n_batch, n_threads: 2, cache_type_k: ty, cache_type_v: ty, ..Default::default() };
        let mut ring = model.new_state(opts).unwrap();
        let mut full = model.new_state(StateOptions { swa_full: true, ..opts }).unwrap();
        for il in 0..c.n_layer {
            let want = if c.layer_window(il).is_some() { window + n_batch - 1 } else { n_ctx };
            assert_eq!(ring.kv.n_slots(il), want, "layer {il}");
            assert_eq!(full.kv.n_slots(il), n_ctx, "layer {il}");
        }
        eprintln!("{ty:?}: KV bytes {} with rings, {} full", ring.kv.bytes(), full.kv.bytes());
        assert!(ring.kv.bytes() < full.kv.bytes());

        // A prompt of 900 tokens in batches of 128 (the ring wraps), then decode steps.
        let mut a = model.forward(&mut ring, &tokens[..900]).unwrap().to_vec();
        let mut b = model.forward(&mut full, &tokens[..900]).unwrap().to_vec();
        for step in 0..8 {
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{ty:?} step {step}: logits differ");
            let next = argmax(&a);
            a = model.forward(&mut ring, &[next]).unwrap().to_vec();
            b = model.forward(&mut full, &[next]).unwrap().to_vec();
        }

        // Perplexity of one 1024-token chunk, evaluated in batches of 128.
        let p_ring = perplexity(&model, &mut ring, &tokens, n_ctx, None, Some(1), &mut |_, _, _| {}).unwrap();
        let p_full = perplexity(&model, &mut full, &tokens, n_ctx, None, Some(1), &mut |_, _, _| {}).unwrap();
        eprintln!("{ty:?}: perplexity {} with rings, {} full", p_ring.ppl, p_full.ppl);
        assert_eq!(p_ring.ppl.to_bits(), p_full.ppl.to_bits(), "{ty:?}");
    }
}

/// A context shift in the rings moves and re-rotates the same rows the full-size cache does:
/// after a shift (n_keep 0: with a kept prefix the ring may have overwritten it, see
/// KvCache::shift) both give bit-identical logits.
#[test]
fn a_context_shift_in_the_rings_changes_nothing() {
    let model = gemma3();
    let tokens = text_tokens(&model);
    let (n_ctx, n_batch) = (700, 64);
    for ty in [KvType::F32, KvType::Q8_0] {
        let opts = StateOptions { n_ctx, n_batch, n_threads: 2, cache_type_k: ty, cache_type_v: ty, ..Default::default() };
        let mut ring = model.new_state(opts).unwrap();
        let mut full = model.new_state(StateOptions { swa_full: true, ..opts }).unwrap();
        model.forward(&mut ring, &tokens[..n_ctx]).unwrap();
        model.forward(&mut full, &tokens[..n_ctx]).unwrap();
        model.shift_context(&mut ring, 0, 350).unwrap();
        model.shift_context(&mut full, 0, 350).unwrap();
        let mut next = tokens[n_ctx];
        for step in 0..6 {
            let a = model.forward(&mut ring, &[next]).unwrap().to_vec();
            let b = model.forward(&mut full, &[next]).unwrap().to_vec();
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{ty:?} step {step}: logits differ");
            next = argmax(&a);
        }
    }
}
