//! Helpers shared by the `reference_*` tests (included with `#[path]`; as its own test target
//! it has no tests).
#![allow(dead_code)]

use gguf::{GgmlType, GgufFile};
use std::path::PathBuf;

/// Block types the engine loads weights of, with their fixture file stem: the types with a
/// dot product but F32.
pub const WEIGHT_TYPES: [GgmlType; 12] = {
    let mut t = [GgmlType::F32; 12];
    let mut i = 0;
    while i < 12 {
        t[i] = quant::kernels::DOT_TYPES[i + 1];
        i += 1;
    }
    t
};

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/fixtures/quant"))
}

/// A fixture: the quantized rows of tensor `q` (bytes per row) and tensor `expected`
/// (gguf-py's dequantization, F32).
pub struct Fixture {
    pub ty: GgmlType,
    pub n: usize,
    pub q_rows: Vec<Vec<u8>>,
    pub expected: Vec<Vec<f32>>,
}

pub fn load_fixture(ty: GgmlType) -> Fixture {
    let path = fixture_dir().join(format!("{}.gguf", ty.name().to_lowercase()));
    let f = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let q = f.tensor("q").expect("tensor q");
    let e = f.tensor("expected").expect("tensor expected");
    assert_eq!(q.ty, ty, "{}", path.display());
    assert_eq!(e.ty, GgmlType::F32);
    assert_eq!(q.dims, e.dims);
    let (n, rows) = (q.row_len(), q.n_rows());
    let rb = ty.row_bytes(n).unwrap();
    let qd = f.tensor_data(q);
    let ed = f.tensor_data(e);
    let q_rows = (0..rows).map(|r| qd[r * rb..(r + 1) * rb].to_vec()).collect();
    let expected = (0..rows)
        .map(|r| ed[r * n * 4..(r + 1) * n * 4].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect())
        .collect();
    Fixture { ty, n, q_rows, expected }
}

/// xoshiro-style seeded generator (no dependency; only needs to be deterministic).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
    /// A weight-like row: N(0, 1) with about 1% outliers of 4-8 sigma.
    pub fn row(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let v = self.normal();
                if self.uniform() < 0.01 {
                    v.signum() * (4.0 + 4.0 * self.uniform())
                } else {
                    v
                }
            })
            .collect()
    }
}

pub fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Copies `bytes` into a vector of blocks (works at any alignment).
pub fn to_blocks<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    bytes.chunks_exact(std::mem::size_of::<T>()).map(bytemuck::pod_read_unaligned).collect()
}
