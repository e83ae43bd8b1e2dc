/// Everything that can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Gguf(#[from] gguf::GgufError),
    #[error("unsupported architecture {0:?} (supported: llama, qwen2, qwen3, gemma3, phi3)")]
    UnsupportedArch(String),
    #[error("tensor {name:?} is missing from the model file")]
    MissingTensor { name: String },
    #[error("tensor {name:?} has shape {found:?}, expected {expected:?}")]
    BadShape { name: String, found: Vec<u64>, expected: Vec<u64> },
    #[error("tensor {name:?} has type {ty}, which cannot be used there")]
    BadTensorType { name: String, ty: gguf::GgmlType },
    #[error("bad hyperparameter {key}: {why}")]
    BadConfig { key: String, why: String },
    #[error("the prompt has {n_prompt} tokens but the context holds {n_ctx}")]
    PromptTooLong { n_prompt: usize, n_ctx: usize },
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the context is full ({n_ctx} tokens); raise -c or enable --context-shift")]
    ContextFull { n_ctx: usize },
    #[error("{what} cache type {ty} needs the head size to be a multiple of {block}, but it is {head_dim}")]
    BadCacheType { what: &'static str, ty: &'static str, head_dim: usize, block: usize },
    #[error("cannot shift the context: keep {n_keep} and discard {n_discard} of {n_past} cached tokens")]
    BadShift { n_keep: usize, n_discard: usize, n_past: usize },
    #[error("token id {id} is outside the vocabulary ({n_vocab} tokens)")]
    BadToken { id: u32, n_vocab: usize },
}
