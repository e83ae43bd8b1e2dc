//! Unigram (`tokenizer.ggml.model = t5`), following llama.cpp's `llm_tokenizer_ugm_session`:
//! SentencePiece's normalizer (the model's precompiled character map, `▁` for spaces, optional
//! prefix space and whitespace merging), then the Viterbi search for the tokenization with the
//! highest total score, one code point at a time.

use crate::hash::TokenMap;
use crate::{attr, TokenizerError};

/// A byte trie; `longest_path` is llama.cpp's `naive_trie::get_longest_prefix`, which follows
/// the input as far as the trie has edges, whether or not a token ends there.
struct Trie {
    /// Edges of each node; node 0 is the root.
    nodes: Vec<Vec<(u8, usize)>>,
}

impl Trie {
    fn insert(&mut self, key: &[u8]) {
        let mut n = 0;
        for &b in key {
            n = match self.nodes[n].iter().find(|c| c.0 == b) {
                Some(&(_, c)) => c,
                None => {
                    self.nodes.push(Vec::new());
                    let c = self.nodes.len() - 1;
                    self.nodes[n].push((b, c));
                    c
                }
            };
        }
    }

    fn longest_path(&self, s: &[u8]) -> usize {
        let mut n = 0;
        for (i, &b) in s.iter().enumerate() {
            let Some(&(_, c)) = self.nodes[n].iter().find(|c| c.0 == b) else { return i };
            n = c;
        }
        s.len()
    }
}

/// SentencePiece's precompiled normalization map: a XOR-compressed compact double array over
/// byte strings whose leaves point at NUL-terminated replacement strings.
struct CharsMap {
    xcda: Vec<u32>,
    replacements: Vec<u8>,
}

impl CharsMap {
    fn parse(blob: &[u8]) -> Result<CharsMap, TokenizerError> {
        let bad = |m: &str| TokenizerError::Invalid(format!("tokenizer.ggml.precompiled_charsmap: {m}"));
        if blob.len() < 4 {
            return Err(bad("too small"));
        }
        let size = u32::from_le_bytes(blob[..4].try_into().unwrap()) as usize;
        if size + 4 >= blob.len() {
            return Err(bad("double array larger than the blob"));
        }
        let xcda = blob[4..4 + size / 4 * 4].chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        Ok(CharsMap { xcda, replacements: blob[4 + size..].to_vec() })
    }

    fn node(&self, i: u32) -> Option<u32> {
        self.xcda.get(i as usize).copied()
    }

    /// The longest prefix of `s` the map replaces: (its length, the replacement).
    fn longest(&self, s: &[u8]) -> Option<(usize, &[u8])> {
        let base = |n: u32| (n >> 10) << ((n & (1 << 9)) >> 6);
        let mut idx = base(self.node(0)?);
        let mut best = None;
        for (i, &c) in s.iter().enumerate() {
            if c == 0 {
                break;
            }
            idx ^= c as u32;
            let Some(n) = self.node(idx) else { break };
            if n & ((1 << 31) | 0xff) != c as u32 {
                break;
            }
            let leaf = (n >> 8) & 1 == 1;
            idx ^= base(n);
            if leaf {
                let v = self.node(idx)? & ((1 << 31) - 1);
                best = Some((i + 1, v as usize));
            }
        }
        let (len, off) = best?;
        let rest = self.replacements.get(off..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some((len, &rest[..end]))
    }
}

pub(crate) struct Ugm {
    charsmap: Option<CharsMap>,
    user_defined: Trie,
    /// Normal, user-defined and unused tokens: the pieces the search may use.
    pieces: TokenMap,
    max_piece_len: usize,
    unknown_score: f64,
    add_space_prefix: bool,
    remove_extra_whitespaces: bool,
}

impl Ugm {
    pub fn new(
        texts: &[String],
        attrs: &[u16],
        scores: &[f32],
        charsmap: Option<&[u8]>,
        add_space_prefix: bool,
        remove_extra_whitespaces: bool,
    ) -> Result<Ugm, TokenizerError> {
        let mut u = Ugm {
            charsmap: charsmap.filter(|c| !c.is_empty()).map(CharsMap::parse).transpose()?,
            user_defined: Trie { nodes: vec![Vec::new()] },
            pieces: TokenMap::with_capacity(texts.len()),
            max_piece_len: 0,
            unknown_score: 0.0,
            add_space_prefix,
            remove_extra_whitespaces,
        };
        let mut min_score = f32::MAX;
        for (i, t) in texts.iter().enumerate() {
            let a = attrs[i];
            if a & attr::NORMAL != 0 {
                min_score = min_score.min(scores[i]);
            }
            if a & (attr::NORMAL | attr::USER_DEFINED | attr::UNUSED) != 0 {
                u.pieces.insert(t.as_bytes(), i as u32);
                u.max_piece_len = u.max_piece_len.max(t.len());
            }
            if a & attr::USER_DEFINED != 0 {
                u.user_defined.insert(t.as_bytes());
            }
        }
        u.unknown_score = min_score as f64 - 10.0;
        Ok(u)
    }

    /// One normalization step at the start of `s`: (bytes consumed, replacement).
    fn normalize_prefix<'a>(&'a self, s: &'a [u8]) -> (usize, &'a [u8]) {
        let n = self.user_defined.longest_path(s);
        if n > 0 {
            return (n, &s[..n]);
        }
        if let Some((n, r)) = self.charsmap.as_ref().and_then(|m| m.longest(s)) {
            return (n, r);
        }
        let n = utf8_len(s[0]).min(s.len());
        match std::str::from_utf8(&s[..n]) {
            Ok(_) => (n, &s[..n]),
            Err(_) => (1, "\u{FFFD}".as_bytes()),
        }
    }

    fn normalize(&self, text: &[u8]) -> Vec<u8> {
        const SPACE: &[u8] = "\u{2581}".as_bytes();
        let mut out = Vec::with_capacity(text.len() * 3);
        let mut space_prepended = false;
        let mut in_word = false;
        let mut at = 0;
        while at < text.len() {
            let (n, rep) = self.normalize_prefix(&text[at..]);
            for &c in rep {
                if c != b' ' {
                    if !in_word {
                        in_word = true;
                        if (self.add_space_prefix && !space_prepended) || self.remove_extra_whitespaces {
                            out.extend_from_slice(SPACE);
                            space_prepended = true;
                        }
                    }
                    out.push(c);
                } else {
                    in_word = false;
                    if !self.remove_extra_whitespaces {
                        out.extend_from_slice(SPACE);
                    }
                }
            }
            at += n;
        }
        out
    }

    /// Appends the best tokenization of `text`; runs of unknown code points become one `unk`.
    pub fn encode(&self, text: &str, scores: &[f32], attrs: &[u16], unk: u32, out: &mut Vec<u32>) {
        let s = self.normalize(text.as_bytes());
        let n = s.len();
        if n == 0 {
            return;
        }
        // best[i]: (token, start, score) of the best tokenization of s[..i].
        let mut best: Vec<(u32, usize, f64)> = vec![(unk, 0, f64::MIN); n + 1];
        best[0] = (unk, 0, 0.0);
        let mut i = 0;
        while i < n {
            let cp_len = utf8_len(s[i]).min(n - i);
            let here = best[i].2;
            let mut whole_cp = false;
            for j in i + 1..=n.min(i + self.max_piece_len) {
                let Some(id) = self.pieces.get(&s[i..j]) else { continue };
                if j - i == cp_len {
                    whole_cp = true;
                }
                let score = if attrs[id as usize] & attr::USER_DEFINED != 0 { 0.0 } else { scores[id as usize] as f64 };
                if here + score > best[j].2 {
                    best[j] = (id, i, here + score);
                }
            }
            if !whole_cp && here + self.unknown_score > best[i + cp_len].2 {
                best[i + cp_len] = (unk, i, here + self.unknown_score);
            }
            i += cp_len;
        }
        let start = out.len();
        let mut at = n;
        let mut prev_unknown = false;
        loop {
            let (id, from, _) = best[at];
            let unknown = id == unk;
            if !(prev_unknown && unknown) {
                out.push(id);
            }
            if from == 0 {
                break;
            }
            prev_unknown = unknown;
            at = from;
        }
        out[start..].reverse();
    }
}

fn utf8_len(b: u8) -> usize {
    const LOOKUP: [usize; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    LOOKUP[(b >> 4) as usize]
}
