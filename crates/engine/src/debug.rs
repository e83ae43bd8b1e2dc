//! `VIBRANT_DUMP=1` prints each intermediate tensor of the forward pass (first and last
//! values of each token row, and the sum) in the shape llama.cpp's `llama-eval-callback`
//! prints, so a numeric divergence can be found layer by layer.

use std::sync::OnceLock;

pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("VIBRANT_DUMP").is_some() || std::env::var_os("VIBRANT_DUMP_DIR").is_some())
}

/// Prints `data` as `n` rows of `width` values.
pub fn dump(name: &str, il: usize, data: &[f32], n: usize, width: usize) {
    if !enabled() {
        return;
    }
    if let Some(dir) = std::env::var_os("VIBRANT_DUMP_DIR") {
        // Raw little-endian f32, as the peer-side dump tool writes them (after a 32-byte shape).
        let mut bytes = Vec::with_capacity(32 + 4 * n * width);
        for d in [width as i64, n as i64, 1, 1] {
            bytes.extend_from_slice(&d.to_le_bytes());
        }
        for v in &data[..n * width] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let _ = std::fs::write(std::path::Path::new(&dir).join(format!("{name}-{il}.bin")), bytes);
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
