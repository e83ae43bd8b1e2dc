//! quantize -> dequantize round trips: the error of every reference quantizer on seeded random
//! rows and on real weight rows stays within the per-type bounds documented (with the
//! measured values) in `quant::reference`'s module doc. Run with `--nocapture` for the table.

#[path = "reference_util.rs"]
mod util;

use gguf::GgmlType;
use quant::reference::{dequantize_row, quantize_row, quantize_row_ref};
use util::{load_fixture, rms, Rng};

/// (type, bound on RMSE / RMS(x), bound on max |error| / RMS(x)) for 64 seeded random rows
/// of 4096 (N(0,1) with 1% outliers of 4-8 sigma): about 1.2x the measured values, which
/// are deterministic; the table in `quant::reference`'s doc lists them.
const RANDOM_BOUNDS: [(GgmlType, f64, f64); 14] = [
    (GgmlType::F16, 2.5e-4, 2.2e-3),
    (GgmlType::BF16, 2.0e-3, 1.7e-2),
    (GgmlType::Q4_0, 0.14, 0.92),
    (GgmlType::Q4_1, 0.11, 0.52),
    (GgmlType::Q5_0, 0.070, 0.45),
    (GgmlType::Q5_1, 0.053, 0.25),
    (GgmlType::Q8_0, 8.8e-3, 0.034),
    (GgmlType::Q8_1, 8.8e-3, 0.034),
    (GgmlType::Q2_K, 0.40, 3.0),
    (GgmlType::Q3_K, 0.22, 1.4),
    (GgmlType::Q4_K, 0.10, 0.52),
    (GgmlType::Q5_K, 0.052, 0.25),
    (GgmlType::Q6_K, 0.027, 0.136),
    (GgmlType::Q8_K, 0.0154, 0.034),
];

/// Bounds for the real rows (same meaning; their heavier tails raise the relative max error).
const REAL_BOUNDS: [(GgmlType, f64, f64); 14] = [
    (GgmlType::F16, 2.5e-4, 2.2e-3),
    (GgmlType::BF16, 2.0e-3, 0.039),
    (GgmlType::Q4_0, 0.17, 0.74),
    (GgmlType::Q4_1, 0.12, 0.52),
    (GgmlType::Q5_0, 0.084, 0.37),
    (GgmlType::Q5_1, 0.057, 0.25),
    (GgmlType::Q8_0, 6.6e-3, 0.043),
    (GgmlType::Q8_1, 6.6e-3, 0.043),
    (GgmlType::Q2_K, 0.44, 2.5),
    (GgmlType::Q3_K, 0.24, 1.45),
    (GgmlType::Q4_K, 0.112, 0.49),
    (GgmlType::Q5_K, 0.057, 0.23),
    (GgmlType::Q6_K, 0.033, 0.143),
    (GgmlType::Q8_K, 0.017, 0.048),
];

/// Relative RMSE and relative max error of `quantize` then `dequantize_row` over `rows`.
fn round_trip(ty: GgmlType, rows: &[Vec<f32>], activation: bool) -> (f64, f64) {
    let n = rows[0].len();
    let mut q = vec![0u8; ty.row_bytes(n).unwrap()];
    let mut y = vec![0f32; n];
    let (mut se, mut sx, mut max_rel) = (0f64, 0f64, 0f64);
    for x in rows {
        if activation {
            quantize_row(ty, x, &mut q).unwrap();
        } else {
            quantize_row_ref(ty, x, &mut q).unwrap();
        }
        dequantize_row(ty, &q, &mut y).unwrap();
        let r = rms(x);
        for (&a, &b) in x.iter().zip(&y) {
            let e = (a - b) as f64;
            se += e * e;
            sx += (a as f64) * (a as f64);
            max_rel = max_rel.max(e.abs() / r);
        }
    }
    ((se / sx).sqrt(), max_rel)
}

#[test]
fn random_rows_round_trip_within_bounds() {
    let mut rng = Rng::new(42);
    let rows: Vec<Vec<f32>> = (0..64).map(|_| rng.row(4096)).collect();
    println!("type  rel-RMSE  bound    rel-max  bound");
    let mut failures = vec![];
    for (ty, rmse_bound, max_bound) in RANDOM_BOUNDS {
        let (rmse, max) = round_trip(ty, &rows, false);
        println!("{:5} {rmse:.2e}  {rmse_bound:.1e}  {max:.2e}  {max_bound:.1e}", ty.name());
        if rmse > rmse_bound || max > max_bound {
            failures.push(format!("{ty}: relative RMSE {rmse:.3e}, max {max:.3e}"));
        }
        // The activation quantizers (Q8_0/Q8_1 AVX2 rounding) are as accurate.
        let (rmse_a, max_a) = round_trip(ty, &rows, true);
        if rmse_a > rmse_bound || max_a > max_bound {
            failures.push(format!("{ty} activation quantizer: relative RMSE {rmse_a:.3e}, max {max_a:.3e}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn real_rows_round_trip_within_bounds() {
    // Real weights: the decoded Q6_K (qwen ffn_down, 4864 wide) and F16 (SmolLM2 embeddings,
    // 576 wide) fixture rows, re-quantized to every type.
    let mut sets = vec![];
    for src in [GgmlType::Q6_K, GgmlType::F16] {
        let fx = load_fixture(src);
        // Widths must be whole k-quant super-blocks: cut to a multiple of 256.
        let n = fx.n / 256 * 256;
        sets.push((src, fx.expected.iter().map(|r| r[..n].to_vec()).collect::<Vec<_>>()));
    }
    println!("type  source  rel-RMSE  bound    rel-max  bound");
    let mut failures = vec![];
    for (ty, rmse_bound, max_bound) in REAL_BOUNDS {
        for (src, rows) in &sets {
            let (rmse, max) = round_trip(ty, rows, false);
            println!("{:5} {:6}  {rmse:.2e}  {rmse_bound:.1e}  {max:.2e}  {max_bound:.1e}", ty.name(), src.name());
            if rmse > rmse_bound || max > max_bound {
                failures.push(format!("{ty} on {src} rows: relative RMSE {rmse:.3e}, max {max:.3e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
