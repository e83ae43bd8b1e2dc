//! `VIBRANT_DUMP=1` prints each intermediate tensor of the forward pass (first and last
//! values of each token row, and the sum) in the shape llama.cpp's `llama-eval-callback`
//! prints, so a numeric divergence can be found layer by layer.

use std::sync::OnceLock;

pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("VIBRANT_DUMP").is_some())
}

/// Prints `data` as `n` rows of `width` values.
pub fn dump(name: &str, il: usize, data: &[f32], n: usize, width: usize) {
    if !enabled() {
        return;
    }
    eprintln!("{name}-{il} = [{width}, {n}]");
    for t in 0..n {
        let r = &data[t * width..(t + 1) * width];
        let w = r.len();
        eprintln!("    [{:11.4}, {:11.4}, {:11.4}, ..., {:11.4}, {:11.4}, {:11.4}]", r[0], r[1], r[2], r[w - 3], r[w - 2], r[w - 1]);
    }
    let sum: f64 = data[..n * width].iter().map(|&v| v as f64).sum();
    eprintln!("    sum = {sum:.6}");
}
