//! Kernel throughput, one thread, for the table this CPU gets (`VIBRANT_KERNELS=scalar` to
//! measure the reference): per weight type
//! - `dequantize/<type>`: elements per second into f32;
//! - `vec_dot/<type>`: one 4096-element row against one activation row, elements per second;
//! - `gemv/<type>`: 64 rows x 1 column through `gemm` (the decode shape), weight bytes/s;
//! - `gemm/<type>`: 64 rows x 8 columns (a prompt tile), elements (rows x cols x n) per second;
//! - `gemm_by_vec_dot/<type>`: the same products one `vec_dot` call each (what tiling buys);
//! - `batch/<order>/<type>`: llama.cpp's batched orders (`crate::matmul::BatchKernels`: tiled
//!   K-quant, repacked Q4_K gemm/gemv, tinyBLAS), 64 rows x 16 columns, elements per second
//!   (`repack_gemv_1tok`: the repacked gemv on one token, the decode shape);
//! - `quantize/<type>`: activation quantizers, elements per second.
//!
//! `cargo bench -p quant --bench kernels [-- filter]`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use gguf::GgmlType;
use quant::kernels::{kernels, Kernels};
use quant::reference as r;
use std::time::Duration;

const N: usize = 4096;
const ROWS: usize = 64;

const WEIGHTS: [GgmlType; 13] = quant::kernels::DOT_TYPES;

fn values(seed: usize, n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7919 + seed * 104_729) as f32 * 0.001).sin() * (1.0 + (i % 13) as f32 * 0.1)).collect()
}

/// `rows` quantized weight rows and `cols` activation rows of N elements.
fn data(k: &Kernels, ty: GgmlType, rows: usize, cols: usize) -> (Vec<u8>, Vec<u8>) {
    let vt = k.get(ty).vec_dot_type;
    let (wb, xb) = (ty.row_bytes(N).unwrap(), vt.row_bytes(N).unwrap());
    let mut w = vec![0u8; rows * wb];
    for i in 0..rows {
        r::quantize_row_ref(ty, &values(i, N), &mut w[i * wb..(i + 1) * wb]).unwrap();
    }
    let mut x = vec![0u8; cols * xb];
    for c in 0..cols {
        k.quantize_row(vt, &values(1000 + c, N), &mut x[c * xb..(c + 1) * xb]);
    }
    (w, x)
}

fn bench(c: &mut Criterion) {
    let k = kernels();
    eprintln!("kernel level: {:?}", k.level);
    let mut g = c.benchmark_group("dequantize");
    for ty in WEIGHTS {
        let (w, _) = data(k, ty, 1, 0);
        let mut out = vec![0f32; N];
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function(ty.name(), |b| b.iter(|| (k.get(ty).dequantize_row)(black_box(&w), black_box(&mut out))));
    }
    g.finish();

    let mut g = c.benchmark_group("vec_dot");
    for ty in WEIGHTS {
        let (w, x) = data(k, ty, 1, 1);
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function(ty.name(), |b| b.iter(|| (k.get(ty).vec_dot)(N, black_box(&w), black_box(&x))));
    }
    g.finish();

    let mut g = c.benchmark_group("gemv");
    for ty in WEIGHTS {
        let (w, x) = data(k, ty, ROWS, 1);
        let mut out = vec![0f32; ROWS];
        g.throughput(Throughput::Bytes(w.len() as u64));
        g.bench_function(ty.name(), |b| b.iter(|| (k.get(ty).gemm)(N, black_box(&w), ROWS, black_box(&x), 1, &mut out, ROWS)));
    }
    g.finish();

    let mut g = c.benchmark_group("gemm");
    const COLS: usize = 8;
    for ty in WEIGHTS {
        let (w, x) = data(k, ty, ROWS, COLS);
        let mut out = vec![0f32; ROWS * COLS];
        g.throughput(Throughput::Elements((ROWS * COLS * N) as u64));
        g.bench_function(ty.name(), |b| b.iter(|| (k.get(ty).gemm)(N, black_box(&w), ROWS, black_box(&x), COLS, &mut out, ROWS)));
    }
    g.finish();

    // The same 64 x 8 products one vec_dot at a time: what the tiling buys.
    let mut g = c.benchmark_group("gemm_by_vec_dot");
    for ty in WEIGHTS {
        let (w, x) = data(k, ty, ROWS, COLS);
        let (wb, xb) = (w.len() / ROWS, x.len() / COLS);
        let mut out = vec![0f32; ROWS * COLS];
        let dot = k.get(ty).vec_dot;
        g.throughput(Throughput::Elements((ROWS * COLS * N) as u64));
        g.bench_function(ty.name(), |b| {
            b.iter(|| {
                for c in 0..COLS {
                    for r in 0..ROWS {
                        out[c * ROWS + r] = dot(N, black_box(&w[r * wb..(r + 1) * wb]), black_box(&x[c * xb..(c + 1) * xb]));
                    }
                }
            })
        });
    }
    g.finish();

    // llama.cpp's batched orders, 64 rows x 16 tokens (the engine's token tile).
    let mut g = c.benchmark_group("batch");
    const BCOLS: usize = 16;
    for ty in WEIGHTS {
        let b = k.batch(ty);
        let orders = [("tinyblas", b.tinyblas), ("tiled", b.tiled), ("repack_gemm", b.repack_gemm), ("repack_gemv", b.repack_gemv)];
        for (name, f) in orders {
            let Some(f) = f else { continue };
            let (w, x) = data(k, ty, ROWS, BCOLS);
            let mut out = vec![0f32; ROWS * BCOLS];
            g.throughput(Throughput::Elements((ROWS * BCOLS * N) as u64));
            g.bench_function(format!("{name}/{}", ty.name()), |b| b.iter(|| f(N, black_box(&w), ROWS, black_box(&x), BCOLS, &mut out, ROWS)));
        }
        // The repacked gemv is also the decode kernel: one token.
        if let Some(f) = b.repack_gemv {
            let (w, x) = data(k, ty, ROWS, 1);
            let mut out = vec![0f32; ROWS];
            g.throughput(Throughput::Elements((ROWS * N) as u64));
            g.bench_function(format!("repack_gemv_1tok/{}", ty.name()), |b| b.iter(|| f(N, black_box(&w), ROWS, black_box(&x), 1, &mut out, ROWS)));
        }
    }
    g.finish();

    let mut g = c.benchmark_group("quantize");
    for ty in [GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K, GgmlType::F16] {
        let v = values(3, N);
        let mut out = vec![0u8; ty.row_bytes(N).unwrap()];
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function(ty.name(), |b| b.iter(|| k.quantize_row(ty, black_box(&v), &mut out)));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_millis(800)).sample_size(20);
    targets = bench
}
criterion_main!(benches);
