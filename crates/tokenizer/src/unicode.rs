//! Unicode character classes as llama.cpp's tokenizer sees them, and GPT-2's byte-to-unicode map.
//!
//! Categories come from the Unicode General Category (the `unicode-general-category` crate,
//! Unicode 16), folded the way llama.cpp's `unicode_cpt_flags` folds them: all `L*` are letters,
//! `N*` numbers, `M*` marks, `P*` punctuation, `S*` symbols, `Z*` separators, `Cc/Cf/Co/Cs`
//! control and `Cn` undefined. Whitespace is the Unicode `White_Space` property (which is what
//! Rust's `char::is_whitespace` implements and what llama.cpp's table lists).

use std::sync::OnceLock;
use unicode_general_category::{get_general_category, GeneralCategory as G};

pub const CAT_UNDEFINED: u8 = 0;
pub const CAT_NUMBER: u8 = 1;
pub const CAT_LETTER: u8 = 2;
pub const CAT_SEPARATOR: u8 = 3;
pub const CAT_MARK: u8 = 4;
pub const CAT_PUNCT: u8 = 5;
pub const CAT_SYMBOL: u8 = 6;
pub const CAT_CONTROL: u8 = 7;
/// Bit set on top of the category for `White_Space` code points.
pub const WS_BIT: u8 = 0x10;

/// Flags of one code point: a category in the low bits plus [`WS_BIT`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Flags(pub u8);

impl Flags {
    /// The flags of a position outside the current chunk (llama.cpp's all-zero flags).
    pub const OUT: Flags = Flags(0x80);

    /// False only for [`Flags::OUT`].
    #[inline]
    pub fn in_range(self) -> bool {
        self.0 & 0x80 == 0
    }
    #[inline]
    pub fn cat(self) -> u8 {
        self.0 & 0x0f
    }
    #[inline]
    pub fn is_letter(self) -> bool {
        self.cat() == CAT_LETTER
    }
    #[inline]
    pub fn is_number(self) -> bool {
        self.cat() == CAT_NUMBER
    }
    #[inline]
    pub fn is_whitespace(self) -> bool {
        self.0 & WS_BIT != 0
    }
}

fn fold(c: char) -> u8 {
    let cat = match get_general_category(c) {
        G::UppercaseLetter | G::LowercaseLetter | G::TitlecaseLetter | G::ModifierLetter | G::OtherLetter => {
            CAT_LETTER
        }
        G::DecimalNumber | G::LetterNumber | G::OtherNumber => CAT_NUMBER,
        G::NonspacingMark | G::SpacingMark | G::EnclosingMark => CAT_MARK,
        G::ConnectorPunctuation
        | G::DashPunctuation
        | G::OpenPunctuation
        | G::ClosePunctuation
        | G::InitialPunctuation
        | G::FinalPunctuation
        | G::OtherPunctuation => CAT_PUNCT,
        G::MathSymbol | G::CurrencySymbol | G::ModifierSymbol | G::OtherSymbol => CAT_SYMBOL,
        G::SpaceSeparator | G::LineSeparator | G::ParagraphSeparator => CAT_SEPARATOR,
        G::Control | G::Format | G::PrivateUse | G::Surrogate => CAT_CONTROL,
        _ => CAT_UNDEFINED,
    };
    cat | if c.is_whitespace() { WS_BIT } else { 0 }
}

/// Two-level table (blocks of 256 code points, identical blocks shared): about 40 KB, built once.
struct Table {
    index: Vec<u16>,
    blocks: Vec<[u8; 256]>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut index = Vec::with_capacity(0x1100);
        let mut blocks: Vec<[u8; 256]> = Vec::new();
        let mut seen = std::collections::HashMap::<[u8; 256], u16>::new();
        for b in 0..0x1100u32 {
            let mut blk = [0u8; 256];
            for (i, slot) in blk.iter_mut().enumerate() {
                let cp = (b << 8) | i as u32;
                // Surrogates are not chars; they are category Cs (control) for llama.cpp.
                *slot = char::from_u32(cp).map(fold).unwrap_or(CAT_CONTROL);
            }
            let id = *seen.entry(blk).or_insert_with(|| {
                blocks.push(blk);
                (blocks.len() - 1) as u16
            });
            index.push(id);
        }
        Table { index, blocks }
    })
}

/// ASCII flags, precomputed so the hot paths never touch the big table for plain text.
const fn ascii_flags() -> [u8; 128] {
    let mut t = [CAT_CONTROL; 128];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphabetic() {
            CAT_LETTER
        } else if b.is_ascii_digit() {
            CAT_NUMBER
        } else if b == b' ' {
            CAT_SEPARATOR | WS_BIT
        } else if b >= 9 && b <= 13 {
            CAT_CONTROL | WS_BIT
        } else if b < 32 || b == 127 {
            CAT_CONTROL
        } else if matches!(b, b'$' | b'+' | b'<' | b'=' | b'>' | b'^' | b'`' | b'|' | b'~') {
            CAT_SYMBOL
        } else {
            CAT_PUNCT
        };
        c += 1;
    }
    t
}
static ASCII: [u8; 128] = ascii_flags();

#[inline]
pub fn flags(cp: u32) -> Flags {
    if cp < 128 {
        return Flags(ASCII[cp as usize]);
    }
    if cp >= 0x110000 {
        return Flags(CAT_UNDEFINED);
    }
    let t = table();
    Flags(t.blocks[t.index[(cp >> 8) as usize] as usize][(cp & 0xff) as usize])
}

/// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other 68 bytes to
/// U+0100.. in byte order, so every byte has a visible one-character stand-in.
pub fn byte_to_char(b: u8) -> char {
    static MAP: OnceLock<[char; 256]> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut m = ['\0'; 256];
        let mut n = 0u32;
        for (b, slot) in m.iter_mut().enumerate() {
            let keep = (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
            *slot = if keep {
                char::from_u32(b as u32).unwrap()
            } else {
                n += 1;
                char::from_u32(255 + n).unwrap()
            };
        }
        m
    })[b as usize]
}

/// Inverse of [`byte_to_char`].
#[inline]
pub fn char_to_byte(c: char) -> Option<u8> {
    static REMAPPED: OnceLock<[u8; 68]> = OnceLock::new();
    let cp = c as u32;
    match cp {
        0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff => Some(cp as u8),
        0x100..=0x143 => {
            // The 68 remapped bytes, in order.
            let t = REMAPPED.get_or_init(|| {
                let mut t = [0u8; 68];
                let kept = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
                for (slot, b) in t.iter_mut().zip((0u32..256).filter(|&b| !kept(b))) {
                    *slot = b as u8;
                }
                t
            });
            Some(t[(cp - 0x100) as usize])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories() {
        assert!(flags('a' as u32).is_letter());
        assert!(flags('Ж' as u32).is_letter());
        assert!(flags('我' as u32).is_letter());
        assert!(flags('٣' as u32).is_number());
        assert!(flags('½' as u32).is_number());
        assert_eq!(flags(0x301).cat(), CAT_MARK);
        assert_eq!(flags('€' as u32).cat(), CAT_SYMBOL);
        assert_eq!(flags('😀' as u32).cat(), CAT_SYMBOL);
        assert_eq!(flags('、' as u32).cat(), CAT_PUNCT);
        assert!(flags(0x3000).is_whitespace());
        assert!(flags(0xa0).is_whitespace());
        assert!(!flags(0x200b).is_whitespace());
        assert_eq!(flags(0x378).cat(), CAT_UNDEFINED);
        assert_eq!(flags(0xd800).cat(), CAT_CONTROL);
        for c in 0u32..128 {
            assert_eq!(flags(c).0, char::from_u32(c).map(fold).unwrap(), "{c}");
        }
    }

    #[test]
    fn byte_map_roundtrip() {
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
    }
}
