//! SentencePiece-style BPE (`tokenizer.ggml.model = llama`): start from UTF-8 characters and keep
//! merging the adjacent pair whose concatenation is the vocabulary entry with the highest score
//! (leftmost on ties), as llama.cpp's `llm_tokenizer_spm_session` does. Characters that end up
//! outside the vocabulary are emitted as byte tokens `<0xXX>`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::Tokenizer;

struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bigram {
    /// Max-heap order: higher score first, then the smaller left index.
    fn cmp(&self, o: &Self) -> Ordering {
        self.score.total_cmp(&o.score).then_with(|| o.left.cmp(&self.left))
    }
}

#[derive(Clone, Copy)]
struct Sym {
    start: usize,
    len: usize,
    prev: usize,
    next: usize,
}

const NONE: usize = usize::MAX;

/// Tokenizes one already-escaped fragment (spaces replaced by U+2581).
///
/// Speed-up that keeps the result exact: the text is cut before every `▁` whose preceding
/// character `x` never appears as "x▁" inside any vocabulary entry. No symbol can grow across
/// such a point (it would have to be a token containing "x▁"), so the pieces merge
/// independently and in the same relative order; each piece is tokenized once per call.
pub(crate) fn encode(tok: &Tokenizer, text: &[u8], out: &mut Vec<u32>, cache: &mut Cache<'_>) {
    let mut start = 0;
    let mut prev_char: Option<u32> = None;
    let mut i = 0;
    while i < text.len() {
        let len = utf8_len(text[i]).min(text.len() - i);
        let c = std::str::from_utf8(&text[i..i + len]).ok().and_then(|s| s.chars().next()).map(|c| c as u32);
        if c == Some(0x2581) && i > start {
            if let Some(p) = prev_char {
                if !tok.spm_joins_space.contains(&p) {
                    encode_cached(tok, &text[start..i], out, cache);
                    start = i;
                }
            }
        }
        prev_char = c;
        i += len;
    }
    encode_cached(tok, &text[start..], out, cache);
}

/// Per-call memo of segment -> token range.
pub(crate) type Cache<'a> = (crate::hash::FxMap<Vec<u8>, (u32, u32)>, Vec<u32>);

fn encode_cached(tok: &Tokenizer, seg: &[u8], out: &mut Vec<u32>, cache: &mut Cache<'_>) {
    if let Some(&(a, b)) = cache.0.get(seg) {
        out.extend_from_slice(&cache.1[a as usize..b as usize]);
        return;
    }
    let at = out.len();
    encode_segment(tok, seg, out);
    let a = cache.1.len() as u32;
    cache.1.extend_from_slice(&out[at..]);
    cache.0.insert(seg.to_vec(), (a, cache.1.len() as u32));
}

fn encode_segment(tok: &Tokenizer, text: &[u8], out: &mut Vec<u32>) {
    if text.is_empty() {
        return;
    }
    let mut syms: Vec<Sym> = Vec::with_capacity(text.len());
    let mut off = 0;
    while off < text.len() {
        let len = utf8_len(text[off]).min(text.len() - off);
        let i = syms.len();
        syms.push(Sym { start: off, len, prev: i.wrapping_sub(1), next: i + 1 });
        off += len;
    }
    let n = syms.len();
    syms[n - 1].next = NONE;
    if n > 0 {
        syms[0].prev = NONE;
    }
    let mut heap = BinaryHeap::with_capacity(n);
    let try_add = |syms: &[Sym], heap: &mut BinaryHeap<Bigram>, l: usize, r: usize| {
        if l == NONE || r == NONE {
            return;
        }
        let (a, b) = (syms[l], syms[r]);
        let s = &text[a.start..a.start + a.len + b.len];
        if let Some(id) = tok.text_to_token(s) {
            heap.push(Bigram { score: tok.scores[id as usize], left: l, right: r, size: s.len() });
        }
    };
    for i in 1..n {
        try_add(&syms, &mut heap, i - 1, i);
    }
    while let Some(bg) = heap.pop() {
        let (l, r) = (syms[bg.left], syms[bg.right]);
        if l.len == 0 || r.len == 0 || l.len + r.len != bg.size {
            continue;
        }
        syms[bg.left].len += r.len;
        syms[bg.right].len = 0;
        syms[bg.left].next = r.next;
        if r.next != NONE {
            syms[r.next].prev = bg.left;
        }
        let lp = syms[bg.left].prev;
        let ln = syms[bg.left].next;
        try_add(&syms, &mut heap, lp, bg.left);
        try_add(&syms, &mut heap, bg.left, ln);
    }
    let mut i = 0;
    while i != NONE {
        let s = syms[i];
        let piece = &text[s.start..s.start + s.len];
        match tok.text_to_token(piece) {
            Some(id) => out.push(id),
            None => {
                for &b in piece {
                    if let Some(id) = tok.byte_to_token(b) {
                        out.push(id);
                    }
                }
            }
        }
        i = s.next;
    }
}

/// Length of a UTF-8 sequence from its first byte (llama.cpp's `unicode_len_utf8`).
#[inline]
pub(crate) fn utf8_len(b: u8) -> usize {
    const LOOKUP: [usize; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    LOOKUP[(b >> 4) as usize]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn vocabs() -> &'static Vec<crate::Tokenizer> {
        static V: OnceLock<Vec<crate::Tokenizer>> = OnceLock::new();
        V.get_or_init(|| {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let mut v = vec![root.join("tests/data/vocab/ggml-vocab-llama-spm.gguf")];
            let gemma = root.join("models/gemma-3-270m-q4_k_m.gguf");
            if gemma.exists() {
                v.push(gemma);
            }
            v.iter().map(|p| crate::Tokenizer::from_gguf(&gguf::GgufFile::open(p).unwrap()).unwrap()).collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Cutting at the safe points gives exactly what one pass over the whole text gives.
        #[test]
        fn segmented_equals_whole(t in "[a-zA-Z .,>\n\t▁'é😀我-]{0,60}") {
            let esc: Vec<u8> = t.replace(' ', "\u{2581}").into_bytes();
            for tok in vocabs() {
                let mut whole = Vec::new();
                super::encode_segment(tok, &esc, &mut whole);
                let mut seg = Vec::new();
                super::encode(tok, &esc, &mut seg, &mut Default::default());
                prop_assert_eq!(whole, seg);
            }
        }
    }
}
