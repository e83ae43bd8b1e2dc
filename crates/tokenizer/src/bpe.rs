//! Byte-level BPE: merge ranks from `tokenizer.ggml.merges`, applied per pre-tokenized word.
//!
//! The vocabulary and merges are stored in GPT-2's byte-to-unicode form ("Ġthe"); here they are
//! decoded once to raw bytes, so words never need re-encoding. Symbols carry ids and merges are
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

pub(crate) struct Bpe {
    /// Raw bytes of every token whose text is a valid byte encoding.
    raw_to_id: TokenMap,
    /// (left id, right id) -> (rank, merged id).
    merges: FxMap<u64, (u32, u32)>,
    /// Symbol id of each single byte (a token id, or a virtual id).
    byte_sym: [u32; 256],
    n_vocab: u32,
    /// Raw bytes of virtual ids (`id - n_vocab`).
    virt: Vec<Box<[u8]>>,
    /// For a virtual symbol, llama.cpp looks up each byte of its encoded text as a one-byte token.
    single_byte_token: [Option<u32>; 256],
    pub ignore_merges: bool,
}

fn decode_text(s: &str) -> Option<Vec<u8>> {
    s.chars().map(char_to_byte).collect()
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
    ) -> Bpe {
        let n_vocab = tokens.len() as u32;
        let mut raw_to_id = TokenMap::with_capacity(tokens.len());
        let mut decodable = vec![false; tokens.len()];
        for (id, t) in tokens.iter().enumerate() {
            if let Some(raw) = decode_text(t) {
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
            let raw = decode_text(enc)?;
            Some(*virt_ids.entry(raw.as_slice().into()).or_insert_with(|| {
                virt.push(raw.into_boxed_slice());
                n_vocab + virt.len() as u32 - 1
            }))
        };
        let mut byte_sym = [0u32; 256];
        for (b, slot) in byte_sym.iter_mut().enumerate() {
            *slot = intern(&byte_to_char(b as u8).to_string()).expect("byte characters decode");
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
        let mut single_byte_token = [None; 256];
        for (b, slot) in single_byte_token.iter_mut().enumerate() {
            // A one-byte string is a valid token text only for ASCII; the encoded char of byte
            // `b` contains such a byte only when it is itself ASCII.
            let c = byte_to_char(b as u8);
            if c.is_ascii() {
                *slot = raw_to_id.get(&[b as u8]);
            }
        }
        Bpe { raw_to_id, merges: map, byte_sym, n_vocab, virt, single_byte_token, ignore_merges }
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
        if word.len() == 1 {
            return self.emit(self.byte_sym[word[0] as usize], out);
        }
        let mut ids: Vec<u32> = word.iter().map(|&b| self.byte_sym[b as usize]).collect();
        if ids.len() <= 48 {
            self.merge_small(&mut ids);
            for &id in &ids {
                self.emit(id, out);
            }
        } else {
            self.merge_heap(&mut ids, out);
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
    fn merge_heap(&self, ids: &mut [u32], out: &mut Vec<u32>) {
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
            self.emit(ids[i], out);
            i = next[i];
        }
    }

    #[inline]
    fn emit(&self, id: u32, out: &mut Vec<u32>) {
        if id < self.n_vocab {
            out.push(id);
            return;
        }
        // Not a token: llama.cpp falls back to one-byte tokens of the encoded text, silently
        // dropping bytes that have none.
        for &b in self.virt[(id - self.n_vocab) as usize].iter() {
            if let Some(t) = self.single_byte_token[b as usize] {
                out.push(t);
            }
        }
    }
}
