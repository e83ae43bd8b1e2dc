//! Special-token partitioning: before the model tokenizer runs, control and user-defined tokens
//! found in the text are cut out as single tokens (llama.cpp's `tokenizer_st_partition`).
//!
//! llama.cpp processes special tokens longest first, and for each one cuts every occurrence out
//! of the text fragments left so far. Here every occurrence is found in one pass with a trie,
//! and occurrences are accepted in that same priority order (token length descending, then
//! position) when they do not overlap an accepted one, which gives the same fragments.
//! Control (and unknown) tokens are matched only with `parse_special`; user-defined tokens always.

use std::collections::BTreeMap;

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
    /// Priority of each special token id (lower is earlier), indexed by position in `ids`.
    prio: Vec<(u32, u32)>,
}

impl Specials {
    /// `ids` must be the special tokens; `texts[id]` their text.
    pub fn new(ids: &[u32], texts: &[String]) -> Specials {
        let mut order: Vec<u32> = ids.to_vec();
        order.sort_by(|&a, &b| texts[b as usize].len().cmp(&texts[a as usize].len()).then(a.cmp(&b)));
        let mut s = Specials { nodes: vec![Node { children: vec![], token: None }], first: [false; 256], prio: vec![] };
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
        let allowed = |id: u32| {
            parse_special || attrs[id as usize] & (attr::CONTROL | attr::UNKNOWN) == 0
        };
        // (rank, start, end, id) of every occurrence.
        let mut occ: Vec<(u32, usize, usize, u32)> = Vec::new();
        for start in 0..bytes.len() {
            if !self.first[bytes[start] as usize] {
                continue;
            }
            let mut n = 0usize;
            let mut i = start;
            while i < bytes.len() {
                let Some(&(_, c)) = self.nodes[n].children.iter().find(|c| c.0 == bytes[i]) else { break };
                n = c as usize;
                i += 1;
                if let Some(id) = self.nodes[n].token {
                    if allowed(id) {
                        occ.push((self.rank(id), start, i, id));
                    }
                }
            }
        }
        if occ.is_empty() {
            out.push(Fragment::Text(text));
            return;
        }
        occ.sort_unstable();
        // Accepted intervals: start -> (end, id), with stripped whitespace included.
        let mut acc: BTreeMap<usize, (usize, usize, u32)> = BTreeMap::new();
        for (_, s, e, id) in occ {
            if let Some((_, &(pe, _, _))) = acc.range(..e).next_back() {
                if pe > s {
                    continue;
                }
            }
            let a = attrs[id as usize];
            let (mut s2, mut e2) = (s, e);
            if a & attr::LSTRIP != 0 {
                let bound = acc.range(..s).next_back().map_or(0, |(_, &(pe, _, _))| pe);
                while s2 > bound && is_space(bytes[s2 - 1]) {
                    s2 -= 1;
                }
            }
            if a & attr::RSTRIP != 0 {
                let bound = acc.range(e..).next().map_or(bytes.len(), |(&ns, _)| ns);
                while e2 < bound && is_space(bytes[e2]) {
                    e2 += 1;
                }
            }
            acc.insert(s2, (e2, s, id));
        }
        let mut at = 0;
        for (&s2, &(e2, _, id)) in &acc {
            if s2 > at {
                out.push(Fragment::Text(&text[at..s2]));
            }
            out.push(Fragment::Token(id));
            at = e2;
        }
        if at < text.len() {
            out.push(Fragment::Text(&text[at..]));
        }
    }
}

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}
