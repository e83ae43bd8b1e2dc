//! The inference engine: model loading, the forward pass of each architecture, attention and
//! the KV cache, the thread pool, sampling and the generation loop.

pub mod alloc_count;
pub mod arch;
pub mod attention;
pub mod config;
pub mod debug;
pub mod error;
pub mod flash;
pub mod generate;
pub mod kv_cache;
pub mod matmul;
pub mod model;
pub mod ops;
pub mod parallel;
pub mod perplexity;
pub mod pool;
pub mod rope;
pub mod sampler;
pub mod weights;

pub use config::{Arch, Config};
pub use error::EngineError;
pub use matmul::MatmulMode;
pub use model::{FlashAttn, Model, State, StateOptions};
