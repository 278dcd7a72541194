//! A backup's durable progress: what each step has committed, and where to resume it.
//!
//! Everything here describes sealed bytes already in the object store, never work in flight:
//! a checkpoint is written only after the segment and key list it names are complete, so an
//! invocation killed at any point resumes from the last checkpoint and rewrites exactly the
//! bytes that were lost. Serialised as JSON into the backup's `job_checkpoints` row.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::manifest::{ObjectEntry, Segment};
use super::plan;
use crate::crypto::sha256_state::Sha256State;
use crate::okta::Window;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// By step name; a step not listed has not started.
    #[serde(default)]
    pub steps: BTreeMap<String, StepProgress>,
    /// Set by the invocation that found every step done, before it writes the manifest: the
    /// manifest's finish time, so a successor that takes over writes the very same bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Okta's last rate-limit window per bucket, so pacing carries over between invocations.
    #[serde(default)]
    pub rate_windows: BTreeMap<String, Window>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepProgress {
    Running(Partial),
    Done {
        /// `None` for a step that only gathers keys.
        entry: Option<ObjectEntry>,
        key_lists: Vec<String>,
    },
}

/// A step part-way through.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partial {
    /// Which list (for [`plan::Source::Lists`]) or parent (for `Children`) is next.
    pub source_index: usize,
    /// The API path of that list's next page; `None` to start it from its first page.
    pub next: Option<String>,
    pub count: u64,
    pub plaintext_bytes: u64,
    pub plaintext_sha256: Sha256State,
    pub segments: Vec<Segment>,
    pub key_lists: Vec<String>,
    /// Lists of this step Okta refused as not licensed for the org ([`plan::may_be_unlicensed`]).
    #[serde(default)]
    pub unavailable: Vec<String>,
    /// The pages read so far of the list (or parent's list) in progress, to find a loop.
    #[serde(default)]
    pub trail: PageTrail,
    /// Times this step was started over because Okta refused its cursor.
    #[serde(default)]
    pub restarts: u32,
}

/// Loop detection over the pages of one list, in constant space (Brent's algorithm over page
/// fingerprints): a list whose `next` links come back round after `mu` pages in a loop of
/// `lambda` is found within `2 mu + 3 lambda` pages, and the state survives checkpoints. Pages are
/// compared by content, not URL, since cursors may carry their issue time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageTrail {
    mark: Option<String>,
    power: u32,
    steps: u32,
}

impl PageTrail {
    /// Records the next page; `true` when it is one already seen on this list.
    pub fn repeats(&mut self, fingerprint: String) -> bool {
        if self.mark.as_ref() == Some(&fingerprint) {
            return true;
        }
        self.steps += 1;
        if self.steps >= self.power.max(1) {
            self.mark = Some(fingerprint);
            self.power = self.power.max(1).saturating_mul(2);
            self.steps = 0;
        }
        false
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("checkpoint is unreadable: {0}")]
pub struct BadCheckpoint(pub String);

impl Progress {
    /// Reads a stored checkpoint (`{}` before the first commit); a step this build does not
    /// know is refused rather than skipped, so nothing is silently left out of a backup.
    pub fn from_json(value: serde_json::Value) -> Result<Progress, BadCheckpoint> {
        let progress: Progress =
            serde_json::from_value(value).map_err(|e| BadCheckpoint(e.to_string()))?;
        if let Some(unknown) = progress.steps.keys().find(|k| plan::step(k).is_none()) {
            return Err(BadCheckpoint(format!("unknown step {unknown:?}")));
        }
        Ok(progress)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("progress serializes")
    }

    pub fn is_done(&self, step: &str) -> bool {
        matches!(self.steps.get(step), Some(StepProgress::Done { .. }))
    }

    pub fn all_done(&self) -> bool {
        plan::PLAN.iter().all(|s| self.is_done(s.name))
    }

    /// The finished objects, in the manifest's order ([`super::ResourceType::ALL`]).
    pub fn entries(&self) -> Vec<ObjectEntry> {
        let mut entries: Vec<ObjectEntry> = self
            .steps
            .values()
            .filter_map(|s| match s {
                StepProgress::Done { entry, .. } => entry.clone(),
                StepProgress::Running(_) => None,
            })
            .collect();
        entries.sort_by_key(|e| e.resource);
        entries
    }

    /// Objects finished and items written so far, for progress reports.
    pub fn summary(&self) -> (usize, u64) {
        let done = self.entries().len();
        let items = self
            .steps
            .values()
            .map(|s| match s {
                StepProgress::Done { entry, .. } => entry.as_ref().map_or(0, |e| e.count),
                StepProgress::Running(p) => p.count,
            })
            .sum();
        (done, items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_checkpoint_is_a_fresh_start_and_round_trips() {
        assert_eq!(Progress::from_json(json!({})).unwrap(), Progress::default());
        let mut progress = Progress::default();
        progress.steps.insert(
            "users".into(),
            StepProgress::Running(Partial {
                source_index: 1,
                next: Some("/api/v1/users?after=x".into()),
                count: 3,
                ..Partial::default()
            }),
        );
        let back = Progress::from_json(progress.to_json()).unwrap();
        assert_eq!(back, progress);
        assert!(!back.all_done());
        assert_eq!(back.summary(), (0, 3));
    }

    #[test]
    fn a_page_trail_finds_every_loop_and_never_a_list_that_ends() {
        let fp = |i: usize| format!("page{i}");
        // Straight lists of any length: no false alarm.
        let mut trail = PageTrail::default();
        assert!((0..5000).all(|i| !trail.repeats(fp(i))));
        // A lead-in of `mu` pages, then a loop of `lambda` pages: found within 2 mu + 3 lambda.
        for mu in 0..20 {
            for lambda in 1..20 {
                let mut trail = PageTrail::default();
                let page = |n: usize| if n < mu { n } else { mu + (n - mu) % lambda };
                let found = (0..1000).position(|n| trail.repeats(fp(page(n))));
                let at = found.unwrap_or_else(|| panic!("mu {mu} lambda {lambda} not found"));
                assert!(
                    at <= 2 * mu + 3 * lambda,
                    "mu {mu} lambda {lambda}: page {at}"
                );
            }
        }
        // It survives a checkpoint round trip.
        let mut trail = PageTrail::default();
        trail.repeats(fp(0));
        let mut back: PageTrail =
            serde_json::from_value(serde_json::to_value(&trail).unwrap()).unwrap();
        assert!(back.repeats(fp(0)));
    }

    #[test]
    fn unknown_steps_and_fields_are_refused() {
        assert!(Progress::from_json(
            json!({"steps": {"workflows": {"status": "done", "entry": null, "key_lists": []}}})
        )
        .is_err());
        assert!(Progress::from_json(json!({"steps": {}, "extra": 1})).is_err());
        assert!(Progress::from_json(json!({"steps": {"users": {"status": "paused"}}})).is_err());
    }
}
