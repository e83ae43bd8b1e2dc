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
    let mut st = model.new_state(StateOptions { n_ctx: 16, n_batch: 8, n_threads: 1, ..Default::default() }).unwrap();
    assert!(matches!(model.forward(&mut st, &[]), Err(EngineError::EmptyPrompt)));
    let long: Vec<u32> = (0..17).collect();
    assert!(matches!(model.forward(&mut st, &long), Err(EngineError::PromptTooLong { n_prompt: 17, n_ctx: 16 })));
    assert!(matches!(model.forward(&mut st, &[u32::MAX]), Err(EngineError::BadToken { .. })));
    // Nothing was consumed by the refused calls: a valid prompt still fits the whole context.
    let fits: Vec<u32> = (0..16).collect();
    model.forward(&mut st, &fits).unwrap();
    assert!(matches!(model.forward(&mut st, &[1]), Err(EngineError::ContextFull { n_ctx: 16 })));
}

/// A Q8_0 cache stores whole 32-element blocks per head: a model with 48-wide heads (the tiny
/// hd96 model's tensors, relabelled as 8 heads of 48) is refused with the reason, while the
/// same model runs with F16.
#[test]
fn a_q8_0_cache_needs_heads_of_whole_blocks() {
    use engine::kv_cache::KvType;
    use gguf::{GgufFile, GgufWriter, Value};
    let base = GgufFile::open(data("models-tiny/tiny-llama-hd96-f16.gguf")).unwrap();
    let mut w = GgufWriter::from_file(&base);
    for (key, v) in [
        ("llama.attention.head_count", 8),
        ("llama.attention.head_count_kv", 4),
        ("llama.attention.key_length", 48),
        ("llama.attention.value_length", 48),
        ("llama.rope.dimension_count", 48),
    ] {
        w.metadata.iter_mut().find(|(k, _)| k == key).expect("key present").1 = Value::U32(v);
    }
    let model = Model::from_gguf(GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()).unwrap();
    assert_eq!(model.config.head_dim, 48);
    let opts = |ty| StateOptions { n_ctx: 16, n_batch: 8, n_threads: 1, cache_type_k: ty, cache_type_v: KvType::F16, ..Default::default() };
    let e = model.new_state(opts(KvType::Q8_0)).err().expect("refused").to_string();
    assert!(e.contains("q8_0") && e.contains("48") && e.contains("32"), "{e}");
    let mut st = model.new_state(opts(KvType::F16)).unwrap();
    model.forward(&mut st, &[1, 2, 3]).unwrap();
}
