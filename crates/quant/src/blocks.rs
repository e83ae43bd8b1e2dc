//! Block layouts, byte for byte as ggml stores them (ggml-common.h). `#[repr(C)]` with size
//! asserts; `bytemuck::Pod` so tensor bytes from the mmap can be viewed as blocks without copying.

use bytemuck::{Pod, Zeroable};
use half::f16;

pub use gguf::types::QK_K;
pub const QK4_0: usize = 32;
pub const QK4_1: usize = 32;
pub const QK5_0: usize = 32;
pub const QK5_1: usize = 32;
pub const QK8_0: usize = 32;
pub const QK8_1: usize = 32;
/// Bytes of packed 6-bit scales and mins in Q4_K / Q5_K.
pub const K_SCALE_SIZE: usize = 12;

/// 32 weights: x = d * (q - 8), q in 0..16.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4_0 {
    pub d: f16,
    /// Low nibbles hold elements 0..16, high nibbles 16..32.
    pub qs: [u8; QK4_0 / 2],
}

/// 32 weights: x = d * q + m.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4_1 {
    pub d: f16,
    pub m: f16,
    pub qs: [u8; QK4_1 / 2],
}

/// 32 weights: x = d * (q - 16), q 5 bits; the fifth bits live in `qh`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5_0 {
    pub d: f16,
    pub qh: [u8; 4],
    pub qs: [u8; QK5_0 / 2],
}

/// 32 weights: x = d * q + m, q 5 bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5_1 {
    pub d: f16,
    pub m: f16,
    pub qh: [u8; 4],
    pub qs: [u8; QK5_1 / 2],
}

/// 32 weights: x = d * q, q signed 8 bits. Also the activation format for Q4_0/Q5_0/Q8_0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ8_0 {
    pub d: f16,
    pub qs: [i8; QK8_0],
}

/// Activation format for Q4_1/Q5_1: like Q8_0 plus `s = d * sum(qs)`, which carries the
/// weight block's offset `m` through the dot product.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ8_1 {
    pub d: f16,
    pub s: f16,
    pub qs: [i8; QK8_1],
}

/// 256 weights in 16 groups of 16: x = d * scale * q - dmin * min, q 2 bits, scale/min 4 bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ2K {
    pub scales: [u8; QK_K / 16],
    pub qs: [u8; QK_K / 4],
    pub d: f16,
    pub dmin: f16,
}

/// 256 weights in 16 groups of 16: x = d * (scale - 32) * (q - 4 * !hbit), q 3 bits, scales 6 bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ3K {
    pub hmask: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 4],
    pub scales: [u8; 12],
    pub d: f16,
}

/// 256 weights in 8 groups of 32: x = d * scale * q - dmin * min, q 4 bits, scale/min 6 bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; K_SCALE_SIZE],
    pub qs: [u8; QK_K / 2],
}

/// 256 weights in 8 groups of 32: as Q4_K with a fifth bit per weight in `qh`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; K_SCALE_SIZE],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}

/// 256 weights in 16 groups of 16: x = d * scale * (q - 32), q 6 bits (4 in `ql`, 2 in `qh`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: f16,
}

/// Activation format for the k-quants: f32 scale, 256 signed bytes, and the sums of each
/// group of 16 (used to apply the weights' mins without touching the bytes again).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; QK_K],
    pub bsums: [i16; QK_K / 16],
}

// ggml's sizes (ggml-common.h static_asserts): any drift here corrupts every tensor.
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);
const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22);
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 24);
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);
const _: () = assert!(std::mem::size_of::<BlockQ8_1>() == 36);
const _: () = assert!(std::mem::size_of::<BlockQ2K>() == 84);
const _: () = assert!(std::mem::size_of::<BlockQ3K>() == 110);
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 144);
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176);
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);
const _: () = assert!(std::mem::size_of::<BlockQ8K>() == 292);

#[cfg(test)]
mod tests {
    use super::*;
    use gguf::GgmlType;
    use std::mem::size_of;

    #[test]
    fn layouts_match_the_type_table() {
        let table = [
            (GgmlType::Q4_0, size_of::<BlockQ4_0>(), QK4_0),
            (GgmlType::Q4_1, size_of::<BlockQ4_1>(), QK4_1),
            (GgmlType::Q5_0, size_of::<BlockQ5_0>(), QK5_0),
            (GgmlType::Q5_1, size_of::<BlockQ5_1>(), QK5_1),
            (GgmlType::Q8_0, size_of::<BlockQ8_0>(), QK8_0),
            (GgmlType::Q8_1, size_of::<BlockQ8_1>(), QK8_1),
            (GgmlType::Q2_K, size_of::<BlockQ2K>(), QK_K),
            (GgmlType::Q3_K, size_of::<BlockQ3K>(), QK_K),
            (GgmlType::Q4_K, size_of::<BlockQ4K>(), QK_K),
            (GgmlType::Q5_K, size_of::<BlockQ5K>(), QK_K),
            (GgmlType::Q6_K, size_of::<BlockQ6K>(), QK_K),
            (GgmlType::Q8_K, size_of::<BlockQ8K>(), QK_K),
        ];
        for (t, bytes, block) in table {
            assert_eq!(t.type_size(), bytes, "{t}");
            assert_eq!(t.block_size(), block, "{t}");
        }
    }
}
