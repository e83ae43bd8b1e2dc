//! Property tests: tokenize -> detokenize gives the text back, streaming detokenization gives
//! the same text in whole characters, and no input makes anything panic.

mod common;

use proptest::prelude::*;
use std::sync::OnceLock;
use tokenizer::Tokenizer;

fn vocabs() -> &'static Vec<(&'static str, Tokenizer)> {
    static V: OnceLock<Vec<(&'static str, Tokenizer)>> = OnceLock::new();
    V.get_or_init(|| {
        ["gpt-2", "llama-bpe", "llama-spm", "qwen2"].into_iter().map(|n| (n, common::vocab(n))).collect()
    })
}

fn gemma() -> &'static Tokenizer {
    static G: OnceLock<Tokenizer> = OnceLock::new();
    G.get_or_init(|| common::load(&common::model_path("gemma-3-270m-q4_k_m.gguf")))
}

/// Text mixing scripts, emoji (with ZWJ and variation selectors), CJK, combining marks,
/// whitespace runs, digits and punctuation.
fn mixed() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z]{1,8}",
        "[0-9]{1,6}",
        "[ ]{1,5}",
        "[\t\n\r ]{1,4}",
        "[.,!?;:'\"()<>/\\\\|_-]{1,3}",
        "[éèüßøñçÅÖ]{1,3}",
        "[а-яА-Я]{1,6}",
        "[一-龥]{1,4}",
        "[ぁ-んァ-ン]{1,4}",
        "[가-힣]{1,3}",
        "[\u{0300}-\u{036f}]{1,2}",
        "[\u{0900}-\u{097f}]{1,4}",
        "[😀-🙏🚀-🛿]{1,3}",
        Just("👩\u{200d}💻".to_string()),
        Just("❤\u{fe0f}".to_string()),
        Just("\u{a0}\u{3000}\u{2028}".to_string()),
        "[\u{10000}-\u{10ffff}]{1,2}",
        "'(s|t|re|ve|m|ll|d|S|LL)",
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

fn stream(tok: &Tokenizer, ids: &[u32]) -> String {
    let mut d = tok.stream_decoder(false);
    let mut s = String::new();
    for &id in ids {
        s.extend(d.push(id));
    }
    s.extend(d.finish());
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn roundtrip_vocabs(text in mixed()) {
        for (name, tok) in vocabs() {
            let ids = tok.encode(&text, false, false);
            prop_assert_eq!(&tok.decode(&ids, false), &text, "{} ids {:?}", name, ids);
            let streamed = stream(tok, &ids);
            if tok.kind() == tokenizer::VocabKind::Spm && !text.is_empty() {
                // The stream keeps the space SentencePiece puts before the first word.
                prop_assert_eq!(streamed, format!(" {text}"), "{}", name);
            } else {
                prop_assert_eq!(streamed, text.clone(), "{}", name);
            }
        }
    }

    #[test]
    fn roundtrip_gemma(text in mixed()) {
        let tok = gemma();
        let ids = tok.encode(&text, false, false);
        prop_assert_eq!(tok.decode(&ids, false), text.clone());
        let with_bos = tok.encode(&text, true, true);
        prop_assert_eq!(with_bos[0], tok.bos_id().unwrap());
    }

    #[test]
    fn no_panic_on_any_input(text in any::<String>(), add in any::<bool>(), parse in any::<bool>()) {
        for (_, tok) in vocabs() {
            let ids = tok.encode(&text, add, parse);
            let _ = tok.decode(&ids, true);
            let _ = tok.decode_llama(&ids, add, parse);
            let _ = stream(tok, &ids);
        }
        let _ = gemma().encode(&text, add, parse);
    }

    #[test]
    fn no_panic_on_any_ids(ids in proptest::collection::vec(any::<u32>(), 0..20)) {
        for (_, tok) in vocabs() {
            let _ = tok.decode(&ids, true);
            let _ = stream(tok, &ids);
            for &id in &ids {
                let _ = tok.token_to_piece(id, false);
                let _ = tok.is_eog(id);
            }
        }
    }
}

#[test]
fn split_characters_come_out_whole_once() {
    // llama-spm has no token for this emoji: it is four byte tokens.
    let (_, tok) = &vocabs()[2];
    let ids = tok.encode("😀", false, false);
    let mut d = tok.stream_decoder(false);
    let outs: Vec<Option<String>> = ids.iter().map(|&id| d.push(id)).collect();
    assert!(outs.len() >= 4, "{ids:?}");
    let whole: Vec<&String> = outs.iter().flatten().collect();
    assert_eq!(whole.iter().map(|s| s.as_str()).collect::<String>(), " 😀");
    assert!(whole.iter().all(|s| s.matches('😀').count() <= 1));
    assert_eq!(outs.iter().flatten().filter(|s| s.contains('😀')).count(), 1);
    assert_eq!(d.finish(), None);
    // An unfinished character is replaced, not emitted broken.
    let mut d = tok.stream_decoder(false);
    let mut out = String::new();
    for &id in &ids[..ids.len() - 1] {
        out.extend(d.push(id));
    }
    assert_eq!(out, " ");
    assert_eq!(d.finish().as_deref(), Some("\u{FFFD}"));
}
