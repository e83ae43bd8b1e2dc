//! The NEON kernel tables (plain NEON, and `sdot` where the CPU has dotprod) against the
//! scalar one. Compiled only on aarch64; `scripts/test-aarch64.sh` runs it under qemu.
//!
//! - quantizers (Q8_0, Q8_1, Q8_K, F16; BF16 stays scalar): byte-identical;
//! - dequantize_row: bit-identical, on random rows and on the real-row fixtures;
//! - vec_dot: against the scalar level, within 1e-6 of the sum of |terms| (bounded here by
//!   3 x sum_i blockmax|w| * |x_i|, as in `simd_x86.rs`; the integer parts are exact, only
//!   the float order may differ). The NEON kernels in fact follow the scalar level's float
//!   order exactly, so for every type but Q4_0 this asserts the stronger bit-identity; Q4_0
//!   follows the AVX2 table's repacked order (the scalar level keeps ggml's generic order
//!   there), and is checked bit for bit against that order's scalar statement
//!   ([`quant::emulate::repack_dot_q4_0`]) plus the bound against the scalar level;
//! - gemm: bit-identical to the same table's vec_dot for every (row, column), for row and
//!   column counts that leave odd tile leftovers;
//! - llama.cpp's batched orders (`BatchKernels`: tinyBLAS, tiled K-quant, repacked Q4_0 and
//!   Q4_K gemm/gemv): bit-identical to the scalar table's entries for the same orders, for
//!   any batch shape and output stride (as `batch_x86.rs` checks the AVX2 ones);
//! - attention's `dot_f32` and `fma_row`: bit-identical to the scalar level's;
//! - the plain and sdot tables agree bit for bit (both equal the scalar level).

#![cfg(target_arch = "aarch64")]

#[path = "reference_util.rs"]
mod util;

use gguf::GgmlType;
use proptest::prelude::*;
use quant::kernels::{scalar, GemmFn, Kernels, Level};
use quant::matmul::BatchKernels;
use quant::reference as r;
use quant::simd::neon_table_variant;

/// The tables to test: plain NEON always (NEON is part of every aarch64 Linux target), sdot
/// when this CPU (or qemu) has dotprod.
fn tables() -> Vec<(&'static str, Kernels)> {
    let mut v = vec![("neon", neon_table_variant(scalar(), false).expect("aarch64 has NEON"))];
    match neon_table_variant(scalar(), true) {
        Some(k) => v.push(("neon+dotprod", k)),
        None => eprintln!("note: this CPU lacks dotprod; sdot kernels not tested"),
    }
    v
}

const WEIGHTS: [GgmlType; 13] = quant::kernels::DOT_TYPES;

/// Types whose NEON vec_dot follows the scalar level's float order bit for bit.
const EXACT_VS_SCALAR: [GgmlType; 12] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// Q4_0's order (llama.cpp's repacked gemv, as the AVX2 table): its scalar statement.
fn q4_0_repack_order(w: &[u8], x: &[u8]) -> f32 {
    quant::emulate::repack_dot_q4_0(&util::to_blocks(w), &util::to_blocks(x))
}

/// Relative bound for a vec_dot outside `EXACT_VS_SCALAR`, of the sum of |terms|.
const TERM_BOUND: f64 = 1e-6;

/// A deterministic row: roughly normal values with occasional outliers, all-zero blocks,
/// exact ties, repeated maxima of both signs and tiny magnitudes (the quantizers' corners).
fn row(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut unit = move || (next() >> 40) as f32 / (1u64 << 24) as f32;
    let mode = seed % 7;
    let mut v: Vec<f32> = (0..n)
        .map(|_| {
            let g = (0..4).map(|_| unit()).sum::<f32>() - 2.0;
            let out = if unit() < 0.01 { 6.0 * g.signum() } else { 1.0 };
            g * out
        })
        .collect();
    match mode {
        1 => v.iter_mut().for_each(|x| *x = (*x * 4.0).round() / 2.0),
        2 => {
            v[..32.min(n)].fill(0.0);
            if n >= 64 {
                v[40] = -9.0;
                v[50] = 9.0;
            }
        }
        3 => v.iter_mut().for_each(|x| *x *= 1e-6),
        _ => {}
    }
    if n >= 512 && mode == 4 {
        v[256..512].fill(0.0);
    }
    v
}

fn quantize_ref(ty: GgmlType, v: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; ty.row_bytes(v.len()).unwrap()];
    r::quantize_row_ref(ty, v, &mut out).unwrap();
    out
}

fn dequant_ref(ty: GgmlType, b: &[u8], n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    r::dequantize_row(ty, b, &mut out).unwrap();
    out
}

/// 3 * sum_i blockmax|w| * |x_i|: an upper bound of the sum of |terms| (a term
/// `d*sc*q - dmin*m` has two parts, each at most twice the block's largest weight).
fn term_bound(ty: GgmlType, w: &[f32], x: &[f32]) -> f64 {
    let bs = ty.block_size().max(1);
    let mut total = 0f64;
    for (wb, xb) in w.chunks(bs).zip(x.chunks(bs)) {
        let m = wb.iter().fold(0f32, |a, &b| a.max(b.abs())) as f64;
        total += xb.iter().map(|&v| m * v.abs() as f64).sum::<f64>();
    }
    3.0 * total
}

/// Element counts: whole blocks, odd block counts, and (floats) lengths off the 32-step.
fn lengths(ty: GgmlType) -> Vec<usize> {
    match ty.block_size() {
        1 => vec![1, 7, 32, 33, 96, 255, 512, 1000],
        32 => vec![32, 64, 96, 224, 256, 288, 1024],
        _ => vec![256, 512, 768, 2048],
    }
}

fn check_vec_dot(name: &str, k: &Kernels, ty: GgmlType, n: usize, seed: u64) -> Result<(), TestCaseError> {
    let s = scalar();
    let e = k.get(ty);
    let vt = e.vec_dot_type;
    let w = quantize_ref(ty, &row(seed, n));
    let mut x = vec![0u8; vt.row_bytes(n).unwrap()];
    s.quantize_row(vt, &row(seed.wrapping_mul(31).wrapping_add(7), n), &mut x);
    let got = (e.vec_dot)(n, &w, &x);
    let want = (s.get(ty).vec_dot)(n, &w, &x);
    if EXACT_VS_SCALAR.contains(&ty) {
        prop_assert_eq!(got.to_bits(), want.to_bits(), "{} {} n={} seed={}: {} vs {}", name, ty, n, seed, got, want);
    } else {
        if ty == GgmlType::Q4_0 {
            let order = q4_0_repack_order(&w, &x);
            prop_assert_eq!(got.to_bits(), order.to_bits(), "{} Q4_0 n={} seed={}: {} vs repacked order {}", name, n, seed, got, order);
        }
        let bound = TERM_BOUND * term_bound(ty, &dequant_ref(ty, &w, n), &dequant_ref(vt, &x, n)) + 1e-30;
        let diff = (got as f64 - want as f64).abs();
        prop_assert!(diff <= bound, "{} {} n={} seed={}: {} vs {} (diff {:e} > {:e})", name, ty, n, seed, got, want, diff, bound);
    }
    Ok(())
}

fn check_gemm(name: &str, k: &Kernels, ty: GgmlType, n: usize, nr: usize, nc: usize, seed: u64) -> Result<(), TestCaseError> {
    let e = k.get(ty);
    let vt = e.vec_dot_type;
    let (wb, xb) = (ty.row_bytes(n).unwrap(), vt.row_bytes(n).unwrap());
    let mut w = Vec::with_capacity(nr * wb);
    for i in 0..nr {
        w.extend(quantize_ref(ty, &row(seed + i as u64, n)));
    }
    let mut x = vec![0u8; nc * xb];
    for c in 0..nc {
        k.quantize_row(vt, &row(seed * 3 + 1000 + c as u64, n), &mut x[c * xb..(c + 1) * xb]);
    }
    let stride = nr + (seed % 3) as usize;
    let mut out = vec![f32::NAN; stride * nc];
    (e.gemm)(n, &w, nr, &x, nc, &mut out, stride);
    for c in 0..nc {
        for i in 0..stride {
            let got = out[c * stride + i];
            if i >= nr {
                prop_assert!(got.is_nan(), "{} {} gemm wrote outside its rows", name, ty);
                continue;
            }
            let want = (e.vec_dot)(n, &w[i * wb..(i + 1) * wb], &x[c * xb..(c + 1) * xb]);
            prop_assert_eq!(got.to_bits(), want.to_bits(), "{} {} gemm n={} nr={} nc={} r{} c{}: {} vs {}", name, ty, n, nr, nc, i, c, got, want);
        }
    }
    Ok(())
}

proptest! {
    // As many cases as simd_x86.rs, each over every table (about 10 s under qemu).
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn vec_dot_agrees_with_scalar(seed in any::<u64>(), ti in 0..WEIGHTS.len(), li in 0..8usize) {
        let ty = WEIGHTS[ti];
        let ls = lengths(ty);
        for (name, k) in tables() {
            check_vec_dot(name, &k, ty, ls[li % ls.len()], seed)?;
        }
    }

    #[test]
    fn gemm_is_bit_identical_to_vec_dot(seed in 0..u64::MAX / 4, ti in 0..WEIGHTS.len(), nr in 1..=19usize, nc in 1..=7usize) {
        let ty = WEIGHTS[ti];
        let n = lengths(ty)[1];
        for (name, k) in tables() {
            check_gemm(name, &k, ty, n, nr, nc, seed)?;
        }
    }

    #[test]
    fn dequantize_is_bit_identical(seed in any::<u64>(), ti in 0..WEIGHTS.len(), li in 0..8usize) {
        let ty = WEIGHTS[ti];
        let ls = lengths(ty);
        let n = ls[li % ls.len()];
        let b = quantize_ref(ty, &row(seed, n));
        let want = dequant_ref(ty, &b, n);
        for (name, k) in tables() {
            let mut got = vec![0f32; n];
            (k.get(ty).dequantize_row)(&b, &mut got);
            for i in 0..n {
                prop_assert_eq!(got[i].to_bits(), want[i].to_bits(), "{} {} n={} element {}: {} vs {}", name, ty, n, i, got[i], want[i]);
            }
        }
    }

    /// Attention's f32 kernels: dot_f32 (ggml's order, with its tail) and fma_row, bit for bit.
    #[test]
    fn attention_f32_kernels_are_bit_identical(seed in any::<u64>(), n in 0..300usize, w in -4.0f32..4.0) {
        let s = scalar();
        let (x, y) = (row(seed, n), row(seed ^ 0xABCD, n));
        for (name, k) in tables() {
            let (got, want) = ((k.dot_f32)(&x, &y), (s.dot_f32)(&x, &y));
            prop_assert_eq!(got.to_bits(), want.to_bits(), "{} dot_f32 n={}: {} vs {}", name, n, got, want);
            let (mut a, mut b) = (y.clone(), y.clone());
            (k.fma_row)(&mut a, &x, w);
            (s.fma_row)(&mut b, &x, w);
            prop_assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "{} fma_row n={}", name, n);
        }
    }

    #[test]
    fn batched_orders_are_bit_identical_to_scalar(seed in any::<u64>(), ti in 0..WEIGHTS.len(), li in 0..8usize, nr in 1..=19usize, nc in 1..=19usize) {
        let ty = WEIGHTS[ti];
        let ls = lengths(ty);
        for (name, k) in tables() {
            check_batch(name, &k, ty, ls[li % ls.len()], nr, nc, seed)?;
        }
    }

    #[test]
    fn quantizers_are_byte_identical(seed in any::<u64>(), ti in 0..5usize, blocks in 1..12usize, odd in 0..4usize) {
        let ty = [GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K, GgmlType::F16, GgmlType::BF16][ti];
        // F16/BF16 rows need not be multiples of 4 (the vector step): add 0..3 elements.
        let n = blocks * if ty == GgmlType::Q8_K { 256 } else { 32 } + if ty.block_size() == 1 { odd } else { 0 };
        let v = row(seed, n);
        let mut want = vec![0u8; ty.row_bytes(n).unwrap()];
        scalar().quantize_row(ty, &v, &mut want);
        for (name, k) in tables() {
            let mut got = vec![0u8; ty.row_bytes(n).unwrap()];
            k.quantize_row(ty, &v, &mut got);
            prop_assert_eq!(&got, &want, "{} {} n={} seed={}", name, ty, n, seed);
        }
    }
}

#[test]
fn quantizers_handle_misaligned_buffers() {
    let v = row(5, 512);
    for (name, k) in tables() {
        for ty in [GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K, GgmlType::F16] {
            let nb = ty.row_bytes(512).unwrap();
            let mut buf = vec![0u8; nb + 1];
            let mut want = vec![0u8; nb];
            k.quantize_row(ty, &v, &mut buf[1..]);
            scalar().quantize_row(ty, &v, &mut want);
            assert_eq!(&buf[1..], &want[..], "{name} {ty}");
        }
    }
}

#[test]
fn large_gemm_tiles_match_vec_dot() {
    for (name, k) in tables() {
        for ty in WEIGHTS {
            let n = if ty.block_size() == 256 { 1024 } else { 512 };
            check_gemm(name, &k, ty, n, 17, 9, 42).unwrap();
            check_gemm(name, &k, ty, n, 8, 1, 43).unwrap();
            check_gemm(name, &k, ty, n, 16, 4, 44).unwrap();
        }
    }
}

/// Every weight type has NEON kernels (none is the scalar entry relabelled), and the
/// quantizers that have a NEON version use it.
#[test]
fn neon_tables_cover_every_type() {
    let s = scalar();
    for (name, k) in tables() {
        assert_eq!(k.level, Level::Neon);
        assert!(!std::ptr::fn_addr_eq(k.dot_f32, s.dot_f32 as fn(&[f32], &[f32]) -> f32), "{name}: dot_f32 is still the scalar one");
        for ty in WEIGHTS {
            let (a, b) = (k.get(ty), s.get(ty));
            assert_eq!(a.vec_dot_type, b.vec_dot_type, "{name} {ty}");
            assert!(!std::ptr::fn_addr_eq(a.vec_dot, b.vec_dot), "{name} {ty}: vec_dot is still the scalar one");
            assert!(!std::ptr::fn_addr_eq(a.gemm, b.gemm), "{name} {ty}: gemm is still the scalar one");
            assert!(!std::ptr::fn_addr_eq(a.dequantize_row, b.dequantize_row), "{name} {ty}: dequantize_row is still the scalar one");
        }
    }
}

/// The default table on aarch64 is a NEON one (unless VIBRANT_KERNELS asks otherwise).
#[test]
fn detection_picks_neon() {
    assert_eq!(Level::detect(), Level::Neon);
    let k = quant::kernels::kernels_for(Level::Neon).expect("aarch64 has NEON");
    assert_eq!(k.level, Level::Neon);
}

/// The real-row fixtures (tests/data/fixtures/quant, decoded by gguf-py) through the NEON
/// dequantizers: bit for bit.
#[test]
fn fixtures_dequantize_bit_for_bit() {
    for (name, k) in tables() {
        for ty in util::WEIGHT_TYPES {
            let fx = util::load_fixture(ty);
            let mut out = vec![0f32; fx.n];
            for (ri, (q, e)) in fx.q_rows.iter().zip(&fx.expected).enumerate() {
                (k.get(ty).dequantize_row)(q, &mut out);
                for (i, (a, b)) in out.iter().zip(e).enumerate() {
                    assert_eq!(a.to_bits(), b.to_bits(), "{name} {ty} row {ri} element {i}: {a:e} vs {b:e}");
                }
            }
        }
    }
}

/// The fixture rows as weights, times activations from the NEON quantizers: vec_dot and gemm
/// equal the scalar level's (Q4_0: its repacked order's), on real scale distributions.
#[test]
fn fixtures_vec_dot_matches_scalar() {
    let s = scalar();
    for (name, k) in tables() {
        for ty in util::WEIGHT_TYPES {
            let fx = util::load_fixture(ty);
            let e = k.get(ty);
            let vt = e.vec_dot_type;
            let xb = vt.row_bytes(fx.n).unwrap();
            let mut x = vec![0u8; xb];
            k.quantize_row(vt, &row(11, fx.n), &mut x);
            let w: Vec<u8> = fx.q_rows.concat();
            let mut out = vec![0f32; fx.q_rows.len()];
            (e.gemm)(fx.n, &w, fx.q_rows.len(), &x, 1, &mut out, fx.q_rows.len());
            for (ri, q) in fx.q_rows.iter().enumerate() {
                let want = if ty == GgmlType::Q4_0 { q4_0_repack_order(q, &x) } else { (s.get(ty).vec_dot)(fx.n, q, &x) };
                assert_eq!((e.vec_dot)(fx.n, q, &x).to_bits(), want.to_bits(), "{name} {ty} row {ri}");
                assert_eq!(out[ri].to_bits(), want.to_bits(), "{name} {ty} gemm row {ri}");
            }
        }
    }
}

/// The named batched orders a table has for `ty`.
fn orders(b: BatchKernels) -> [(&'static str, Option<GemmFn>); 4] {
    [("tinyblas", b.tinyblas), ("tiled", b.tiled), ("repack_gemm", b.repack_gemm), ("repack_gemv", b.repack_gemv)]
}

/// Every batched order of `ty` in table `k` against the scalar table's, `nr` rows x `nc` tokens.
fn check_batch(name: &str, k: &Kernels, ty: GgmlType, n: usize, nr: usize, nc: usize, seed: u64) -> Result<(), TestCaseError> {
    let s = scalar();
    let vt = k.get(ty).vec_dot_type;
    let (wb, xb) = (ty.row_bytes(n).unwrap(), vt.row_bytes(n).unwrap());
    let w: Vec<u8> = (0..nr).flat_map(|i| quantize_ref(ty, &row(seed.wrapping_add(i as u64), n))).collect();
    let mut x = vec![0u8; nc * xb];
    for c in 0..nc {
        s.quantize_row(vt, &row(seed.wrapping_mul(3).wrapping_add(1000 + c as u64), n), &mut x[c * xb..(c + 1) * xb]);
    }
    assert_eq!(w.len(), nr * wb);
    let stride = nr + (seed % 3) as usize;
    for ((order, fast), (_, slow)) in orders(k.batch(ty)).into_iter().zip(orders(s.batch(ty))) {
        let (Some(fast), Some(slow)) = (fast, slow) else {
            prop_assert!(fast.is_none() && slow.is_none(), "{} {} {}: the tables disagree on whether it exists", name, ty, order);
            continue;
        };
        let mut got = vec![f32::NAN; stride * nc];
        let mut want = vec![f32::NAN; stride * nc];
        fast(n, &w, nr, &x, nc, &mut got, stride);
        slow(n, &w, nr, &x, nc, &mut want, stride);
        for i in 0..stride * nc {
            prop_assert_eq!(got[i].to_bits(), want[i].to_bits(), "{} {} {} n={} nr={} nc={} at r{} c{}: {} vs {}", name, ty, order, n, nr, nc, i % stride, i / stride, got[i], want[i]);
        }
    }
    Ok(())
}

#[test]
fn large_batches_match_scalar() {
    for (name, k) in tables() {
        for ty in WEIGHTS {
            let n = if ty.block_size() == 256 { 1024 } else { 512 };
            check_batch(name, &k, ty, n, 24, 33, 7).unwrap();
            check_batch(name, &k, ty, n, 13, 16, 8).unwrap();
        }
    }
}

/// The NEON tables have the scalar table's batched orders, each in NEON code.
#[test]
fn batched_orders_are_neon() {
    let s = scalar();
    for (name, k) in tables() {
        for ty in WEIGHTS {
            for ((order, fast), (_, slow)) in orders(k.batch(ty)).into_iter().zip(orders(s.batch(ty))) {
                assert_eq!(fast.is_some(), slow.is_some(), "{name} {ty} {order}");
                if let (Some(f), Some(g)) = (fast, slow) {
                    assert!(!std::ptr::fn_addr_eq(f, g), "{name} {ty} {order}: still the scalar kernel");
                }
            }
        }
    }
}
