//! Times one thread's gemm for the prefill and decode shapes of a 0.5B model's weights
//! (256 rows x 896 columns, 16 tokens per call (env TOKENS) as the engine calls it; 1 token for decode),
//! for each kernel level (the fastest of 20 rounds), with llama.cpp's batch plan for the type (as the engine runs it; a
//! K-quant's rows are 1024 columns). Dev tool for choosing tile shapes: `cargo run --release -p quant
//! --example gemm_shapes [TYPE...]`, env ROWS and COLS for other shapes, DECODE_REPS (4000)
//! for the decode calls (fewer for matrices streamed from memory) and TOKENS=0 for decode only.

use gguf::GgmlType;
use quant::kernels::{kernels_for, Level};
use std::time::Instant;

fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let types: Vec<GgmlType> = if names.is_empty() {
        vec![GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_1]
    } else {
        names.iter().map(|n| GgmlType::from_name(n).expect("type name")).collect()
    };
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
    let nr = env("ROWS").unwrap_or(256);
    let tokens = env("TOKENS").unwrap_or(16);
    for ty in types {
        let n = env("COLS").unwrap_or(if ty.block_size() == 256 { 1024 } else { 896 });
        // `fast`: the AVX-512 table with our own batched orders (`plan_fast`).
        for (level, fast) in [(Level::Avx2, false), (Level::Avx2, true), (Level::Avx512, false), (Level::Avx512, true)] {
            let Some(k) = kernels_for(level) else { continue };
            if fast && k.batch(ty).fast.is_none() {
                continue;
            }
            let e = k.get(ty);
            let vt = e.vec_dot_type;
            let (wb, xb) = (ty.row_bytes(n).unwrap(), vt.row_bytes(n).unwrap());
            let mut w = vec![0u8; nr * wb];
            let f: Vec<f32> = (0..n).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
            for r in 0..nr {
                quant::reference::quantize_row(ty, &f, &mut w[r * wb..(r + 1) * wb]).unwrap();
            }
            let mut x = vec![0u8; tokens.max(1) * xb];
            for c in 0..tokens.max(1) {
                k.quantize_row(vt, &f, &mut x[c * xb..(c + 1) * xb]);
            }
            let mut out = vec![0f32; tokens.max(1) * nr];
            for (nc, reps) in [(tokens, (6400 / tokens.max(1)).max(10)), (1, env("DECODE_REPS").unwrap_or(4000))] {
                if nc == 0 {
                    continue; // TOKENS=0: decode only
                }
                let plan = if fast { k.plan_fast(ty, nr, nc, k.repacks(ty, nr)) } else { k.plan(ty, nr, nc, k.repacks(ty, nr)) };
                // The fastest of 20 rounds: on a shared VM, stolen time only ever adds.
                let mut s = f64::INFINITY;
                for _ in 0..20 {
                    let t = Instant::now();
                    for _ in 0..reps / 10 {
                        (plan.main)(n, &w, nr, &x[..plan.n_main * xb], plan.n_main, &mut out, nr);
                        if plan.n_main < nc {
                            (plan.tail)(n, &w, nr, &x[plan.n_main * xb..nc * xb], nc - plan.n_main, &mut out[plan.n_main * nr..], nr);
                        }
                    }
                    s = s.min(t.elapsed().as_secs_f64() / (reps / 10) as f64);
                }
                let macs = (n * nr * nc) as f64 / s / 1e9;
                println!("{:5} {:11} nc={:2}: {:7.2} us  {:6.2} G MAC/s  {:6.2} GB/s weights", ty.name(), format!("{}{}", level.name(), if fast { "+own" } else { "" }), nc, s * 1e6, macs, (nr * wb) as f64 / s / 1e9);
            }
        }
    }
}
