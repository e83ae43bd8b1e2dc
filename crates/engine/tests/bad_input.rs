//! Bad input gives a clear error naming the problem, never a panic: broken model files
//! (made by scripts/gen-bad-models.py with the independent `gguf` Python package), prompts
//! that are empty or longer than the context, and token ids outside the vocabulary.

mod common;

use common::*;
use engine::{EngineError, Model, StateOptions};

fn load_err(name: &str) -> String {
    match Model::load(&data(&format!("bad-models/{name}"))) {
        Ok(_) => panic!("{name} loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_models_are_refused_with_the_reason() {
    let e = load_err("unknown-arch.gguf");
    assert!(e.contains("mamba9") && e.contains("architecture"), "{e}");
    let e = load_err("missing-tensor.gguf");
    assert!(e.contains("token_embd.weight") && e.contains("missing"), "{e}");
    let e = load_err("misshaped-tensor.gguf");
    assert!(e.contains("token_embd.weight") && e.contains("shape"), "{e}");
}

#[test]
fn bad_prompts_are_errors() {
    let model = Model::load(&data("models-tiny/tiny-llama-hd96-f16.gguf")).unwrap();
    let mut st = model.new_state(StateOptions { n_ctx: 16, n_batch: 8, n_threads: 1, ..Default::default() });
    assert!(matches!(model.forward(&mut st, &[]), Err(EngineError::EmptyPrompt)));
    let long: Vec<u32> = (0..17).collect();
    assert!(matches!(model.forward(&mut st, &long), Err(EngineError::PromptTooLong { n_prompt: 17, n_ctx: 16 })));
    assert!(matches!(model.forward(&mut st, &[u32::MAX]), Err(EngineError::BadToken { .. })));
    // Nothing was consumed by the refused calls: a valid prompt still fits the whole context.
    let fits: Vec<u32> = (0..16).collect();
    model.forward(&mut st, &fits).unwrap();
    assert!(matches!(model.forward(&mut st, &[1]), Err(EngineError::ContextFull { n_ctx: 16 })));
}
