//! Token sampling in llama.cpp's default order: penalties → top-k → top-p → min-p →
//! temperature → draw. Temperature ≤ 0 is greedy (after penalties), as in llama.cpp.
//!
//! All buffers are sized once at construction, so sampling a token does not allocate.

/// Sampling settings; `Default` gives llama.cpp's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerParams {
    pub temp: f32,
    /// Keep the k most likely tokens; ≤ 0 keeps all.
    pub top_k: i32,
    pub top_p: f32,
    pub min_p: f32,
    /// Repetition penalty (1.0 = off) over the last `repeat_last_n` tokens.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalties look at (0 = none, -1 = all of history).
    pub repeat_last_n: i32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    pub seed: u64,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            temp: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: 0xFFFF_FFFF,
        }
    }
}

pub struct Sampler {
    pub params: SamplerParams,
    rng: Rng,
    /// Candidates (token, logit), reused for every draw.
    cand: Vec<(u32, f32)>,
    /// Penalized copy of the logits.
    logits: Vec<f32>,
    /// Occurrence counts of the penalty window, zeroed again after each use.
    counts: Vec<u32>,
    /// Tokens never sampled (llama.cpp's --ignore-eos bans end-of-generation tokens).
    banned: Vec<u32>,
}

impl Sampler {
    pub fn new(params: SamplerParams, n_vocab: usize) -> Sampler {
        Sampler {
            rng: Rng::new(params.seed),
            params,
            cand: Vec::with_capacity(n_vocab),
            logits: vec![0.0; n_vocab],
            counts: vec![0; n_vocab],
            banned: Vec::new(),
        }
    }

    /// Never sample these tokens: llama.cpp's `--ignore-eos` gives end-of-generation tokens
    /// a logit bias of -inf, so generation goes on with the next most likely token.
    pub fn ban(&mut self, ids: &[u32]) {
        self.banned.extend_from_slice(ids);
    }

    /// Picks the next token from `logits`; `history` is every token so far (for penalties).
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let n = logits.len().min(self.logits.len());
        self.logits[..n].copy_from_slice(&logits[..n]);
        self.apply_penalties(history, n);
        for &id in &self.banned {
            if let Some(l) = self.logits.get_mut(id as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
        let p = &self.params;
        if p.temp <= 0.0 {
            return argmax(&self.logits[..n]);
        }
        self.cand.clear();
        self.cand.extend(self.logits[..n].iter().enumerate().map(|(i, &l)| (i as u32, l)));
        let desc = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        // top-k (also sorts the survivors, most likely first).
        let k = if p.top_k <= 0 { self.cand.len() } else { (p.top_k as usize).min(self.cand.len()) };
        if k < self.cand.len() {
            self.cand.select_nth_unstable_by(k - 1, desc);
            self.cand.truncate(k);
        }
        self.cand.sort_unstable_by(desc);
        // top-p: smallest prefix whose probability mass reaches p.
        if p.top_p < 1.0 {
            let max = self.cand[0].1;
            let total: f64 = self.cand.iter().map(|c| ((c.1 - max) as f64).exp()).sum();
            let mut cum = 0.0;
            let mut keep = self.cand.len();
            for (i, c) in self.cand.iter().enumerate() {
                cum += ((c.1 - max) as f64).exp() / total;
                if cum >= p.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            self.cand.truncate(keep.max(1));
        }
        // min-p: drop tokens less likely than min_p times the most likely one.
        if p.min_p > 0.0 {
            let floor = self.cand[0].1 + p.min_p.ln();
            let keep = self.cand.iter().take_while(|c| c.1 >= floor).count();
            self.cand.truncate(keep.max(1));
        }
        // temperature, then draw from the softmax.
        let max = self.cand[0].1;
        let total: f64 = self.cand.iter().map(|c| (((c.1 - max) / p.temp) as f64).exp()).sum();
        let mut r = self.rng.next_f64() * total;
        for c in &self.cand {
            r -= (((c.1 - max) / p.temp) as f64).exp();
            if r <= 0.0 {
                return c.0;
            }
        }
        self.cand.last().expect("at least one candidate").0
    }

    /// llama.cpp's penalties: repetition (divide positive logits, multiply negative ones),
    /// then frequency (per occurrence) and presence (once), over the last `repeat_last_n` tokens.
    fn apply_penalties(&mut self, history: &[u32], n: usize) {
        let p = &self.params;
        let active = p.repeat_penalty != 1.0 || p.presence_penalty != 0.0 || p.frequency_penalty != 0.0;
        if !active || p.repeat_last_n == 0 {
            return;
        }
        let window = if p.repeat_last_n < 0 { history.len() } else { (p.repeat_last_n as usize).min(history.len()) };
        let recent = &history[history.len() - window..];
        for &t in recent {
            if (t as usize) < n {
                self.counts[t as usize] += 1;
            }
        }
        for &t in recent {
            let t = t as usize;
            if t >= n || self.counts[t] == 0 {
                continue; // out of range, or already penalized
            }
            let c = self.counts[t];
            let l = &mut self.logits[t];
            *l = if *l <= 0.0 { *l * p.repeat_penalty } else { *l / p.repeat_penalty };
            *l -= c as f32 * p.frequency_penalty + p.presence_penalty;
            self.counts[t] = 0;
        }
    }
}

/// Index of the largest logit (the first one on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// The `k` most likely tokens under the full-vocabulary log-softmax, most likely first, into
/// `out` (cleared first; give it capacity `k` to avoid allocating).
pub fn top_logprobs(logits: &[f32], k: usize, out: &mut Vec<(u32, f32)>) {
    out.clear();
    if k == 0 || logits.is_empty() {
        return;
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max as f64 + logits.iter().map(|&l| ((l - max) as f64).exp()).sum::<f64>().ln();
    // Keep a sorted list of the best k while scanning once.
    for (i, &l) in logits.iter().enumerate() {
        if out.len() == k && l <= out[k - 1].1 {
            continue;
        }
        let pos = out.iter().position(|e| l > e.1).unwrap_or(out.len());
        if out.len() == k {
            out.pop();
        }
        out.insert(pos, (i as u32, l));
    }
    for e in out.iter_mut() {
        e.1 = (e.1 as f64 - lse) as f32;
    }
}

/// xoshiro256** seeded through splitmix64: small, fast, and the same on every platform.
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let r = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        r
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        (0..100).map(|i| ((i * 37 % 100) as f32) * 0.05).collect()
    }

    #[test]
    fn temp_zero_is_argmax() {
        let l = logits();
        let mut s = Sampler::new(SamplerParams { temp: 0.0, ..Default::default() }, l.len());
        assert_eq!(s.sample(&l, &[]), argmax(&l));
    }

    #[test]
    fn banned_tokens_are_never_drawn() {
        let l = logits();
        let best = argmax(&l);
        let mut greedy = Sampler::new(SamplerParams { temp: 0.0, ..Default::default() }, l.len());
        greedy.ban(&[best]);
        let mut second = l.clone();
        second[best as usize] = f32::MIN;
        assert_eq!(greedy.sample(&l, &[]), argmax(&second));
        let mut hot = Sampler::new(SamplerParams { temp: 5.0, top_k: 0, top_p: 1.0, min_p: 0.0, ..Default::default() }, l.len());
        hot.ban(&[best]);
        assert!((0..200).all(|_| hot.sample(&l, &[]) != best));
    }

    #[test]
    fn same_seed_same_tokens_and_seeds_differ() {
        let l = logits();
        let draw = |seed| {
            let mut s = Sampler::new(SamplerParams { temp: 1.5, top_k: 0, top_p: 1.0, min_p: 0.0, seed, ..Default::default() }, l.len());
            (0..50).map(|_| s.sample(&l, &[])).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn top_k_one_is_greedy() {
        let l = logits();
        let mut s = Sampler::new(SamplerParams { top_k: 1, ..Default::default() }, l.len());
        for _ in 0..20 {
            assert_eq!(s.sample(&l, &[]), argmax(&l));
        }
    }

    #[test]
    fn filters_keep_only_likely_tokens() {
        // Two dominant tokens; min-p 0.5 keeps only tokens at least half as likely as the best.
        let mut l = vec![0.0f32; 50];
        l[3] = 10.0;
        l[9] = 10.0 - 0.5f32; // p ratio e^-0.5 ≈ 0.61 ≥ 0.5
        l[20] = 10.0 - 1.0; // ratio e^-1 ≈ 0.37 < 0.5
        let mut s = Sampler::new(SamplerParams { min_p: 0.5, top_p: 1.0, top_k: 0, temp: 1.0, ..Default::default() }, l.len());
        for _ in 0..200 {
            let t = s.sample(&l, &[]);
            assert!(t == 3 || t == 9, "{t}");
        }
    }

    #[test]
    fn repetition_penalty_follows_llama_cpp() {
        let mut l = vec![0.0f32; 4];
        l[0] = 2.0;
        l[1] = -1.0;
        l[2] = 1.9;
        let mut s = Sampler::new(
            SamplerParams { temp: 0.0, repeat_penalty: 2.0, frequency_penalty: 0.1, presence_penalty: 0.05, ..Default::default() },
            4,
        );
        // Token 0 penalized: 2.0/2 - 2*0.1 - 0.05 = 0.75 < 1.9, so token 2 wins.
        assert_eq!(s.sample(&l, &[0, 1, 0]), 2);
        assert!((s.logits[0] - 0.75).abs() < 1e-6);
        assert!((s.logits[1] - (-2.15)).abs() < 1e-6);
        assert!(s.counts.iter().all(|&c| c == 0));
    }

    #[test]
    fn top_logprobs_matches_full_sort() {
        let l = logits();
        let mut out = Vec::with_capacity(5);
        top_logprobs(&l, 5, &mut out);
        let max = l.iter().copied().fold(f32::MIN, f32::max) as f64;
        let lse = max + l.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln();
        let mut idx: Vec<usize> = (0..l.len()).collect();
        idx.sort_by(|&a, &b| l[b].total_cmp(&l[a]).then(a.cmp(&b)));
        for (k, &(id, lp)) in out.iter().enumerate() {
            assert_eq!(id as usize, idx[k]);
            assert!((lp as f64 - (l[idx[k]] as f64 - lse)).abs() < 1e-6);
        }
    }
}
