//! The fast path against the plain reference forward (`MatmulMode::Reference`: f32
//! activations, each weight row dequantized on the fly, f64 dot products) on the real SmolLM2
//! model, teacher-forced over a golden prompt and its completion. The fast path quantizes
//! activations to 8 bits per weight type, as llama.cpp does, so the two differ by that
//! rounding: documented bound, checked here, on the log-probs of the reference's top 5 and top 1. And
//! wherever the reference's top-1/top-2 margin is clear (>= 0.1 nats), both pick the same token.

mod common;

use common::*;
use engine::{MatmulMode, Model, StateOptions};

/// Largest allowed |log-prob difference| between fast and reference on the reference's top 5
/// and top 1. Measured on this sequence: 0.478 and 0.215 nats. This 135M model in Q4_1 is
/// sensitive to the 8-bit rounding of its activations (which llama.cpp shares: the golden
/// files agree with the fast path to 0.0003); a broken kernel gives whole nats.
const MAX_LOGPROB_DIFF: f32 = 0.6;
const MAX_TOP1_DIFF: f32 = 0.3;

fn logprobs(model: &Model, tokens: &[u32], mode: MatmulMode) -> Vec<Vec<f32>> {
    let mut st = model.new_state(StateOptions { n_ctx: 256, n_batch: 64, n_threads: 2, mode, ..Default::default() }).unwrap();
    let mut out = Vec::new();
    model.forward_all(&mut st, tokens, &mut |_, l| out.push(log_softmax(l))).unwrap();
    out
}

#[test]
fn fast_forward_agrees_with_the_reference_forward() {
    let g = load_golden("golden/smollm2-135m-instruct-q4_1.json");
    let model = Model::load(&model_for_golden(&g, false)).unwrap();
    let c = &g.cases[0];
    let tokens: Vec<u32> = c.prompt_tokens.iter().chain(&c.completion_tokens).copied().collect();
    let fast = logprobs(&model, &tokens, MatmulMode::Fast);
    let reference = logprobs(&model, &tokens, MatmulMode::Reference);
    let (mut worst, mut worst_top1, mut clear, mut same) = (0f32, 0f32, 0, 0);
    for (f, r) in fast.iter().zip(&reference) {
        let mut order: Vec<usize> = (0..r.len()).collect();
        order.select_nth_unstable_by(5, |&a, &b| r[b].total_cmp(&r[a]));
        order.truncate(5);
        order.sort_by(|&a, &b| r[b].total_cmp(&r[a]));
        for &i in &order {
            worst = worst.max((f[i] - r[i]).abs());
        }
        worst_top1 = worst_top1.max((f[order[0]] - r[order[0]]).abs());
        if r[order[0]] - r[order[1]] >= 0.1 {
            clear += 1;
            same += (argmax(f) as usize == order[0]) as usize;
        }
    }
    eprintln!("{} positions: max |Δlogprob| on the reference's top 5 = {worst:.4}, top 1 = {worst_top1:.4}; same argmax at {same} of {clear} clear positions", tokens.len());
    assert!(clear > tokens.len() / 2, "too few clear positions to judge: {clear}");
    assert_eq!(same, clear, "fast and reference disagree at a clear position");
    assert!(worst <= MAX_LOGPROB_DIFF, "fast vs reference, top 5: {worst} nats");
    assert!(worst_top1 <= MAX_TOP1_DIFF, "fast vs reference, top 1: {worst_top1} nats");
}
