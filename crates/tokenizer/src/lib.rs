//! Tokenizers for GGUF models, matching llama.cpp token for token: SentencePiece
//! (`tokenizer.ggml.model = llama`), byte-level BPE (`gpt2`) with the pre-tokenizer named by
//! `tokenizer.ggml.pre`, SentencePiece-style BPE (`gemma4`), WordPiece (`bert`) and Unigram
//! (`t5`); special-token handling; streaming detokenization; chat templates.
//!
//! ```no_run
//! let gguf = gguf::GgufFile::open("model.gguf").unwrap();
//! let tok = tokenizer::Tokenizer::from_gguf(&gguf).unwrap();
//! let ids = tok.encode("Hello world", true, true);
//! assert_eq!(tok.decode(&ids, false), "Hello world");
//! ```

mod bpe;
mod hash;
pub mod pattern;
pub mod pretokenize;
mod special;
mod spm;
mod stream;
pub mod template;
pub mod unicode;
mod ugm;
mod vocab;
mod wpm;

pub use stream::StreamDecoder;
pub use template::{ChatTemplate, Message, TemplateSource};

use hash::{FxMap, TokenMap};
use special::{Fragment, Specials};

/// Token attributes (llama.cpp's `llama_token_attr` bits).
pub mod attr {
    pub const UNKNOWN: u16 = 1 << 0;
    pub const UNUSED: u16 = 1 << 1;
    pub const NORMAL: u16 = 1 << 2;
    pub const CONTROL: u16 = 1 << 3;
    pub const USER_DEFINED: u16 = 1 << 4;
    pub const BYTE: u16 = 1 << 5;
    pub const LSTRIP: u16 = 1 << 7;
    pub const RSTRIP: u16 = 1 << 8;
}

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error(transparent)]
    Gguf(#[from] gguf::GgufError),
    #[error("unsupported tokenizer model {0:?}: this engine supports \"llama\" (SentencePiece), \"gpt2\" (byte-level BPE), \"gemma4\" (SentencePiece-style BPE), \"bert\" (WordPiece) and \"t5\" (Unigram)")]
    UnknownModel(String),
    #[error("unknown pre-tokenizer {name:?} (tokenizer.ggml.pre); known pre-tokenizers: {known}")]
    UnknownPre { name: String, known: String },
    #[error("invalid tokenizer metadata: {0}")]
    Invalid(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("chat messages: {0}")]
    Messages(String),
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VocabKind {
    /// SentencePiece BPE: scores, `▁` for spaces, `<0xXX>` byte fallback.
    Spm,
    /// Byte-level BPE: merge ranks and a regex pre-tokenizer.
    Bpe,
    /// WordPiece (BERT): greedy longest match after a BERT normalizer.
    Wpm,
    /// Unigram (T5): the highest-scoring segmentation after SentencePiece's normalizer.
    Ugm,
}

/// A model's tokenizer, built from GGUF metadata.
pub struct Tokenizer {
    kind: VocabKind,
    texts: Vec<String>,
    attrs: Vec<u16>,
    scores: Vec<f32>,
    token_to_id: TokenMap,
    /// `token_to_piece(id, show_special = true)` for every id.
    pieces: Vec<Box<[u8]>>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    eom: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    eog: Vec<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    clean_spaces: bool,
    /// SentencePiece-style BPE (Gemma 4, ...): spaces are written `▁`, tokens are raw UTF-8.
    spm_style: pretokenize::SpmStyle,
    ugm: Option<ugm::Ugm>,
    /// Separator (`[SEP]`), appended by WordPiece with `add_special`.
    sep: Option<u32>,
    normalizer: wpm::Normalizer,
    /// Longest token text, in bytes.
    max_token_len: usize,
    pre_name: String,
    specials: Specials,
    bpe: Option<bpe::Bpe>,
    stages: Vec<pretokenize::Stage>,
    /// SPM byte fallback: token of each byte.
    byte_tokens: [Option<u32>; 256],
    /// SPM: characters `x` such that some token contains "x▁" (see `spm::encode`).
    spm_joins_space: std::collections::HashSet<u32, std::hash::BuildHasherDefault<hash::FxHasher>>,
}

impl Tokenizer {
    /// Builds the tokenizer described by a GGUF file's `tokenizer.*` metadata.
    pub fn from_gguf(file: &gguf::GgufFile) -> Result<Tokenizer, TokenizerError> {
        vocab::load(file)
    }

    pub fn kind(&self) -> VocabKind {
        self.kind
    }
    pub fn n_vocab(&self) -> usize {
        self.texts.len()
    }
    /// `tokenizer.ggml.pre` as resolved (empty for SPM).
    pub fn pre(&self) -> &str {
        &self.pre_name
    }
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }
    /// End-of-turn token (`<|im_end|>`, `<end_of_turn>`, `<|eot_id|>`, ... or from metadata).
    pub fn eot_id(&self) -> Option<u32> {
        self.eot
    }
    pub fn eom_id(&self) -> Option<u32> {
        self.eom
    }
    pub fn unk_id(&self) -> Option<u32> {
        self.unk
    }
    pub fn pad_id(&self) -> Option<u32> {
        self.pad
    }
    /// Whether `encode(.., add_special = true, ..)` prepends BOS / appends EOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }
    /// Every token that ends generation (EOS, EOT, EOM and the end-of-turn-like tokens).
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }
    /// The token's text as stored in the vocabulary (`▁the`, `Ġthe`, `<|im_end|>`).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.texts.get(id as usize).map(|s| s.as_str())
    }
    /// llama.cpp's token attribute bits ([`attr`]).
    pub fn token_attr(&self, id: u32) -> u16 {
        self.attrs.get(id as usize).copied().unwrap_or(0)
    }
    pub fn is_control(&self, id: u32) -> bool {
        self.token_attr(id) & attr::CONTROL != 0
    }
    /// Looks up a token by its exact vocabulary text.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.text_to_token(text.as_bytes())
    }

    pub(crate) fn text_to_token(&self, text: &[u8]) -> Option<u32> {
        self.token_to_id.get(text)
    }

    pub(crate) fn byte_to_token(&self, b: u8) -> Option<u32> {
        self.byte_tokens[b as usize].or(self.unk)
    }

    /// Tokenizes `text`. `add_special` adds BOS/EOS where the model's metadata asks for them;
    /// `parse_special` lets control tokens written in the text (`<|im_start|>`) become tokens.
    /// User-defined tokens are always matched, as in llama.cpp.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        let mut frags = Vec::new();
        self.specials.partition(text, parse_special, &self.attrs, &mut frags);
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        match self.kind {
            VocabKind::Spm => {
                let mut prev_special = true;
                let mut buf = Vec::new();
                let mut cache = Default::default();
                for f in &frags {
                    match *f {
                        Fragment::Text(t) => {
                            buf.clear();
                            if self.add_space_prefix && prev_special {
                                buf.extend_from_slice("\u{2581}".as_bytes());
                            }
                            for &b in t.as_bytes() {
                                if b == b' ' {
                                    buf.extend_from_slice("\u{2581}".as_bytes());
                                } else {
                                    buf.push(b);
                                }
                            }
                            spm::encode(self, &buf, &mut out, &mut cache);
                            prev_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            prev_special = true;
                        }
                    }
                }
            }
            VocabKind::Bpe => self.encode_bpe(&frags, &mut out),
            VocabKind::Wpm => {
                for f in &frags {
                    match *f {
                        Fragment::Text(t) => wpm::encode(self, t, self.normalizer, self.max_token_len, &mut out),
                        Fragment::Token(id) => out.push(id),
                    }
                }
                if add_special {
                    out.extend(self.sep);
                }
            }
            VocabKind::Ugm => {
                let ugm = self.ugm.as_ref().expect("Unigram vocabulary");
                let unk = self.unk.expect("Unigram vocabularies have an unknown token");
                for f in &frags {
                    match *f {
                        Fragment::Text(t) => ugm.encode(t, &self.scores, &self.attrs, unk, &mut out),
                        Fragment::Token(id) => out.push(id),
                    }
                }
            }
        }
        if add_special && self.add_eos && self.kind != VocabKind::Wpm {
            out.extend(self.eos);
        }
        out
    }

    fn encode_bpe(&self, frags: &[Fragment], out: &mut Vec<u32>) {
        let bpe = self.bpe.as_ref().expect("BPE vocabulary");
        let sp = self.spm_style;
        let mut words = Vec::new();
        let mut cache: FxMap<&str, (u32, u32)> = FxMap::default();
        let mut cached: Vec<u32> = Vec::new();
        // SentencePiece-style vocabularies see spaces as "▁".
        let escaped: Vec<String> = frags
            .iter()
            .filter_map(|f| match f {
                Fragment::Text(t) if sp.escape => Some(t.replace(' ', "\u{2581}")),
                _ => None,
            })
            .collect();
        let mut escaped = escaped.iter();
        for f in frags {
            let t = match *f {
                Fragment::Token(id) => {
                    out.push(id);
                    continue;
                }
                Fragment::Text(_) if sp.escape => escaped.next().unwrap().as_str(),
                Fragment::Text(t) => t,
            };
            pretokenize::split(&self.stages, t, &mut words);
            for &(s, e) in &words {
                let w = &t[s..e];
                let newlines = w.bytes().all(|b| b == b'\n');
                if sp.newline_tokens && newlines {
                    // A run of newlines that is a token stays whole (llama.cpp's Gemma 4 fix);
                    // otherwise it is merged like any word.
                    if let Some(id) = bpe.token(w.as_bytes()) {
                        out.push(id);
                        continue;
                    }
                }
                if sp.metaspace && !newlines {
                    // Metaspace pre-tokenizer: the text starts with "▁" and every "▁" starts a word.
                    let w = if w.starts_with('\u{2581}') { w.to_string() } else { format!("\u{2581}{w}") };
                    let mut starts: Vec<usize> = w.match_indices('\u{2581}').map(|(i, _)| i).collect();
                    starts.push(w.len());
                    for p in starts.windows(2) {
                        bpe.encode_word(&w.as_bytes()[p[0]..p[1]], out);
                    }
                    continue;
                }
                if let Some(&(a, b)) = cache.get(w) {
                    out.extend_from_slice(&cached[a as usize..b as usize]);
                    continue;
                }
                let start = out.len();
                bpe.encode_word(w.as_bytes(), out);
                let a = cached.len() as u32;
                cached.extend_from_slice(&out[start..]);
                cache.insert(w, (a, cached.len() as u32));
            }
        }
    }

    /// The bytes a token stands for. Control and unknown tokens give nothing unless
    /// `show_special`; user-defined tokens always show. May be part of a UTF-8 character.
    pub fn token_to_piece(&self, id: u32, show_special: bool) -> &[u8] {
        let Some(p) = self.pieces.get(id as usize) else { return &[] };
        if !show_special && self.attrs[id as usize] & (attr::UNKNOWN | attr::CONTROL) != 0 {
            return &[];
        }
        p
    }

    /// Detokenizes: the pieces of all tokens, concatenated. For SentencePiece vocabularies with
    /// `add_space_prefix`, the space the tokenizer put in front of the first word is removed
    /// (as llama.cpp does), so `decode(encode(text, false, false), false) == text`.
    /// Invalid UTF-8 (a character cut off at the end) becomes U+FFFD.
    pub fn decode(&self, ids: &[u32], show_special: bool) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids, show_special)).into_owned()
    }

    /// [`Tokenizer::decode`] without the UTF-8 conversion.
    pub fn decode_bytes(&self, ids: &[u32], show_special: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut remove_space = self.add_space_prefix;
        for &id in ids {
            let mut p = self.token_to_piece(id, show_special);
            if remove_space && p.first() == Some(&b' ') {
                p = &p[1..];
            }
            remove_space = false;
            out.extend_from_slice(p);
        }
        out
    }

    /// llama.cpp's `llama_detokenize(.., remove_special, unparse_special)` exactly, including
    /// its `clean_up_tokenization_spaces` pass (" ," -> "," etc.) for the vocabularies that set it.
    pub fn decode_llama(&self, ids: &[u32], remove_special: bool, unparse_special: bool) -> String {
        let mut ids = ids;
        let mut remove_space = self.add_space_prefix;
        if remove_special && self.add_bos && !ids.is_empty() && ids.first().copied() == self.bos {
            remove_space = false;
            ids = &ids[1..];
        }
        if remove_special && self.add_eos && ids.last().is_some() && ids.last().copied() == self.eos {
            ids = &ids[..ids.len() - 1];
        }
        let mut text = Vec::new();
        for &id in ids {
            let mut p = self.token_to_piece(id, unparse_special);
            if remove_space && p.first() == Some(&b' ') {
                p = &p[1..];
            }
            remove_space = false;
            text.extend_from_slice(p);
        }
        if self.clean_spaces {
            text = clean_up_spaces(&text);
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    /// A streaming detokenizer over this vocabulary.
    pub fn stream_decoder(&self, show_special: bool) -> StreamDecoder<'_> {
        StreamDecoder::new(self, show_special)
    }
}

/// The three in-place passes of llama.cpp's `clean_spaces` in `detokenize`, kept literal because
/// they read the partly rewritten buffer.
fn clean_up_spaces(t: &[u8]) -> Vec<u8> {
    let mut text = t.to_vec();
    // " ?", " !", " .", " ," lose the space.
    let n1 = text.len();
    let mut total = usize::from(n1 > 0);
    for i in 1..n1 {
        let x = text[i];
        if text[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        text[total] = x;
        total += 1;
    }
    // " ' " becomes "'".
    let n2 = total;
    total = usize::from(n2 > 0);
    let mut i = 1;
    while i < n2 {
        let x = text[i];
        if x == b'\'' && i + 1 < n2 && text[i - 1] == b' ' && text[i + 1] == b' ' {
            total -= 1;
            i += 1;
            text[i] = 0;
        }
        text[total] = x;
        total += 1;
        i += 1;
    }
    // " 's", " 'm", " 're", " 've" lose the space.
    let n3 = total;
    total = usize::from(n3 > 0);
    for i in 1..n3 {
        let x = text[i];
        if text[i - 1] == b' ' && x == b'\'' && i + 1 < n3 {
            let x1 = text[i + 1];
            if x1 == b's' || x1 == b'm' {
                total -= 1;
            } else if i + 2 < n3 {
                let x2 = text[i + 2];
                if (x1 == b'r' || x1 == b'v') && x2 == b'e' {
                    total -= 1;
                }
            }
        }
        text[total] = x;
        total += 1;
    }
    text.truncate(total);
    text
}

#[cfg(test)]
mod pretokenize_tests;
