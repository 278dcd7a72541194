//! The activity chain's state for a team (`GET /api/v1/teams/{id}/audit/verify`): the database
//! walks the whole chain, recomputing every hash, and compares it with the chain's latest R2
//! anchor. The latest anchor is enough: each row's hash covers the row before it, so a rewrite
//! of any row up to the anchored one changes the anchored row's hash.

use serde_json::{json, Value};

use super::{Caller, ServiceError};
use crate::authz::matrix::Action;
use crate::evidence::anchor::{latest_anchor, AnchorError};
use crate::ids::TeamId;

pub async fn verify(caller: &Caller<'_>, team: TeamId) -> Result<Value, ServiceError> {
    caller.authorize(team, Action::ActivityRead).await?;
    let store = caller.deps().store;
    let (anchor, anchor_problem) = match latest_anchor(store, Some(team)).await {
        Ok(anchor) => (anchor, None),
        // An object under the chain's anchors that is not an anchor: tampering with the
        // evidence itself, reported as a break rather than hidden behind a 500.
        Err(e @ AnchorError::Invalid { .. }) | Err(e @ AnchorError::Conflict { .. }) => {
            (None, Some(e.to_string()))
        }
        Err(AnchorError::Store(e)) => {
            return Err(ServiceError::Internal(format!("anchor listing: {e}")))
        }
    };
    let mut report = caller
        .system()
        .stores()
        .verify_chain(team, anchor.as_slice())
        .await?;
    report["latest_anchor"] = json!(anchor);
    if let Some(message) = anchor_problem {
        report["status"] = json!("broken");
        if let Some(problems) = report["problems"].as_array_mut() {
            problems.push(
                json!({"kind": "anchor_invalid", "seq": null, "id": null, "message": message}),
            );
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::matrix::{Role, Scope};
    use crate::evidence::anchor::{write_anchor, Anchor};
    use crate::ports::ObjectStore;
    use crate::testing::world::World;
    use futures::executor::block_on;

    #[test]
    fn members_who_read_the_log_verify_against_the_latest_anchor() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let now = world.deps.clock.now();
        for seq in [3, 12] {
            let a = Anchor::new(Some(team), seq, &"a".repeat(64), now);
            block_on(write_anchor(world.objects, &a)).unwrap();
        }
        let report = block_on(verify(&world.caller(owner), team)).unwrap();
        assert_eq!(report["latest_anchor"]["seq"], 12, "{report}");
        assert_eq!(world.db.verifications(), vec![(team, vec![12])]);

        // Every role reads the log; a key needs a scope that does; a stranger sees nothing.
        let auditor = world.member(team, Role::Auditor);
        assert!(block_on(verify(&world.caller(auditor), team)).is_ok());
        let key = world.key_caller(owner, team, &[Scope::Backup]);
        assert!(matches!(
            block_on(verify(&key, team)),
            Err(ServiceError::Forbidden)
        ));
        let stranger = world.user();
        assert!(matches!(
            block_on(verify(&world.caller(stranger), team)),
            Err(ServiceError::NotFound)
        ));
        assert_eq!(world.db.verifications().len(), 2);

        // Something that is not an anchor among the anchors: reported, not hidden.
        let bogus = Anchor::new(Some(team), 40, &"a".repeat(64), now).key();
        block_on(world.objects.put(&bogus, b"not an anchor".to_vec())).unwrap();
        let report = block_on(verify(&world.caller(owner), team)).unwrap();
        assert_eq!(report["status"], "broken");
        assert_eq!(report["problems"][0]["kind"], "anchor_invalid", "{report}");
    }
}
