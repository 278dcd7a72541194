//! Benchmark of the streaming snapshot diff (prints figures; not a timed test):
//!
//! ```text
//! cargo test --release --lib drift::tests::bench -- --ignored --nocapture
//! ```
//!
//! Two synthetic user objects of 10k and 100k Okta-shaped users (generated item by item, so
//! the sources themselves hold nothing) with a few hundred changes: suspended and edited users,
//! deletions and additions.

use std::time::Instant;

use async_trait::async_trait;
use futures::executor::block_on;
use serde_json::{json, Value};

use crate::drift::{
    index_changes, DiffOptions, ItemSource, ItemStream, MatchBy, ResourceType, SourceError,
};

/// Users `0..n` before; after, users `0..changes` are suspended with an edited profile,
/// `changes..2*changes` are deleted and `n..n+changes` are new.
struct SyntheticUsers {
    n: usize,
    changes: usize,
    after: bool,
}

fn user(i: usize, edited: bool) -> Value {
    json!({
        "id": format!("00u{i:017}"),
        "status": if edited { "SUSPENDED" } else { "ACTIVE" },
        "created": "2023-01-10T18:30:03.000Z",
        "activated": "2023-01-10T18:30:04.000Z",
        "statusChanged": "2023-01-10T18:30:04.000Z",
        "lastLogin": format!("2024-06-{:02}T08:{:02}:00.000Z", 1 + i % 28, i % 60),
        "lastUpdated": "2024-06-01T09:00:00.000Z",
        "passwordChanged": "2023-01-10T18:30:04.000Z",
        "type": {"id": "oty1162QAr8hJjTaq0g4"},
        "profile": {
            "firstName": format!("First{i}"),
            "lastName": format!("Last{i}"),
            "mobilePhone": null,
            "secondEmail": null,
            "login": format!("user{i:08}@example.com"),
            "email": format!("user{i:08}@example.com"),
            "department": if edited { "Finance" } else { "Engineering" },
            "title": "Member of Technical Staff",
            "employeeNumber": format!("{i:06}"),
        },
        "credentials": {
            "password": {},
            "recovery_question": {"question": "Who's a major player in the cowboy scene?"},
            "provider": {"type": "OKTA", "name": "OKTA"},
        },
        "_links": {
            "self": {"href": format!("https://acme.okta.com/api/v1/users/00u{i:017}")},
        },
    })
}

struct Users<'a> {
    source: &'a SyntheticUsers,
    next: usize,
}

#[async_trait(?Send)]
impl ItemStream for Users<'_> {
    async fn next_item(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        let s = self.source;
        loop {
            let i = self.next;
            let end = if s.after { s.n + s.changes } else { s.n };
            if i >= end {
                return Ok(None);
            }
            self.next += 1;
            if s.after && (s.changes..2 * s.changes).contains(&i) {
                continue;
            }
            let edited = s.after && i < s.changes;
            return Ok(Some(serde_json::to_vec(&user(i, edited)).unwrap()));
        }
    }
}

#[async_trait(?Send)]
impl ItemSource for SyntheticUsers {
    async fn open(
        &self,
        resource: ResourceType,
    ) -> Result<Option<Box<dyn ItemStream + '_>>, SourceError> {
        Ok((resource == ResourceType::Users).then(|| {
            Box::new(Users {
                source: self,
                next: 0,
            }) as Box<dyn ItemStream>
        }))
    }
}

/// The process's peak resident set (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn streaming_diff_benchmark() {
    println!(
        "drift streaming diff ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    for n in [10_000usize, 100_000] {
        for by in [MatchBy::Id, MatchBy::IdThenNaturalKey] {
            let changes = 100;
            let before = SyntheticUsers {
                n,
                changes,
                after: false,
            };
            let after = SyntheticUsers {
                n,
                changes,
                after: true,
            };
            let options = DiffOptions {
                match_by: by,
                ..DiffOptions::default()
            };
            let rss_before = peak_rss();
            let started = Instant::now();
            let index = block_on(index_changes(&before, &after, &options)).unwrap();
            let index_time = started.elapsed();
            let usage = index.usage();
            let s = index.summary.of(ResourceType::Users).unwrap();
            assert_eq!((s.changed, s.removed, s.added), (100, 100, 100));
            let started = Instant::now();
            let page = block_on(index.page(&before, &after, None, 100)).unwrap();
            let page_time = started.elapsed();
            assert_eq!(page.changes.len(), 100);
            let rss_after = peak_rss();
            println!(
                "{n:>7} users, {:<18} index {:>7.2} s, {:>9.0} items/s, {} read, largest item \
                 {} B, retained peak {} ({} B/user); first page of 100: {:.2} s, {} items read, \
                 held {} B; {} changes; process peak RSS {} -> {}",
                format!("{by:?}"),
                index_time.as_secs_f64(),
                usage.items_read as f64 / index_time.as_secs_f64(),
                mib(usage.bytes_read),
                usage.largest_item,
                mib(usage.peak_retained),
                usage.peak_retained / n as u64,
                page_time.as_secs_f64(),
                page.usage.items_read,
                page.usage.peak_retained,
                index.changes().len(),
                rss_before.map_or("?".into(), mib),
                rss_after.map_or("?".into(), mib),
            );
        }
    }
}
