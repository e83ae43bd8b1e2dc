//! Zero heap allocations in a steady-state decode step, on a real model, counted by a global
//! allocator, with every KV cache type, and none in a context shift; and a seeded sampler that
//! gives the same tokens twice.

mod common;

use common::*;
use engine::alloc_count::{allocations, count_this_thread, CountingAlloc};
use engine::generate::{generate, Flow, GenParams};
use engine::kv_cache::KvType;
use engine::sampler::{top_logprobs, Sampler, SamplerParams};
use engine::{FlashAttn, Model, StateOptions};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The counter is process-wide: tests in this binary take turns so none counts another's.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn smollm2() -> Model {
    Model::load(&real_model("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap()
}

#[test]
fn decode_step_allocates_nothing() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // This thread drives the engine; the pool's workers count themselves.
    count_this_thread();
    // The counter sees this thread's allocations (so a zero below means something).
    let before = allocations();
    std::hint::black_box(vec![1u8; 64]);
    assert!(allocations() > before, "the counting allocator counts nothing");
    let model = smollm2();
    for (threads, ty) in [(1, KvType::F32), (2, KvType::F32), (2, KvType::F16), (2, KvType::Q8_0), (1, KvType::Q8_0)] {
        let opts = StateOptions { n_ctx: 256, n_batch: 64, n_threads: threads, cache_type_k: ty, cache_type_v: ty, ..Default::default() };
        let mut st = model.new_state(opts).unwrap();
        let mut sampler = Sampler::new(SamplerParams { seed: 1, ..Default::default() }, model.config.n_vocab);
        let mut history: Vec<u32> = Vec::with_capacity(256);
        let mut top = Vec::with_capacity(5);
        let prompt = [504u32, 3575, 282, 4649, 314];
        history.extend_from_slice(&prompt);
        let mut next = sampler.sample(model.forward(&mut st, &prompt).unwrap(), &history);
        // Warm-up steps, then count.
        for step in 0..40 {
            let before = allocations();
            let logits = model.forward(&mut st, &[next]).unwrap();
            let in_forward = allocations() - before;
            top_logprobs(logits, 5, &mut top);
            next = sampler.sample(logits, &history);
            history.push(next);
            let n = allocations() - before;
            if step >= 2 {
                assert_eq!(n, 0, "{ty:?} cache, {threads} threads, step {step}: {n} allocations in a decode step ({in_forward} in forward)");
            }
        }
        // A context shift moves and re-rotates rows in place.
        let before = allocations();
        model.shift_context(&mut st, 1, 10).unwrap();
        let n = allocations() - before;
        assert_eq!(n, 0, "{ty:?} cache: {n} allocations in a context shift");
        let before = allocations();
        model.forward(&mut st, &[next]).unwrap();
        assert_eq!(allocations() - before, 0, "{ty:?} cache: allocations in the step after a shift");
    }
}

#[test]
fn flash_decode_step_at_depth_2048_allocates_nothing() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // This thread drives the engine; the pool's workers count themselves.
    count_this_thread();
    let model = smollm2();
    for (threads, ty) in [(2, KvType::F16), (1, KvType::F16), (2, KvType::Q8_0)] {
        let opts = StateOptions {
            n_ctx: 2304,
            n_batch: 64,
            n_threads: threads,
            cache_type_k: ty,
            cache_type_v: ty,
            flash_attn: FlashAttn::On,
            ..Default::default()
        };
        let mut st = model.new_state(opts).unwrap();
        // Take positions 0..2048 as cached without computing them: the zeroed rows are valid
        // keys and values, and each decode step reads all of them (9 KV blocks per head).
        st.n_past = 2048;
        let mut next = 504u32;
        for step in 0..6 {
            let before = allocations();
            let logits = model.forward(&mut st, &[next]).unwrap();
            let n = allocations() - before;
            next = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as u32;
            if step >= 2 {
                assert_eq!(n, 0, "{ty:?} cache, {threads} threads, depth {}: {n} allocations in a flash decode step", st.n_past);
            }
        }
    }
}

#[test]
fn seeded_sampling_is_reproducible() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // This thread drives the engine; the pool's workers count themselves.
    count_this_thread();
    let model = smollm2();
    let run = |seed: u64| {
        let mut st = model.new_state(StateOptions { n_ctx: 128, n_batch: 32, n_threads: 2, ..Default::default() }).unwrap();
        let mut sampler = Sampler::new(SamplerParams { seed, temp: 1.0, ..Default::default() }, model.config.n_vocab);
        let mut history = Vec::with_capacity(128);
        let mut out = Vec::new();
        let params = GenParams { n_predict: 24, ignore_eos: true, n_probs: 0, context_shift: None };
        generate(&model, &mut st, &mut sampler, &[504, 3575, 282, 4649, 314], &mut history, &params, &|_| false, &mut |t| {
            out.push(t.id);
            Flow::Continue
        })
        .unwrap();
        out
    };
    let a = run(42);
    assert_eq!(a, run(42), "same seed, same tokens");
    assert_ne!(a, run(43), "a different seed should change a 24-token sample at temperature 1");
}
