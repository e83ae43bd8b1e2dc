//! `vibrant bench`: prompt and generation throughput, defined as llama-bench defines them.
//!
//! - pp<P>: P tokens in one batch (split into `-b` sized steps) from an empty cache;
//! - tg<N>: N single-token decodes from an empty cache, or after D tokens with `-d D`;
//! - each test runs once to warm up, then `-r` times; we report the mean and standard
//!   deviation of tokens per second, as llama-bench does.
//!
//! Token ids are drawn from the vocabulary with a fixed seed (llama-bench also uses random
//! tokens), so every run and both engines see comparable work. Memory figures come from
//! /proc/self/status (RSS) and the engine's own accounting (KV cache, scratch); allocations
//! per decoded token from the counting global allocator installed in main.rs.

use crate::common::{resolve_model, ModelArgs};
use anyhow::{bail, Result};
use engine::alloc_count::{allocations, count_this_thread};
use engine::{Model, State};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt tokens for the pp test (0 skips it).
    #[arg(short = 'p', long = "n-prompt", default_value_t = 512)]
    pub n_prompt: usize,
    /// Generated tokens for the tg test (0 skips it).
    #[arg(short = 'n', long = "n-gen", default_value_t = 128)]
    pub n_gen: usize,
    /// Tokens already in the cache before the tg test.
    #[arg(short = 'd', long = "n-depth", default_value_t = 0)]
    pub depth: usize,
    /// Repetitions of each test (after one warm-up run).
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    pub reps: usize,
    /// Output format: md (a table) or json.
    #[arg(short = 'o', long = "output", default_value = "md")]
    pub output: String,
}

struct TestResult {
    name: String,
    n_tokens: usize,
    /// Tokens per second of each repetition.
    samples: Vec<f64>,
}

impl TestResult {
    fn mean(&self) -> f64 {
        self.samples.iter().sum::<f64>() / self.samples.len() as f64
    }

    fn stddev(&self) -> f64 {
        let n = self.samples.len();
        if n < 2 {
            return 0.0;
        }
        let m = self.mean();
        (self.samples.iter().map(|s| (s - m) * (s - m)).sum::<f64>() / (n - 1) as f64).sqrt()
    }
}

/// Deterministic pseudo-random token ids (xorshift), away from the special ids at the start.
fn tokens(n: usize, n_vocab: usize, seed: u64) -> Vec<u32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (1000 + s % (n_vocab as u64 - 1000)) as u32
        })
        .collect()
}

fn prompt_test(model: &Model, st: &mut State, toks: &[u32]) -> Result<f64> {
    st.reset();
    let t = Instant::now();
    model.forward(st, toks)?;
    Ok(toks.len() as f64 / t.elapsed().as_secs_f64())
}

fn gen_test(model: &Model, st: &mut State, depth: &[u32], toks: &[u32]) -> Result<f64> {
    st.reset();
    if !depth.is_empty() {
        model.forward(st, depth)?;
    }
    let t = Instant::now();
    for &tok in toks {
        model.forward(st, &[tok])?;
    }
    Ok(toks.len() as f64 / t.elapsed().as_secs_f64())
}

/// Resident set size of this process in bytes (Linux), or 0 where /proc is unavailable.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub fn run(args: Args) -> Result<()> {
    if args.reps == 0 {
        bail!("--repetitions must be > 0");
    }
    if args.output != "md" && args.output != "json" {
        bail!("--output must be md or json, not {:?}", args.output);
    }
    let path = resolve_model(&args.model.model)?;
    let model = args.model.load()?;
    let mut opts = args.model.state_options(&model)?;
    // The cache must hold the longest test; the prompt goes in one step when it fits -b.
    opts.n_ctx = args.n_prompt.max(args.depth + args.n_gen).max(1);
    opts.n_batch = args.model.batch.min(opts.n_ctx);
    let n_threads = opts.n_threads;
    let mut st = model.new_state(opts)?;
    let n_vocab = model.config.n_vocab;

    let mut results = Vec::new();
    let mut ttft_ms = None;
    if args.n_prompt > 0 {
        let toks = tokens(args.n_prompt, n_vocab, 1);
        prompt_test(&model, &mut st, &toks)?;
        let samples = (0..args.reps).map(|_| prompt_test(&model, &mut st, &toks)).collect::<Result<Vec<_>>>()?;
        let r = TestResult { name: format!("pp{}", args.n_prompt), n_tokens: args.n_prompt, samples };
        // Time to first token: the prompt step, which also yields the first token's logits.
        ttft_ms = Some(1000.0 * args.n_prompt as f64 / r.mean());
        results.push(r);
    }
    let mut allocs_per_token = None;
    if args.n_gen > 0 {
        let depth = tokens(args.depth, n_vocab, 2);
        let toks = tokens(args.n_gen, n_vocab, 3);
        gen_test(&model, &mut st, &depth, &toks)?;
        let mut samples = Vec::new();
        for _ in 0..args.reps {
            samples.push(gen_test(&model, &mut st, &depth, &toks)?);
        }
        // Allocations per decoded token, measured over one extra decode run after warm-up.
        st.reset();
        if !depth.is_empty() {
            model.forward(&mut st, &depth)?;
        }
        model.forward(&mut st, &toks[..1])?;
        count_this_thread();
        let a0 = allocations();
        for &tok in &toks[1..] {
            model.forward(&mut st, &[tok])?;
        }
        allocs_per_token = Some((allocations() - a0) as f64 / (toks.len() - 1).max(1) as f64);
        let name = if args.depth > 0 { format!("tg{} @ d{}", args.n_gen, args.depth) } else { format!("tg{}", args.n_gen) };
        results.push(TestResult { name, n_tokens: args.n_gen, samples });
    }

    let weights = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let (kv, scratch, rss) = (st.kv.bytes() as u64, st.scratch_bytes() as u64, rss_bytes());
    let name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    if args.output == "json" {
        let tests: Vec<serde_json::Value> = results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "model": name, "test": r.name, "n_tokens": r.n_tokens, "threads": n_threads,
                    "tps": r.mean(), "stddev": r.stddev(), "samples": r.samples,
                })
            })
            .collect();
        let out = serde_json::json!({
            "tests": tests,
            "ttft_ms": ttft_ms,
            "allocations_per_token": allocs_per_token,
            "memory": { "rss_bytes": rss, "weights_mapped_bytes": weights, "kv_bytes": kv, "scratch_bytes": scratch },
            "cache_type_k": opts.cache_type_k.name(),
            "cache_type_v": opts.cache_type_v.name(),
            "flash_attn": st.flash,
            "kernels": quant::kernels::kernels().level.name(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let fa = if st.flash { "on" } else { "off" };
    println!("| model | threads | fa | test | t/s |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for r in &results {
        println!("| {name} | {n_threads} | {fa} | {} | {:.2} ± {:.2} |", r.name, r.mean(), r.stddev());
    }
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!();
    if let Some(t) = ttft_ms {
        println!("time to first token ({} prompt tokens): {t:.1} ms", args.n_prompt);
    }
    if let Some(a) = allocs_per_token {
        println!("heap allocations per decoded token: {a:.2}");
    }
    println!(
        "memory: RSS {:.1} MiB = weights (mapped) {:.1} MiB + KV ({}/{}) {:.1} MiB + scratch {:.1} MiB + other {:.1} MiB",
        mib(rss),
        mib(weights),
        opts.cache_type_k.name(),
        opts.cache_type_v.name(),
        mib(kv),
        mib(scratch),
        mib(rss.saturating_sub(weights + kv + scratch))
    );
    Ok(())
}
