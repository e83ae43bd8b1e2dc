//! One file per architecture. Each has a `forward` that reads top to bottom like llama2.c's:
//! embed → for each layer (norm → QKV → rope → attention → output → residual → norm → FFN →
//! residual). What distinguishes an architecture is visible there as lines.

pub mod gemma3;
pub mod llama;
pub mod phi3;
pub mod qwen2;
pub mod qwen3;

use crate::config::{Arch, Config};
use crate::model::{Model, State};
use crate::weights::Loader;
use crate::EngineError;

pub enum Layers {
    Llama(llama::Llama),
    Qwen2(qwen2::Qwen2),
    Qwen3(qwen3::Qwen3),
    Gemma3(gemma3::Gemma3),
    Phi3(phi3::Phi3),
}

impl Layers {
    pub fn load(l: &Loader, c: &Config) -> Result<Layers, EngineError> {
        Ok(match c.arch {
            Arch::Llama => Layers::Llama(llama::Llama::load(l, c)?),
            Arch::Qwen2 => Layers::Qwen2(qwen2::Qwen2::load(l, c)?),
            Arch::Qwen3 => Layers::Qwen3(qwen3::Qwen3::load(l, c)?),
            Arch::Gemma3 => Layers::Gemma3(gemma3::Gemma3::load(l, c)?),
            Arch::Phi3 => Layers::Phi3(phi3::Phi3::load(l, c)?),
        })
    }

    pub fn forward(&self, m: &Model, st: &mut State, tokens: &[u32], pos0: usize) {
        match self {
            Layers::Llama(a) => a.forward(m, st, tokens, pos0),
            Layers::Qwen2(a) => a.forward(m, st, tokens, pos0),
            Layers::Qwen3(a) => a.forward(m, st, tokens, pos0),
            Layers::Gemma3(a) => a.forward(m, st, tokens, pos0),
            Layers::Phi3(a) => a.forward(m, st, tokens, pos0),
        }
    }
}
