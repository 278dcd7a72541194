//! Master-key rotation: every live data key not wrapped by the active entry of `MASTER_KEYS` is
//! unwrapped with the entry that wrapped it and wrapped again under the active one. The hourly
//! cron (`KEY_REWRAP_CRON`) queues one job when any key needs it; the job works in batches and
//! sends itself on until none is left. Each re-wrap is a compare-and-swap on the wrapping key's
//! id with its own audit row, so overlapping runs change nothing twice. Once no key names the old
//! master key, the operator removes it from `MASTER_KEYS` (docs/security.md, "Key management").

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{FanOut, Job, Next, Ran};
use crate::crypto::envelope::WrappedDataKey;
use crate::services::audit::{Actor, Event, RequestMeta};
use crate::services::{Deps, Privileged, ServiceError};
use crate::store::TenantKeyRow;

/// Data keys re-wrapped per invocation (each is one database call).
pub const REWRAP_PER_RUN: u32 = 100;
const JOB: Actor = Actor::System("key-rewrap");

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyRewrapJob {
    pub meta: RequestMeta,
}

/// The cron: one job, if any live data key is wrapped by a master key other than the active one.
pub async fn fan_out(sys: &Privileged<'_>) -> Result<FanOut, ServiceError> {
    let active = sys.deps.config.master_keys.active_id();
    let mut out = FanOut::default();
    if !sys.stores().keys_to_rewrap(active, 1).await?.is_empty() {
        out.jobs.push(Job::KeyRewrap(KeyRewrapJob {
            meta: sys.meta().clone(),
        }));
    }
    Ok(out)
}

pub async fn run(deps: &Deps<'_>, job: &KeyRewrapJob) -> Ran {
    let sys = Privileged::new(deps, JOB, job.meta.clone());
    match rewrap_batch(&sys).await {
        Ok(report) => Ran {
            next: if report.more {
                Next::Resend(0)
            } else {
                Next::Ack
            },
            log: json!({"rewrapped": report.rewrapped, "failed": report.failed}),
        },
        Err(e) => Ran {
            next: Next::RetryAfter(60),
            log: json!({"error": e.to_string()}),
        },
    }
}

/// What one batch did.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub rewrapped: u32,
    /// Keys that could not be unwrapped (their master key is no longer in the ring, or the
    /// wrapped key is damaged), with the reason; they stay as they are.
    pub failed: Vec<String>,
    /// Whether a full batch was seen, so more may be left.
    pub more: bool,
}

/// Re-wraps up to [`REWRAP_PER_RUN`] keys under the active master key.
pub async fn rewrap_batch(sys: &Privileged<'_>) -> Result<Report, ServiceError> {
    let ring = &sys.deps.config.master_keys;
    let active = ring.active_id();
    let rows = sys.stores().keys_to_rewrap(active, REWRAP_PER_RUN).await?;
    let mut report = Report::default();
    for row in &rows {
        let wrapped = WrappedDataKey {
            master_key_id: row.master_key_id.clone(),
            wrapped: row.wrapped_key.clone(),
        };
        let team = row.team_id.to_string();
        let rewrapped = match ring.rewrap(sys.deps.rng, &wrapped, &team, row.version) {
            Ok(w) => w,
            Err(e) => {
                report
                    .failed
                    .push(format!("{}/v{}: {e}", row.team_id, row.version));
                continue;
            }
        };
        let audit = sys.audit(Event {
            team: row.team_id,
            action: "key.rewrap",
            target_type: "tenant_key",
            target_id: format!("{}/v{}", row.team_id, row.version),
            details: json!({"from_master_key_id": row.master_key_id,
                "to_master_key_id": rewrapped.master_key_id}),
        });
        let new_row = TenantKeyRow {
            master_key_id: rewrapped.master_key_id,
            wrapped_key: rewrapped.wrapped,
            ..row.clone()
        };
        if sys
            .stores()
            .rewrap_tenant_key(&new_row, &row.master_key_id, &audit)
            .await?
        {
            report.rewrapped += 1;
        }
    }
    // Keys that fail to unwrap stay in the list; only a batch that made progress goes on.
    report.more = rows.len() == REWRAP_PER_RUN as usize && report.rewrapped > 0;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::jobs::scheduled;
    use crate::services::tenant_keys::open_sealed;
    use crate::testing::world::{World, OKTA_TOKEN};
    use futures::executor::block_on;

    /// The world's configuration with another `MASTER_KEYS` (the same database and ports).
    fn with_master_keys(world: &World, master_keys: &str) -> &'static Deps<'static> {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let master_keys = master_keys.to_string();
        let config = Config::from_lookup(|name| {
            Some(match name {
                "SUPABASE_JWT_SECRET" => "x".repeat(40),
                "PUBLIC_BASE_URL" => "https://butterfly.test".into(),
                "POSTGREST_URL" => "https://db.test".into(),
                "SUPABASE_SERVICE_ROLE_KEY" => "service.jwt".into(),
                "MASTER_KEYS" => master_keys.clone(),
                "SNAPSHOT_MASTER_SECRET" | "DOWNLOAD_SIGNING_KEY" | "API_KEY_PEPPER" => key.into(),
                _ => return None,
            })
        })
        .unwrap();
        let d = world.deps;
        Box::leak(Box::new(Deps {
            config: Box::leak(Box::new(config)),
            http: d.http,
            store: d.store,
            seal: d.seal,
            db: d.db,
            queue: d.queue,
            clock: d.clock,
            rng: d.rng,
            limiter: d.limiter,
            jwks: d.jwks,
            ai_breakers: d.ai_breakers,
        }))
    }

    /// Rotate (new key first), re-wrap on the cron, remove the old key, "restart" with the new
    /// ring only: every credential still opens, and each re-wrap is audited.
    #[test]
    fn master_key_rotation_rewraps_every_data_key_so_the_old_key_can_go() {
        let world = World::new();
        let owner = world.user();
        let connection = world.connect(owner);
        let other = world.user();
        let other_connection = world.connect(other);
        let old = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let new = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

        let rotating = with_master_keys(&world, &format!("{new},{old}"));
        let log = block_on(scheduled(rotating, &rotating.config.key_rewrap_cron));
        assert_eq!(log["event"], "scheduled.key_rewrap");
        assert_eq!(log["queued"], 1, "{log}");
        let (message, _) = world.queue.sent.borrow_mut().remove(0);
        let delivery = block_on(crate::jobs::deliver(rotating, message));
        assert_eq!(delivery.retry_after, None);
        assert_eq!(delivery.log["rewrapped"], 2, "{}", delivery.log);
        let rows = world.db.activity.borrow().clone();
        assert_eq!(rows.iter().filter(|r| r.action == "key.rewrap").count(), 2);
        assert!(rows.iter().all(|r| r.actor_id == "key-rewrap"));
        // Nothing left: the next cron queues nothing.
        let log = block_on(scheduled(rotating, &rotating.config.key_rewrap_cron));
        assert_eq!(log["queued"], 0, "{log}");

        // The old key removed: both teams' credentials still open.
        let restarted = with_master_keys(&world, new);
        let sys = Privileged::new(restarted, JOB, RequestMeta::internal("req_t".into()));
        for id in [connection, other_connection] {
            let row = block_on(sys.stores().connection_secret(id))
                .unwrap()
                .unwrap();
            let (version, plain) = block_on(open_sealed(&sys, &row, &row.org_domain)).unwrap();
            assert_eq!((version, plain.as_slice()), (1, OKTA_TOKEN.as_bytes()));
        }
        // Without the re-wrap, removing the key would have locked the credentials away.
        let stale_world = World::new();
        let u = stale_world.user();
        let c = stale_world.connect(u);
        let only_new = with_master_keys(&stale_world, new);
        let sys = Privileged::new(only_new, JOB, RequestMeta::internal("req_u".into()));
        let row = block_on(sys.stores().connection_secret(c))
            .unwrap()
            .unwrap();
        assert!(block_on(open_sealed(&sys, &row, &row.org_domain)).is_err());
        // And a re-wrap without the old key reports the key and leaves it as it was.
        let report = block_on(rewrap_batch(&sys)).unwrap();
        assert_eq!(report.rewrapped, 0);
        assert_eq!(report.failed.len(), 1, "{report:?}");
        assert!(!report.more);
    }
}
