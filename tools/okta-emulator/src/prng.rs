//! Deterministic pseudo-random numbers.
//!
//! SplitMix64 is tiny and fully specified, so a seed reproduces the same tenant byte for byte on every
//! platform and toolchain — something `rand`'s unversioned algorithms do not promise.

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of every Okta object id (`00u` + 17 characters, `0oa` + 17, ...).
const OKTA_ID_LEN: usize = 20;

#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough integer in `0..n` (`n > 0`); the modulo bias is irrelevant for test data.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent`/100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Index into `weights`, chosen with probability proportional to each weight.
    pub(crate) fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut roll = self.below(weights.iter().sum());
        for (i, &w) in weights.iter().enumerate() {
            if roll < w {
                return i;
            }
            roll -= w;
        }
        weights.len() - 1
    }

    /// `len` base62 characters.
    pub(crate) fn base62(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(BASE62[self.below(62) as usize]))
            .collect()
    }

    /// An Okta-shaped object id: the 3-character type prefix (`00u`, `00g`, `0oa`, ...) and random
    /// base62 up to Okta's 20 characters.
    pub(crate) fn okta_id(&mut self, prefix: &str) -> String {
        let mut id = String::with_capacity(OKTA_ID_LEN);
        id.push_str(prefix);
        id.push_str(&self.base62(OKTA_ID_LEN - prefix.len()));
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert_eq!(a.okta_id("00u"), b.okta_id("00u"));
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn reference_value() {
        // First output of SplitMix64 seeded with 0, as published with the algorithm.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn okta_ids_have_okta_shape() {
        let id = SplitMix64::new(1).okta_id("0oa");
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("0oa"));
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
