//! A team's IP allow-list for API access: read by any member, replaced by an owner or admin
//! (audited), and enforced for every team-scoped call in [`Caller::authorize`], user sessions
//! and API keys alike. The client address is the one Cloudflare saw (`CF-Connecting-IP`); with
//! a list in force, a call without one is refused (fails closed).

use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;

use super::audit::Event;
use super::{Caller, ServiceError};
use crate::allowlist::AllowList;
use crate::authz::matrix::Action;
use crate::ids::TeamId;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAllowList {
    /// CIDR networks or single addresses; empty removes the restriction.
    pub entries: Vec<String>,
    /// Save even though the caller's own address is outside the new list.
    #[serde(default)]
    pub confirm_lockout: bool,
}

pub async fn get(caller: &Caller<'_>, team: TeamId) -> Result<Vec<String>, ServiceError> {
    caller.authorize(team, Action::TeamRead).await?;
    Ok(caller.stores().allow_list(team).await?)
}

pub async fn set(
    caller: &Caller<'_>,
    team: TeamId,
    body: SetAllowList,
) -> Result<Vec<String>, ServiceError> {
    caller.authorize(team, Action::MemberManage).await?;
    let list = AllowList::parse(&body.entries)
        .map_err(|e| ServiceError::invalid("entries", e.to_string()))?;
    let own = client_ip(caller);
    let locks_out = list.is_enforced() && own.is_none_or(|ip| list.locks_out(ip));
    if locks_out && !body.confirm_lockout {
        return Err(ServiceError::Conflict {
            code: "would_lock_out",
            message: "your own address is outside this allow-list: send confirm_lockout to save it anyway",
        });
    }
    let entries = list.entries();
    let previous = caller.stores().allow_list(team).await?;
    let audit = caller.audit(Event {
        team,
        action: "team.ip_allowlist_set",
        target_type: "team",
        target_id: team.to_string(),
        details: json!({"entries": entries, "previous": previous, "locks_out_caller": locks_out}),
    });
    caller
        .system()
        .stores()
        .set_allow_list(team, &entries, &audit)
        .await?;
    Ok(entries)
}

fn client_ip(caller: &Caller<'_>) -> Option<IpAddr> {
    caller.meta().source_ip.as_deref()?.parse().ok()
}

/// Does the team's list (if any) admit this call? Called by [`Caller::authorize`] once the
/// caller is known to be a member, so a stranger learns nothing about the list.
pub(super) async fn admits(caller: &Caller<'_>, team: TeamId) -> Result<bool, ServiceError> {
    let entries = caller.stores().allow_list(team).await?;
    if entries.is_empty() {
        return Ok(true);
    }
    let list = AllowList::parse(&entries)
        .map_err(|e| ServiceError::Internal(format!("stored allow-list of {team}: {e}")))?;
    Ok(client_ip(caller).is_some_and(|ip| list.permits(ip)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::matrix::{Role, Scope};
    use crate::authz::{KeyGrant, Principal};
    use crate::ids::ApiKeyId;
    use crate::services::audit::RequestMeta;
    use crate::testing::world::World;
    use futures::executor::block_on;

    fn from(
        world: &World,
        user: crate::ids::UserId,
        ip: Option<&str>,
        key: Option<TeamId>,
    ) -> Caller<'static> {
        let principal = Principal {
            user,
            jwt: String::new(),
            email: None,
            email_verified: false,
            key: key.map(|team| KeyGrant {
                id: ApiKeyId::parse("00000000-0000-4000-8000-0000000000aa").unwrap(),
                team,
                scopes: vec![Scope::Read],
            }),
        };
        let meta = RequestMeta {
            request_id: "req_ip".into(),
            client_request_id: None,
            source_ip: ip.map(str::to_string),
        };
        Caller::new(world.deps, principal, meta)
    }

    fn set_list(
        c: &Caller<'_>,
        team: TeamId,
        entries: &[&str],
        confirm: bool,
    ) -> Result<Vec<String>, ServiceError> {
        let body = SetAllowList {
            entries: entries.iter().map(|e| e.to_string()).collect(),
            confirm_lockout: confirm,
        };
        block_on(set(c, team, body))
    }

    #[test]
    fn the_list_admits_only_its_networks_for_users_and_keys_and_changes_are_audited() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let office = from(&world, owner, Some("203.0.113.7"), None);
        // No list: every address, and none, is admitted.
        assert!(block_on(get(&from(&world, owner, None, None), team))
            .unwrap()
            .is_empty());

        assert_eq!(
            set_list(&office, team, &["203.0.113.0/24", "2001:db8::1"], false).unwrap(),
            vec!["203.0.113.0/24", "2001:db8::1/128"]
        );
        let row = world.db.activity.borrow().last().cloned().unwrap();
        assert_eq!(row.action, "team.ip_allowlist_set");
        assert_eq!(row.details["entries"][0], "203.0.113.0/24");

        // Inside: admitted (IPv4-mapped IPv6 counts as the IPv4 address).
        for ip in ["203.0.113.200", "::ffff:203.0.113.9", "2001:db8::1"] {
            assert!(
                block_on(get(&from(&world, owner, Some(ip), None), team)).is_ok(),
                "{ip}"
            );
        }
        // Outside, or no address at all: refused, for a session and for an API key alike.
        for ip in [Some("198.51.100.1"), Some("2001:db8::2"), None] {
            assert!(
                matches!(
                    block_on(get(&from(&world, owner, ip, None), team)),
                    Err(ServiceError::AddressNotAllowed)
                ),
                "{ip:?}"
            );
            assert!(
                matches!(
                    block_on(get(&from(&world, owner, ip, Some(team)), team)),
                    Err(ServiceError::AddressNotAllowed)
                ),
                "key from {ip:?}"
            );
        }
        // A stranger learns nothing about the list: not found, as without one.
        let stranger = world.user();
        assert!(matches!(
            block_on(get(
                &from(&world, stranger, Some("203.0.113.7"), None),
                team
            )),
            Err(ServiceError::NotFound)
        ));
    }

    #[test]
    fn bad_entries_lock_outs_and_roles_are_refused_and_nothing_changes() {
        let world = World::new();
        let owner = world.user();
        let team = world.team_of(owner);
        let office = from(&world, owner, Some("203.0.113.7"), None);
        let before = world.db.activity.borrow().len();
        for bad in [
            &["203.0.113.1/24"][..],
            &["0.0.0.0/0"],
            &["nope"],
            &["10.0.0.0/8", "10.0.0.0/8"],
        ] {
            assert!(
                matches!(
                    set_list(&office, team, bad, false),
                    Err(ServiceError::Invalid {
                        field: "entries",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        // A list that shuts out the caller needs confirming.
        assert!(matches!(
            set_list(&office, team, &["198.51.100.0/24"], false),
            Err(ServiceError::Conflict {
                code: "would_lock_out",
                ..
            })
        ));
        let viewer = world.member(team, Role::Viewer);
        assert!(matches!(
            set_list(
                &from(&world, viewer, Some("203.0.113.7"), None),
                team,
                &["203.0.113.0/24"],
                false
            ),
            Err(ServiceError::Forbidden)
        ));
        assert_eq!(world.db.activity.borrow().len(), before, "nothing recorded");
        assert!(block_on(get(&office, team)).unwrap().is_empty());

        // Confirmed, it saves; from outside, nobody (not even the owner) can change it back.
        set_list(&office, team, &["198.51.100.0/24"], true).unwrap();
        assert!(matches!(
            set_list(&office, team, &[], false),
            Err(ServiceError::AddressNotAllowed)
        ));
        // From inside, an empty list removes the restriction.
        let inside = from(&world, owner, Some("198.51.100.3"), None);
        assert!(set_list(&inside, team, &[], false).unwrap().is_empty());
        assert!(block_on(get(&office, team)).unwrap().is_empty());
    }
}
