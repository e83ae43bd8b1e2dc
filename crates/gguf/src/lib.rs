//! GGUF, the llama.cpp model format: a validated, zero-copy reader over an mmap, and a writer.
//!
//! Layout (ggml's `docs/gguf.md`): magic `GGUF`, version, tensor count, metadata count, the
//! metadata key/values, the tensor table, padding to `general.alignment`, then the tensor data.
//! Every count, length and offset is checked against the file size before it is used, so a
//! hostile file yields a [`GgufError`] naming the field and byte offset, never a panic or an
//! allocation sized by an unchecked header field.

pub mod error;
pub mod reader;
pub mod types;
pub mod value;
pub mod writer;

pub use error::GgufError;
pub use reader::{GgufFile, TensorInfo};
pub use types::GgmlType;
pub use value::{Array, Value, ValueType};
pub use writer::{GgufWriter, TensorSpec, WriteError};

/// `GGUF` read as a little-endian u32.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's `GGML_MAX_DIMS`.
pub const MAX_DIMS: usize = 4;
