//! A tiny backtracking matcher for the pre-tokenizer regexes, with the semantics llama.cpp gets
//! from `std::regex` (ECMAScript: leftmost match, alternatives tried in order, greedy quantifiers
//! with backtracking, atomic lookaheads).
//!
//! Like llama.cpp (`unicode_regex_split`), a pattern runs over "units" rather than raw code
//! points: in a pattern that uses `\p{..}`, every non-ASCII code point is collapsed to one unit
//! per category (so `\p{L}` is "ASCII letter or the letter unit"); in a pattern without `\p{..}`,
//! units are the code points themselves. In both, non-ASCII whitespace becomes U+000B so that
//! `\s` sees it. This reproduces llama.cpp's results, including its quirks (for instance that the
//! collapsed text has no case for non-ASCII letters).

use crate::unicode::{self, CAT_LETTER, CAT_MARK, CAT_NUMBER, CAT_PUNCT, CAT_SYMBOL};

const U_WS: u32 = 0x0b;
const U_OTHER: u32 = 0xd0;
const U_NUMBER: u32 = 0xd1;
const U_LETTER: u32 = 0xd2;
const U_PUNCT: u32 = 0xd3;
const U_MARK: u32 = 0xd4;
const U_SYMBOL: u32 = 0xd5;

/// A set of units.
#[derive(Clone, Debug)]
pub enum Class {
    Ranges { ranges: Vec<(u32, u32)>, neg: bool },
    And(Vec<Class>),
}

impl Class {
    fn contains(&self, u: u32) -> bool {
        match self {
            Class::Ranges { ranges, neg } => ranges.iter().any(|&(a, b)| a <= u && u <= b) != *neg,
            Class::And(v) => v.iter().all(|c| c.contains(u)),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Node {
    Set(Class),
    Seq(Vec<Node>),
    Alt(Vec<Node>),
    Rep(Box<Node>, u32, u32),
    Look(Box<Node>, bool),
    End,
}

/// A compiled pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    root: Node,
    collapsed: bool,
}

fn space_ranges() -> Vec<(u32, u32)> {
    vec![(9, 13), (32, 32)]
}

/// The unit ranges of `\p{Name}` in a collapsed pattern (llama.cpp's `k_ucat_map` for ASCII).
fn category_ranges(name: &str) -> Result<Vec<(u32, u32)>, String> {
    Ok(match name {
        "N" => vec![(U_NUMBER, U_NUMBER), (0x30, 0x39)],
        "L" | "Lu" | "Ll" | "Lt" | "Lm" | "Lo" => vec![(U_LETTER, U_LETTER), (0x41, 0x5a), (0x61, 0x7a)],
        "P" => vec![
            (U_PUNCT, U_PUNCT),
            (0x21, 0x23),
            (0x25, 0x2a),
            (0x2c, 0x2f),
            (0x3a, 0x3b),
            (0x3f, 0x40),
            (0x5b, 0x5d),
            (0x5f, 0x5f),
            (0x7b, 0x7b),
            (0x7d, 0x7d),
        ],
        "M" => vec![(U_MARK, U_MARK)],
        "S" => vec![(U_SYMBOL, U_SYMBOL), (0x24, 0x24), (0x2b, 0x2b), (0x3c, 0x3e), (0x5e, 0x5e), (0x60, 0x60), (0x7c, 0x7c), (0x7e, 0x7e)],
        _ => return Err(format!("unsupported unicode category \\p{{{name}}}")),
    })
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn alt(&mut self) -> Result<Node, String> {
        let mut alts = vec![self.seq()?];
        while self.eat('|') {
            alts.push(self.seq()?);
        }
        Ok(if alts.len() == 1 { alts.pop().unwrap() } else { Node::Alt(alts) })
    }
    fn seq(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.quantifier(atom)?);
        }
        Ok(simplify_seq(items))
    }
    fn number(&mut self) -> Option<u32> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.s[start..self.i].iter().collect::<String>().parse().ok()
    }
    fn quantifier(&mut self, atom: Node) -> Result<Node, String> {
        let (min, max) = match self.peek() {
            Some('?') => (0, 1),
            Some('*') => (0, u32::MAX),
            Some('+') => (1, u32::MAX),
            Some('{') => {
                self.i += 1;
                let min = self.number().ok_or("bad {n,m}")?;
                let max = if self.eat(',') { self.number().unwrap_or(u32::MAX) } else { min };
                if !self.eat('}') {
                    return Err("bad {n,m}".into());
                }
                return Ok(Node::Rep(Box::new(atom), min, max));
            }
            _ => return Ok(atom),
        };
        self.i += 1;
        if self.peek() == Some('?') || self.peek() == Some('+') {
            return Err("lazy and possessive quantifiers are not supported".into());
        }
        Ok(Node::Rep(Box::new(atom), min, max))
    }
    fn atom(&mut self) -> Result<Node, String> {
        let c = self.peek().ok_or("unexpected end")?;
        self.i += 1;
        match c {
            '(' => {
                let look = if self.eat('?') {
                    let kind = self.peek();
                    self.i += 1;
                    match kind {
                        Some(':') => None,
                        Some('=') => Some(false),
                        Some('!') => Some(true),
                        _ => return Err("unsupported group".into()),
                    }
                } else {
                    None
                };
                let inner = self.alt()?;
                if !self.eat(')') {
                    return Err("missing )".into());
                }
                Ok(match look {
                    Some(neg) => Node::Look(Box::new(inner), neg),
                    None => inner,
                })
            }
            '[' => self.class(),
            '$' => Ok(Node::End),
            '.' => Ok(Node::Set(Class::Ranges { ranges: vec![(10, 10), (13, 13)], neg: true })),
            '\\' => self.escape(false).map(Node::Set),
            c => Ok(lit(c as u32)),
        }
    }
    /// An escape after `\`, as a class.
    fn escape(&mut self, in_class: bool) -> Result<Class, String> {
        let c = self.peek().ok_or("dangling \\")?;
        self.i += 1;
        let r = |v: Vec<(u32, u32)>, neg| Class::Ranges { ranges: v, neg };
        Ok(match c {
            's' => r(space_ranges(), false),
            'S' if !in_class => r(space_ranges(), true),
            'd' => r(vec![(0x30, 0x39)], false),
            'D' if !in_class => r(vec![(0x30, 0x39)], true),
            'r' => r(vec![(13, 13)], false),
            'n' => r(vec![(10, 10)], false),
            't' => r(vec![(9, 9)], false),
            'f' => r(vec![(12, 12)], false),
            'v' => r(vec![(11, 11)], false),
            'p' => {
                if !self.eat('{') {
                    return Err("bad \\p".into());
                }
                let start = self.i;
                while self.peek().is_some_and(|c| c != '}') {
                    self.i += 1;
                }
                let name: String = self.s[start..self.i].iter().collect();
                self.i += 1;
                r(category_ranges(&name)?, false)
            }
            c if c.is_ascii_alphanumeric() => return Err(format!("unsupported escape \\{c}")),
            c => r(vec![(c as u32, c as u32)], false),
        })
    }
    fn class(&mut self) -> Result<Node, String> {
        let neg = self.eat('^');
        let mut parts: Vec<Class> = Vec::new();
        let mut ranges = Vec::new();
        loop {
            let c = self.peek().ok_or("missing ]")?;
            self.i += 1;
            if c == ']' {
                break;
            }
            let lo = if c == '\\' {
                match self.escape(true)? {
                    Class::Ranges { ranges: r, neg: false } if r.len() == 1 && r[0].0 == r[0].1 => r[0].0,
                    other => {
                        parts.push(other);
                        continue;
                    }
                }
            } else {
                c as u32
            };
            if self.peek() == Some('-') && self.s.get(self.i + 1).is_some_and(|&n| n != ']') {
                self.i += 1;
                let h = self.peek().unwrap();
                self.i += 1;
                let hi = if h == '\\' {
                    match self.escape(true)? {
                        Class::Ranges { ranges: r, .. } if r.len() == 1 => r[0].0,
                        _ => return Err("bad range".into()),
                    }
                } else {
                    h as u32
                };
                ranges.push((lo, hi));
            } else {
                ranges.push((lo, lo));
            }
        }
        for p in parts {
            if let Class::Ranges { ranges: r, .. } = p {
                ranges.extend(r);
            }
        }
        Ok(Node::Set(Class::Ranges { ranges, neg }))
    }
}

fn lit(u: u32) -> Node {
    Node::Set(Class::Ranges { ranges: vec![(u, u)], neg: false })
}

/// `(?=[A])([B])` is one unit in A∩B: turning it into a single class keeps repetitions of it on
/// the iterative fast path (tekken and gpt-4o use this shape to emulate `\p{Lu}`-style classes).
fn simplify_seq(mut items: Vec<Node>) -> Node {
    if items.len() == 2 {
        if let (Node::Look(a, false), Node::Set(b)) = (&items[0], &items[1]) {
            if let Node::Set(a) = a.as_ref() {
                return Node::Set(Class::And(vec![a.clone(), b.clone()]));
            }
        }
    }
    if items.len() == 1 {
        items.pop().unwrap()
    } else {
        Node::Seq(items)
    }
}

impl Pattern {
    pub fn new(src: &str) -> Result<Pattern, String> {
        let chars: Vec<char> = src.chars().collect();
        let collapsed = src.contains("\\p{");
        let mut p = Parser { s: &chars, i: 0 };
        let root = p.alt()?;
        if p.i != chars.len() {
            return Err(format!("unbalanced ) in {src:?}"));
        }
        Ok(Pattern { root, collapsed })
    }

    /// Maps a code point to this pattern's unit.
    #[inline]
    pub fn unit(&self, cp: u32) -> u32 {
        if cp < 128 {
            return cp;
        }
        let f = unicode::flags(cp);
        if f.is_whitespace() {
            return U_WS;
        }
        if !self.collapsed {
            return cp;
        }
        match f.cat() {
            CAT_NUMBER => U_NUMBER,
            CAT_LETTER => U_LETTER,
            CAT_PUNCT => U_PUNCT,
            CAT_MARK => U_MARK,
            CAT_SYMBOL => U_SYMBOL,
            _ => U_OTHER,
        }
    }

    /// Splits `units` (one chunk) into words: every match and every gap between matches.
    /// Returns the word lengths.
    pub fn split(&self, units: &[u32], out: &mut Vec<usize>) {
        let mut gap_start = 0;
        let mut pos = 0;
        while pos < units.len() {
            match self.match_at(units, pos) {
                Some(end) if end > pos => {
                    if pos > gap_start {
                        out.push(pos - gap_start);
                    }
                    out.push(end - pos);
                    pos = end;
                    gap_start = end;
                }
                _ => pos += 1,
            }
        }
        if units.len() > gap_start {
            out.push(units.len() - gap_start);
        }
    }

    fn match_at(&self, s: &[u32], pos: usize) -> Option<usize> {
        let m = Matcher { s, depth: std::cell::Cell::new(0) };
        let mut end = None;
        m.m(&self.root, pos, &mut |e| {
            end = Some(e);
            true
        });
        end
    }
}

struct Matcher<'a> {
    s: &'a [u32],
    depth: std::cell::Cell<usize>,
}

/// Deeper recursion than this gives up on the match at that position instead of overflowing the
/// stack (only reachable with repeated groups over very long runs).
const MAX_DEPTH: usize = 10_000;

impl Matcher<'_> {
    fn m(&self, n: &Node, pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        let d = self.depth.get();
        if d > MAX_DEPTH {
            return false;
        }
        self.depth.set(d + 1);
        let r = self.m_inner(n, pos, k);
        self.depth.set(d);
        r
    }

    fn m_inner(&self, n: &Node, pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        match n {
            Node::Set(c) => pos < self.s.len() && c.contains(self.s[pos]) && k(pos + 1),
            Node::End => pos == self.s.len() && k(pos),
            Node::Seq(v) => self.seq(v, pos, k),
            Node::Alt(v) => v.iter().any(|a| self.m(a, pos, k)),
            Node::Look(inner, neg) => {
                let found = self.m(inner, pos, &mut |_| true);
                found != *neg && k(pos)
            }
            Node::Rep(inner, min, max) => {
                if let Node::Set(c) = inner.as_ref() {
                    let mut run = 0usize;
                    while (run as u64) < *max as u64 && pos + run < self.s.len() && c.contains(self.s[pos + run]) {
                        run += 1;
                    }
                    let min = *min as usize;
                    run >= min && (min..=run).rev().any(|c| k(pos + c))
                } else {
                    self.rep(inner, *min, *max, 0, pos, k)
                }
            }
        }
    }

    fn seq(&self, v: &[Node], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        match v.split_first() {
            None => k(pos),
            Some((first, rest)) => self.m(first, pos, &mut |p| self.seq(rest, p, k)),
        }
    }

    /// Greedy repetition of a general node: try one more iteration first, then stop.
    fn rep(&self, n: &Node, min: u32, max: u32, count: u32, pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        if count < max && self.m(n, pos, &mut |p| p > pos && self.rep(n, min, max, count + 1, p, k)) {
            return true;
        }
        count >= min && k(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(pat: &str, text: &str) -> Vec<String> {
        let p = Pattern::new(pat).unwrap();
        let cps: Vec<char> = text.chars().collect();
        let units: Vec<u32> = cps.iter().map(|&c| p.unit(c as u32)).collect();
        let mut lens = Vec::new();
        p.split(&units, &mut lens);
        let mut out = Vec::new();
        let mut at = 0;
        for l in lens {
            out.push(cps[at..at + l].iter().collect());
            at += l;
        }
        out
    }

    #[test]
    fn basics() {
        let gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
        assert_eq!(words(gpt2, "Hello, world!  ok"), ["Hello", ",", " world", "!", " ", " ok"]);
        assert_eq!(words(gpt2, "it's 42"), ["it", "'s", " 42"]);
        let poro = " ?[^(\\s|.,!?…。，、।۔،)]+";
        assert_eq!(words(poro, "a...  b, c"), ["a", "... ", " b", ",", " c"]);
        assert_eq!(words("[0-9][0-9][0-9]", "12345"), ["123", "45"]);
        assert_eq!(words("\\s+$", "a  "), ["a", "  "]);
        let tek = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}";
        assert_eq!(words(tek, "HELLOworld helloWorld ABC"), ["HELLOworld", " hello", "World", " ABC"]);
    }
}
