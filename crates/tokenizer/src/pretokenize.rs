//! BPE pre-tokenizers: split text into words before merging, chosen by `tokenizer.ggml.pre`.
//!
//! The split rules are the regexes of the models' `tokenizer.json` in the adapted form llama.cpp
//! uses (`llm_tokenizer_bpe` in llama-vocab.cpp), applied in sequence: each regex splits every
//! chunk left by the previous one into its matches and the gaps between them. The three
//! families that matter for speed are hand-written splitters (GPT-2, Llama-3 and Qwen2 style,
//! following the structure of llama.cpp's `unicode_regex_split_custom_*`); the others run on the
//! small regex engine in [`crate::pattern`].

use crate::pattern::Pattern;
use crate::unicode::{self, Flags};

pub(crate) enum Stage {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    Gpt2,
    /// `(?:'[sS]|..)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// with D = 3 (Llama 3) or 1 (Qwen2, whose regex has a single `\p{N}`).
    Llama3 { digits: usize },
    /// `\p{N}`: every number code point on its own.
    Digits,
    /// `[^\n]+|[\n]+`: runs of newlines and runs of anything else.
    Newlines,
    /// Digit runs cut in threes from the right (llama.cpp's `unicode_regex_split_custom_afmoe`,
    /// used for `\p{AFMoE_digits}` and `\d{1,3}(?=(?:\d{3})*\b)`); the text before a run
    /// joins the run's first group, as there.
    DigitGroups,
    Regex(Pattern),
}

/// What a `tokenizer.ggml.pre` name selects.
pub(crate) struct PreConfig {
    pub stages: Vec<Stage>,
    pub ignore_merges: bool,
    pub add_bos: bool,
    pub clean_spaces: bool,
    /// chatglm-bpe / glm4 have no BOS at all.
    pub no_bos: bool,
    pub spm_style: SpmStyle,
}

/// SentencePiece-style BPE (Gemma 4, Sarvam, mmBERT): spaces become `▁` before splitting and
/// token texts are raw UTF-8 instead of GPT-2's byte encoding (`escape`); a word of newlines
/// that is a token is that token (`newline_tokens`); words are further cut before every `▁`,
/// with one added in front of a word that has none (`metaspace`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SpmStyle {
    pub escape: bool,
    pub newline_tokens: bool,
    pub metaspace: bool,
    /// llama.cpp forces add_bos on for the Gemma 4 pre-tokenizer.
    pub force_bos: bool,
}

pub const GPT2_RE: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
pub const LLAMA3_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
pub const QWEN2_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN35_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const TEKKEN_RE: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const GPT4O_RE: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const PORO_RE: &str = r" ?[^(\s|.,!?…。，、।۔،)]+";
const CJK_RE: &str = "[一-龥ࠀ-一가-퟿]+";
/// Written with escapes: several of these code points (U+212A KELVIN SIGN, U+2126 OHM SIGN,
/// U+1F7D, ...) have canonical equivalents that editors and tools silently substitute, which
/// would change the ranges (U+212A becoming "K" made "K-ℭ" swallow ASCII punctuation).
const DEEPSEEK_LLM_LETTERS: &str = concat!(
    "\\s?[A-Za-z\u{b5}\u{c0}-\u{d6}\u{d8}-\u{f6}\u{f8}-\u{1ba}\u{1bc}-\u{1bf}\u{1c4}-\u{293}\u{295}-",
    "\u{2af}\u{370}-\u{373}\u{376}\u{377}\u{37b}-\u{37d}\u{37f}\u{386}\u{388}-\u{38a}\u{38c}\u{38e}-",
    "\u{3a1}\u{3a3}-\u{3f5}\u{3f7}-\u{481}\u{48a}-\u{52f}\u{531}-\u{556}\u{10a0}-\u{10c5}\u{13a0}-",
    "\u{13f5}\u{13f8}-\u{13fd}\u{1c90}-\u{1cba}\u{1cbd}-\u{1cbf}\u{1d00}-\u{1d2b}\u{1d6b}-\u{1d77}",
    "\u{1d79}-\u{1d9a}\u{1e00}-\u{1f15}\u{1f18}-\u{1f1d}\u{1f20}-\u{1f45}\u{1f48}-\u{1f4d}\u{1f50}-",
    "\u{1f57}\u{1f59}\u{1f5b}\u{1f5d}\u{1f5f}-\u{1f7d}\u{1f80}-\u{1fb4}\u{1fb6}-\u{1fbc}\u{1fbe}",
    "\u{1fc2}-\u{1fc4}\u{1fc6}-\u{1fcc}\u{1fd0}-\u{1fd3}\u{1fd6}-\u{1fdb}\u{1fe0}-\u{1fec}\u{1ff2}-",
    "\u{1ff4}\u{1ff6}-\u{1ffc}\u{2102}\u{2107}\u{210a}-\u{2113}\u{2115}\u{2119}-\u{211d}\u{2124}",
    "\u{2126}\u{2128}\u{212a}-\u{212d}\u{212f}-\u{2134}\u{2139}\u{213c}-\u{213f}\u{2145}-\u{2149}",
    "\u{214e}\u{2183}\u{2184}\u{2c00}-\u{2c7b}\u{2c7e}-\u{2ce4}\u{2ceb}-\u{2cee}\u{2cf2}\u{2cf3}",
    "\u{a640}-\u{a66d}\u{a680}-\u{a69b}\u{a722}-\u{a76f}\u{a771}-\u{a787}\u{a78b}-\u{a78e}\u{ab70}-",
    "\u{abbf}\u{fb00}-\u{fb06}\u{fb13}-\u{fb17}\u{ff21}-\u{ff3a}\u{ff41}-\u{ff5a}\u{10400}-\u{1044f}",
    "\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}",
    "\u{1e900}-\u{1e943}]+"
);
const DEEPSEEK_V3_RE: &str = r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##;
const SEED_CODER_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+";
const BAILING_RE: &str = r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";
const MINICPM5_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const EXAONE_MOE_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+";
const UFAKZEKA_RE: &str = r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

// Written with escapes for the non-ASCII characters (see DEEPSEEK_LLM_LETTERS).
const JAIS2_RE: &str = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}";
const SPARK_RE: &str = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+";
const YOUTU_CJK_RE: &str = "[\u{ac00}-\u{d7a3}\u{3131}-\u{318e}]+|[\u{ff01}\u{2026}\u{201c}\u{201d}\u{2018}\u{2019}\u{2014}\u{ff1a}\u{ff1b}\u{ff0c}\u{3001}-\u{303f}\u{fe30}-\u{fe4f}]+|[\u{3105}-\u{312f}]+|[\u{4e00}-\u{9fa5}\u{3040}-\u{309f}\u{30a0}-\u{30ff}]+";
const YOUTU_RE: &str = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GRANITE_MULTI_RE: &str = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const TINY_AYA_RE: &str = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const AFMOE_CJK_RE: &str = "[\u{4e00}-\u{9fff}\u{3400}-\u{4dbf}\u{8c48}-\u{faff}\u{3040}-\u{309f}\u{30a0}-\u{30ff}\u{ff65}-\u{ff9f}\u{2f00}-\u{2fdf}\u{e40}-\u{e7f}\u{e80}-\u{eff}\u{1780}-\u{17ff}\u{1000}-\u{109f}\u{aa60}-\u{aa7f}\u{a9e0}-\u{a9ff}\u{ac00}-\u{d7af}\u{1100}-\u{11ff}]+";
const AFMOE_RE: &str = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/// Every `tokenizer.ggml.pre` name this crate knows for BPE vocabularies.
pub const KNOWN_PRE: &[&str] = &[
    "default", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
    "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4", "mpt", "olmo", "jais", "trillion",
    "granite-docling", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
    "jina-v5-nano", "dbrx", "smaug-bpe", "glm4", "chatglm-bpe", "deepseek-llm", "deepseek-coder", "deepseek-v3",
    "hunyuan-dense", "joyai-llm", "hy_v4", "falcon", "starcoder", "refact", "command-r", "smollm", "codeshell",
    "exaone", "minerva-7b", "mellum2", "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2",
    "hunyuan", "solar-open", "grok-2", "qwen35", "poro-chat", "bloom", "gpt3-finnish", "viking", "tekken",
    "chameleon", "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2", "seed-coder", "bailingmoe", "bailingmoe2",
    "llada-moe", "minicpm5", "exaone-moe", "ufakzeka", "gemma4", "granite-embed-multi-311m", "mmbert", "sarvam-moe",
    "jais-2", "glm5", "spark2_5", "youtu", "granite-embed-multi-97m", "tiny_aya", "cohere2moe", "afmoe", "laguna",
];

fn re(p: &str) -> Stage {
    Stage::Regex(Pattern::new(p).unwrap_or_else(|e| panic!("built-in pattern {p:?}: {e}")))
}

/// Resolves a pre-tokenizer name; `Err` for a name not in [`KNOWN_PRE`].
pub(crate) fn resolve(name: &str) -> Result<PreConfig, ()> {
    let mut cfg = PreConfig {
        stages: vec![],
        ignore_merges: false,
        add_bos: false,
        clean_spaces: true,
        no_bos: false,
        spm_style: SpmStyle::default(),
    };
    let no_clean = |c: &mut PreConfig| c.clean_spaces = false;
    cfg.stages = match name {
        "default" => vec![re(r"[\p{P}\$\+<=>\^~\|]+"), Stage::Gpt2, re(r"\p{N}+"), re("[0-9][0-9][0-9]")],
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de" | "a.x-4.0" | "mellum"
        | "modern-bert" | "jina-v1-en" | "jina-v2-code" | "roberta-bpe" | "exaone4" | "mpt" | "olmo" | "jais" => {
            vec![Stage::Gpt2]
        }
        "trillion" | "granite-docling" => {
            no_clean(&mut cfg);
            vec![Stage::Gpt2]
        }
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2"
        | "jina-v5-nano" => {
            cfg.ignore_merges = true;
            cfg.add_bos = true;
            vec![Stage::Llama3 { digits: 3 }]
        }
        "dbrx" | "smaug-bpe" => vec![Stage::Llama3 { digits: 3 }],
        "chatglm-bpe" => {
            cfg.no_bos = true;
            vec![Stage::Llama3 { digits: 3 }]
        }
        "glm4" | "glm5" => {
            cfg.no_bos = true;
            cfg.ignore_merges = true;
            vec![Stage::Llama3 { digits: 3 }]
        }
        "deepseek-llm" => {
            no_clean(&mut cfg);
            vec![
                re("[\r\n]"),
                re(DEEPSEEK_LLM_LETTERS),
                re(r"\s?[!-/:-~！-／：-～‘-‟　-。]+"),
                re(r"\s+$"),
                re(CJK_RE),
                re(r"\p{N}+"),
            ]
        }
        "deepseek-coder" => {
            no_clean(&mut cfg);
            vec![re("[\r\n]"), re(r"\s?\p{L}+"), re(r"\s?\p{P}+"), re(CJK_RE), re(r"\p{N}")]
        }
        "deepseek-v3" | "hunyuan-dense" | "joyai-llm" | "hy_v4" => {
            no_clean(&mut cfg);
            vec![re(r"\p{N}{1,3}"), re("[一-龥぀-ゟ゠-ヿ]+"), re(DEEPSEEK_V3_RE)]
        }
        "falcon" => vec![re(r"[\p{P}\$\+<=>\^~\|`]+"), Stage::Gpt2, re("[0-9][0-9][0-9]")],
        "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => vec![Stage::Digits, Stage::Gpt2],
        "command-r" | "smollm" => {
            no_clean(&mut cfg);
            vec![Stage::Digits, Stage::Gpt2]
        }
        "megrez" | "stablelm2" => vec![Stage::Llama3 { digits: 1 }],
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "hunyuan" | "solar-open" | "grok-2" => {
            no_clean(&mut cfg);
            vec![Stage::Llama3 { digits: 1 }]
        }
        "qwen35" => {
            no_clean(&mut cfg);
            vec![re(QWEN35_RE)]
        }
        "poro-chat" => {
            no_clean(&mut cfg);
            vec![re(PORO_RE)]
        }
        "bloom" | "gpt3-finnish" => vec![re(PORO_RE)],
        "viking" => {
            no_clean(&mut cfg);
            vec![re(PORO_RE), re(r"\p{N}")]
        }
        "tekken" => {
            no_clean(&mut cfg);
            cfg.ignore_merges = true;
            cfg.add_bos = true;
            vec![re(TEKKEN_RE)]
        }
        "chameleon" => {
            no_clean(&mut cfg);
            cfg.add_bos = true;
            vec![
                re("<sentinel:[0-9]+>"),
                re("(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z"),
                re("([\t\n]|    |  )"),
                re(r"\p{N}"),
                re(r"[\p{P}!-/:-@\[-`{-~]"),
                Stage::Gpt2,
            ]
        }
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => {
            no_clean(&mut cfg);
            vec![re(GPT4O_RE)]
        }
        "seed-coder" => {
            no_clean(&mut cfg);
            vec![re(SEED_CODER_RE)]
        }
        "bailingmoe" | "bailingmoe2" | "llada-moe" => {
            no_clean(&mut cfg);
            vec![re(BAILING_RE)]
        }
        "minicpm5" => {
            cfg.ignore_merges = true;
            vec![re(r"\p{N}{1,3}"), re(MINICPM5_RE)]
        }
        "exaone-moe" => vec![re(EXAONE_MOE_RE)],
        "gemma4" | "granite-embed-multi-311m" => {
            cfg.spm_style = SpmStyle { escape: true, newline_tokens: true, metaspace: false, force_bos: true };
            vec![Stage::Newlines]
        }
        "mmbert" => {
            cfg.spm_style = SpmStyle { escape: true, newline_tokens: true, metaspace: true, force_bos: false };
            vec![Stage::Newlines]
        }
        "sarvam-moe" => {
            no_clean(&mut cfg);
            cfg.spm_style = SpmStyle { escape: true, ..SpmStyle::default() };
            vec![Stage::Newlines]
        }
        "jais-2" => vec![re(JAIS2_RE)],
        "spark2_5" => {
            no_clean(&mut cfg);
            vec![re(r"\p{N}{1,3}"), re("[一-龥぀-ゟ゠-ヿ]+"), re(SPARK_RE), re(r"\p{N}")]
        }
        "youtu" => {
            no_clean(&mut cfg);
            cfg.ignore_merges = true;
            vec![re(YOUTU_CJK_RE), re(YOUTU_RE)]
        }
        "granite-embed-multi-97m" => {
            no_clean(&mut cfg);
            cfg.ignore_merges = true;
            vec![re(GRANITE_MULTI_RE)]
        }
        "tiny_aya" | "cohere2moe" => {
            no_clean(&mut cfg);
            vec![Stage::DigitGroups, re(TINY_AYA_RE)]
        }
        "afmoe" => {
            no_clean(&mut cfg);
            vec![Stage::DigitGroups, re(AFMOE_CJK_RE), re(AFMOE_RE)]
        }
        "laguna" => {
            no_clean(&mut cfg);
            vec![Stage::Newlines, Stage::Llama3 { digits: 1 }]
        }
        "ufakzeka" => {
            no_clean(&mut cfg);
            vec![re(UFAKZEKA_RE)]
        }
        _ => return Err(()),
    };
    Ok(cfg)
}

/// Code points of a text with their flags and byte offsets, shared by all stages.
pub(crate) struct Decoded {
    pub cps: Vec<u32>,
    pub flags: Vec<Flags>,
    /// Byte offset of each code point, plus the text length at the end.
    pub offs: Vec<u32>,
}

impl Decoded {
    pub fn new(text: &str) -> Decoded {
        let n = text.len();
        let mut d = Decoded { cps: Vec::with_capacity(n), flags: Vec::with_capacity(n), offs: Vec::with_capacity(n + 1) };
        for (i, c) in text.char_indices() {
            d.cps.push(c as u32);
            d.flags.push(unicode::flags(c as u32));
            d.offs.push(i as u32);
        }
        d.offs.push(n as u32);
        d
    }
}

/// Runs all stages over `text`; returns word byte ranges in order, covering the text.
pub(crate) fn split(stages: &[Stage], text: &str, words: &mut Vec<(usize, usize)>) {
    words.clear();
    if text.is_empty() {
        return;
    }
    let d = Decoded::new(text);
    let mut chunks = vec![d.cps.len()];
    let mut next = Vec::with_capacity(d.cps.len() / 3 + 4);
    let mut units = Vec::new();
    for stage in stages {
        next.clear();
        let mut start = 0;
        for &len in &chunks {
            let (cp, fl) = (&d.cps[start..start + len], &d.flags[start..start + len]);
            match stage {
                Stage::Gpt2 => split_gpt2(cp, fl, &mut next),
                Stage::Llama3 { digits } => split_llama3(cp, fl, *digits, &mut next),
                Stage::Digits => split_digits(fl, &mut next),
                Stage::Newlines => split_newlines(cp, &mut next),
                Stage::DigitGroups => split_digit_groups(fl, &mut next),
                Stage::Regex(p) => {
                    units.clear();
                    units.extend(cp.iter().map(|&c| p.unit(c)));
                    p.split(&units, &mut next);
                }
            }
            start += len;
        }
        std::mem::swap(&mut chunks, &mut next);
    }
    let mut at = 0;
    for len in chunks {
        words.push((d.offs[at] as usize, d.offs[at + len] as usize));
        at += len;
    }
}

/// Emits the pending word `[prev, end)`.
struct Emit<'a> {
    out: &'a mut Vec<usize>,
    prev: usize,
}

impl Emit<'_> {
    #[inline]
    fn add(&mut self, end: usize) {
        if end > self.prev {
            self.out.push(end - self.prev);
        }
        self.prev = end;
    }
}

#[inline]
fn fat(fl: &[Flags], i: usize) -> Flags {
    fl.get(i).copied().unwrap_or(Flags::OUT)
}

#[inline]
fn cat(cp: &[u32], i: usize) -> u32 {
    cp.get(i).copied().unwrap_or(u32::MAX)
}

#[inline]
fn is_punct_like(f: Flags) -> bool {
    !(f.is_whitespace() || f.is_letter() || f.is_number()) && f.in_range()
}

/// `'s|'t|'re|'ve|'m|'ll|'d` at `pos`: the length matched (0 if none). `fold` makes it case
/// insensitive (Llama 3's `(?i:...)`; only ASCII letters can fold to these).
#[inline]
fn contraction(cp: &[u32], pos: usize, fold: bool) -> usize {
    if cp[pos] != '\'' as u32 || pos + 1 >= cp.len() {
        return 0;
    }
    let low = |c: u32| if fold && (0x41..=0x5a).contains(&c) { c + 32 } else { c };
    let c1 = low(cp[pos + 1]);
    if [b's', b't', b'm', b'd'].iter().any(|&b| c1 == b as u32) {
        return 2;
    }
    if pos + 2 < cp.len() {
        let c2 = low(cp[pos + 2]);
        let pair = |a: u8, b: u8| c1 == a as u32 && c2 == b as u32;
        if pair(b'r', b'e') || pair(b'v', b'e') || pair(b'l', b'l') {
            return 3;
        }
    }
    0
}

/// Whitespace-run handling shared by the hand-written splitters: `\s+(?!\S)` then `\s+`, and
/// (Llama-3 style) `\s*[\r\n]+` first. Returns the new position, or None if no whitespace here.
#[inline]
fn whitespace(cp: &[u32], fl: &[Flags], pos: usize, newlines: bool) -> Option<usize> {
    let mut n = 0;
    let mut last_nl = 0;
    while fat(fl, pos + n).is_whitespace() {
        let c = cp[pos + n];
        if c == '\r' as u32 || c == '\n' as u32 {
            last_nl = pos + n + 1;
        }
        n += 1;
    }
    if newlines && last_nl > 0 {
        return Some(last_nl);
    }
    if n > 1 && pos + n < cp.len() {
        return Some(pos + n - 1);
    }
    if n > 0 {
        return Some(pos + n);
    }
    None
}

/// GPT-2's regex (llama.cpp: `unicode_regex_split_custom_gpt2`).
pub(crate) fn split_gpt2(cp: &[u32], fl: &[Flags], out: &mut Vec<usize>) {
    let mut e = Emit { out, prev: 0 };
    let mut pos = 0;
    while pos < cp.len() {
        let c = cp[pos];
        let k = contraction(cp, pos, false);
        if k > 0 {
            pos += k;
            e.add(pos);
            continue;
        }
        let sp = (c == ' ' as u32) as usize;
        let mut f2 = if sp == 1 { fat(fl, pos + 1) } else { fl[pos] };
        // <space>?\p{L}+ | <space>?\p{N}+ | <space>?[^\s\p{L}\p{N}]+
        let class: Option<fn(Flags) -> bool> = if f2.is_letter() {
            Some(Flags::is_letter)
        } else if f2.is_number() {
            Some(Flags::is_number)
        } else if is_punct_like(f2) {
            Some(is_punct_like)
        } else {
            None
        };
        if let Some(class) = class {
            pos += sp;
            while class(f2) {
                pos += 1;
                f2 = fat(fl, pos);
            }
            e.add(pos);
            continue;
        }
        if let Some(p) = whitespace(cp, fl, pos, false) {
            pos = p;
            e.add(pos);
            continue;
        }
        pos += 1;
        e.add(pos);
    }
}

/// Llama 3's regex (llama.cpp: `unicode_regex_split_custom_llama3`); with `digits = 1` this is
/// exactly the Qwen2 regex (checked against the regex engine in the tests).
pub(crate) fn split_llama3(cp: &[u32], fl: &[Flags], digits: usize, out: &mut Vec<usize>) {
    let mut e = Emit { out, prev: 0 };
    let mut pos = 0;
    let (cr, lf) = ('\r' as u32, '\n' as u32);
    while pos < cp.len() {
        let c = cp[pos];
        let f = fl[pos];
        let k = contraction(cp, pos, true);
        if k > 0 {
            pos += k;
            e.add(pos);
            continue;
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if !(c == cr || c == lf || f.is_number()) && (f.is_letter() || fat(fl, pos + 1).is_letter()) {
            pos += 1;
            while fat(fl, pos).is_letter() {
                pos += 1;
            }
            e.add(pos);
            continue;
        }
        // \p{N}{1,D}
        if f.is_number() {
            let mut ini = pos;
            while fat(fl, pos).is_number() {
                pos += 1;
                if pos - ini >= digits {
                    e.add(pos);
                    ini = pos;
                }
            }
            e.add(pos);
            continue;
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        let sp = (c == ' ' as u32) as usize;
        let mut f2 = if sp == 1 { fat(fl, pos + 1) } else { f };
        if is_punct_like(f2) {
            pos += sp;
            while is_punct_like(f2) {
                pos += 1;
                f2 = fat(fl, pos);
            }
            while cat(cp, pos) == cr || cat(cp, pos) == lf {
                pos += 1;
            }
            e.add(pos);
            continue;
        }
        if let Some(p) = whitespace(cp, fl, pos, true) {
            pos = p;
            e.add(pos);
            continue;
        }
        pos += 1;
        e.add(pos);
    }
}

/// `[^\n]+|[\n]+`: alternating runs of newlines and of other characters.
fn split_newlines(cp: &[u32], out: &mut Vec<usize>) {
    let mut e = Emit { out, prev: 0 };
    for i in 1..cp.len() {
        if (cp[i] == '\n' as u32) != (cp[i - 1] == '\n' as u32) {
            e.add(i);
        }
    }
    e.add(cp.len());
}

/// See [`Stage::DigitGroups`].
fn split_digit_groups(fl: &[Flags], out: &mut Vec<usize>) {
    let mut e = Emit { out, prev: 0 };
    let mut pos = 0;
    while pos < fl.len() {
        if !fl[pos].is_number() {
            pos += 1;
            continue;
        }
        let start = pos;
        while pos < fl.len() && fl[pos].is_number() {
            pos += 1;
        }
        let mut at = start + (pos - start) % 3;
        if at > start {
            e.add(at);
        }
        while at < pos {
            at += 3;
            e.add(at);
        }
    }
    e.add(fl.len());
}

/// `\p{N}` as a split regex: each number code point is a word, the runs between are gap words.
fn split_digits(fl: &[Flags], out: &mut Vec<usize>) {
    let mut e = Emit { out, prev: 0 };
    for (i, f) in fl.iter().enumerate() {
        if f.is_number() {
            e.add(i);
            e.add(i + 1);
        }
    }
    e.add(fl.len());
}
