//! Load-time breakdown: `cargo run --release -p tokenizer --example load_time MODEL.gguf`.
use std::time::Instant;
fn main() {
    let p = std::env::args().nth(1).expect("path");
    let t = Instant::now();
    let f = gguf::GgufFile::open(&p).unwrap();
    let open = t.elapsed();
    let t = Instant::now();
    let tok = tokenizer::Tokenizer::from_gguf(&f).unwrap();
    let build = t.elapsed();
    let t = Instant::now();
    let _ = tok.encode("warm up the unicode table: é", false, false);
    println!("open {:.0} ms, tokenizer {:.0} ms, first encode {:.1} ms", open.as_secs_f64() * 1e3, build.as_secs_f64() * 1e3, t.elapsed().as_secs_f64() * 1e3);
}
