//! Streaming detokenization: token pieces may end in the middle of a UTF-8 character (byte
//! tokens, byte-level BPE). The decoder holds such a tail back until the character is complete,
//! so every string it returns is whole characters and each character comes out exactly once.
//!
//! Meant for generated tokens: unlike [`Tokenizer::decode`], it does not drop the space a
//! SentencePiece tokenizer puts before the first word of a text.

use crate::Tokenizer;

pub struct StreamDecoder<'a> {
    tok: &'a Tokenizer,
    show_special: bool,
    pending: Vec<u8>,
}

impl<'a> StreamDecoder<'a> {
    pub fn new(tok: &'a Tokenizer, show_special: bool) -> StreamDecoder<'a> {
        StreamDecoder { tok, show_special, pending: Vec::new() }
    }

    /// Adds one token; returns the text that is now complete, if any.
    pub fn push(&mut self, id: u32) -> Option<String> {
        self.pending.extend_from_slice(self.tok.token_to_piece(id, self.show_special));
        self.take(false)
    }

    /// Adds raw bytes (for callers that produce pieces themselves).
    pub fn push_bytes(&mut self, bytes: &[u8]) -> Option<String> {
        self.pending.extend_from_slice(bytes);
        self.take(false)
    }

    /// Flushes what is left: an unfinished character becomes U+FFFD.
    pub fn finish(&mut self) -> Option<String> {
        self.take(true)
    }

    /// Bytes held back, waiting for the rest of a character.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    fn take(&mut self, flush: bool) -> Option<String> {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&rest[..good]).unwrap());
                    match e.error_len() {
                        // Bytes that can never start or continue a character.
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            rest = &rest[good + bad..];
                        }
                        // A character still incomplete at the end.
                        None => {
                            rest = &rest[good..];
                            if flush {
                                out.push('\u{FFFD}');
                                rest = &[];
                            }
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let len = self.pending.len();
        self.pending.drain(..len - keep);
        (!out.is_empty()).then_some(out)
    }
}
