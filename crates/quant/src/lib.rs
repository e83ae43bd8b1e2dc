//! Block formats in three layers, as in ggml-cpu: `reference` (scalar, the truth), `simd`
//! (per-architecture kernels computing the same functions) and `repack` (interleaved layouts).
//! The kernel table is chosen once, at load.

pub mod blocks;
pub mod emulate;
pub mod kernels;
pub mod matmul;
pub mod reference;
pub mod simd;
