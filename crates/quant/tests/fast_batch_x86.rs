//! Our own batched orders (`BatchKernels::fast`: Q5_0 on AVX2, eight interleaved rows; Q5_0
//! and Q8_0 on AVX-512 VNNI, sixteen) are not llama.cpp's bits, so they are held to the exact value instead:
//! each output against the f64 sum of the dequantized weight row times the dequantized
//! activation row (the quantized operands the kernel sees), within f32 rounding of the sum of
//! the terms' magnitudes. The exact-order kernel is held to the same bound, so the check is
//! as tight as what llama.cpp's own order achieves. Shapes cover the leftover rows (not a
//! multiple of 16) and tokens (not a multiple of 8) that go to the exact kernel, several
//! 64-token passes, an output stride wider than the rows, and rows too long for the stack
//! buffers.
//!
//! A level the CPU lacks is skipped, with a note.

use gguf::GgmlType;
use proptest::prelude::*;
use quant::kernels::{kernels_for, scalar, Kernels, Level};

/// The x86 tables this CPU has, each with the types that have a fast order on it.
fn tables() -> Vec<(Kernels, &'static [GgmlType])> {
    let mut v = Vec::new();
    for (level, types, needs) in [
        (Level::Avx2, &[GgmlType::Q5_0][..], "AVX2+FMA+F16C"),
        (Level::Avx512, &[GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K][..], "AVX-512 F/DQ/BW/VL/VNNI"),
    ] {
        match kernels_for(level) {
            Some(k) => v.push((k, types)),
            None => eprintln!("note: this CPU lacks {needs}; its fast batched order tests skipped"),
        }
    }
    v
}

/// Deterministic values in about -2..2, with some exact zeros and a few outliers.
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
            if i % 97 == 5 {
                v * 40.0
            } else if i % 53 == 0 {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// The fast order of `ty` for `nr` rows x `nc` tokens of `n` columns, output stride `stride`,
/// against the f64 value; the exact order is checked against the same bound.
fn check(k: &Kernels, ty: GgmlType, n: usize, nr: usize, nc: usize, stride: usize, seed: u64) -> Result<(), TestCaseError> {
    let fast = k.batch(ty).fast.expect("a fast order for this type");
    let exact = k.get(ty).gemm;
    let s = scalar();
    let vt = k.get(ty).vec_dot_type;
    let (wrb, xrb) = (ty.row_bytes(n).unwrap(), vt.row_bytes(n).unwrap());
    let mut w = vec![0u8; nr * wrb];
    let mut wf = vec![0f32; nr * n];
    for r in 0..nr {
        let v = values(seed * 1000 + r as u64, n);
        quant::reference::quantize_row(ty, &v, &mut w[r * wrb..(r + 1) * wrb]).unwrap();
        (s.get(ty).dequantize_row)(&w[r * wrb..(r + 1) * wrb], &mut wf[r * n..(r + 1) * n]);
    }
    let mut x = vec![0u8; nc * xrb];
    let mut xf = vec![0f32; nc * n];
    for c in 0..nc {
        let v = values(seed * 1000 + 500 + c as u64, n);
        k.quantize_row(vt, &v, &mut x[c * xrb..(c + 1) * xrb]);
        (s.get(vt).dequantize_row)(&x[c * xrb..(c + 1) * xrb], &mut xf[c * n..(c + 1) * n]);
    }
    let len = (nc - 1) * stride + nr;
    let (mut got, mut want_exact) = (vec![f32::NAN; len], vec![f32::NAN; len]);
    fast(n, &w, nr, &x, nc, &mut got, stride);
    exact(n, &w, nr, &x, nc, &mut want_exact, stride);
    for c in 0..nc {
        for r in 0..nr {
            let (wr, xr) = (&wf[r * n..(r + 1) * n], &xf[c * n..(c + 1) * n]);
            let value: f64 = wr.iter().zip(xr).map(|(&a, &b)| a as f64 * b as f64).sum();
            // The terms' magnitudes, widened by each x times the row's largest weight: a
            // K-quant's scale and min parts are summed apart and may cancel.
            let wmax = wr.iter().fold(0f64, |m, &a| m.max((a as f64).abs()));
            let magnitude: f64 = wr.iter().zip(xr).map(|(&a, &b)| (a as f64 * b as f64).abs() + wmax * (b as f64).abs()).sum();
            // One f32 rounding per block product and per addition: n / 32 blocks.
            let bound = magnitude * (n / 32 + 2) as f64 * f32::EPSILON as f64 + 1e-30;
            for (name, out) in [("fast", &got), ("exact", &want_exact)] {
                let v = out[c * stride + r] as f64;
                prop_assert!(
                    (v - value).abs() <= bound,
                    "{} {} n={} nr={} nc={} r{} c{}: {} vs {} (bound {:e})",
                    ty,
                    name,
                    n,
                    nr,
                    nc,
                    r,
                    c,
                    v,
                    value,
                    bound
                );
            }
        }
    }
    // Nothing outside the output rows is written.
    for c in 0..nc.saturating_sub(1) {
        for i in nr..stride {
            prop_assert!(got[c * stride + i].is_nan(), "{} wrote outside its rows at c{} i{}", ty, c, i);
        }
    }
    Ok(())
}

#[test]
fn fast_orders_exist_where_expected() {
    for (k, types) in tables() {
        for ty in quant::kernels::DOT_TYPES {
            assert_eq!(k.batch(ty).fast.is_some(), types.contains(&ty), "{ty}");
        }
    }
    // The scalar table keeps llama.cpp's orders only.
    assert!(quant::kernels::DOT_TYPES.iter().all(|&ty| scalar().batch(ty).fast.is_none()));
}

#[test]
fn fast_orders_match_the_exact_value() {
    for (k, types) in tables() {
        for &ty in types {
            // Columns: a 0.5B model's (896, or 1024 for the K-quants), one block, the longest
            // row the stack buffers take (5120) and one block more.
            let (bs, n) = (ty.block_size(), if ty.block_size() == 256 { 1024 } else { 896 });
            check(&k, ty, n, 48, 64, 48, 1).unwrap(); // whole panels and groups, one pass
            check(&k, ty, n, 37, 19, 40, 2).unwrap(); // leftover rows and tokens, wider stride
            check(&k, ty, 2 * bs, 16, 150, 16, 3).unwrap(); // several passes, the last partial
            check(&k, ty, bs, 20, 8, 20, 4).unwrap(); // one block per row
            check(&k, ty, 5120, 17, 9, 17, 5).unwrap(); // the longest stacked row
            check(&k, ty, 5120 + bs, 17, 9, 17, 6).unwrap(); // too long: the exact kernel
            check(&k, ty, n, 15, 30, 15, 7).unwrap(); // fewer than 16 rows (on AVX-512 all by the exact kernel)
            check(&k, ty, n, 40, 7, 40, 8).unwrap(); // fewer than 8 tokens: the exact kernel
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn fast_orders_match_the_exact_value_for_any_shape(seed in 1..u64::MAX / 2000, ti in 0..3usize, nbk in 1..40usize, nr in 1..70usize, nc in 1..40usize, pad in 0..5usize) {
        for (k, types) in tables() {
            let ty = types[ti % types.len()];
            let n = if ty.block_size() == 256 { 256 * (1 + nbk % 6) } else { 32 * nbk };
            check(&k, ty, n, nr, nc, nr + pad, seed)?;
        }
    }
}
