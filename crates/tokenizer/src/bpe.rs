//! BPE: merge ranks from `tokenizer.ggml.merges`, applied per pre-tokenized word.
//!
//! Byte-level vocabularies store tokens and merges in GPT-2's byte-to-unicode form ("Ġthe");
//! here they are decoded once to raw bytes, so words never need re-encoding. SentencePiece-style
//! BPE vocabularies (Gemma 4: `▁the`, `<0xXX>` byte tokens) are [`Encoding::Raw`]: token texts
//! are the bytes themselves, a word starts as one symbol per UTF-8 character, and symbols left
//! that are not tokens fall back to `<0xXX>` tokens. Symbols carry ids and merges are
//! looked up by id pair. Strings that appear in merges but are not tokens get "virtual" ids past
//! the vocabulary, which keeps the result identical to llama.cpp's string-based merging (its
//! `llm_tokenizer_bpe_session`) even for odd vocabularies.
//!
//! Merge order: the adjacent pair with the lowest rank first, the leftmost on ties, exactly the
//! order of llama.cpp's priority queue.

use crate::hash::{FxMap, TokenMap};
use crate::unicode::{byte_to_char, char_to_byte};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Encoding {
    /// GPT-2's byte-to-unicode token texts; a word starts as one symbol per byte.
    ByteLevel,
    /// Token texts are raw UTF-8; a word starts as one symbol per character.
    Raw,
}

/// Symbol ids from here up stand for a character of the word that is neither a token nor part
/// of any merge (`UNKNOWN_CHAR + byte offset in the word`).
const UNKNOWN_CHAR: u32 = 0xC000_0000;

pub(crate) struct Bpe {
    encoding: Encoding,
    /// Raw bytes of every token whose text is a valid byte encoding.
    raw_to_id: TokenMap,
    /// (left id, right id) -> (rank, merged id).
    merges: FxMap<u64, (u32, u32)>,
    /// Symbol id of each single byte (a token id, or a virtual id).
    byte_sym: [u32; 256],
    n_vocab: u32,
    /// Raw bytes of virtual ids (`id - n_vocab`).
    virt: Vec<Box<[u8]>>,
    /// Raw mode: the virtual id of a character that appears in merges but is not a token.
    virt_ids: FxMap<Box<[u8]>, u32>,
    /// The token a byte of a leftover (non-token) symbol becomes: byte-level, llama.cpp looks up
    /// each byte of its encoded text as a one-byte token; raw, the `<0xXX>` token.
    fallback: [Option<u32>; 256],
    pub ignore_merges: bool,
}

fn decode_text(s: &str, enc: Encoding) -> Option<Vec<u8>> {
    match enc {
        Encoding::ByteLevel => s.chars().map(char_to_byte).collect(),
        Encoding::Raw => Some(s.as_bytes().to_vec()),
    }
}

#[inline]
fn key(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

impl Bpe {
    /// `token_to_id` maps token texts (byte-encoded form) to ids.
    pub fn new(
        tokens: &[String],
        token_to_id: &TokenMap,
        merges: &[String],
        ignore_merges: bool,
        encoding: Encoding,
    ) -> Bpe {
        let n_vocab = tokens.len() as u32;
        let mut raw_to_id = TokenMap::with_capacity(tokens.len());
        let mut decodable = vec![false; tokens.len()];
        for (id, t) in tokens.iter().enumerate() {
            if let Some(raw) = decode_text(t, encoding) {
                raw_to_id.insert(&raw, id as u32);
                decodable[id] = true;
            }
        }
        let mut virt_ids: FxMap<Box<[u8]>, u32> = FxMap::default();
        let mut virt: Vec<Box<[u8]>> = Vec::new();
        // The symbol id of an encoded string: its token id, or a virtual id; None if the string
        // is not a byte encoding (no symbol can ever have that text).
        let mut intern = |enc: &str| -> Option<u32> {
            if let Some(id) = token_to_id.get(enc.as_bytes()) {
                // Duplicate texts: the id the vocabulary map kept.
                return decodable[id as usize].then_some(id);
            }
            let raw = decode_text(enc, encoding)?;
            Some(*virt_ids.entry(raw.as_slice().into()).or_insert_with(|| {
                virt.push(raw.into_boxed_slice());
                n_vocab + virt.len() as u32 - 1
            }))
        };
        let mut byte_sym = [0u32; 256];
        if encoding == Encoding::ByteLevel {
            for (b, slot) in byte_sym.iter_mut().enumerate() {
                *slot = intern(&byte_to_char(b as u8).to_string()).expect("byte characters decode");
            }
        }
        let mut map: FxMap<u64, (u32, u32)> = FxMap::default();
        map.reserve(merges.len());
        let mut joined = String::new();
        for (rank, m) in merges.iter().enumerate() {
            // Split at the first space after the first character (llama.cpp: find(' ', 1)).
            let Some(sp) = m.char_indices().skip(1).find(|&(_, c)| c == ' ').map(|(i, _)| i) else { continue };
            let (a, b) = (&m[..sp], &m[sp + 1..]);
            let (Some(ia), Some(ib)) = (intern(a), intern(b)) else { continue };
            joined.clear();
            joined.push_str(a);
            joined.push_str(b);
            let Some(iab) = intern(&joined) else { continue };
            map.entry(key(ia, ib)).or_insert((rank as u32, iab));
        }
        let mut fallback = [None; 256];
        for (b, slot) in fallback.iter_mut().enumerate() {
            *slot = match encoding {
                // A one-byte string is a valid token text only for ASCII; the encoded char of
                // byte `b` contains such a byte only when it is itself ASCII.
                Encoding::ByteLevel => byte_to_char(b as u8).is_ascii().then(|| raw_to_id.get(&[b as u8])).flatten(),
                Encoding::Raw => token_to_id.get(format!("<0x{b:02X}>").as_bytes()),
            };
        }
        if encoding == Encoding::ByteLevel {
            // Only raw mode looks characters up among the virtual symbols.
            virt_ids = FxMap::default();
        }
        Bpe { encoding, raw_to_id, merges: map, byte_sym, n_vocab, virt, virt_ids, fallback, ignore_merges }
    }

    /// Whether `word` is exactly one token (raw bytes).
    pub fn token(&self, word: &[u8]) -> Option<u32> {
        self.raw_to_id.get(word)
    }

    /// The initial symbols of a word.
    fn symbols(&self, word: &[u8]) -> Vec<u32> {
        match self.encoding {
            Encoding::ByteLevel => word.iter().map(|&b| self.byte_sym[b as usize]).collect(),
            Encoding::Raw => {
                let mut ids = Vec::with_capacity(word.len());
                let mut i = 0;
                while i < word.len() {
                    let n = utf8_len(word[i]).min(word.len() - i);
                    let c = &word[i..i + n];
                    let id = self.raw_to_id.get(c).or_else(|| self.virt_ids.get(c).copied());
                    ids.push(id.unwrap_or(UNKNOWN_CHAR + i as u32));
                    i += n;
                }
                ids
            }
        }
    }

    /// Appends the tokens of one word (raw bytes).
    pub fn encode_word(&self, word: &[u8], out: &mut Vec<u32>) {
        if word.is_empty() {
            return;
        }
        if self.ignore_merges {
            if let Some(id) = self.raw_to_id.get(word) {
                out.push(id);
                return;
            }
        }
        if word.len() == 1 && self.encoding == Encoding::ByteLevel {
            return self.emit(self.byte_sym[word[0] as usize], word, out);
        }
        let mut ids = self.symbols(word);
        if ids.len() <= 48 {
            self.merge_small(&mut ids);
            for &id in &ids {
                self.emit(id, word, out);
            }
        } else {
            self.merge_heap(&mut ids, word, out);
        }
    }

    #[inline]
    fn rank(&self, a: u32, b: u32) -> Option<(u32, u32)> {
        self.merges.get(&key(a, b)).copied()
    }

    /// Quadratic scan for short words: cheaper than a heap, same order (lowest rank, leftmost).
    fn merge_small(&self, ids: &mut Vec<u32>) {
        let mut ranks: Vec<Option<(u32, u32)>> = ids.windows(2).map(|w| self.rank(w[0], w[1])).collect();
        loop {
            let mut best: Option<(usize, u32, u32)> = None;
            for (i, r) in ranks.iter().enumerate() {
                if let Some((rank, merged)) = *r {
                    if best.is_none_or(|(_, br, _)| rank < br) {
                        best = Some((i, rank, merged));
                    }
                }
            }
            let Some((i, _, merged)) = best else { break };
            ids[i] = merged;
            ids.remove(i + 1);
            ranks.remove(i);
            if i < ranks.len() {
                ranks[i] = self.rank(ids[i], ids[i + 1]);
            }
            if i > 0 {
                ranks[i - 1] = self.rank(ids[i - 1], ids[i]);
            }
        }
    }

    /// Linked list plus priority queue for long words.
    fn merge_heap(&self, ids: &mut [u32], word: &[u8], out: &mut Vec<u32>) {
        let n = ids.len();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut next: Vec<usize> = (1..=n).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::new();
        for i in 0..n - 1 {
            if let Some((rank, _)) = self.rank(ids[i], ids[i + 1]) {
                heap.push(Reverse((rank, i, i + 1, ids[i], ids[i + 1])));
            }
        }
        while let Some(Reverse((_, l, r, lid, rid))) = heap.pop() {
            if !alive[l] || !alive[r] || next[l] != r || ids[l] != lid || ids[r] != rid {
                continue;
            }
            let (_, merged) = self.rank(lid, rid).unwrap();
            ids[l] = merged;
            alive[r] = false;
            next[l] = next[r];
            if next[r] < n {
                prev[next[r]] = l;
            }
            if prev[l] < n {
                let p = prev[l];
                if let Some((rank, _)) = self.rank(ids[p], ids[l]) {
                    heap.push(Reverse((rank, p, l, ids[p], ids[l])));
                }
            }
            if next[l] < n {
                let q = next[l];
                if let Some((rank, _)) = self.rank(ids[l], ids[q]) {
                    heap.push(Reverse((rank, l, q, ids[l], ids[q])));
                }
            }
        }
        let mut i = 0;
        while i < n {
            self.emit(ids[i], word, out);
            i = next[i];
        }
    }

    #[inline]
    fn emit(&self, id: u32, word: &[u8], out: &mut Vec<u32>) {
        if id < self.n_vocab {
            out.push(id);
            return;
        }
        // Not a token: llama.cpp falls back to byte tokens, silently dropping bytes that have none.
        let bytes = if id >= UNKNOWN_CHAR {
            let at = (id - UNKNOWN_CHAR) as usize;
            &word[at..at + utf8_len(word[at]).min(word.len() - at)]
        } else {
            &self.virt[(id - self.n_vocab) as usize][..]
        };
        for &b in bytes {
            if let Some(t) = self.fallback[b as usize] {
                out.push(t);
            }
        }
    }
}

/// Length of a UTF-8 sequence from its first byte (llama.cpp's `unicode_len_utf8`).
fn utf8_len(b: u8) -> usize {
    const LOOKUP: [usize; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    LOOKUP[(b >> 4) as usize]
}
