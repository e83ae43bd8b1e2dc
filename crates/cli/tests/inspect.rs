//! `vibrant inspect` on good and broken files: broken ones give exit code != 0 and one
//! `error: ...` line on stderr, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(rel)
}

fn inspect(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vibrant")).arg("inspect").args(args).output().expect("run vibrant")
}

fn assert_clean_failure(case: &str, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{case}: exit 0");
    assert!(out.status.code().is_some(), "{case}: killed by a signal");
    assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{case}: stderr is not one line: {stderr:?}");
    assert!(stderr.starts_with("error: "), "{case}: {stderr:?}");
    assert!(out.stdout.is_empty(), "{case}: printed to stdout");
}

/// A file written by the PyPI gguf package (scripts/gen-bad-models.py): valid GGUF, though the
/// engine refuses it. One F32 tensor `token_embd.weight` of numpy shape (16, 8).
const BASE: &str = "bad-models/misshaped-tensor.gguf";

#[test]
fn a_valid_file_is_described() {
    let path = data(BASE);
    let out = inspect(&[path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("token_embd.weight") && text.contains("[8, 16]"), "{text}");

    let out = inspect(&["--json", "-m", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let tensors = json["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 1);
    assert_eq!(tensors[0]["name"], "token_embd.weight");
    assert_eq!(tensors[0]["type"], "F32");
    assert_eq!(tensors[0]["shape"], serde_json::json!([8, 16])); // ggml order: ne0 first
    assert_eq!(tensors[0]["offset"], 0);
    assert_eq!(json["metadata"]["general.architecture"], "llama");
}

#[test]
fn broken_files_are_one_line_errors() {
    let good = std::fs::read(data(BASE)).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("inspect-broken");
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in [0, 3, 4, 7, 8, 20, 24, 25, 60, 300, good.len() / 2, good.len() - 513, good.len() - 1] {
        cases.push((format!("cut-{cut}"), good[..cut].to_vec()));
    }
    let edit = |at: usize, bytes: &[u8]| {
        let mut b = good.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        b
    };
    cases.push(("magic".into(), edit(0, b"GGUG")));
    cases.push(("version".into(), edit(4, &9u32.to_le_bytes())));
    cases.push(("tensor-count".into(), edit(8, &u64::MAX.to_le_bytes())));
    cases.push(("kv-count".into(), edit(16, &(1u64 << 40).to_le_bytes())));
    cases.push(("key-length".into(), edit(24, &u64::MAX.to_le_bytes())));
    // The tensor table's last 12 bytes before the padding: type id and offset.
    let name = b"token_embd.weight";
    let at = good.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    cases.push(("tensor-type".into(), edit(at + 4 + 16, &99u32.to_le_bytes())));
    cases.push(("tensor-offset".into(), edit(at + 4 + 16 + 4, &(1u64 << 62).to_le_bytes())));
    cases.push(("tensor-dims".into(), edit(at + 4, &u64::MAX.to_le_bytes())));
    cases.push(("not-gguf".into(), b"hello, world\n".to_vec()));

    for (case, bytes) in &cases {
        let path = dir.join(format!("{case}.gguf"));
        std::fs::write(&path, bytes).unwrap();
        for json in [false, true] {
            let p = path.to_str().unwrap();
            let out = if json { inspect(&["--json", p]) } else { inspect(&[p]) };
            assert_clean_failure(&format!("{case} (json: {json})"), &out);
        }
    }
    assert_clean_failure("missing file", &inspect(&[dir.join("nope.gguf").to_str().unwrap()]));
    assert_clean_failure("a directory", &inspect(&[dir.to_str().unwrap()]));
}
