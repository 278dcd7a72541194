//! Heap estimates for the diff's bounded-memory accounting: the index, key and id maps count
//! what they hold with these figures, so a budget can stop a diff before the isolate runs out.

/// Estimated heap cost of one hash-map entry holding `text` bytes of strings: the strings, two
/// `String` headers and a bucket's share of a hashbrown table (control byte, load factor).
pub(crate) fn entry_bytes(text: usize) -> u64 {
    (text + 2 * std::mem::size_of::<String>() + 16) as u64
}
