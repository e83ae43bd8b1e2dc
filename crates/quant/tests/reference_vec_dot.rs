//! Reference dot products against "decode both rows, multiply in f64": the integer block
//! sums must reproduce the decoded dot product up to f32 accumulation, and the result must be
//! within the error the activation quantization explains of the dot product with the
//! unquantized activations. Plus known answers for the activation quantizers' rounding.

#[path = "reference_util.rs"]
mod util;

use gguf::GgmlType;
use quant::blocks::*;
use quant::reference::*;
use util::{Rng, WEIGHT_TYPES};

const N: usize = 4096;

fn quantize(ty: GgmlType, x: &[f32], activation: bool) -> (Vec<u8>, Vec<f32>) {
    let mut q = vec![0u8; ty.row_bytes(x.len()).unwrap()];
    if activation {
        quantize_row(ty, x, &mut q).unwrap();
    } else {
        quantize_row_ref(ty, x, &mut q).unwrap();
    }
    let mut d = vec![0f32; x.len()];
    dequantize_row(ty, &q, &mut d).unwrap();
    (q, d)
}

/// For Q4_1/Q5_1 the dot product uses the activation block's `s = f16(d * sum q8)` rather
/// than `f16(d) * sum q8`; this returns `sum_b |m_b| * |s_b - d_b * sum q8_b|`, the largest
/// difference that can make from the decoded dot product.
fn s_term_slack(ty: GgmlType, w: &[u8], a: &[u8]) -> f64 {
    let ms: Vec<f32> = match ty {
        GgmlType::Q4_1 => util::to_blocks::<BlockQ4_1>(w).iter().map(|b| b.m.to_f32()).collect(),
        GgmlType::Q5_1 => util::to_blocks::<BlockQ5_1>(w).iter().map(|b| b.m.to_f32()).collect(),
        _ => return 0.0,
    };
    let ys = util::to_blocks::<BlockQ8_1>(a);
    ms.iter()
        .zip(&ys)
        .map(|(&m, y)| {
            let sum: i32 = y.qs.iter().map(|&q| q as i32).sum();
            (m as f64).abs() * (y.s.to_f32() as f64 - y.d.to_f32() as f64 * sum as f64).abs()
        })
        .sum()
}

#[test]
fn vec_dot_matches_decoded_rows() {
    let mut rng = Rng::new(7);
    println!("type   worst |err| / sum|w*a| vs decoded   worst (err / activation bound)");
    for ty in [GgmlType::F32].into_iter().chain(WEIGHT_TYPES) {
        let at = vec_dot_type(ty);
        let (mut worst_decoded, mut worst_bound) = (0f64, 0f64);
        for _ in 0..16 {
            let w = rng.row(N);
            let a: Vec<f32> = rng.row(N).iter().map(|v| 3.0 * v).collect();
            let (qw, wd) = quantize(ty, &w, false);
            let (qa, ad) = quantize(at, &a, true);
            let r = vec_dot(ty, N, &qw, &qa).unwrap() as f64;
            let decoded: f64 = wd.iter().zip(&ad).map(|(&x, &y)| x as f64 * y as f64).sum();
            let mag: f64 = wd.iter().zip(&ad).map(|(&x, &y)| (x as f64 * y as f64).abs()).sum();
            // f32 accumulation over N/32 blocks plus the per-element rounding of the decode.
            let slack = s_term_slack(ty, &qw, &qa);
            let tol = 3e-6 * mag + slack;
            let err = (r - decoded).abs();
            worst_decoded = worst_decoded.max((err - slack).max(0.0) / mag);
            assert!(err <= tol, "{ty}: vec_dot {r} vs decoded {decoded} (tolerance {tol:e})");
            // Against the unquantized activations: |sum wd*(a - ad)| <= sum |wd|*|a - ad|.
            let exact: f64 = wd.iter().zip(&a).map(|(&x, &y)| x as f64 * y as f64).sum();
            let bound: f64 = wd.iter().zip(a.iter().zip(&ad)).map(|(&x, (&y, &z))| (x as f64 * (y - z) as f64).abs()).sum();
            let err = (r - exact).abs();
            if bound > 0.0 {
                worst_bound = worst_bound.max(err / (bound + tol));
            }
            assert!(err <= bound + tol, "{ty}: vec_dot {r} vs f32 activations {exact} (bound {bound:e})");
        }
        println!("{:5}  {worst_decoded:.2e}                          {worst_bound:.3}", ty.name());
    }
}

#[test]
fn byte_level_vec_dot_is_the_typed_one() {
    let mut rng = Rng::new(9);
    let (w, a) = (rng.row(512), rng.row(512));
    let (qw, _) = quantize(GgmlType::Q4_K, &w, false);
    let (qa, _) = quantize(GgmlType::Q8_K, &a, true);
    let typed = vec_dot_q4_k_q8_k(
        &util::to_blocks::<BlockQ4K>(&qw),
        &util::to_blocks::<BlockQ8K>(&qa),
    );
    assert_eq!(vec_dot(GgmlType::Q4_K, 512, &qw, &qa).unwrap().to_bits(), typed.to_bits());
}

/// A block whose largest magnitude is 127 gets `d = 1` and `id = 1` in both quantizers, so
/// each value is rounded as is: the AVX2 activation quantizer rounds ties to even, ggml's
/// reference (`roundf`) away from zero.
#[test]
fn q8_activation_quantizers_round_ties_to_even() {
    let mut x = [0f32; 32];
    x[0] = 127.0;
    x[1] = 2.5;
    x[2] = -2.5;
    x[3] = 3.5;
    x[4] = -0.5;
    let mut avx = [BlockQ8_0::zeroed()];
    let mut r = [BlockQ8_0::zeroed()];
    quantize_row_q8_0(&x, &mut avx);
    quantize_row_q8_0_ref(&x, &mut r);
    assert_eq!(&avx[0].qs[..5], &[127, 2, -2, 4, 0]);
    assert_eq!(&r[0].qs[..5], &[127, 3, -3, 4, -1]);
    assert_eq!(avx[0].d.to_f32(), 1.0);
    let mut avx1 = [BlockQ8_1::zeroed()];
    quantize_row_q8_1(&x, &mut avx1);
    assert_eq!(&avx1[0].qs[..5], &[127, 2, -2, 4, 0]);
    assert_eq!(avx1[0].s.to_f32(), 131.0);
    // Q8_K: iscale = -127 / 127 = -1; nearest_int rounds half to even.
    let mut xk = [0f32; 256];
    xk[..5].copy_from_slice(&x[..5]);
    let mut k = [BlockQ8K::zeroed()];
    quantize_row_q8_k(&xk, &mut k);
    assert_eq!(&k[0].qs[..5], &[-127, -2, 2, -4, 0]);
    assert_eq!(k[0].d, -1.0);
    assert_eq!(k[0].bsums[0], -131);
}

/// Apart from ties and the last bit of `id`, the AVX2 and reference Q8_0 quantizers agree.
#[test]
fn q8_activation_and_reference_quantizers_rarely_differ() {
    let mut rng = Rng::new(11);
    let (mut differing, mut total) = (0usize, 0usize);
    for _ in 0..64 {
        let x = rng.row(N);
        let (a, _) = quantize(GgmlType::Q8_0, &x, true);
        let (b, _) = quantize(GgmlType::Q8_0, &x, false);
        for (p, q) in a.chunks_exact(34).zip(b.chunks_exact(34)) {
            total += 1;
            if p != q {
                differing += 1;
                // Same scale; levels off by at most one.
                assert_eq!(p[..2], q[..2]);
                assert!(p[2..].iter().zip(&q[2..]).all(|(&u, &v)| (u as i8 as i32 - v as i8 as i32).abs() <= 1));
            }
        }
    }
    println!("Q8_0 blocks differing between the AVX2 and reference quantizers: {differing}/{total}");
    assert!(differing * 100 <= total, "{differing}/{total}");
}

use bytemuck::Zeroable;
