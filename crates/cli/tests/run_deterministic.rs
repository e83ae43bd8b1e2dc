//! Issue #6's CLI check: with `--deterministic`, `vibrant run --json --n-probs 5` prints the
//! same tokens and log-probs for any prompt batch size `-b` and thread count `-t`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn real_model(file: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::var_os("VIBRANT_MODELS").map(PathBuf::from).unwrap_or_else(|| root.join("models"));
    let path = dir.join(file);
    if !path.exists() {
        let status = Command::new(root.join("scripts/fetch-models.sh")).arg(file).status().expect("running scripts/fetch-models.sh");
        assert!(status.success() && path.exists(), "model {file} is missing and could not be fetched; run scripts/fetch-models.sh");
    }
    path
}

/// The `tokens` array of `vibrant run --json` (timings differ between runs and are left out).
fn tokens_json(model: &Path, batch: &str, threads: &str) -> String {
    let prompt = "The quick brown fox jumps over the lazy dog because it wanted to see what was on the other side of the fence, and then";
    let o = Command::new(env!("CARGO_BIN_EXE_vibrant"))
        .args(["run", "-m", model.to_str().unwrap(), "-p", prompt, "-n", "8", "--temp", "0", "--n-probs", "5", "--json"])
        .args(["--deterministic", "-b", batch, "-t", threads])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8(o.stdout).unwrap();
    let last = stdout.lines().last().expect("a JSON line");
    let j: serde_json::Value = serde_json::from_str(last).unwrap();
    j["tokens"].to_string()
}

#[test]
fn deterministic_run_output_does_not_depend_on_batch_or_threads() {
    let model = real_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    let want = tokens_json(&model, "512", "1");
    assert!(want.contains("\"top\""), "expected top log-probs in {want}");
    for (b, t) in [("512", "2"), ("7", "1"), ("7", "2"), ("1", "2")] {
        assert_eq!(tokens_json(&model, b, t), want, "-b {b} -t {t}");
    }
}
