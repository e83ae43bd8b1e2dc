//! The AVX2 kernel table against the scalar one (`reference` / `emulate`), and against the
//! vectors recorded from llama.cpp's own x86 kernels.
//!
//! - quantizers: byte-identical;
//! - dequantize_row: bit-identical;
//! - vec_dot: bit-identical where the scalar level already follows ggml's x86 order
//!   (`EXACT_VS_SCALAR`), otherwise within 1e-5 of the sum of |terms| (bounded here by
//!   3 x sum_i blockmax|w| * |x_i|, since a term `d*sc*q - dmin*m` has two parts each at most
//!   twice the block's largest weight) — the integer parts are exact, only the float order
//!   differs;
//! - gemm: bit-identical to the AVX2 vec_dot for every (row, column), for any tiling.
//!
//! The AVX-512 VNNI table (type-0 gemm tiles) is held to the same gemm check against the AVX2
//! vec_dot, plus random block bytes (every byte value, so the offset trick sees Q8_0's -128).
//!
//! Skipped, with a note, on CPUs without AVX2+FMA+F16C (or AVX-512 VNNI for its tests).

use gguf::GgmlType;
use proptest::prelude::*;
use quant::kernels::{kernels_for, scalar, Kernels, Level};
use quant::reference as r;

fn avx2() -> Option<Kernels> {
    let k = kernels_for(Level::Avx2);
    if k.is_none() {
        eprintln!("note: this CPU lacks AVX2+FMA+F16C; AVX2 kernel tests skipped");
    }
    k
}

fn avx512() -> Option<Kernels> {
    let k = kernels_for(Level::Avx512);
    if k.is_none() {
        eprintln!("note: this CPU lacks AVX-512 F/DQ/BW/VL/VNNI; AVX-512 kernel tests skipped");
    }
    k
}

/// The types with AVX-512 VNNI gemm tiles (Q6_K: its decode tile in vec_dot order).
const VNNI_TYPES: [GgmlType; 5] = [GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q6_K];

/// Weight types (every type with a dot product).
const WEIGHTS: [GgmlType; 13] = quant::kernels::DOT_TYPES;

/// Types whose scalar kernels already compute ggml's x86 float order (so must agree bitwise).
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

/// A deterministic row: roughly normal values with occasional outliers, all-zero blocks,
/// exact ties and repeated maxima of both signs (the quantizers' corner cases).
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
        // Exact multiples of 1/2 so that scaled values land on rounding ties.
        1 => v.iter_mut().for_each(|x| *x = (*x * 4.0).round() / 2.0),
        // A zero block and a block whose maximum appears with both signs.
        2 => {
            v[..32.min(n)].fill(0.0);
            if n >= 64 {
                v[40] = -9.0;
                v[50] = 9.0;
            }
        }
        // Tiny magnitudes (f16 subnormal scales).
        3 => v.iter_mut().for_each(|x| *x *= 1e-6),
        _ => {}
    }
    if n >= 512 && mode == 4 {
        v[256..512].fill(0.0); // an all-zero super-block
        v[300] = 0.0;
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

/// 3 * sum_i blockmax|w| * |x_i| (see the module docs).
fn term_bound(ty: GgmlType, w: &[f32], x: &[f32]) -> f64 {
    let bs = ty.block_size().max(1);
    let mut total = 0f64;
    for (wb, xb) in w.chunks(bs).zip(x.chunks(bs)) {
        let m = wb.iter().fold(0f32, |a, &b| a.max(b.abs())) as f64;
        total += xb.iter().map(|&v| m * v.abs() as f64).sum::<f64>();
    }
    3.0 * total
}

/// Element counts to try for a type: whole blocks, including odd counts and (for floats)
/// lengths that are not multiples of the 32-element step.
fn lengths(ty: GgmlType) -> Vec<usize> {
    match ty.block_size() {
        1 => vec![1, 7, 32, 33, 96, 255, 512, 1000],
        32 => vec![32, 64, 96, 224, 256, 288, 1024],
        _ => vec![256, 512, 768, 2048],
    }
}

fn check_vec_dot(k: &Kernels, ty: GgmlType, n: usize, seed: u64) -> Result<(), TestCaseError> {
    let s = scalar();
    let e = k.get(ty);
    let vt = e.vec_dot_type;
    let wv = row(seed, n);
    let xv = row(seed.wrapping_mul(31).wrapping_add(7), n);
    let w = quantize_ref(ty, &wv);
    let mut x = vec![0u8; vt.row_bytes(n).unwrap()];
    s.quantize_row(vt, &xv, &mut x);
    let got = (e.vec_dot)(n, &w, &x);
    let want = (s.get(ty).vec_dot)(n, &w, &x);
    if EXACT_VS_SCALAR.contains(&ty) {
        prop_assert_eq!(got.to_bits(), want.to_bits(), "{} n={} seed={}: {} vs {}", ty, n, seed, got, want);
    } else {
        let bound = 1e-5 * term_bound(ty, &dequant_ref(ty, &w, n), &dequant_ref(vt, &x, n)) + 1e-30;
        let diff = (got as f64 - want as f64).abs();
        prop_assert!(diff <= bound, "{} n={} seed={}: {} vs {} (diff {:e} > {:e})", ty, n, seed, got, want, diff, bound);
    }
    Ok(())
}

fn check_gemm(k: &Kernels, ty: GgmlType, n: usize, nr: usize, nc: usize, seed: u64) -> Result<(), TestCaseError> {
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
                prop_assert!(got.is_nan(), "{} gemm wrote outside its rows", ty);
                continue;
            }
            let want = (e.vec_dot)(n, &w[i * wb..(i + 1) * wb], &x[c * xb..(c + 1) * xb]);
            prop_assert_eq!(got.to_bits(), want.to_bits(), "{} gemm n={} nr={} nc={} r{} c{}: {} vs {}", ty, n, nr, nc, i, c, got, want);
        }
    }
    Ok(())
}

/// gemm on weight rows of random bytes (each block's leading f16 scales replaced by small
/// normal values) equals vec_dot bit for bit: every quant byte value occurs.
fn check_random_bytes_gemm(k: &Kernels, ty: GgmlType, nr: usize, nc: usize, seed: u64) -> Result<(), TestCaseError> {
    let e = k.get(ty);
    let vt = e.vec_dot_type;
    let n = if ty.block_size() == 256 { 512 } else { 96 };
    let (wb, xb) = (ty.row_bytes(n).unwrap(), vt.row_bytes(n).unwrap());
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut w: Vec<u8> = (0..nr * wb).map(|_| next() as u8).collect();
    let bb = ty.type_size();
    for blk in w.chunks_mut(bb) {
        if ty == GgmlType::Q6_K {
            // d is the block's last f16.
            let v = half::f16::from_f32((1.0 + (next() % 1000) as f32 / 1000.0) * 0.5);
            blk[bb - 2..].copy_from_slice(&v.to_le_bytes());
            continue;
        }
        // d (and m for Q4_1/Q5_1): f16 in +-[0.25, 2).
        for h in 0..2 {
            let v = half::f16::from_f32((1.0 + (next() % 1000) as f32 / 1000.0) * if next() % 2 == 0 { 0.5 } else { -0.5 });
            blk[2 * h..2 * h + 2].copy_from_slice(&v.to_le_bytes());
        }
        if ty == GgmlType::Q8_0 || ty == GgmlType::Q5_0 {
            // Only d is a scale; put random bytes back after it.
            blk[2] = next() as u8;
            blk[3] = next() as u8;
        }
    }
    let mut x = vec![0u8; nc * xb];
    for c in 0..nc {
        k.quantize_row(vt, &row(seed.wrapping_add(c as u64), n), &mut x[c * xb..(c + 1) * xb]);
    }
    let mut out = vec![0f32; nr * nc];
    (e.gemm)(n, &w, nr, &x, nc, &mut out, nr);
    for c in 0..nc {
        for r in 0..nr {
            let want = (e.vec_dot)(n, &w[r * wb..(r + 1) * wb], &x[c * xb..(c + 1) * xb]);
            let got = out[c * nr + r];
            prop_assert_eq!(got.to_bits(), want.to_bits(), "{} random bytes nr={} nc={} r{} c{}: {} vs {}", ty, nr, nc, r, c, got, want);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn vec_dot_agrees_with_scalar(seed in any::<u64>(), ti in 0..WEIGHTS.len(), li in 0..8usize) {
        let Some(k) = avx2() else { return Ok(()) };
        let ty = WEIGHTS[ti];
        let ls = lengths(ty);
        check_vec_dot(&k, ty, ls[li % ls.len()], seed)?;
    }

    #[test]
    fn gemm_is_bit_identical_to_vec_dot(seed in 0..u64::MAX / 4, ti in 0..WEIGHTS.len(), nr in 1..=19usize, nc in 1..=7usize) {
        let Some(k) = avx2() else { return Ok(()) };
        let ty = WEIGHTS[ti];
        let n = lengths(ty)[1];
        check_gemm(&k, ty, n, nr, nc, seed)?;
    }

    #[test]
    fn avx512_gemm_is_bit_identical_to_avx2_vec_dot(seed in 0..u64::MAX / 4, ti in 0..VNNI_TYPES.len(), nr in 1..=19usize, nc in 1..=19usize, li in 0..7usize) {
        let Some(k) = avx512() else { return Ok(()) };
        let ty = VNNI_TYPES[ti];
        prop_assert!(std::ptr::fn_addr_eq(k.get(ty).vec_dot, avx2().unwrap().get(ty).vec_dot), "vec_dot is AVX2's");
        let ls = lengths(ty);
        check_gemm(&k, ty, ls[li % ls.len()], nr, nc, seed)?;
    }

    #[test]
    fn avx512_gemm_on_random_block_bytes(seed in any::<u64>(), ti in 0..VNNI_TYPES.len(), nr in 1..=11usize, nc in 1..=11usize) {
        let Some(k) = avx512() else { return Ok(()) };
        check_random_bytes_gemm(&k, VNNI_TYPES[ti], nr, nc, seed)?;
    }

    #[test]
    fn dequantize_is_bit_identical(seed in any::<u64>(), ti in 0..WEIGHTS.len(), li in 0..8usize) {
        let Some(k) = avx2() else { return Ok(()) };
        let ty = WEIGHTS[ti];
        let ls = lengths(ty);
        let n = ls[li % ls.len()];
        let b = quantize_ref(ty, &row(seed, n));
        let want = dequant_ref(ty, &b, n);
        let mut got = vec![0f32; n];
        (k.get(ty).dequantize_row)(&b, &mut got);
        for i in 0..n {
            prop_assert_eq!(got[i].to_bits(), want[i].to_bits(), "{} n={} element {}: {} vs {}", ty, n, i, got[i], want[i]);
        }
    }

    #[test]
    fn quantizers_are_byte_identical(seed in any::<u64>(), ti in 0..5usize, blocks in 1..12usize) {
        let Some(k) = avx2() else { return Ok(()) };
        let ty = [GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K, GgmlType::F16, GgmlType::BF16][ti];
        let n = blocks * if ty == GgmlType::Q8_K { 256 } else { 32 };
        let v = row(seed, n);
        let (mut got, mut want) = (vec![0u8; ty.row_bytes(n).unwrap()], vec![0u8; ty.row_bytes(n).unwrap()]);
        k.quantize_row(ty, &v, &mut got);
        scalar().quantize_row(ty, &v, &mut want);
        prop_assert_eq!(got, want, "{} n={} seed={}", ty, n, seed);
    }
}

#[test]
fn quantizers_handle_misaligned_buffers() {
    let Some(k) = avx2() else { return };
    let v = row(5, 512);
    for ty in [GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K] {
        let nb = ty.row_bytes(512).unwrap();
        let mut buf = vec![0u8; nb + 1];
        let mut want = vec![0u8; nb];
        k.quantize_row(ty, &v, &mut buf[1..]);
        scalar().quantize_row(ty, &v, &mut want);
        assert_eq!(&buf[1..], &want[..], "{ty}");
    }
}

#[test]
fn large_gemm_tiles_match_vec_dot() {
    let Some(k) = avx2() else { return };
    for ty in WEIGHTS {
        let n = if ty.block_size() == 256 { 1024 } else { 512 };
        check_gemm(&k, ty, n, 17, 9, 42).unwrap();
        check_gemm(&k, ty, n, 8, 1, 43).unwrap();
        check_gemm(&k, ty, n, 16, 4, 44).unwrap();
    }
}

/// Decode tiles take their rows from four far-apart parts of the matrix (fewer when there
/// are too few tiles or the tile height does not divide): 31 rows of 8-row tiles make three
/// tiles from three parts and 7 single rows, 45 make five tiles from four parts, 100 and 203
/// leave a remainder after the parts.
#[test]
fn decode_rows_from_several_streams_match_vec_dot() {
    for k in [avx2(), avx512()].into_iter().flatten() {
        for ty in WEIGHTS {
            let n = if ty.block_size() == 256 { 512 } else { 128 };
            for (i, nr) in [15, 16, 31, 32, 45, 100, 203].into_iter().enumerate() {
                check_gemm(&k, ty, n, nr, 1, 60 + i as u64).unwrap();
            }
        }
    }
}

/// The wide VNNI driver prepares as many groups of 8 tokens as its stack slots hold (320
/// block positions) and decodes each 4 rows once for all of them: rows of 4096 elements fit
/// two groups, so 24 tokens take a set of two and a set of one; rows of 256 fit all five
/// groups of 43 tokens, whose last 3 go to the narrow tiles; 163 rows leave 3 for the
/// single-row tile. Rows of 5120 are the longest the wide path takes, 5152 go narrow.
#[test]
fn avx512_gemm_token_groups_match_vec_dot() {
    let Some(k) = avx512() else { return };
    // The type-0 formats' wide driver (Q6_K has only its decode tile).
    for ty in VNNI_TYPES.into_iter().filter(|t| t.block_size() == 32) {
        check_gemm(&k, ty, 4096, 163, 24, 45).unwrap();
        check_gemm(&k, ty, 256, 163, 43, 46).unwrap();
        check_gemm(&k, ty, 5120, 13, 17, 47).unwrap();
        check_gemm(&k, ty, 5152, 13, 17, 48).unwrap();
    }
}

#[test]
fn avx512_table_is_avx2_plus_vnni_gemm() {
    let (Some(k), Some(a)) = (avx512(), avx2()) else { return };
    assert_eq!(k.level, Level::Avx512);
    for ty in WEIGHTS {
        let (e, b) = (k.get(ty), a.get(ty));
        assert!(std::ptr::fn_addr_eq(e.vec_dot, b.vec_dot), "{ty}: vec_dot");
        assert_eq!(std::ptr::fn_addr_eq(e.gemm, b.gemm), !VNNI_TYPES.contains(&ty), "{ty}: gemm");
    }
    for ty in VNNI_TYPES {
        let n = lengths(ty)[3];
        check_gemm(&k, ty, n, 37, 23, 7).unwrap();
        check_gemm(&k, ty, n, 9, 1, 8).unwrap();
    }
}

#[test]
fn avx2_table_covers_every_type() {
    let Some(k) = avx2() else { return };
    assert_eq!(k.level, Level::Avx2);
    let s = scalar();
    for ty in WEIGHTS {
        let (a, b) = (k.get(ty), s.get(ty));
        assert_eq!(a.vec_dot_type, b.vec_dot_type, "{ty}");
        assert!(!std::ptr::fn_addr_eq(a.vec_dot, b.vec_dot), "{ty}: vec_dot is still the scalar one");
        assert!(!std::ptr::fn_addr_eq(a.gemm, b.gemm), "{ty}: gemm is still the scalar one");
        assert!(!std::ptr::fn_addr_eq(a.dequantize_row, b.dequantize_row), "{ty}: dequantize_row is still the scalar one");
    }
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

/// The recorded llama.cpp vectors (see tests/ggml_vectors.rs for the format): activation
/// bytes must match for every type, and the dot product bit for bit for the types that follow
/// `ggml_vec_dot_*`'s order (Q4_0 follows llama.cpp's repacked gemv instead, so it is only
/// checked to rounding).
#[test]
fn matches_recorded_ggml_vectors() {
    let Some(k) = avx2() else { return };
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/kernels");
    for (name, exact) in [
        ("q4_0", false),
        ("q4_1", true),
        ("q5_0", true),
        ("q5_1", true),
        ("q8_0", true),
        ("q2_K", true),
        ("q3_K", true),
        ("q4_K", true),
        ("q5_K", true),
        ("q6_K", true),
    ] {
        let b = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
        assert_eq!(&b[..4], b"VKV1");
        let ty = GgmlType::from_id(u32_at(&b, 4)).unwrap();
        let (n, rows) = (u32_at(&b, 8) as usize, u32_at(&b, 12) as usize);
        let e = k.get(ty);
        let (wb, ab) = (ty.row_bytes(n).unwrap(), e.vec_dot_type.row_bytes(n).unwrap());
        let mut o = 20;
        let mut act = vec![0u8; ab];
        let mut mismatches = 0;
        for row in 0..rows {
            let a: Vec<f32> = b[o..o + 4 * n].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            o += 4 * n;
            let w = &b[o..o + wb];
            o += wb;
            let aq = &b[o..o + ab];
            o += ab;
            let want = f32::from_le_bytes(b[o..o + 4].try_into().unwrap());
            o += 4;
            k.quantize_row(e.vec_dot_type, &a, &mut act);
            assert_eq!(act, aq, "{name} row {row}: activation bytes differ from ggml's");
            let got = (e.vec_dot)(n, w, aq);
            if got.to_bits() != want.to_bits() {
                mismatches += 1;
                let rel = ((got - want) as f64).abs() / (want.abs() as f64).max(1e-30);
                assert!(!exact, "{name} row {row}: {got} vs ggml {want}");
                assert!(rel < 1e-4, "{name} row {row}: {got} vs ggml {want}");
            }
        }
        eprintln!("{name}: {mismatches}/{rows} dot products differ from ggml_vec_dot's bits{}", if exact { "" } else { " (repacked order)" });
    }
}
