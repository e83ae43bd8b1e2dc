//! Shared helpers for the model tests: where the test data and models are, and golden files.
#![allow(dead_code)]

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub fn data(rel: &str) -> PathBuf {
    repo_root().join("tests/data").join(rel)
}

/// The path of a real model, fetched with the project's script if it is missing.
/// Never passes silently: if the model cannot be had, the test fails saying how to get it.
pub fn real_model(file: &str) -> PathBuf {
    static FETCH: Mutex<()> = Mutex::new(());
    let dir = std::env::var_os("VIBRANT_MODELS").map(PathBuf::from).unwrap_or_else(|| repo_root().join("models"));
    let path = dir.join(file);
    let _guard = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        let status = std::process::Command::new(repo_root().join("scripts/fetch-models.sh"))
            .arg(file)
            .status()
            .expect("could not run scripts/fetch-models.sh");
        assert!(status.success() && path.exists(), "model {file} is missing and could not be fetched; run scripts/fetch-models.sh");
    }
    path
}

/// The model file a golden JSON file refers to.
pub fn model_for_golden(golden: &Golden, tiny: bool) -> PathBuf {
    if tiny {
        data(&format!("models-tiny/{}", golden.model))
    } else {
        // The qwen golden file names its model by a local alias.
        let file = match golden.model.as_str() {
            "qwen05.bin" => "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            other => other,
        };
        real_model(file)
    }
}

#[derive(Deserialize)]
pub struct Golden {
    pub model: String,
    pub cases: Vec<Case>,
}

#[derive(Deserialize)]
pub struct Case {
    pub kind: String,
    pub prompt: Option<String>,
    pub rendered: Option<String>,
    pub prompt_tokens: Vec<u32>,
    pub completion_tokens: Vec<u32>,
    pub steps: Vec<Step>,
}

#[derive(Deserialize)]
pub struct Step {
    pub id: u32,
    pub logprob: Option<f32>,
    pub top: Option<Vec<(u32, f32)>>,
}

impl Step {
    /// llama.cpp's top-1 minus top-2 log-prob; None where it reported no probabilities.
    pub fn margin(&self) -> Option<f32> {
        let top = self.top.as_ref()?;
        Some(top[0].1 - top[1].1)
    }
}

pub fn load_golden(rel: &str) -> Golden {
    let text = std::fs::read_to_string(data(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Full-vocabulary log-softmax, in f64 for an exact reference.
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let z: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    let lz = z.ln() + max;
    logits.iter().map(|&l| (l as f64 - lz) as f32).collect()
}

pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}
