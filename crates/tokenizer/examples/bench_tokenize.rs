//! Tokenizer throughput: `cargo run --release -p tokenizer --example bench_tokenize [VOCAB.gguf] [TEXT]`
//! (defaults: the Qwen2 vocabulary and tests/data/text/gpl-3.txt). One thread.

use std::time::Instant;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let args: Vec<String> = std::env::args().collect();
    let vocab = args.get(1).map(Into::into).unwrap_or_else(|| root.join("tests/data/vocab/ggml-vocab-qwen2.gguf"));
    let text_path = args.get(2).map(Into::into).unwrap_or_else(|| root.join("tests/data/text/gpl-3.txt"));
    let text = std::fs::read_to_string(&text_path).expect("text file");
    let t0 = Instant::now();
    let file = gguf::GgufFile::open(&vocab).expect("vocab file");
    let tok = tokenizer::Tokenizer::from_gguf(&file).expect("tokenizer");
    let load = t0.elapsed();
    let n_tokens = tok.encode(&text, false, false).len();
    // Run for about two seconds.
    let mut iters = 0u32;
    let t = Instant::now();
    while t.elapsed().as_secs_f64() < 2.0 {
        std::hint::black_box(tok.encode(std::hint::black_box(&text), false, false));
        iters += 1;
    }
    let secs = t.elapsed().as_secs_f64() / iters as f64;
    println!(
        "{}: {} bytes -> {} tokens; load {:.0} ms; encode {:.3} ms = {:.2} MB/s ({} iterations)",
        vocab.file_name().unwrap().to_string_lossy(),
        text.len(),
        n_tokens,
        load.as_secs_f64() * 1e3,
        secs * 1e3,
        text.len() as f64 / secs / 1e6,
        iters
    );
}
