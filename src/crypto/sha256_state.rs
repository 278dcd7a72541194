//! SHA-256 whose running state can be saved and restored, so the hash of a snapshot object can
//! span the invocations of a resumable backup. The compression function is the `sha2` crate's;
//! only buffering, padding and the (de)serialisation are here, and the tests hold them to
//! `sha2::Sha256` at every length around the block boundaries.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::digest::generic_array::GenericArray;

const BLOCK: usize = 64;
/// FIPS 180-4 §5.3.3.
const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A SHA-256 computation in progress. Serialises as `h0..h7 (hex) : length : buffered bytes
/// (hex)`; the text holds nothing but digest state of data that is itself stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256State {
    h: [u32; 8],
    /// Bytes not yet compressed; always shorter than a block.
    buffer: Vec<u8>,
    /// Total bytes absorbed.
    length: u64,
}

impl Default for Sha256State {
    fn default() -> Self {
        Sha256State {
            h: IV,
            buffer: Vec::with_capacity(BLOCK),
            length: 0,
        }
    }
}

impl Sha256State {
    pub fn update(&mut self, mut data: &[u8]) {
        self.length += data.len() as u64;
        if !self.buffer.is_empty() {
            let take = (BLOCK - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buffer.len() < BLOCK {
                return;
            }
            let block = std::mem::take(&mut self.buffer);
            self.compress(&block);
        }
        let whole = data.len() / BLOCK * BLOCK;
        self.compress(&data[..whole]);
        self.buffer.extend_from_slice(&data[whole..]);
    }

    /// The digest of everything absorbed so far (the state itself is left as it is).
    pub fn finalize(&self) -> [u8; 32] {
        let mut state = self.clone();
        let bit_length = state.length.wrapping_mul(8);
        let mut tail = std::mem::take(&mut state.buffer);
        tail.push(0x80);
        while tail.len() % BLOCK != BLOCK - 8 {
            tail.push(0);
        }
        tail.extend_from_slice(&bit_length.to_be_bytes());
        state.compress(&tail);
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(state.h) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    pub fn finalize_hex(&self) -> String {
        hex::encode(self.finalize())
    }

    fn compress(&mut self, blocks: &[u8]) {
        debug_assert_eq!(blocks.len() % BLOCK, 0);
        let blocks: Vec<_> = blocks
            .chunks_exact(BLOCK)
            .map(|b| *GenericArray::from_slice(b))
            .collect();
        sha2::compress256(&mut self.h, &blocks);
    }
}

impl fmt::Debug for Sha256State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256State({} bytes)", self.length)
    }
}

impl From<Sha256State> for String {
    fn from(state: Sha256State) -> String {
        let h: String = state.h.iter().map(|w| format!("{w:08x}")).collect();
        format!("{h}:{}:{}", state.length, hex::encode(&state.buffer))
    }
}

/// Why a saved state was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed SHA-256 state")]
pub struct MalformedState;

impl FromStr for Sha256State {
    type Err = MalformedState;

    fn from_str(text: &str) -> Result<Self, MalformedState> {
        let mut fields = text.split(':');
        let (Some(h), Some(length), Some(buffer), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(MalformedState);
        };
        let h = hex::decode(h).map_err(|_| MalformedState)?;
        let length: u64 = length.parse().map_err(|_| MalformedState)?;
        let buffer = hex::decode(buffer).map_err(|_| MalformedState)?;
        if h.len() != 32 || buffer.len() as u64 != length % BLOCK as u64 {
            return Err(MalformedState);
        }
        let mut words = [0u32; 8];
        for (word, bytes) in words.iter_mut().zip(h.chunks_exact(4)) {
            *word = u32::from_be_bytes(bytes.try_into().expect("chunks of 4"));
        }
        Ok(Sha256State {
            h: words,
            buffer,
            length,
        })
    }
}

impl TryFrom<String> for Sha256State {
    type Error = MalformedState;

    fn try_from(text: String) -> Result<Self, MalformedState> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn known_answers() {
        // FIPS 180-2 appendix B.1 and B.2, and the empty string.
        let hash = |data: &[u8]| {
            let mut s = Sha256State::default();
            s.update(data);
            s.finalize_hex()
        };
        assert_eq!(
            hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn saved_and_restored_mid_stream_matches_sha2_at_every_split() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 129, 300] {
            let data = &data[..len];
            let expected = hex::encode(Sha256::digest(data));
            for split in 0..=len {
                let mut first = Sha256State::default();
                first.update(&data[..split]);
                let saved = serde_json::to_string(&first).unwrap();
                let mut resumed: Sha256State = serde_json::from_str(&saved).unwrap();
                resumed.update(&data[split..]);
                assert_eq!(resumed.finalize_hex(), expected, "len {len} split {split}");
            }
        }
    }

    #[test]
    fn malformed_states_are_refused() {
        let mut s = Sha256State::default();
        s.update(b"hello");
        let good = String::from(s);
        assert!(good.parse::<Sha256State>().is_ok());
        for bad in [
            "",
            "00:0:",
            &good.replace(":5:", ":6:"),
            &format!("{good}:x"),
            &good[1..],
            &format!("g{}", &good[1..]),
        ] {
            assert_eq!(bad.parse::<Sha256State>(), Err(MalformedState), "{bad}");
        }
    }
}
