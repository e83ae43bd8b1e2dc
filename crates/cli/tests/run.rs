//! `vibrant run` with a full context: --context-shift goes on past it, without it generation
//! stops and says why; an unknown cache type is an error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(rel)
}

fn vibrant(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vibrant")).args(args).output().expect("run vibrant")
}

const RUN: &[&str] = &["run", "-m", "smollm2", "-p", "The history of the Roman Empire", "-c", "64", "-n", "150", "--temp", "0", "-t", "2", "--json"];

fn timings(out: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status.code());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    json["timings"].clone()
}

#[test]
fn context_shift_generates_past_a_full_context() {
    // The default cache (f16), and mixed types in llama.cpp's spelling (every type goes
    // through shifts in the engine's context_shift test).
    for types in [&[][..], &["-ctk", "q8_0", "-ctv", "f32"][..]] {
        let out = vibrant(&[RUN, &["--context-shift"], types].concat());
        let t = timings(&out);
        assert_eq!(t["predicted_n"], 150, "{types:?}: {t}");
        assert!(t["context_shifts"].as_u64().unwrap() >= 2, "{types:?}: {t}");
        assert_eq!(t["stop_reason"], "Length");
    }
}

#[test]
fn a_full_context_stops_generation_with_the_reason() {
    let out = vibrant(RUN);
    let t = timings(&out);
    assert_eq!(t["stop_reason"], "ContextFull", "{t}");
    assert!(t["predicted_n"].as_u64().unwrap() < 64);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("context is full (64 tokens)") && stderr.contains("--context-shift"), "{stderr}");
}

#[test]
fn an_unknown_cache_type_is_an_error() {
    // (A Q8_0 cache on heads that are not whole blocks is refused by the engine: bad_input.rs.)
    let model = data("models-tiny/tiny-llama-hd96-f16.gguf");
    let out = vibrant(&["bench", "-m", model.to_str().unwrap(), "-ctk", "q4_0", "-p", "8", "-n", "0", "-r", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit 0");
    assert!(stderr.contains("q4_0") && stderr.contains("f32, f16 or q8_0") && !stderr.contains("panicked"), "{stderr}");
}
