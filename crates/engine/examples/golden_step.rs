//! Debug aid: the first step of a golden case, ours against llama.cpp's top-5.
//! `cargo run --release -p engine --example golden_step -- MODEL GOLDEN.json [case] [fast|own|reference] [steps]`
use engine::{MatmulMode, Model, StateOptions};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let model = Model::load(std::path::Path::new(&a[1])).unwrap();
    let g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&a[2]).unwrap()).unwrap();
    let ci: usize = a.get(3).map_or(0, |s| s.parse().unwrap());
    let mode = match a.get(4).map(|s| s.as_str()) {
        Some("reference") => MatmulMode::Reference,
        Some("own") => MatmulMode::OwnOrder,
        _ => MatmulMode::Fast,
    };
    let case = &g["cases"][ci];
    let prompt: Vec<u32> = case["prompt_tokens"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    let mut st = model.new_state(StateOptions { n_ctx: 512, n_batch: 512, n_threads: 2, mode, cache_type_k: engine::kv_cache::KvType::F32, cache_type_v: engine::kv_cache::KvType::F32, ..Default::default() }).unwrap();
    let steps: usize = a.get(5).map_or(0, |s| s.parse().unwrap());
    let completion: Vec<u32> = case["completion_tokens"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    // SPLIT=2,4: feed the prompt in batches of these sizes (as llama-server did for SWA models).
    let mut logits = Vec::new();
    match std::env::var("SPLIT") {
        Ok(sp) => {
            let mut off = 0;
            for s in sp.split(',') {
                let k: usize = s.parse().unwrap();
                logits = model.forward(&mut st, &prompt[off..off + k]).unwrap().to_vec();
                off += k;
            }
        }
        Err(_) => logits = model.forward(&mut st, &prompt).unwrap().to_vec(),
    }
    for &t in &completion[..steps] {
        logits = model.forward(&mut st, &[t]).unwrap().to_vec();
    }
    let max = logits.iter().copied().fold(f32::MIN, f32::max) as f64;
    let lse = max + logits.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln();
    println!("prompt {} tokens", prompt.len());
    for t in case["steps"][steps]["top"].as_array().unwrap() {
        let id = t[0].as_u64().unwrap() as usize;
        let theirs = t[1].as_f64().unwrap();
        println!("{id:6} llama.cpp {theirs:9.4} ours {:9.4}", logits[id] as f64 - lse);
    }
}
