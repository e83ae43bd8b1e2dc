//! `vibrant tokenize` and `vibrant template` on odd input: results or one-line errors with a
//! non-zero exit, never a panic.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn vocab(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../tests/data/vocab/ggml-vocab-{name}.gguf"))
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vibrant"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn assert_clear_error(o: &Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{what}: {err}");
    assert!(err.starts_with("error: ") && !err.contains("panicked"), "{what}: {err}");
}

#[test]
fn tokenize_odd_input() {
    let spm = vocab("llama-spm");
    let spm = spm.to_str().unwrap();
    // Empty text: nothing, or just BOS.
    let o = run(&["tokenize", "-m", spm, "--no-special", "-"], b"");
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "");
    let o = run(&["tokenize", "-m", spm, ""], b"");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "1");
    // Standard input is read byte for byte (ids and the BOS above as llama-tokenize gives them).
    let o = run(&["tokenize", "-m", spm, "--no-special", "-"], b" Hello\n");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "29871 15043 13");
    assert_clear_error(&run(&["tokenize", "-m", spm, "-"], b"ab\xff"), "invalid UTF-8");
    assert_clear_error(&run(&["tokenize", "-m", "/no/such/file.gguf", "x"], b""), "missing model");
    let inp = format!("{spm}.inp");
    assert_clear_error(&run(&["tokenize", "-m", &inp, "x"], b""), "not a GGUF file");
}

#[test]
fn template_odd_input() {
    let spm = vocab("llama-spm");
    let spm = spm.to_str().unwrap();
    let o = run(&["template", "-m", spm, "-"], br#"[{"role": "user", "content": "hi"}]"#);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    for bad in [&b""[..], b"[", b"{}", b"null", b"[1]", b"[{\"content\": 1}]", b"\xff"] {
        assert_clear_error(&run(&["template", "-m", spm, "-"], bad), &String::from_utf8_lossy(bad));
    }
}
