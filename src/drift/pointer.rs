//! RFC 6901 JSON Pointers, and the path patterns the normalisation rules are written in.
//!
//! A pattern is written like a pointer whose tokens may also be `*` (exactly one token: any
//! object key or array index) or `**` (any number of tokens, including none). Rules are matched
//! while a document is walked, so a [`PatternSet`] is stepped one token at a time instead of
//! matching whole paths: most patterns fail on their first token and cost nothing below it.

use std::borrow::Cow;
use std::fmt::Write;

/// One reference token escaped for a pointer (RFC 6901 §3: `~` is `~0`, `/` is `~1`).
pub fn escape(token: &str) -> Cow<'_, str> {
    if token.contains(['~', '/']) {
        Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(token)
    }
}

/// The pointer made of `tokens` (`""` for none: the whole document).
pub fn pointer<S: AsRef<str>>(tokens: &[S]) -> String {
    let mut out = String::new();
    for token in tokens {
        out.push('/');
        out.push_str(&escape(token.as_ref()));
    }
    out
}

/// Why a string is not a JSON Pointer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a JSON pointer: {0:?}")]
pub struct PointerError(pub String);

/// The unescaped reference tokens of `pointer`.
pub fn tokens(pointer: &str) -> Result<Vec<String>, PointerError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(PointerError(pointer.to_string()));
    };
    rest.split('/')
        .map(|raw| {
            let mut out = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                match c {
                    '~' => match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err(PointerError(pointer.to_string())),
                    },
                    c => out.push(c),
                }
            }
            Ok(out)
        })
        .collect()
}

/// Appends `/token` (escaped) to a pointer being built.
pub(crate) fn push_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    pointer.push_str(&escape(token));
}

/// Appends `/index`.
pub(crate) fn push_index(pointer: &mut String, index: usize) {
    let _ = write!(pointer, "/{index}");
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Lit(String),
    One,
    Deep,
}

/// A compiled path pattern (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    segs: Vec<Seg>,
}

impl Pattern {
    /// Parses a pattern; the rule tables are checked by a test, so a bad one never ships.
    pub fn parse(pattern: &str) -> Result<Pattern, PointerError> {
        let segs = tokens(pattern)?
            .into_iter()
            .map(|t| match t.as_str() {
                "*" => Seg::One,
                "**" => Seg::Deep,
                _ => Seg::Lit(t),
            })
            .collect();
        Ok(Pattern { segs })
    }

    /// Whether the whole path `tokens` matches.
    pub fn matches<S: AsRef<str>>(&self, tokens: &[S]) -> bool {
        let set = PatternSet::new(vec![(self.clone(), ())]);
        let mut here = set.root();
        for t in tokens {
            here = set.step(&here, t.as_ref());
        }
        let mut found = false;
        set.each_match(&here, |_| found = true);
        found
    }
}

/// Where a walk is in a [`PatternSet`]: the (pattern, next segment) pairs of anchored patterns
/// still alive, and which suffix patterns (`/**/name`) the last token matched.
#[derive(Clone, Debug, Default)]
pub struct States {
    nfa: Vec<(u32, u32)>,
    suffix: Option<u32>,
}

impl States {
    /// No anchored pattern can match here or below (suffix patterns match at any depth).
    pub fn is_dead(&self) -> bool {
        self.nfa.is_empty()
    }
}

/// Patterns tagged with what a match means, stepped together (see the module docs).
///
/// Patterns of the form `/**/name` (every rule common to all types) are matched by a lookup of
/// the last token instead of being stepped: they are alive everywhere, and stepping them at
/// every node of every item was most of the cost of a diff.
#[derive(Debug)]
pub struct PatternSet<T> {
    patterns: Vec<(Pattern, T)>,
    /// Indices of patterns stepped as automata.
    anchored: Vec<usize>,
    /// Suffix tokens; the index is into `suffix_hits`. A dozen short names: a scan beats
    /// hashing each token.
    suffix: Vec<String>,
    /// Per suffix token, the patterns it completes.
    suffix_hits: Vec<Vec<usize>>,
}

impl<T> PatternSet<T> {
    pub fn new(patterns: Vec<(Pattern, T)>) -> PatternSet<T> {
        let mut anchored = Vec::new();
        let mut suffix: Vec<String> = Vec::new();
        let mut suffix_hits: Vec<Vec<usize>> = Vec::new();
        for (p, (pattern, _)) in patterns.iter().enumerate() {
            match pattern.segs.as_slice() {
                [Seg::Deep, Seg::Lit(name)] => {
                    let slot = suffix.iter().position(|s| s == name).unwrap_or_else(|| {
                        suffix.push(name.clone());
                        suffix_hits.push(Vec::new());
                        suffix.len() - 1
                    });
                    suffix_hits[slot].push(p);
                }
                _ => anchored.push(p),
            }
        }
        PatternSet {
            patterns,
            anchored,
            suffix,
            suffix_hits,
        }
    }

    /// The states at the document root.
    pub fn root(&self) -> States {
        let mut states = States {
            nfa: Vec::with_capacity(self.anchored.len()),
            suffix: None,
        };
        for &p in &self.anchored {
            self.add(&mut states, p, 0);
        }
        states
    }

    /// Adds (pattern, position) and, through `**` matching nothing, the positions after it.
    fn add(&self, states: &mut States, p: usize, mut i: usize) {
        let segs = &self.patterns[p].0.segs;
        loop {
            let entry = (p as u32, i as u32);
            if !states.nfa.contains(&entry) {
                states.nfa.push(entry);
            }
            if segs.get(i) == Some(&Seg::Deep) {
                i += 1;
            } else {
                return;
            }
        }
    }

    /// The states one token below `states`.
    pub fn step(&self, states: &States, token: &str) -> States {
        let mut next = States {
            nfa: Vec::new(),
            suffix: self
                .suffix
                .iter()
                .position(|s| s == token)
                .map(|i| i as u32),
        };
        for &(p, i) in &states.nfa {
            let (p, i) = (p as usize, i as usize);
            match self.patterns[p].0.segs.get(i) {
                Some(Seg::Lit(lit)) if lit == token => self.add(&mut next, p, i + 1),
                Some(Seg::One) => self.add(&mut next, p, i + 1),
                Some(Seg::Deep) => self.add(&mut next, p, i),
                _ => {}
            }
        }
        next
    }

    /// Calls `f` with the tag of every pattern that matches exactly here, in declaration
    /// order.
    pub fn each_match(&self, states: &States, mut f: impl FnMut(&T)) {
        let mut hits: Vec<usize> = states
            .nfa
            .iter()
            .filter(|&&(p, i)| i as usize == self.patterns[p as usize].0.segs.len())
            .map(|&(p, _)| p as usize)
            .collect();
        if let Some(slot) = states.suffix {
            hits.extend(&self.suffix_hits[slot as usize]);
        }
        if hits.is_empty() {
            return;
        }
        hits.sort_unstable();
        hits.dedup();
        for p in hits {
            f(&self.patterns[p].1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_round_trip_with_rfc6901_escapes() {
        // RFC 6901 §5 examples.
        assert_eq!(pointer(&["a/b"]), "/a~1b");
        assert_eq!(pointer(&["m~n"]), "/m~0n");
        assert_eq!(pointer(&["", "x"]), "//x");
        assert_eq!(pointer::<&str>(&[]), "");
        assert_eq!(tokens("/a~1b/m~0n/~01").unwrap(), ["a/b", "m~n", "~1"]);
        assert_eq!(tokens("").unwrap(), Vec::<String>::new());
        assert_eq!(tokens("/").unwrap(), [""]);
        assert!(tokens("a").is_err());
        assert!(tokens("/a~2").is_err());
        assert!(tokens("/a~").is_err());
        let mut built = String::new();
        push_token(&mut built, "x/y");
        push_index(&mut built, 3);
        assert_eq!(built, "/x~1y/3");
    }

    #[test]
    fn patterns_match_one_and_many_tokens() {
        let p = |s: &str| Pattern::parse(s).unwrap();
        assert!(p("/a/*/c").matches(&["a", "0", "c"]));
        assert!(!p("/a/*/c").matches(&["a", "c"]));
        assert!(!p("/a/*/c").matches(&["a", "0", "c", "d"]));
        assert!(p("/**/include").matches(&["include"]));
        assert!(p("/**/include").matches(&["conditions", "people", "groups", "include"]));
        assert!(!p("/**/include").matches(&["include", "0"]));
        assert!(p("/a/**").matches(&["a"]));
        assert!(p("/a/**").matches(&["a", "b", "c"]));
        assert!(p("/**/x/**/y").matches(&["x", "y"]));
        assert!(p("/**/x/**/y").matches(&["q", "x", "r", "s", "y"]));
        assert!(!p("/**/x/**/y").matches(&["y", "x"]));
        assert!(p("").matches::<&str>(&[]));
        assert!(p("/a~1b").matches(&["a/b"]));
    }

    #[test]
    fn a_set_reports_every_tag_that_matches_in_order() {
        let set = PatternSet::new(vec![
            (Pattern::parse("/**/secret").unwrap(), "deep"),
            (Pattern::parse("/a/secret").unwrap(), "exact"),
            (Pattern::parse("/b").unwrap(), "other"),
        ]);
        let a = set.step(&set.root(), "a");
        let hit = set.step(&a, "secret");
        let mut tags = Vec::new();
        set.each_match(&hit, |t| tags.push(*t));
        assert_eq!(tags, ["deep", "exact"]);
        let miss = set.step(&set.step(&set.root(), "c"), "d");
        let mut count = 0;
        set.each_match(&miss, |_| count += 1);
        assert_eq!(count, 0);
        let deep = set.step(&set.step(&miss, "x"), "secret");
        tags.clear();
        set.each_match(&deep, |t| tags.push(*t));
        assert_eq!(tags, ["deep"], "a suffix pattern matches at any depth");
        let exact = PatternSet::new(vec![(Pattern::parse("/b").unwrap(), ())]);
        let dead = exact.step(&exact.step(&exact.root(), "b"), "x");
        assert!(dead.is_dead());
    }
}
