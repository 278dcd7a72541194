//! Cutting a JSON array that arrives in pieces into its items, without parsing the items: only
//! string, escape and nesting state is tracked, so memory is one item plus the piece being fed.
//! Items are checked as JSON when they are parsed, one at a time, by the diff.

use std::collections::VecDeque;

/// Largest item accepted. Okta resources are kilobytes; anything near this is not one.
pub const MAX_ITEM_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("not a JSON array (byte {0})")]
    NotAnArray(u64),
    #[error("unexpected byte between items (byte {0})")]
    Unexpected(u64),
    #[error("an item is larger than {MAX_ITEM_BYTES} bytes")]
    ItemTooLarge,
    #[error("the array ends early")]
    Truncated,
    #[error("bytes after the array (byte {0})")]
    Trailing(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before `[`.
    Start,
    /// After `[`: an item or `]`.
    First,
    /// After `,`: an item.
    Next,
    /// Inside an item.
    Item,
    /// After an item: `,` or `]`.
    After,
    /// After `]`.
    Done,
}

/// See the module docs. Feed pieces with [`ArraySplitter::push`], take items with
/// [`ArraySplitter::pop`], and call [`ArraySplitter::finish`] after the last piece.
#[derive(Debug)]
pub struct ArraySplitter {
    state: State,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// The item is a bare number, `true`, `false` or `null`: it ends before a delimiter.
    scalar: bool,
    item: Vec<u8>,
    /// Complete items, each with the offset just past its last byte.
    ready: VecDeque<(Vec<u8>, u64)>,
    /// Bytes fed before the current piece.
    offset: u64,
}

impl Default for ArraySplitter {
    fn default() -> Self {
        ArraySplitter {
            state: State::Start,
            depth: 0,
            in_string: false,
            escaped: false,
            scalar: false,
            item: Vec::new(),
            ready: VecDeque::new(),
            offset: 0,
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl ArraySplitter {
    /// A splitter that takes up the array just after an item that ended at byte `offset` (an
    /// end [`ArraySplitter::pop_with_end`] reported): the next piece starts at that byte, so a
    /// long read can resume from a checkpoint without rescanning what came before.
    pub fn after_item(offset: u64) -> ArraySplitter {
        ArraySplitter {
            state: State::After,
            offset,
            ..ArraySplitter::default()
        }
    }

    /// Feeds the next piece of the array.
    pub fn push(&mut self, piece: &[u8]) -> Result<(), SplitError> {
        // Start of the current item within `piece`, while inside one.
        let mut start = 0;
        let mut i = 0;
        while i < piece.len() {
            let b = piece[i];
            let at = self.offset + i as u64;
            match self.state {
                State::Start => match b {
                    b'[' => self.state = State::First,
                    b if is_space(b) => {}
                    _ => return Err(SplitError::NotAnArray(at)),
                },
                State::First | State::Next => match b {
                    b']' if self.state == State::First => self.state = State::Done,
                    b if is_space(b) => {}
                    b',' | b']' => return Err(SplitError::Unexpected(at)),
                    _ => {
                        self.state = State::Item;
                        self.depth = 0;
                        self.in_string = false;
                        self.escaped = false;
                        self.scalar = !matches!(b, b'{' | b'[' | b'"');
                        start = i;
                        continue; // the item's first byte is scanned as part of it
                    }
                },
                State::Item => {
                    if self.scalar {
                        if b == b',' || b == b']' || is_space(b) {
                            self.end_item(&piece[start..i], at)?;
                            continue; // the delimiter belongs to the array
                        }
                    } else if self.in_string {
                        if self.escaped {
                            self.escaped = false;
                        } else if b == b'\\' {
                            self.escaped = true;
                        } else if b == b'"' {
                            self.in_string = false;
                            if self.depth == 0 {
                                self.end_item(&piece[start..=i], at + 1)?;
                            }
                        }
                    } else {
                        match b {
                            b'"' => self.in_string = true,
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' => {
                                self.depth = self.depth.saturating_sub(1);
                                if self.depth == 0 {
                                    self.end_item(&piece[start..=i], at + 1)?;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                State::After => match b {
                    b',' => self.state = State::Next,
                    b']' => self.state = State::Done,
                    b if is_space(b) => {}
                    _ => return Err(SplitError::Unexpected(at)),
                },
                State::Done => {
                    if !is_space(b) {
                        return Err(SplitError::Trailing(at));
                    }
                }
            }
            i += 1;
        }
        if self.state == State::Item {
            self.extend(&piece[start..])?;
        }
        self.offset += piece.len() as u64;
        Ok(())
    }

    fn extend(&mut self, bytes: &[u8]) -> Result<(), SplitError> {
        if self.item.len() + bytes.len() > MAX_ITEM_BYTES {
            return Err(SplitError::ItemTooLarge);
        }
        self.item.extend_from_slice(bytes);
        Ok(())
    }

    fn end_item(&mut self, tail: &[u8], end: u64) -> Result<(), SplitError> {
        self.extend(tail)?;
        self.ready.push_back((std::mem::take(&mut self.item), end));
        self.state = State::After;
        Ok(())
    }

    /// The next complete item, if any.
    pub fn pop(&mut self) -> Option<Vec<u8>> {
        self.pop_with_end().map(|(item, _)| item)
    }

    /// The next complete item and the offset just past its last byte (in the whole array).
    pub fn pop_with_end(&mut self) -> Option<(Vec<u8>, u64)> {
        self.ready.pop_front()
    }

    /// After the last piece: the array must have been closed.
    pub fn finish(&self) -> Result<(), SplitError> {
        if self.state == State::Done {
            Ok(())
        } else {
            Err(SplitError::Truncated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` in pieces of `size` bytes; returns the items.
    fn split(text: &str, size: usize) -> Result<Vec<String>, SplitError> {
        let mut s = ArraySplitter::default();
        let mut out = Vec::new();
        for piece in text.as_bytes().chunks(size.max(1)) {
            s.push(piece)?;
            while let Some(item) = s.pop() {
                out.push(String::from_utf8(item).unwrap());
            }
        }
        s.finish()?;
        Ok(out)
    }

    #[test]
    fn items_come_out_whole_however_the_array_is_cut() {
        let text = r#" [ {"a":"x,]}\"{","b":[1,{"c":[]}]} ,"s\\",12,-1.5e3 , true,null,[[]],{} ] "#;
        let expected = [
            r#"{"a":"x,]}\"{","b":[1,{"c":[]}]}"#,
            r#""s\\""#,
            "12",
            "-1.5e3",
            "true",
            "null",
            "[[]]",
            "{}",
        ];
        for size in [1, 2, 3, 7, 1000] {
            assert_eq!(split(text, size).unwrap(), expected, "pieces of {size}");
        }
        assert_eq!(split("[]", 1).unwrap(), Vec::<String>::new());
        assert_eq!(split(" [ ] \n", 1).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_splitter_taken_up_after_any_item_yields_exactly_the_items_after_it() {
        let text = r#" [ {"a":"x,]}\"{"} ,"s\\",12,-1.5e3 , true,null,[[]],{} ] "#;
        let mut whole = ArraySplitter::default();
        whole.push(text.as_bytes()).unwrap();
        let mut items = Vec::new();
        while let Some(item) = whole.pop_with_end() {
            items.push(item);
        }
        assert_eq!(items.len(), 8);
        for (i, (item, end)) in items.iter().enumerate() {
            let end = *end as usize;
            assert!(text[..end].ends_with(std::str::from_utf8(item).unwrap()));
            for size in [1, 3, 1000] {
                let mut resumed = ArraySplitter::after_item(end as u64);
                let mut rest = Vec::new();
                for piece in text.as_bytes()[end..].chunks(size) {
                    resumed.push(piece).unwrap();
                    while let Some(next) = resumed.pop_with_end() {
                        rest.push(next);
                    }
                }
                resumed.finish().unwrap();
                assert_eq!(rest, items[i + 1..], "after item {i}, pieces of {size}");
            }
        }
    }

    #[test]
    fn malformed_arrays_are_errors() {
        assert_eq!(split(r#"{"a":1}"#, 4), Err(SplitError::NotAnArray(0)));
        assert_eq!(split(r#"[{"a":1}"#, 4), Err(SplitError::Truncated));
        assert_eq!(split(r#"[{"a":1}, "#, 4), Err(SplitError::Truncated));
        assert_eq!(split("", 4), Err(SplitError::Truncated));
        assert_eq!(split(r#"[1,,2]"#, 4), Err(SplitError::Unexpected(3)));
        assert_eq!(split(r#"[1,]"#, 4), Err(SplitError::Unexpected(3)));
        assert_eq!(split(r#"[{} {}]"#, 4), Err(SplitError::Unexpected(4)));
        assert_eq!(split(r#"[1] x"#, 4), Err(SplitError::Trailing(4)));
    }

    #[test]
    fn an_oversized_item_is_refused_before_it_is_held() {
        let mut s = ArraySplitter::default();
        s.push(b"[\"").unwrap();
        let chunk = vec![b'a'; 1024 * 1024];
        let mut result = Ok(());
        for _ in 0..(MAX_ITEM_BYTES / chunk.len() + 1) {
            result = s.push(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SplitError::ItemTooLarge));
        assert!(s.item.len() <= MAX_ITEM_BYTES);
    }
}
