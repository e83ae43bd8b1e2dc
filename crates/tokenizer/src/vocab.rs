//! Loading a tokenizer from GGUF metadata, with llama.cpp's defaults and fix-ups
//! (`llama_vocab::impl::load`): default special ids per model type, BOS/EOS flags, end-of-turn
//! and end-of-generation detection by token text, and the token-to-piece table.

use gguf::{Array, GgufFile, Value};

use crate::hash::TokenMap;
use crate::pretokenize::{self, KNOWN_PRE};
use crate::special::Specials;
use crate::ugm::Ugm;
use crate::wpm::Normalizer;
use crate::unicode::char_to_byte;
use crate::bpe::{Bpe, Encoding};
use crate::{attr, Tokenizer, TokenizerError, VocabKind};

const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
    "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
];
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];
const FIM_OTHER_TEXTS: &[&str] = &[
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>",
    "<|prefix|>", "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
    "<|code_suffix|>", "<|suffix|>", "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>",
    "▁<MID>", "<|code_middle|>", "<|middle|>",
];

fn get_bool(f: &GgufFile, key: &str) -> Result<Option<bool>, TokenizerError> {
    match f.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| TokenizerError::Invalid(format!("{key} has type {}, expected bool", v.type_name()))),
    }
}

fn get_id(f: &GgufFile, key: &str) -> Option<u64> {
    f.get(key).and_then(Value::as_u64)
}

pub(crate) fn load(f: &GgufFile) -> Result<Tokenizer, TokenizerError> {
    let model = f.get_str("tokenizer.ggml.model")?.to_string();
    let mut pre_name = f.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("").to_string();
    let texts: Vec<String> = match f.get_array("tokenizer.ggml.tokens")? {
        Array::String(v) => v
            .iter()
            .enumerate()
            .map(|(i, t)| if t.is_empty() { format!("[EMPTY_{i}]") } else { t.clone() })
            .collect(),
        a => {
            return Err(TokenizerError::Invalid(format!(
                "tokenizer.ggml.tokens is an array of {}, expected strings",
                a.elem_type().name()
            )))
        }
    };
    let n = texts.len();
    if n == 0 || n > u32::MAX as usize / 2 {
        return Err(TokenizerError::Invalid(format!("vocabulary of {n} tokens")));
    }

    // Model type and its defaults.
    let (kind, mut bos, mut eos, mut unk) = match model.as_str() {
        "llama" => (VocabKind::Spm, Some(1u32), Some(2u32), Some(0u32)),
        "gpt2" => (VocabKind::Bpe, Some(11), Some(11), None),
        "bert" => (VocabKind::Wpm, Some(101), None, Some(100)),
        "t5" => (VocabKind::Ugm, None, Some(1), Some(2)),
        // SentencePiece-style BPE: special ids only from the metadata.
        "gemma4" => {
            pre_name = "gemma4".into();
            (VocabKind::Bpe, None, None, None)
        }
        _ => return Err(TokenizerError::UnknownModel(model)),
    };
    let mut add_bos;
    let mut add_eos = false;
    let mut add_space_prefix;
    let clean_spaces;
    let mut stages = Vec::new();
    let mut ignore_merges = false;
    let mut spm_style = pretokenize::SpmStyle::default();
    let mut sep = None;
    match kind {
        VocabKind::Spm => {
            add_space_prefix = true;
            clean_spaces = false;
            add_bos = true;
        }
        VocabKind::Ugm => {
            add_space_prefix = false;
            clean_spaces = false;
            add_bos = false;
            add_eos = true;
        }
        VocabKind::Wpm => {
            add_space_prefix = false;
            clean_spaces = true;
            add_bos = true;
            sep = Some(102);
        }
        VocabKind::Bpe => {
            add_space_prefix = false;
            let name = if pre_name.is_empty() {
                tracing::warn!("missing tokenizer.ggml.pre, using the 'default' pre-tokenizer: quality will be degraded");
                "default"
            } else {
                pre_name.as_str()
            };
            let cfg = pretokenize::resolve(name).map_err(|_| TokenizerError::UnknownPre {
                name: name.to_string(),
                known: KNOWN_PRE.join(", "),
            })?;
            add_bos = cfg.add_bos;
            clean_spaces = cfg.clean_spaces;
            ignore_merges = cfg.ignore_merges;
            spm_style = cfg.spm_style;
            if cfg.no_bos {
                bos = None;
            }
            stages = cfg.stages;
        }
    }
    if let Some(v) = get_bool(f, "tokenizer.ggml.add_space_prefix")? {
        add_space_prefix = v;
    }

    let scores: Vec<f32> = match f.get("tokenizer.ggml.scores") {
        None => vec![0.0; n],
        Some(Value::Array(Array::F32(v))) if v.len() >= n => v[..n].to_vec(),
        Some(Value::Array(Array::I32(v))) if v.len() >= n => v[..n].iter().map(|&x| x as f32).collect(),
        Some(v) => return Err(TokenizerError::Invalid(format!("tokenizer.ggml.scores: bad {} value", v.type_name()))),
    };
    let mut attrs: Vec<u16> = match f.get("tokenizer.ggml.token_type") {
        None => vec![attr::NORMAL; n],
        Some(Value::Array(a)) => {
            let v = a.to_i64_vec().filter(|v| v.len() >= n).ok_or_else(|| {
                TokenizerError::Invalid("tokenizer.ggml.token_type must be an integer array as long as the vocabulary".into())
            })?;
            v[..n]
                .iter()
                .map(|&t| match t {
                    1 => attr::NORMAL,
                    2 => attr::UNKNOWN,
                    3 => attr::CONTROL,
                    4 => attr::USER_DEFINED,
                    5 => attr::UNUSED,
                    6 => attr::BYTE,
                    _ => 0,
                })
                .collect()
        }
        Some(v) => return Err(TokenizerError::Invalid(format!("tokenizer.ggml.token_type has type {}", v.type_name()))),
    };

    let mut token_to_id = TokenMap::with_capacity(n);
    for (i, t) in texts.iter().enumerate() {
        if token_to_id.insert(t.as_bytes(), i as u32).is_some() {
            tracing::warn!("duplicate token {t:?} in the vocabulary; using id {i}");
        }
    }

    let bpe = if kind == VocabKind::Bpe {
        let merges = match f.get("tokenizer.ggml.merges") {
            Some(Value::Array(Array::String(m))) => m.as_slice(),
            Some(v) => return Err(TokenizerError::Invalid(format!("tokenizer.ggml.merges has type {}", v.type_name()))),
            None => return Err(TokenizerError::Invalid("BPE vocabulary without tokenizer.ggml.merges".into())),
        };
        let encoding = if spm_style.escape { Encoding::Raw } else { Encoding::ByteLevel };
        Some(Bpe::new(&texts, &token_to_id, merges, ignore_merges, encoding))
    } else {
        None
    };

    // Special token ids: defaults out of range are disabled; metadata overrides when in range.
    let mut eot = None;
    let mut eom = None;
    let mut pad = if matches!(kind, VocabKind::Wpm | VocabKind::Ugm) { Some(0) } else { None };
    let mut fim_pad = None;
    let mut fim_rep = None;
    let mut fim_sep = None;
    let in_range = |id: Option<u32>| id.filter(|&i| (i as usize) < n);
    bos = in_range(bos);
    eos = in_range(eos);
    unk = in_range(unk);
    sep = in_range(sep);
    pad = in_range(pad);
    for (key, slot) in [
        ("tokenizer.ggml.bos_token_id", &mut bos),
        ("tokenizer.ggml.eos_token_id", &mut eos),
        ("tokenizer.ggml.eot_token_id", &mut eot),
        ("tokenizer.ggml.eom_token_id", &mut eom),
        ("tokenizer.ggml.unknown_token_id", &mut unk),
        ("tokenizer.ggml.seperator_token_id", &mut sep),
        ("tokenizer.ggml.padding_token_id", &mut pad),
        ("tokenizer.ggml.fim_pad_token_id", &mut fim_pad),
        ("tokenizer.ggml.fim_rep_token_id", &mut fim_rep),
        ("tokenizer.ggml.fim_sep_token_id", &mut fim_sep),
    ] {
        if let Some(id) = get_id(f, key) {
            if (id as usize) < n {
                *slot = Some(id as u32);
            } else {
                tracing::warn!("bad special token {key} = {id} (vocabulary has {n}); keeping {slot:?}");
            }
        }
    }
    if let Some(v) = get_bool(f, "tokenizer.ggml.add_bos_token")? {
        add_bos = v;
    }
    if let Some(v) = get_bool(f, "tokenizer.ggml.add_eos_token")? {
        add_eos = v;
    }
    if spm_style.force_bos {
        // llama.cpp overrides a false add_bos_token for Gemma 4.
        add_bos = true;
    }
    if add_bos && bos.is_none() {
        return Err(TokenizerError::Invalid("tokenizer.ggml.add_bos_token is true, but there is no BOS token".into()));
    }
    if add_eos && eos.is_none() {
        return Err(TokenizerError::Invalid("tokenizer.ggml.add_eos_token is true, but there is no EOS token".into()));
    }
    if kind == VocabKind::Wpm && sep.is_none() {
        return Err(TokenizerError::Invalid("WordPiece vocabulary without a separator token".into()));
    }
    if kind == VocabKind::Ugm && unk.is_none() {
        return Err(TokenizerError::Invalid("Unigram vocabulary without an unknown token".into()));
    }
    let lowercase = get_bool(f, "tokenizer.ggml.normalizer.lowercase")?.unwrap_or(true);
    let strip_accents = get_bool(f, "tokenizer.ggml.normalizer.strip_accents")?.unwrap_or(lowercase);
    let normalizer = Normalizer { lowercase, strip_accents };

    // Auto-detection by token text; such tokens become control tokens.
    let find = |list: &[&str]| list.iter().find_map(|t| token_to_id.get(t.as_bytes()));
    let mark_control = |id: u32, attrs: &mut Vec<u16>| {
        if attrs[id as usize] & attr::CONTROL == 0 {
            tracing::debug!("token {id} {:?} looks like a control token; treating it as one", texts[id as usize]);
            attrs[id as usize] |= attr::CONTROL;
        }
    };
    if eot.is_none() {
        eot = find(EOT_TEXTS);
    }
    if eom.is_none() {
        eom = find(&["<|eom_id|>"]);
    }
    if fim_pad.is_none() {
        fim_pad = find(FIM_PAD_TEXTS);
    }
    if fim_rep.is_none() {
        fim_rep = find(FIM_REP_TEXTS);
    }
    if fim_sep.is_none() {
        fim_sep = find(FIM_SEP_TEXTS);
    }
    for id in [eot, eom, fim_pad, fim_rep, fim_sep].into_iter().flatten() {
        mark_control(id, &mut attrs);
    }
    for t in FIM_OTHER_TEXTS {
        if let Some(id) = token_to_id.get(t.as_bytes()) {
            mark_control(id, &mut attrs);
        }
    }
    // Control tokens named "unused..." are unused.
    for (i, t) in texts.iter().enumerate() {
        if attrs[i] & attr::CONTROL != 0 && t.contains("unused") {
            attrs[i] |= attr::UNUSED;
        }
    }
    let mut eog: Vec<u32> = [fim_pad, fim_rep, fim_sep].into_iter().flatten().collect();
    for t in EOG_TEXTS {
        if let Some(id) = token_to_id.get(t.as_bytes()) {
            eog.push(id);
            mark_control(id, &mut attrs);
        }
    }
    // gpt-oss: these are always rendered.
    for t in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
        if let Some(id) = token_to_id.get(t.as_bytes()) {
            attrs[id as usize] = attr::USER_DEFINED;
        }
    }
    eog.extend([eos, eot, eom].into_iter().flatten());
    eog.sort_unstable();
    eog.dedup();
    // o200k_harmony / solar-open: "<|end|>" is not the end of generation there.
    let has = |t: &str| token_to_id.get(t.as_bytes()).is_some_and(|id| eog.contains(&id));
    if (has("<|return|>") && has("<|call|>") && has("<|end|>"))
        || (has("<|calls|>") && has("<|flush|>") && has("<|end|>"))
    {
        let end = token_to_id.get(b"<|end|>").unwrap();
        eog.retain(|&i| i != end);
        attrs[end as usize] = attr::USER_DEFINED;
    }
    // Gemma 4 / PLaMo: "</s>" is a normal token there.
    let has = |t: &str| token_to_id.get(t.as_bytes()).is_some_and(|id| eog.contains(&id));
    if has("</s>") && (has("<|tool_response>") || has("<|plamo:eos|>")) {
        let s_id = token_to_id.get(b"</s>").unwrap();
        eog.retain(|&i| i != s_id);
        attrs[s_id as usize] = attr::NORMAL;
    }

    // Per-model attributes (llama.cpp sets these by name).
    let model_name = f.get("general.name").and_then(Value::as_str).unwrap_or("").to_lowercase();
    let special_mask = attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN;
    if ["jina-v2-de", "jina-v2-es", "jina-v2-code"].iter().any(|p| pre_name.contains(p)) {
        if let Some(id) = token_to_id.get(b"<mask>") {
            attrs[id as usize] |= attr::LSTRIP;
        }
    } else if model_name.contains("phi-3") || model_name.contains("phi3") {
        for a in attrs.iter_mut().filter(|a| **a & special_mask != 0) {
            *a |= attr::RSTRIP;
        }
        for (t, on) in [("</s>", true), ("<unk>", false), ("<s>", false), ("<|endoftext|>", false)] {
            if let Some(id) = token_to_id.get(t.as_bytes()) {
                if on {
                    attrs[id as usize] |= attr::RSTRIP;
                } else {
                    attrs[id as usize] &= !attr::RSTRIP;
                }
            }
        }
    }

    let special_ids: Vec<u32> = (0..n as u32).filter(|&i| attrs[i as usize] & special_mask != 0).collect();
    let specials = Specials::new(&special_ids, &texts);

    let ugm = if kind == VocabKind::Ugm {
        let charsmap = match f.get("tokenizer.ggml.precompiled_charsmap") {
            None => None,
            Some(Value::Array(Array::U8(v))) => Some(v.clone()),
            Some(Value::Array(Array::I8(v))) => Some(v.iter().map(|&b| b as u8).collect()),
            Some(v) => {
                return Err(TokenizerError::Invalid(format!(
                    "tokenizer.ggml.precompiled_charsmap has type {}, expected an array of bytes",
                    v.type_name()
                )))
            }
        };
        let remove_extra_ws = get_bool(f, "tokenizer.ggml.remove_extra_whitespaces")?.unwrap_or(false);
        Some(Ugm::new(&texts, &attrs, &scores, charsmap.as_deref(), add_space_prefix, remove_extra_ws)?)
    } else {
        None
    };

    let mut byte_tokens = [None; 256];
    if kind == VocabKind::Spm {
        for (b, slot) in byte_tokens.iter_mut().enumerate() {
            *slot = token_to_id
                .get(format!("<0x{b:02X}>").as_bytes())
                .or_else(|| token_to_id.get(&[b as u8]));
        }
    }

    let mut spm_joins_space = std::collections::HashSet::default();
    if kind == VocabKind::Spm {
        for t in &texts {
            let mut prev = None;
            for c in t.chars() {
                if c == '\u{2581}' {
                    if let Some(p) = prev {
                        spm_joins_space.insert(p as u32);
                    }
                }
                prev = Some(c);
            }
        }
    }

    let escaped = kind != VocabKind::Bpe || spm_style.escape;
    let max_token_len = texts.iter().map(String::len).max().unwrap_or(0);
    let pieces = texts.iter().enumerate().map(|(i, t)| piece(escaped, t, attrs[i])).collect();

    tracing::debug!(
        "tokenizer: {model} ({:?}), pre {pre_name:?}, {n} tokens, bos {bos:?} (add {add_bos}), eos {eos:?} (add {add_eos}), eot {eot:?}, eog {eog:?}",
        kind
    );
    Ok(Tokenizer {
        kind,
        texts,
        attrs,
        scores,
        token_to_id,
        pieces,
        bos,
        eos,
        eot,
        eom,
        unk,
        pad,
        eog,
        add_bos,
        add_eos,
        add_space_prefix,
        clean_spaces,
        spm_style,
        ugm,
        sep,
        normalizer,
        max_token_len,
        pre_name: if kind == VocabKind::Bpe { pre_name } else { String::new() },
        specials,
        bpe,
        stages,
        byte_tokens,
        spm_joins_space,
    })
}

/// `token_to_piece(id, special = true)` (llama.cpp's token-to-piece cache). `escaped`: token
/// texts write spaces as `▁` (SentencePiece style) rather than in GPT-2's byte encoding.
fn piece(escaped: bool, text: &str, a: u16) -> Box<[u8]> {
    if a & (attr::UNKNOWN | attr::CONTROL | attr::USER_DEFINED) != 0 {
        return text.as_bytes().into();
    }
    if a & attr::NORMAL != 0 {
        return match escaped {
            true => text.replace('\u{2581}', " ").into_bytes().into(),
            false => {
                let mut out = Vec::with_capacity(text.len());
                for c in text.chars() {
                    match char_to_byte(c) {
                        Some(b) => out.push(b),
                        None => {
                            // llama.cpp's marker for a character outside the byte map.
                            out.extend_from_slice(b"[UNK_BYTE_0x");
                            for b in c.to_string().bytes() {
                                out.extend_from_slice(format!("{b:02x}").as_bytes());
                            }
                            out.extend_from_slice(text.as_bytes());
                            out.push(b']');
                        }
                    }
                }
                out.into()
            }
        };
    }
    if a & attr::BYTE != 0 {
        let hex = text.get(3..5).and_then(|h| u8::from_str_radix(h, 16).ok());
        return hex.map(|b| vec![b].into()).unwrap_or_default();
    }
    Box::default()
}
