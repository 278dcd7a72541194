//! Collecting a snapshot in bounded slices.
//!
//! One call of [`Collector::run_slice`] is one invocation's share of a backup: it resumes every
//! lane of the [`PLAN`] from the checkpoint, streams each page's items into the step's sealed
//! object and each full part of sealed bytes into a multipart upload, and stops once its budget
//! (requests or time) is spent. Progress becomes durable only at checkpoints: the open segment
//! is completed, the keys gathered since the last checkpoint are written, and then the
//! [`Progress`] naming them is committed. Anything after the last checkpoint is simply redone
//! by the next slice, so a slice killed at any point loses time, never bytes. Memory is bounded
//! by a few pages and one part per lane, whatever the tenant size.

use std::cell::{Cell, RefCell};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures_util::future::{join, join_all};
use futures_util::lock::Mutex;
use futures_util::stream::{self, StreamExt};
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::layout::SnapshotLayout;
use super::manifest::ObjectEntry;
use super::plan::{may_be_unlicensed, okta_id, raw_okta_id, Lane, Source, Step, Wrap, PLAN};
use super::progress::{BadCheckpoint, PageTrail, Partial, Progress, StepProgress};
use super::writer::{SegmentWriter, WriteError};
use crate::crypto::stream::{open_with, seal_with, SnapshotKey};
use crate::crypto::CryptoError;
use crate::okta::{OktaClient, OktaError, Page};
use crate::ports::{Clock, ObjectStore, Rng, SealPrimitives, StoreError};

/// Parents whose first page is fetched concurrently within a lane. Okta allows about 75
/// requests in flight per org, shared with the customer's other integrations; four lanes of
/// four stay well inside that.
const PARENT_CONCURRENCY: usize = 4;

/// Times a step starts over from its first page because Okta refused its cursor, before the
/// backup fails: enough for a cursor that expired while a slice waited in the queue, not a loop.
const MAX_STEP_RESTARTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Okta(#[from] OktaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    BadCheckpoint(#[from] BadCheckpoint),
    #[error("sealing: {0}")]
    Seal(#[from] CryptoError),
}

impl From<WriteError> for CollectError {
    fn from(e: WriteError) -> CollectError {
        match e {
            WriteError::Store(e) => CollectError::Store(e),
            WriteError::Seal(e) => CollectError::Seal(e),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Another invocation took the backup over; this one must stop writing.
    #[error("the backup's lease was lost")]
    LeaseLost,
    #[error("checkpoint store unavailable: {0}")]
    Unavailable(String),
}

/// Durable progress (the backup's `job_checkpoints` row in production, under its lease). A
/// commit must fail with [`CheckpointError::LeaseLost`] once another invocation has taken the
/// backup over.
#[async_trait(?Send)]
pub trait Checkpoints {
    async fn commit(&self, progress: &Progress) -> Result<(), CheckpointError>;
}

/// How much one slice may do.
#[derive(Clone, Debug)]
pub struct Budget {
    /// No new request starts after this.
    pub deadline: DateTime<Utc>,
    /// Okta requests this slice may start (Workers cap subrequests per invocation).
    pub max_requests: u32,
    /// A step commits at least this often, bounding the work a kill can lose.
    pub checkpoint_every: Duration,
    /// A segment is closed (and a checkpoint taken) once it holds this many sealed bytes.
    pub segment_bytes: u64,
    /// No new request starts once the slice has processed this many bytes (Okta response
    /// bodies plus plaintext written): the CPU bound. Workers freeze the clock while code runs,
    /// so CPU cannot be read inside the worker; the CPU a slice spends is, to first order,
    /// proportional to these bytes (every one is parsed, or compressed, hashed and sealed), at
    /// a cost per MiB that scripts/bench.sh measures (see `config::SliceLimits::work_mib`).
    pub max_work_bytes: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SliceOutcome {
    /// Every step is done; the entries are in manifest order.
    Finished(Vec<ObjectEntry>),
    /// The budget ran out; the checkpoint says where to go on.
    Paused,
}

/// Everything a collection needs.
pub struct Collector<'a> {
    pub okta: &'a OktaClient<'a>,
    pub store: &'a dyn ObjectStore,
    pub clock: &'a dyn Clock,
    /// gzip and AES-GCM (the runtime's own in the worker).
    pub seal: &'a dyn SealPrimitives,
    pub key: &'a SnapshotKey,
    pub rng: &'a dyn Rng,
    pub layout: &'a SnapshotLayout,
    /// Size of every multipart part but the last; [`crate::ports::MIN_PART_SIZE`] in production.
    pub part_size: usize,
    /// Bytes processed, counted against [`Budget::max_work_bytes`] (and reported in the log).
    pub work: &'a Cell<u64>,
}

impl Collector<'_> {
    /// Runs one slice from `progress`. `tag` names this invocation's segments (unique per
    /// invocation, so a superseded invocation cannot overwrite its successor's).
    pub async fn run_slice(
        &self,
        progress: Progress,
        checkpoints: &dyn Checkpoints,
        budget: &Budget,
        tag: &str,
    ) -> Result<SliceOutcome, CollectError> {
        self.okta.restore_rate_windows(&progress.rate_windows);
        self.work.set(0);
        let slice = Slice {
            collector: self,
            checkpoints,
            budget,
            tag,
            progress: RefCell::new(progress),
            requests: Cell::new(0),
            stop: Cell::new(false),
            commit_lock: Mutex::new(()),
        };
        for lane in join_all(Lane::ALL.map(|lane| slice.lane(lane))).await {
            lane?;
        }
        let progress = slice.progress.into_inner();
        Ok(if progress.all_done() {
            SliceOutcome::Finished(progress.entries())
        } else {
            SliceOutcome::Paused
        })
    }
}

struct Slice<'s> {
    collector: &'s Collector<'s>,
    checkpoints: &'s dyn Checkpoints,
    budget: &'s Budget,
    tag: &'s str,
    /// The last committed progress of every lane.
    progress: RefCell<Progress>,
    requests: Cell<u32>,
    /// Set when a lane fails, so the others stop at their next page.
    stop: Cell<bool>,
    /// Commits go out one at a time: each builds on the sequence number of the previous one.
    commit_lock: Mutex<()>,
}

impl Slice<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.collector.clock.now()
    }

    fn exhausted(&self) -> bool {
        self.stop.get()
            || self.requests.get() >= self.budget.max_requests
            || self.collector.work.get() >= self.budget.max_work_bytes
            || self.now() >= self.budget.deadline
    }

    fn count_work(&self, bytes: usize) {
        let work = self.collector.work;
        work.set(work.get().saturating_add(bytes as u64));
    }

    async fn page(&self, url: &str) -> Result<Page, OktaError> {
        self.requests.set(self.requests.get() + 1);
        let page = self.collector.okta.page(url).await?;
        self.count_work(page.body_len());
        Ok(page)
    }

    async fn get(&self, path: &str) -> Result<Value, OktaError> {
        self.requests.set(self.requests.get() + 1);
        self.collector.okta.get(path).await
    }

    /// Runs a lane's steps in order, until they are done or the budget is spent.
    async fn lane(&self, lane: Lane) -> Result<(), CollectError> {
        let result = self.lane_steps(lane).await;
        if result.is_err() {
            self.stop.set(true);
        }
        result
    }

    async fn lane_steps(&self, lane: Lane) -> Result<(), CollectError> {
        for step in PLAN.iter().filter(|s| s.lane == lane) {
            loop {
                let partial = match self.progress.borrow().steps.get(step.name) {
                    Some(StepProgress::Done { .. }) => break,
                    Some(StepProgress::Running(partial)) => partial.clone(),
                    None => Partial::default(),
                };
                let mut writer = StepWriter {
                    slice: self,
                    step,
                    partial,
                    segment: None,
                    keys: Vec::new(),
                    last_commit: self.now(),
                };
                let finished = match writer.run().await {
                    Ok(finished) => finished,
                    Err(CollectError::Okta(OktaError::CursorRefused { .. }))
                        if writer.partial.restarts < MAX_STEP_RESTARTS =>
                    {
                        // Items before the cursor are written and cannot be told apart from
                        // a fresh listing, so the whole step starts again from its first page
                        // (its earlier segments are left out of the manifest and removed).
                        writer.abort().await;
                        let restarted = Partial {
                            restarts: writer.partial.restarts + 1,
                            ..Partial::default()
                        };
                        self.commit(step.name, StepProgress::Running(restarted))
                            .await?;
                        continue;
                    }
                    Err(e) => {
                        writer.abort().await;
                        return Err(e);
                    }
                };
                if finished {
                    writer.finish().await?;
                    break;
                }
                return writer.checkpoint().await;
            }
        }
        Ok(())
    }

    /// Commits `state` for `step` together with every other lane's last committed state.
    async fn commit(&self, step: &str, state: StepProgress) -> Result<(), CollectError> {
        let _turn = self.commit_lock.lock().await;
        let snapshot = {
            let mut progress = self.progress.borrow_mut();
            progress.steps.insert(step.to_string(), state);
            progress.rate_windows = self.collector.okta.rate_windows();
            progress.clone()
        };
        Ok(self.checkpoints.commit(&snapshot).await?)
    }

    /// The keys a finished step remembered, in order.
    async fn keys_of(&self, step: &str) -> Result<Vec<String>, CollectError> {
        let lists = match self.progress.borrow().steps.get(step) {
            Some(StepProgress::Done { key_lists, .. }) => key_lists.clone(),
            _ => return Err(BadCheckpoint(format!("{step} is not done")).into()),
        };
        let mut keys = Vec::new();
        for list in lists {
            let sealed = self
                .collector
                .store
                .get(&list)
                .await?
                .ok_or_else(|| BadCheckpoint(format!("key list {list} is missing")))?;
            let plain =
                match open_with(self.collector.seal, self.collector.key, &list, &sealed).await {
                    Ok(plain) => plain,
                    Err(e @ CryptoError::Primitive(_)) => return Err(e.into()),
                    Err(e) => return Err(BadCheckpoint(format!("key list {list}: {e}")).into()),
                };
            let text = String::from_utf8(plain)
                .map_err(|_| BadCheckpoint(format!("key list {list} is not text")))?;
            keys.extend(text.lines().map(str::to_string));
        }
        Ok(keys)
    }
}

/// One step being run by one slice: its committed progress plus what this slice has written
/// since the last checkpoint.
struct StepWriter<'w> {
    slice: &'w Slice<'w>,
    step: &'static Step,
    partial: Partial,
    /// The segment this slice is writing; `None` until the first byte.
    segment: Option<SegmentWriter>,
    /// Keys gathered since the last checkpoint.
    keys: Vec<String>,
    last_commit: DateTime<Utc>,
}

impl StepWriter<'_> {
    /// Pages through the step's source from its cursor; `Ok(true)` when the source is exhausted,
    /// `Ok(false)` when the slice's budget ran out first.
    async fn run(&mut self) -> Result<bool, CollectError> {
        match self.step.source {
            Source::Lists(paths) => self.lists(paths).await,
            Source::Children { parent, path, wrap } => self.children(parent, path, wrap).await,
            Source::Document(path) => {
                if self.slice.exhausted() {
                    return Ok(false);
                }
                let document = self.slice.get(path).await?;
                self.push(&document, None).await?;
                Ok(true)
            }
            Source::Assignees(path) => self.assignees(path).await,
        }
    }

    async fn lists(&mut self, paths: &[&str]) -> Result<bool, CollectError> {
        let okta = self.slice.collector.okta;
        while let Some(path) = paths.get(self.partial.source_index) {
            let first_page = self.partial.next.is_none();
            let url = okta.url(self.partial.next.as_deref().unwrap_or(path));
            if self.slice.exhausted() {
                return Ok(false);
            }
            let mut page = match self.slice.page(&url).await {
                Ok(page) => page,
                // The org's edition or licence lacks this list: recorded, not fatal.
                Err(OktaError::Rejected { status: 400, code })
                    if first_page && code == "E0000002" && may_be_unlicensed(path) =>
                {
                    self.partial.unavailable.push(path.to_string());
                    self.advance(None)?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            loop {
                let written = self
                    .write_page(page, |item, out| {
                        out.extend_from_slice(item.get().as_bytes());
                        raw_okta_id(item).map(str::to_string)
                    })
                    .await?;
                match written {
                    Next::Page(next) => page = next,
                    Next::End => break,
                    Next::Paused => return Ok(false),
                }
            }
        }
        Ok(true)
    }

    /// Writes a page's items while its next page is already being fetched: the request goes
    /// out before the items are processed, so Okta's latency overlaps our parsing and sealing
    /// (a big parent's pages, or the users list, would otherwise be strictly one after another).
    ///
    /// `item` appends one item's JSON to the page's buffer and returns its key. Items go from
    /// Okta's bytes to the object without being parsed into trees (the page was checked to be
    /// a JSON array of valid items when it arrived), and the page is sealed in one write.
    async fn write_page(
        &mut self,
        page: Page,
        item: impl Fn(&RawValue, &mut Vec<u8>) -> Option<String>,
    ) -> Result<Next, CollectError> {
        let slice = self.slice;
        let next_url = page.next.clone();
        let prefetch = next_url.clone().filter(|_| !slice.exhausted());
        let fetch_next = async move {
            match prefetch {
                Some(url) => Some(slice.page(&url).await),
                None => None,
            }
        };
        let items = page.items();
        if self.partial.trail.repeats(fingerprint(&items)) {
            let path = slice.collector.okta.path_of(&page.url)?;
            return Err(OktaError::PaginationLoop { path }.into());
        }
        let write = async {
            let mut bytes = Vec::with_capacity(page.body_len() + items.len() * 64);
            for raw in items {
                if self.partial.count > 0 {
                    bytes.push(b',');
                }
                let key = item(raw, &mut bytes);
                self.partial.count += 1;
                self.keep(key);
            }
            if !bytes.is_empty() {
                self.write(&bytes).await?;
            }
            self.advance(next_url.as_deref())?;
            self.after_page().await
        };
        // The fetch is polled first, so its request is on the wire before the writing starts.
        let (next, written) = join(fetch_next, write).await;
        written?;
        Ok(match (next, &page.next) {
            (Some(next), _) => Next::Page(next?),
            (None, None) => Next::End,
            (None, Some(_)) => Next::Paused,
        })
    }

    /// Per-parent child lists in parent order. Most parents fit in one page, so the step is
    /// latency-bound, not rate-bound: the first pages of the next few parents are fetched
    /// concurrently (in order, so the object is the same as a sequential run), and a parent's
    /// further pages are each fetched while the one before is written.
    async fn children(
        &mut self,
        parent: &str,
        path: fn(&[&str]) -> String,
        wrap: Wrap,
    ) -> Result<bool, CollectError> {
        let slice = self.slice;
        let parents = slice.keys_of(parent).await?;
        let start = self.partial.source_index;
        let resume_at = self.partial.next.clone();
        let okta = slice.collector.okta;
        let url_of = |i: usize| match (i == start, &resume_at) {
            (true, Some(next)) => okta.url(next),
            _ => okta.url(&path(&parents[i].split('/').collect::<Vec<_>>())),
        };
        let mut first_pages = stream::iter(start..parents.len())
            .map(|i| {
                let url = url_of(i);
                async move { (i, slice.page(&url).await) }
            })
            .buffered(PARENT_CONCURRENCY);
        loop {
            if slice.exhausted() {
                return Ok(false);
            }
            let Some((i, first)) = first_pages.next().await else {
                return Ok(true);
            };
            let parent_key: Vec<&str> = parents[i].split('/').collect();
            let mut page = first?;
            loop {
                let written = self
                    .write_page(page, |item, out| {
                        wrap.write(&parent_key, item, out);
                        raw_okta_id(item).map(|id| format!("{}/{id}", parents[i]))
                    })
                    .await?;
                match written {
                    Next::Page(next) => page = next,
                    Next::End => break,
                    Next::Paused => return Ok(false),
                }
            }
        }
    }

    async fn assignees(&mut self, first: &str) -> Result<bool, CollectError> {
        let okta = self.slice.collector.okta;
        loop {
            let path = self.partial.next.clone().unwrap_or_else(|| first.into());
            if self.slice.exhausted() {
                return Ok(false);
            }
            let page = self.slice.get(&path).await?;
            let items = page["value"]
                .as_array()
                .ok_or_else(|| OktaError::Malformed { path: path.clone() })?;
            self.keys
                .extend(items.iter().filter_map(okta_id).map(str::to_string));
            self.partial.count += items.len() as u64;
            match page["_links"]["next"]["href"].as_str() {
                Some(href) => self.partial.next = Some(okta.path_of(href)?),
                None => return Ok(true),
            }
            self.after_page().await?;
        }
    }

    /// Moves the cursor past the page just written: to its next page, or to the next list or
    /// parent.
    fn advance(&mut self, next: Option<&str>) -> Result<(), CollectError> {
        match next {
            Some(url) => self.partial.next = Some(self.slice.collector.okta.path_of(url)?),
            None => {
                self.partial.source_index += 1;
                self.partial.next = None;
                self.partial.trail = PageTrail::default();
            }
        }
        Ok(())
    }

    async fn push(&mut self, item: &Value, key: Option<String>) -> Result<(), CollectError> {
        if self.partial.count > 0 {
            self.write(b",").await?;
        }
        let bytes = serde_json::to_vec(item).expect("JSON values serialize");
        self.write(&bytes).await?;
        self.partial.count += 1;
        self.keep(key);
        Ok(())
    }

    fn keep(&mut self, key: Option<String>) {
        if let (true, Some(key)) = (self.step.keeps_keys, key) {
            self.keys.push(key);
        }
    }

    /// Appends to the object (opening it with `[` and, in this slice, a new segment).
    async fn write(&mut self, bytes: &[u8]) -> Result<(), CollectError> {
        let Some(resource) = self.step.object else {
            return Ok(());
        };
        let collector = self.slice.collector;
        let opening = self.partial.plaintext_bytes == 0;
        let segment = match &mut self.segment {
            Some(segment) => segment,
            None => {
                let key = collector.layout.segment_key(
                    resource,
                    self.partial.segments.len(),
                    self.slice.tag,
                );
                let segment = SegmentWriter::new(
                    collector.seal,
                    collector.key,
                    collector.rng,
                    key,
                    collector.part_size,
                )
                .await?;
                self.segment.insert(segment)
            }
        };
        self.slice.count_work(bytes.len());
        for piece in [if opening { &b"["[..] } else { &[] }, bytes] {
            segment.write(piece).await?;
            self.partial.plaintext_sha256.update(piece);
            self.partial.plaintext_bytes += piece.len() as u64;
        }
        Ok(())
    }

    /// Uploads full parts; commits when a checkpoint is due.
    async fn after_page(&mut self) -> Result<(), CollectError> {
        let store = self.slice.collector.store;
        if let Some(segment) = &mut self.segment {
            segment.flush_full_parts(store).await?;
        }
        let big = self
            .segment
            .as_ref()
            .is_some_and(|s| s.sealed_bytes() >= self.slice.budget.segment_bytes);
        if big || self.slice.now() - self.last_commit >= self.slice.budget.checkpoint_every {
            self.checkpoint().await?;
        }
        Ok(())
    }

    /// Makes what this slice wrote durable: closes the segment, writes the keys, then commits
    /// the cursor that says they are there.
    async fn checkpoint(&mut self) -> Result<(), CollectError> {
        self.seal_pending().await?;
        self.last_commit = self.slice.now();
        self.slice
            .commit(self.step.name, StepProgress::Running(self.partial.clone()))
            .await
    }

    async fn seal_pending(&mut self) -> Result<(), CollectError> {
        let collector = self.slice.collector;
        if let Some(segment) = self.segment.take() {
            self.partial
                .segments
                .push(segment.close(collector.store).await?);
        }
        if !self.keys.is_empty() {
            let key = collector.layout.keys_key(
                self.step.name,
                self.partial.key_lists.len(),
                self.slice.tag,
            );
            let text = std::mem::take(&mut self.keys).join("\n");
            let sealed = seal_with(
                collector.seal,
                collector.key,
                collector.rng,
                &key,
                text.as_bytes(),
            )
            .await?;
            collector.store.put(&key, sealed).await?;
            self.partial.key_lists.push(key);
        }
        Ok(())
    }

    /// Closes the object with `]` and commits the step as done.
    async fn finish(mut self) -> Result<(), CollectError> {
        self.write(b"]").await?;
        self.seal_pending().await?;
        let partial = std::mem::take(&mut self.partial);
        let entry = self.step.object.map(|resource| ObjectEntry {
            resource,
            count: partial.count,
            plaintext_bytes: partial.plaintext_bytes,
            sealed_bytes: partial.segments.iter().map(|s| s.sealed_bytes).sum(),
            plaintext_sha256: partial.plaintext_sha256.finalize_hex(),
            segments: partial.segments,
            unavailable: partial.unavailable,
        });
        self.slice
            .commit(
                self.step.name,
                StepProgress::Done {
                    entry,
                    key_lists: partial.key_lists,
                },
            )
            .await
    }

    /// Drops this slice's unfinished segment (best effort: a failed abort changes nothing for
    /// the caller, and the bucket's lifecycle rule removes stale uploads).
    async fn abort(&mut self) {
        if let Some(segment) = self.segment.take() {
            segment.abort(self.slice.collector.store).await;
        }
    }
}

/// What follows a written page.
enum Next {
    Page(Page),
    /// The list is complete.
    End,
    /// The budget ran out before the next page was requested.
    Paused,
}

/// What identifies a page of a list for loop detection: its length and first and last items
/// (two pages of one list never share them unless the list came round again).
fn fingerprint(items: &[&RawValue]) -> String {
    let mut hash = Sha256::new();
    hash.update((items.len() as u64).to_le_bytes());
    for item in [items.first(), items.last()].into_iter().flatten() {
        hash.update((item.get().len() as u64).to_le_bytes());
        hash.update(item.get().as_bytes());
    }
    hex::encode(&hash.finalize()[..12])
}

/// Deletes everything under the snapshot's prefix that the manifest does not name: segments of
/// superseded or killed invocations, and the key lists. Run after the manifest is written.
pub async fn remove_unlisted(
    store: &dyn ObjectStore,
    layout: &SnapshotLayout,
    keep: &[&str],
) -> Result<usize, StoreError> {
    let mut removed = 0;
    for key in store.list(layout.prefix()).await? {
        if key != layout.manifest_key() && !keep.contains(&key.as_str()) {
            store.delete(&key).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
#[path = "collect_tests.rs"]
mod tests;
