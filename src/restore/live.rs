//! The target's live state, read into memory for planning: the same steps and item shapes as a
//! backup collects ([`crate::snapshot::plan::PLAN`]), through the same paced Okta client, so
//! the plan compares like with like. A policy type the org's licence lacks (`400 E0000002`)
//! is left out, as a backup leaves it out; the planner then reports it as not compared.
//!
//! The whole state is held at once (the planner's in-memory diff needs it), so this is for
//! tenants whose state fits a Worker's memory alongside the source's.

use std::collections::HashMap;

use serde_json::Value;

use crate::okta::{OktaClient, OktaError};
use crate::snapshot::plan::{may_be_unlicensed, okta_id, Source, PLAN};
use crate::tenant::TenantSnapshot;

/// Reads every resource type a backup collects.
pub async fn read(client: &OktaClient<'_>) -> Result<TenantSnapshot, OktaError> {
    let mut snapshot = TenantSnapshot::default();
    let mut keys: HashMap<&str, Vec<Vec<String>>> = HashMap::new();
    for step in PLAN {
        let mut objects = Vec::new();
        let mut kept = Vec::new();
        match step.source {
            Source::Lists(paths) => {
                for path in paths {
                    let items = match client.list_all(path).await {
                        Ok(items) => items,
                        Err(OktaError::Rejected { status: 400, code })
                            if code == "E0000002" && may_be_unlicensed(path) =>
                        {
                            continue
                        }
                        Err(e) => return Err(e),
                    };
                    for item in items {
                        kept.extend(okta_id(&item).map(|id| vec![id.to_string()]));
                        objects.push(item);
                    }
                }
            }
            Source::Children { parent, path, wrap } => {
                for key in keys.get(parent).into_iter().flatten() {
                    let k: Vec<&str> = key.iter().map(String::as_str).collect();
                    for item in client.list_all(&path(&k)).await? {
                        if let Some(id) = okta_id(&item) {
                            let mut child = key.clone();
                            child.push(id.to_string());
                            kept.push(child);
                        }
                        objects.push(wrap.apply(&k, item));
                    }
                }
            }
            Source::Document(path) => objects.push(client.get(path).await?),
            Source::Assignees(path) => {
                let mut next = Some(path.to_string());
                while let Some(p) = next {
                    let body = client.get(&p).await?;
                    for user in body["value"].as_array().into_iter().flatten() {
                        kept.extend(okta_id(user).map(|id| vec![id.to_string()]));
                    }
                    next = match body.pointer("/_links/next/href").and_then(Value::as_str) {
                        Some(href) => Some(client.path_of(href)?),
                        None => None,
                    };
                }
            }
        }
        if step.keeps_keys {
            keys.insert(step.name, kept);
        }
        if let Some(resource) = step.object {
            snapshot
                .resources
                .entry(resource)
                .or_default()
                .extend(objects);
        }
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::ai::tests::native::{SystemClock, UreqHttp};
    use crate::okta::{DomainPolicy, OktaAuth, OrgDomain};
    use crate::testing::SeqRng;
    use zeroize::Zeroizing;

    /// The live read is what a backup collects: compared with the test collector over the same
    /// emulated org, every type holds the same items.
    #[test]
    fn reads_what_a_backup_collects() {
        let emulator = okta_emulator::start(okta_emulator::EmulatorConfig {
            okta_defaults: true,
            ..Default::default()
        })
        .unwrap();
        let base = emulator.base_url();
        let org = OrgDomain::parse(&base, DomainPolicy::AllowLoopback).unwrap();
        let (http, clock, rng) = (UreqHttp, SystemClock, SeqRng::new(1));
        let token = OktaAuth::ApiToken(Zeroizing::new(okta_emulator::DEFAULT_TOKEN.to_string()));
        let client = OktaClient::new(&http, &clock, &rng, &org, token);
        let live = block_on(read(&client)).unwrap();
        let expected = crate::ai::tests::tenant_scan::collect(&base, okta_emulator::DEFAULT_TOKEN);
        assert_eq!(
            live.resources.keys().collect::<Vec<_>>(),
            expected.resources.keys().collect::<Vec<_>>()
        );
        for (t, items) in &expected.resources {
            assert_eq!(live.resources[t].len(), items.len(), "{t}");
        }
        assert_eq!(live, expected);
    }
}
