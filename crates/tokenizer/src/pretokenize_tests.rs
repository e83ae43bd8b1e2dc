//! Differential tests: the hand-written splitters against the regex engine running the regexes
//! they implement, on random text drawn from every character class that matters.

use crate::pattern::Pattern;
use crate::pretokenize::{split_gpt2, split_llama3, Decoded, GPT2_RE, LLAMA3_RE, QWEN2_RE};
use proptest::prelude::*;

fn engine(pat: &str, text: &str) -> Vec<usize> {
    let p = Pattern::new(pat).unwrap();
    let units: Vec<u32> = text.chars().map(|c| p.unit(c as u32)).collect();
    let mut out = Vec::new();
    p.split(&units, &mut out);
    out
}

fn fast(text: &str, f: impl Fn(&[u32], &[crate::unicode::Flags], &mut Vec<usize>)) -> Vec<usize> {
    let d = Decoded::new(text);
    let mut out = Vec::new();
    f(&d.cps, &d.flags, &mut out);
    out
}

const ALPHABET: &[char] = &[
    'a', 'b', 's', 't', 'm', 'd', 'r', 'e', 'v', 'l', 'S', 'T', 'M', 'D', 'R', 'E', 'V', 'L', 'Z', '\'', '0', '1', '9', ' ',
    ' ', ' ', '\n', '\r', '\t', '\u{b}', '.', ',', '!', '?', '-', '/', '~', '$', '(', ')', '"', '\u{1}', '\u{7f}', 'é', 'Ж',
    'ж', '我', 'の', '\u{301}', '\u{300}', '😀', '🦙', '\u{200d}', '½', '٣', '\u{a0}', '\u{3000}', '\u{2028}', '\u{85}',
    '\u{378}', '\u{e000}', '€', '、', '。', '…', 'ſ', 'K',
];

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(ALPHABET), 0..40).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn gpt2_matches_regex(t in text()) {
        prop_assert_eq!(fast(&t, split_gpt2), engine(GPT2_RE, &t));
    }

    #[test]
    fn llama3_matches_regex(t in text()) {
        prop_assert_eq!(fast(&t, |c, f, o| split_llama3(c, f, 3, o)), engine(LLAMA3_RE, &t));
    }

    #[test]
    fn qwen2_matches_regex(t in text()) {
        prop_assert_eq!(fast(&t, |c, f, o| split_llama3(c, f, 1, o)), engine(QWEN2_RE, &t));
    }
}

#[test]
fn every_known_pre_tokenizer_compiles_and_covers_text() {
    for name in crate::pretokenize::KNOWN_PRE {
        let cfg = crate::pretokenize::resolve(name).unwrap_or_else(|_| panic!("{name}"));
        let text = "Hello, World! it's 12345 ...  \n\n héllo 我的 😀 'LL x\t\ty";
        let mut words = Vec::new();
        crate::pretokenize::split(&cfg.stages, text, &mut words);
        let joined: String = words.iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(joined, text, "{name}");
        assert!(words.iter().all(|&(s, e)| s < e), "{name}: empty word");
    }
    assert!(crate::pretokenize::resolve("no-such-pre").is_err());
}

#[test]
fn deepseek_llm_letter_ranges_are_exact() {
    // U+212A KELVIN SIGN starts a range; written as "K" it swallowed '|' and '>' into words.
    let cfg = crate::pretokenize::resolve("deepseek-llm").unwrap();
    let text = "a|> {c}) \u{212a}\u{1f7d}";
    let mut words = Vec::new();
    crate::pretokenize::split(&cfg.stages, text, &mut words);
    let w: Vec<&str> = words.iter().map(|&(s, e)| &text[s..e]).collect();
    // (U+212A and U+1F7D then fall in the CJK stage's range U+0800-U+4E00, as in llama.cpp.)
    assert_eq!(w, ["a", "|>", " {", "c", "})", " ", "\u{212a}\u{1f7d}"]);
}
