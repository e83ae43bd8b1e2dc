//! Context shift on a real model (SmolLM2): moved rows and re-rotated keys give the logits
//! the unshifted cache gives when it just stops attending to the discarded tokens, for every
//! cache type; generation with a shifting 64-token context goes on past it.
//!
//! Why not compare with a fresh pass over the kept tokens: the cached keys and values of every
//! layer but the first were computed while the discarded tokens were visible, so even exact
//! arithmetic gives other logits (measured on SmolLM2, F32, keep 4 of 60 and drop 28: max
//! logit difference 8.6, the top token differs). That is what a context shift is, in llama.cpp
//! too; the test below isolates what the shift itself must get right.

mod common;

use common::*;
use engine::generate::{generate, Flow, GenParams, StopReason};
use engine::kv_cache::KvType;
use engine::sampler::{Sampler, SamplerParams};
use engine::{MatmulMode, Model, StateOptions};

fn smollm2() -> Model {
    Model::load(real_model("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap()
}

fn opts(n_ctx: usize, ty: KvType) -> StateOptions {
    StateOptions { n_ctx, n_batch: 32, n_threads: 2, cache_type_k: ty, cache_type_v: ty, ..Default::default() }
}

fn text_tokens(model: &Model, n: usize) -> Vec<u32> {
    let tok = tokenizer::Tokenizer::from_gguf(&model.file).unwrap();
    let text = std::fs::read_to_string(data("text/gpl-3.txt")).unwrap();
    tok.encode(&text, true, false)[..n].to_vec()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// With n_keep = 0 a shift must equal, up to float rounding, the same cache that keeps the
/// discarded tokens but no longer attends to them: attention depends only on position
/// differences, and both see the same keys and values at the same distances. (With a kept
/// prefix the distances from the prefix change, so no unshifted cache computes the same.)
///
/// Run with the f32 reference matmul: the fast path quantizes activations to 8 bits before
/// every matmul, and a rounding difference of one ulp anywhere flips some of those roundings
/// and grows to ~1 logit over 30 layers (measured: step 0 bit-identical, then up to 1.3), which
/// would hide what this test looks at.
#[test]
fn shifted_cache_equals_masking_the_discarded_tokens() {
    let model = smollm2();
    let tokens = text_tokens(&model, 60);
    for ty in KvType::ALL {
        let o = StateOptions { mode: MatmulMode::Reference, ..opts(64, ty) };
        // b has room for the steps after its 60 tokens.
        let (mut a, mut b) = (model.new_state(o).unwrap(), model.new_state(StateOptions { n_ctx: 96, ..o }).unwrap());
        model.forward(&mut a, &tokens).unwrap();
        model.forward(&mut b, &tokens).unwrap();
        let n_discard = 29;
        model.shift_context(&mut a, 0, n_discard).unwrap();
        assert_eq!(a.n_past, 60 - n_discard);
        b.kv.forget_before(n_discard);
        // Both go on with the same tokens for a while.
        let mut worst = 0.0f32;
        let mut next = tokens[59];
        for step in 0..12 {
            let la = model.forward(&mut a, &[next]).unwrap().to_vec();
            let lb = model.forward(&mut b, &[next]).unwrap().to_vec();
            let d = max_diff(&la, &lb);
            worst = worst.max(d);
            assert_eq!(argmax(&la), argmax(&lb), "{ty:?} step {step}: greedy choice differs (max logit diff {d})");
            next = argmax(&la);
        }
        eprintln!("{ty:?}: shifted vs masked, max logit difference {worst:.2e}");
        // Re-rotating f32 keys is exact up to rounding (measured 6e-5). F16/Q8_0 keys are
        // rounded once more after the rotation, and the queries, rotated for other positions,
        // round differently into f16/Q8_0 (measured 0.036 and 0.89).
        let tol = match ty {
            KvType::F32 => 1e-3,
            KvType::F16 => 0.1,
            KvType::Q8_0 => 1.5,
        };
        assert!(worst <= tol, "{ty:?}: max logit difference {worst} after a shift");
    }
}

/// `vibrant run -c 64 -n 150 --context-shift --temp 0` as the library runs it: 150 tokens
/// through several shifts, every one a valid token.
#[test]
fn generation_continues_past_a_full_context() {
    let model = smollm2();
    let tok = tokenizer::Tokenizer::from_gguf(&model.file).unwrap();
    let prompt = tok.encode("The history of the Roman Empire", true, true);
    for ty in KvType::ALL {
        let mut st = model.new_state(opts(64, ty)).unwrap();
        let mut sampler = Sampler::new(SamplerParams { temp: 0.0, seed: 1, ..Default::default() }, model.config.n_vocab);
        let mut history = Vec::new();
        let mut out = Vec::new();
        let n_keep = usize::from(tok.add_bos());
        let params = GenParams { n_predict: 150, ignore_eos: true, n_probs: 0, context_shift: Some(n_keep) };
        let stats = generate(&model, &mut st, &mut sampler, &prompt, &mut history, &params, &|_| false, &mut |t| {
            out.push(t.id);
            Flow::Continue
        })
        .unwrap();
        assert_eq!(stats.stop_reason, StopReason::Length);
        assert_eq!(out.len(), 150);
        assert!(stats.n_shifts >= 2, "{ty:?}: {} shifts", stats.n_shifts);
        assert!(st.n_past <= 64);
        eprintln!("{ty:?}: {} shifts: {:?}", stats.n_shifts, tok.decode(&out, false));
        // Without a shift the same run stops at the full context.
        let mut st = model.new_state(opts(64, ty)).unwrap();
        let params = GenParams { context_shift: None, ..params };
        let stats = generate(&model, &mut st, &mut sampler, &prompt, &mut Vec::new(), &params, &|_| false, &mut |_| Flow::Continue).unwrap();
        assert_eq!(stats.stop_reason, StopReason::ContextFull);
        assert_eq!(stats.n_generated, 64 - prompt.len() + 1);
    }
}
