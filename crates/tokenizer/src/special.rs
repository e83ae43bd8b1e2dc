//! Special-token partitioning: before the model tokenizer runs, control and user-defined tokens
//! found in the text are cut out as single tokens (llama.cpp's `tokenizer_st_partition`).
//!
//! llama.cpp processes special tokens longest first, and for each one cuts every occurrence out
//! of the text fragments left so far. Here a trie pass first finds which special tokens occur
//! at all, so only those are searched for (Gemma has 6,000 special tokens).
//! Control (and unknown) tokens are matched only with `parse_special`; user-defined tokens always.

use crate::attr;

pub(crate) enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

struct Node {
    children: Vec<(u8, u32)>,
    token: Option<u32>,
}

pub(crate) struct Specials {
    nodes: Vec<Node>,
    first: [bool; 256],
    /// (id, priority) of each special token, sorted by id; lower priority goes first.
    prio: Vec<(u32, u32)>,
    /// Texts, parallel to `prio`.
    texts: Vec<Box<[u8]>>,
}

impl Specials {
    /// `ids` must be the special tokens; `texts[id]` their text.
    pub fn new(ids: &[u32], texts: &[String]) -> Specials {
        let mut order: Vec<u32> = ids.to_vec();
        order.sort_by(|&a, &b| texts[b as usize].len().cmp(&texts[a as usize].len()).then(a.cmp(&b)));
        let mut s = Specials { nodes: vec![Node { children: vec![], token: None }], first: [false; 256], prio: vec![], texts: vec![] };
        for (rank, &id) in order.iter().enumerate() {
            let t = texts[id as usize].as_bytes();
            if t.is_empty() {
                continue;
            }
            s.prio.push((id, rank as u32));
            s.first[t[0] as usize] = true;
            let mut n = 0usize;
            for &b in t {
                n = match s.nodes[n].children.iter().find(|c| c.0 == b) {
                    Some(&(_, c)) => c as usize,
                    None => {
                        s.nodes.push(Node { children: vec![], token: None });
                        let c = (s.nodes.len() - 1) as u32;
                        s.nodes[n].children.push((b, c));
                        c as usize
                    }
                };
            }
            s.nodes[n].token = Some(id);
        }
        s.prio.sort_unstable();
        s.texts = s.prio.iter().map(|&(id, _)| texts[id as usize].as_bytes().into()).collect();
        s
    }

    fn rank(&self, id: u32) -> u32 {
        let i = self.prio.binary_search_by_key(&id, |p| p.0).unwrap();
        self.prio[i].1
    }

    pub fn partition<'a>(&self, text: &'a str, parse_special: bool, attrs: &[u16], out: &mut Vec<Fragment<'a>>) {
        out.clear();
        if text.is_empty() {
            return;
        }
        let bytes = text.as_bytes();
        let allowed = |id: u32| parse_special || attrs[id as usize] & (attr::CONTROL | attr::UNKNOWN) == 0;
        // Which special tokens occur at all (one trie walk per candidate position).
        let mut found: Vec<(u32, u32)> = Vec::new();
        let mut seen: Vec<bool> = Vec::new();
        for start in 0..bytes.len() {
            if !self.first[bytes[start] as usize] {
                continue;
            }
            let mut n = 0usize;
            for &b in &bytes[start..] {
                let Some(&(_, c)) = self.nodes[n].children.iter().find(|c| c.0 == b) else { break };
                n = c as usize;
                if let Some(id) = self.nodes[n].token {
                    let r = self.rank(id);
                    if seen.is_empty() {
                        seen.resize(self.prio.len(), false);
                    }
                    if allowed(id) && !seen[r as usize] {
                        seen[r as usize] = true;
                        found.push((r, id));
                    }
                }
            }
        }
        if found.is_empty() {
            out.push(Fragment::Text(text));
            return;
        }
        found.sort_unstable();
        // llama.cpp's procedure, restricted to the tokens that occur: in priority order, cut
        // every occurrence of the token out of each remaining text fragment, left to right.
        let mut frags: Vec<Frag> = vec![Frag::Raw(0, bytes.len())];
        let mut next: Vec<Frag> = Vec::new();
        for &(_, id) in &found {
            let t = self.text(id);
            let a = attrs[id as usize];
            next.clear();
            for &f in &frags {
                let Frag::Raw(mut s, e) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(p) = find(&bytes[s..e], t).map(|p| p + s) {
                    let mut left_end = p;
                    if a & attr::LSTRIP != 0 {
                        while left_end > s && is_space(bytes[left_end - 1]) {
                            left_end -= 1;
                        }
                    }
                    if left_end > s {
                        next.push(Frag::Raw(s, left_end));
                    }
                    next.push(Frag::Tok(id));
                    s = p + t.len();
                    if a & attr::RSTRIP != 0 {
                        while s < e && is_space(bytes[s]) {
                            s += 1;
                        }
                    }
                }
                if s < e {
                    next.push(Frag::Raw(s, e));
                }
            }
            std::mem::swap(&mut frags, &mut next);
        }
        for f in frags {
            out.push(match f {
                Frag::Raw(s, e) => Fragment::Text(&text[s..e]),
                Frag::Tok(id) => Fragment::Token(id),
            });
        }
    }

    fn text(&self, id: u32) -> &[u8] {
        let i = self.prio.binary_search_by_key(&id, |p| p.0).unwrap();
        &self.texts[i]
    }
}

#[derive(Clone, Copy)]
enum Frag {
    Raw(usize, usize),
    Tok(u32),
}

/// First occurrence of `needle` (non-empty) in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        let p = hay[i..=hay.len() - needle.len()].iter().position(|&b| b == first)? + i;
        if hay[p + 1..p + needle.len()].iter().zip(rest).all(|(a, b)| a == b) {
            return Some(p);
        }
        i = p + 1;
    }
    None
}

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}
