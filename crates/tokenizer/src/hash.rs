//! A small multiplicative hasher (the FxHash idea from rustc): much faster than SipHash for the
//! short keys of vocabulary and merge lookups. Keys come from the model file, not from untrusted
//! network peers, so HashDoS resistance is not needed here.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the entropy in the high bits, but hash tables index with the low
        // ones: rotate them down (as rustc-hash 2 does).
        self.hash.rotate_left(26)
    }
}

pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Byte string -> id map that stores strings shorter than 16 bytes inline in the table, so a
/// lookup of a short token costs one probe and no pointer chase.
#[derive(Default)]
pub struct TokenMap {
    short: FxMap<u128, u32>,
    long: FxMap<Box<[u8]>, u32>,
}

#[inline]
fn pack(b: &[u8]) -> Option<u128> {
    if b.len() < 16 {
        let mut a = [0u8; 16];
        a[..b.len()].copy_from_slice(b);
        a[15] = b.len() as u8;
        Some(u128::from_le_bytes(a))
    } else {
        None
    }
}

impl TokenMap {
    pub fn with_capacity(n: usize) -> TokenMap {
        let mut m = TokenMap::default();
        m.short.reserve(n);
        m
    }

    #[inline]
    pub fn get(&self, b: &[u8]) -> Option<u32> {
        match pack(b) {
            Some(k) => self.short.get(&k).copied(),
            None => self.long.get(b).copied(),
        }
    }

    /// Inserts, returning the previous id of this string.
    pub fn insert(&mut self, b: &[u8], id: u32) -> Option<u32> {
        match pack(b) {
            Some(k) => self.short.insert(k, id),
            None => self.long.insert(b.into(), id),
        }
    }
}
