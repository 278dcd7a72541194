//! The System Log: every event the emulated org records, in the order it was stored, served by
//! `GET /api/v1/logs` with Okta's polling and bounded-query semantics.
//!
//! Events persist the moment they are recorded; `published` is that instant unless a change
//! backdates it (Okta's "persistence time may differ from the published timestamp"), so polling
//! returns events in storage order and bounded queries in `published` order.

pub(crate) mod event;
mod history;
mod query;

use std::sync::{Mutex, PoisonError};

use serde_json::Value;

pub(crate) use event::{Actor, Client, Context, Emitted, Target};
pub(crate) use query::list;

use crate::prng::SplitMix64;

/// One stored event.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Storage order, from 1.
    pub(crate) seq: u64,
    pub(crate) persisted_ms: u64,
    pub(crate) published_ms: u64,
    pub(crate) event: Value,
}

struct Inner {
    entries: Vec<Entry>,
    rng: SplitMix64,
}

pub(crate) struct SystemLog {
    inner: Mutex<Inner>,
}

impl SystemLog {
    /// A log holding `history` seeded sign-in events from the day before `now_ms`, as any org
    /// in use has (noise a change detector must pass over).
    pub(crate) fn new(
        seed: u64,
        history: usize,
        tenant: &crate::tenant::Tenant,
        now_ms: u64,
    ) -> Self {
        let log = Self {
            inner: Mutex::new(Inner {
                entries: Vec::new(),
                rng: SplitMix64::new(seed ^ 0x7379_736C_6F67_0001),
            }),
        };
        let mut rng = SplitMix64::new(seed ^ 0x7379_736C_6F67_0002);
        for (context, emitted) in history::generate(&mut rng, tenant, history, now_ms) {
            let published = context.published_ms.unwrap_or(now_ms);
            log.record_at(&context, &emitted, published);
        }
        log
    }

    /// Stores `events`, all caused by the request `context` describes, now.
    pub(crate) fn record(&self, context: &Context, events: &[Emitted], now_ms: u64) {
        for emitted in events {
            self.record_at(context, emitted, now_ms);
        }
    }

    fn record_at(&self, context: &Context, emitted: &Emitted, now_ms: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let published_ms = context.published_ms.unwrap_or(now_ms);
        // Storage order never goes back in time, whatever the clock does.
        let persisted_ms = inner
            .entries
            .last()
            .map_or(now_ms, |last| last.persisted_ms.max(now_ms));
        let uuid = uuid(&mut inner.rng, published_ms);
        let session = format!("102{}", inner.rng.base62(22));
        let seq = inner.entries.len() as u64 + 1;
        let event = event::log_event(context, emitted, &uuid, published_ms, &session);
        inner.entries.push(Entry {
            seq,
            persisted_ms,
            published_ms,
            event,
        });
    }

    /// A copy of every stored event, oldest first (for queries and tests).
    pub(crate) fn entries(&self) -> Vec<Entry> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .clone()
    }
}

/// A version-1-looking UUID (time-based, like Okta's `dc9fd3c0-598c-11ef-8478-2b7584bf8d5a`).
fn uuid(rng: &mut SplitMix64, published_ms: u64) -> String {
    // 100-ns intervals since 1582-10-15, as version 1 UUIDs count time.
    let ticks = published_ms * 10_000 + 0x01B2_1DD2_1381_4000 + rng.below(10_000);
    let node = rng.next_u64();
    format!(
        "{:08x}-{:04x}-1{:03x}-{:04x}-{:012x}",
        ticks & 0xFFFF_FFFF,
        (ticks >> 32) & 0xFFFF,
        (ticks >> 48) & 0x0FFF,
        0x8000 | (node >> 48) & 0x3FFF,
        node & 0xFFFF_FFFF_FFFF
    )
}
