//! WordPiece (`tokenizer.ggml.model = bert`), as llama.cpp's `llm_tokenizer_wpm_session` does it:
//! a BERT-style normalizer splits the text into words, then each word, written with a leading
//! `▁`, is cut greedily into the longest tokens from the left. A word that cannot be cut
//! entirely becomes the unknown token.

use crate::unicode::{flags, CAT_CONTROL, CAT_MARK, CAT_PUNCT, CAT_SYMBOL};
use crate::Tokenizer;

/// BertNormalizer options (`tokenizer.ggml.normalizer.*`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Normalizer {
    pub lowercase: bool,
    pub strip_accents: bool,
}

/// CJK ideographs, which are always words on their own (the ranges of BERT's
/// `_is_chinese_char`, with the Extension E start that Hugging Face's Rust code uses).
fn is_chinese(c: u32) -> bool {
    matches!(c,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// The first code point of a character's canonical decomposition (llama.cpp keeps only that one,
/// so an accented letter becomes its base letter and the accent is gone).
fn nfd_first(c: char) -> char {
    let mut first = None;
    unicode_normalization::char::decompose_canonical(c, |d| {
        first.get_or_insert(d);
    });
    first.unwrap_or(c)
}

/// Unicode's simple (one character) lowercase mapping.
fn simple_lower(c: char) -> char {
    if c == '\u{130}' {
        // The only character whose full lowercase differs from its simple one, apart from
        // context-dependent rules that a single-character mapping does not apply.
        return 'i';
    }
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Splits `text` into normalized words: whitespace separates words, control characters are
/// dropped, punctuation, ASCII symbols and CJK ideographs are words of one character.
pub(crate) fn words(text: &str, opts: Normalizer) -> Vec<String> {
    let mut words = vec![String::new()];
    for c in text.chars() {
        let c = if opts.strip_accents { nfd_first(c) } else { c };
        let f = flags(c as u32);
        if f.is_whitespace() {
            if !words.last().unwrap().is_empty() {
                words.push(String::new());
            }
            continue;
        }
        if c == '\0' || c == '\u{FFFD}' || f.cat() == CAT_CONTROL {
            continue;
        }
        if opts.strip_accents && f.cat() == CAT_MARK {
            continue;
        }
        let out = if opts.lowercase { simple_lower(c) } else { c };
        let cp = c as u32;
        if f.cat() == CAT_PUNCT || (cp < 0x7f && f.cat() == CAT_SYMBOL) || is_chinese(cp) {
            if !words.last().unwrap().is_empty() {
                words.push(String::new());
            }
            words.last_mut().unwrap().push(out);
            words.push(String::new());
        } else {
            words.last_mut().unwrap().push(out);
        }
    }
    if words.last().is_some_and(String::is_empty) {
        words.pop();
    }
    words
}

/// Appends the tokens of `text` (one raw-text fragment).
pub(crate) fn encode(tok: &Tokenizer, text: &str, opts: Normalizer, max_token_len: usize, out: &mut Vec<u32>) {
    let mut buf = String::new();
    for word in words(text, opts) {
        if word.is_empty() {
            continue;
        }
        buf.clear();
        buf.push('\u{2581}');
        buf.push_str(&word);
        let w = buf.as_bytes();
        let start = out.len();
        let mut i = 0;
        while i < w.len() {
            let longest = (i + 1..=w.len().min(i + max_token_len + 1)).rev().find_map(|j| Some((j, tok.text_to_token(&w[i..j])?)));
            match longest {
                Some((j, id)) => {
                    out.push(id);
                    i = j;
                }
                None => {
                    out.truncate(start);
                    break;
                }
            }
        }
        if out.len() == start {
            out.extend(tok.unk);
        }
    }
}
