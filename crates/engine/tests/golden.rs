//! Parity with llama.cpp on the golden files (F32 KV cache, F32 attention — the reference's
//! settings): free-running greedy decoding and teacher-forced log-probs, for every case of
//! every real and tiny model. See tests/data/golden/README.md for the comparison rules.

mod common;

use common::*;
use engine::kv_cache::KvType;
use engine::{Model, StateOptions};

/// Largest allowed difference between llama.cpp's top-5 log-probs and ours.
const TOL: f32 = 0.05;
/// Below this top-1/top-2 margin llama.cpp's own choice is a near tie.
const TIE: f32 = 0.1;

/// llama.cpp made the references with an F32 cache; ours is F32 too, said here explicitly.
fn state_opts() -> StateOptions {
    StateOptions { n_ctx: 512, n_batch: 512, n_threads: 2, cache_type_k: KvType::F32, cache_type_v: KvType::F32, ..Default::default() }
}

/// Largest |ours - llama.cpp| over llama.cpp's top-5 at one step.
fn top_diff(step: &Step, lp: &[f32]) -> f32 {
    step.top.as_ref().map_or(0.0, |top| top.iter().map(|&(id, l)| (lp[id as usize] - l).abs()).fold(0.0, f32::max))
}

/// Feeds the prompt in the batches llama-server used when it produced the reference and
/// returns the last logits. For a model with sliding-window layers the server evaluates the
/// last 4 prompt tokens (and the 516 before them) as separate batches, so that it can save
/// context checkpoints (tools/server/server-context.cpp, `checkpoint_offsets`); otherwise the
/// whole prompt is one batch. Batch boundaries change llama.cpp's kernels and so the last bits
/// of its logits, which a chaotic model amplifies: the split is part of the reference.
fn feed_prompt(model: &Model, st: &mut engine::State, prompt: &[u32]) -> Vec<f32> {
    let n = prompt.len();
    let mut cuts = vec![0];
    if model.config.sliding_window.is_some() {
        for back in [4 + 512, 4] {
            if n > back {
                cuts.push(n - back);
            }
        }
    }
    cuts.push(n);
    let mut logits = Vec::new();
    for w in cuts.windows(2) {
        logits = model.forward(st, &prompt[w[0]..w[1]]).unwrap().to_vec();
    }
    logits
}

/// Teacher-forced: the prompt as one batch, then llama.cpp's completion fed token by token
/// (as llama.cpp produced the reference: a prompt batch, then single-token decode steps);
/// every step is compared, whatever we would have chosen.
fn teacher_forced(model: &Model, eog: &[u32], case: &Case, name: &str) -> f32 {
    let mut st = model.new_state(state_opts()).unwrap();
    let mut worst = 0.0f32;
    let mut failures = Vec::new();
    let mut logits = feed_prompt(model, &mut st, &case.prompt_tokens);
    for (k, step) in case.steps.iter().enumerate() {
        let lp = log_softmax(&logits);
        let diff = top_diff(step, &lp);
        worst = worst.max(diff);
        if diff > TOL {
            failures.push(format!("step {k}: top-5 log-prob differs by {diff:.4}"));
        }
        // Where llama.cpp reported no probabilities (an incomplete UTF-8 token) the id alone
        // is compared, so it must match as a clear step does.
        if step.margin().is_none_or(|m| m >= TIE) && argmax_ignoring(&logits, eog) != step.id {
            failures.push(format!("step {k}: argmax {} but llama.cpp chose {} (margin {:?})", argmax_ignoring(&logits, eog), step.id, step.margin()));
        }
        if k + 1 < case.steps.len() {
            logits = model.forward(&mut st, &[case.completion_tokens[k]]).unwrap().to_vec();
        }
    }
    assert!(failures.is_empty(), "{name} teacher-forced: {failures:?}");
    worst
}

/// Greedy choice with end-of-generation tokens banned, as llama.cpp's --ignore-eos does.
fn argmax_ignoring(logits: &[f32], eog: &[u32]) -> u32 {
    let mut best = None;
    for (i, &v) in logits.iter().enumerate() {
        if !eog.contains(&(i as u32)) && best.is_none_or(|b: usize| v > logits[b]) {
            best = Some(i);
        }
    }
    best.expect("a non-EOG token") as u32
}

/// Free-running greedy decoding, compared step by step; a near tie may end the case.
fn free_running(model: &Model, eog: &[u32], case: &Case, name: &str) -> (f32, usize) {
    let mut st = model.new_state(state_opts()).unwrap();
    let mut logits = feed_prompt(model, &mut st, &case.prompt_tokens);
    let mut worst = 0.0f32;
    for (k, step) in case.steps.iter().enumerate() {
        let ours = argmax_ignoring(&logits, eog);
        if ours != step.id {
            let margin = step.margin();
            assert!(
                margin.is_some_and(|m| m < TIE),
                "{name} free-running step {k}: we chose {ours}, llama.cpp chose {} with margin {margin:?}",
                step.id
            );
            return (worst, k);
        }
        let diff = top_diff(step, &log_softmax(&logits));
        assert!(diff <= TOL, "{name} free-running step {k}: top-5 log-prob differs by {diff:.4}");
        worst = worst.max(diff);
        logits = model.forward(&mut st, &[ours]).unwrap().to_vec();
    }
    (worst, case.steps.len())
}

fn check_golden(rel: &str, tiny: bool) {
    let golden = load_golden(rel);
    let model = Model::load(model_for_golden(&golden, tiny)).unwrap();
    // llama.cpp produced the completions with EOS ignored, which bans end-of-generation tokens
    // from being chosen (their log-probs are still part of the softmax).
    let eog = tokenizer::Tokenizer::from_gguf(&model.file).unwrap().eog_ids().to_vec();
    for (i, case) in golden.cases.iter().enumerate() {
        let name = format!("{rel} case {i} ({})", case.kind);
        let tf = teacher_forced(&model, &eog, case, &name);
        let (fr, steps) = free_running(&model, &eog, case, &name);
        eprintln!("{name}: teacher-forced max diff {tf:.4}, free-running max diff {fr:.4} over {steps} matching steps");
    }
}

#[test]
fn smollm2_matches_llama_cpp() {
    check_golden("golden/smollm2-135m-instruct-q4_1.json", false);
}

#[test]
fn qwen2_5_matches_llama_cpp() {
    check_golden("golden/qwen2.5-coder-0.5b-instruct-q4_k_m.json", false);
}

#[test]
fn gemma3_matches_llama_cpp() {
    check_golden("golden/gemma-3-270m-q4_k_m.json", false);
}

#[test]
fn tiny_qwen3_matches_llama_cpp() {
    check_golden("golden/tiny/tiny-qwen3-q4_k.json", true);
}

#[test]
fn tiny_phi3_matches_llama_cpp() {
    check_golden("golden/tiny/tiny-phi3-q4_0.json", true);
}

#[test]
fn tiny_llama3_rope_matches_llama_cpp() {
    check_golden("golden/tiny/tiny-llama3rope-q6_k.json", true);
}

#[test]
fn tiny_llama_head_dim_96_matches_llama_cpp() {
    check_golden("golden/tiny/tiny-llama-hd96-f16.json", true);
}
