//! llama.cpp's batched orders (`quant::matmul::BatchKernels`: tinyBLAS, the tiled K-quant
//! kernel, the repacked gemm/gemv) on the x86 levels against the scalar definitions of the
//! same orders: every output bit-identical, for any batch shape and output stride.
//!
//! The AVX-512 table (its K-quant batched orders run their integer core on paired rows) is
//! held to the same checks.
//!
//! A level the CPU lacks is skipped, with a note.

use gguf::GgmlType;
use proptest::prelude::*;
use quant::kernels::{kernels_for, scalar, GemmFn, Kernels, Level};
use quant::matmul::BatchKernels;
use quant::reference as r;

/// The x86 tables this CPU has: AVX2, and AVX-512 (its K-quant batched orders run their integer
/// core on paired rows), each with a note when missing.
fn tables() -> Vec<Kernels> {
    let mut v = Vec::new();
    for (level, needs) in [(Level::Avx2, "AVX2+FMA+F16C"), (Level::Avx512, "AVX-512 F/DQ/BW/VL/VNNI")] {
        match kernels_for(level) {
            Some(k) => v.push(k),
            None => eprintln!("note: this CPU lacks {needs}; batched {} kernel tests skipped", level.name()),
        }
    }
    v
}

const TYPES: [GgmlType; 13] = quant::kernels::DOT_TYPES;

/// A deterministic row of roughly normal values; some seeds give all-zero stretches, exact
/// halves (rounding ties), tiny magnitudes or rare large outliers.
fn row(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut unit = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut v: Vec<f32> = (0..n).map(|_| (0..4).map(|_| unit()).sum::<f32>() - 2.0).collect();
    match seed % 6 {
        1 => v.iter_mut().for_each(|x| *x = (*x * 4.0).round() / 2.0),
        2 => v[..n / 2].fill(0.0),
        3 => v.iter_mut().for_each(|x| *x *= 1e-6),
        4 => v.iter_mut().step_by(37).for_each(|x| *x *= 50.0),
        _ => {}
    }
    v
}

/// The named orders a table has for `ty`.
fn orders(b: BatchKernels) -> [(&'static str, Option<GemmFn>); 4] {
    [("tinyblas", b.tinyblas), ("tiled", b.tiled), ("repack_gemm", b.repack_gemm), ("repack_gemv", b.repack_gemv)]
}

/// Every batched order of `ty` on table `k` against the scalar one, for `nr` rows x `nc` tokens.
fn check(k: &Kernels, ty: GgmlType, n: usize, nr: usize, nc: usize, seed: u64) -> Result<(), TestCaseError> {
    let s = scalar();
    let vt = k.get(ty).vec_dot_type;
    let (wb, xb) = (ty.row_bytes(n).unwrap(), vt.row_bytes(n).unwrap());
    let mut w = vec![0u8; nr * wb];
    for i in 0..nr {
        r::quantize_row_ref(ty, &row(seed.wrapping_add(i as u64), n), &mut w[i * wb..(i + 1) * wb]).unwrap();
    }
    let mut x = vec![0u8; nc * xb];
    for c in 0..nc {
        s.quantize_row(vt, &row(seed.wrapping_mul(3).wrapping_add(1000 + c as u64), n), &mut x[c * xb..(c + 1) * xb]);
    }
    let stride = nr + (seed % 3) as usize;
    for ((name, fast), (_, slow)) in orders(k.batch(ty)).into_iter().zip(orders(s.batch(ty))) {
        let (Some(fast), Some(slow)) = (fast, slow) else {
            prop_assert!(fast.is_none() && slow.is_none(), "{} {}: the levels disagree on whether it exists", ty, name);
            continue;
        };
        let mut got = vec![f32::NAN; stride * nc];
        let mut want = vec![f32::NAN; stride * nc];
        fast(n, &w, nr, &x, nc, &mut got, stride);
        slow(n, &w, nr, &x, nc, &mut want, stride);
        for i in 0..stride * nc {
            prop_assert_eq!(got[i].to_bits(), want[i].to_bits(), "{} {} n={} nr={} nc={} at r{} c{}: {} vs {}", ty, name, n, nr, nc, i % stride, i / stride, got[i], want[i]);
        }
    }
    Ok(())
}

fn lengths(ty: GgmlType) -> &'static [usize] {
    match ty.block_size() {
        1 => &[8, 13, 64, 100, 257],
        32 => &[32, 96, 256, 512],
        _ => &[256, 512, 768],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn batched_orders_are_bit_identical_to_scalar(seed in any::<u64>(), ti in 0..TYPES.len(), li in 0..5usize, nr in 1..=19usize, nc in 1..=19usize) {
        let ty = TYPES[ti];
        let ls = lengths(ty);
        for k in tables() {
            check(&k, ty, ls[li % ls.len()], nr, nc, seed)?;
        }
    }
}

#[test]
fn large_batches_match() {
    for k in tables() {
        for ty in TYPES {
            let n = if ty.block_size() == 256 { 1024 } else { 512 };
            check(&k, ty, n, 24, 33, 7).unwrap();
            check(&k, ty, n, 13, 16, 8).unwrap();
            check(&k, ty, n, 64, 1, 9).unwrap();
            // Single tokens: decode tiles from several parts of the rows, with a remainder.
            check(&k, ty, n, 203, 1, 13).unwrap();
        }
    }
}

/// Rows of 4096 elements make the tiled drivers cut a matrix into several row blocks (of
/// about 256 KiB of weights each), the last one partial and of odd length. On AVX-512 the
/// K-quants' groups of 8 tokens go by row pairs decoded once for all groups (rows of up to
/// 8192 elements; 8448 take the undecoded tiles).
#[test]
fn several_row_blocks_match() {
    for k in tables() {
        for ty in TYPES {
            check(&k, ty, 4096, 163, 19, 10).unwrap();
            check(&k, ty, 8192, 5, 17, 11).unwrap();
            check(&k, ty, 8448, 5, 17, 12).unwrap();
        }
    }
}

#[test]
fn both_levels_have_the_same_batched_orders() {
    let s = scalar();
    for k in tables() {
        let level = k.level.name();
        for ty in TYPES {
            for ((name, fast), (_, slow)) in orders(k.batch(ty)).into_iter().zip(orders(s.batch(ty))) {
                assert_eq!(fast.is_some(), slow.is_some(), "{level} {ty} {name}");
                if let (Some(f), Some(g)) = (fast, slow) {
                    assert!(!std::ptr::fn_addr_eq(f, g), "{ty} {name}: the {level} table still has the scalar kernel");
                }
            }
        }
    }
}
