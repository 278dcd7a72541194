//! A team's IP allow-list on the real worker: set by its owner (audited), enforced for user
//! sessions and API keys by the address Cloudflare reports, and never writable around the worker.

use crate::access::create_key;
use crate::support::*;
use butterfly::authz::matrix::Scope;
use serde_json::json;

fn as_from(
    bearer: &str,
    ip: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Reply {
    let auth = format!("Bearer {bearer}");
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    let mut headers = vec![("authorization", auth.as_str()), ("cf-connecting-ip", ip)];
    if bytes.is_some() {
        headers.push(("content-type", "application/json"));
    }
    call(
        method,
        &format!("{}/api/v1{path}", worker()),
        &headers,
        bytes.as_deref(),
    )
}

#[test]
fn the_allow_list_admits_only_its_networks_for_sessions_and_keys() {
    let owner = new_user();
    let team = psql(&format!(
        "select id from teams where created_by = '{}'",
        owner.id
    ));
    let (_, key) = create_key(&owner, &team, &[Scope::Read]);
    let path = format!("/teams/{team}/ip-allowlist");
    let members = format!("/teams/{team}/members");

    // A list that would shut the owner out is refused unless confirmed; a bad entry is a 422.
    let reply = as_from(
        &owner.jwt,
        "198.51.100.4",
        "PATCH",
        &path,
        Some(&json!({"entries": ["203.0.113.0/24"]})),
    );
    assert_eq!(reply.status, 409, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], "would_lock_out");
    let reply = as_from(
        &owner.jwt,
        "203.0.113.7",
        "PATCH",
        &path,
        Some(&json!({"entries": ["203.0.113.1/24"]})),
    );
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert!(reply.text().contains("host bits"), "{}", reply.text());

    let reply = as_from(
        &owner.jwt,
        "203.0.113.7",
        "PATCH",
        &path,
        Some(&json!({"entries": ["203.0.113.0/24", "2001:db8::/32"]})),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["entries"],
        json!(["203.0.113.0/24", "2001:db8::/32"])
    );
    assert!(activity(&team)
        .iter()
        .any(|r| r["action"] == "team.ip_allowlist_set"
            && r["details"]["entries"][0] == "203.0.113.0/24"));

    for (bearer, who) in [(owner.jwt.as_str(), "session"), (key.as_str(), "api key")] {
        for ip in ["203.0.113.250", "2001:db8:1::9"] {
            let reply = as_from(bearer, ip, "GET", &members, None);
            assert_eq!(reply.status, 200, "{who} from {ip}: {}", reply.text());
        }
        for ip in ["198.51.100.4", "2001:db9::1"] {
            let reply = as_from(bearer, ip, "GET", &members, None);
            assert_eq!(reply.status, 403, "{who} from {ip}: {}", reply.text());
            assert_eq!(reply.json()["error"]["code"], "address_not_allowed");
        }
    }

    // Members read the list; nobody writes it around the worker.
    assert_eq!(
        rest_as(
            &owner.jwt,
            "GET",
            &format!("team_ip_allowlists?team_id=eq.{team}&select=entries"),
            None
        )
        .json(),
        json!([{"entries": ["203.0.113.0/24", "2001:db8::/32"]}])
    );
    let reply = rest_insert(
        &owner.jwt,
        "team_ip_allowlists",
        &json!({"team_id": team, "entries": ["0.0.0.0/1"]}),
    );
    assert!(matches!(reply.status, 401 | 403), "{}", reply.text());
    let reply = rest_as(
        &owner.jwt,
        "POST",
        "rpc/team_allowlist_set",
        Some(&json!({"p_team": team, "p_entries": [], "p_audit": {}})),
    );
    assert!(matches!(reply.status, 401 | 403 | 404), "{}", reply.text());

    // From inside, the owner removes it, and any address is admitted again.
    let reply = as_from(
        &owner.jwt,
        "203.0.113.7",
        "PATCH",
        &path,
        Some(&json!({"entries": []})),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        as_from(&owner.jwt, "198.51.100.4", "GET", &members, None).status,
        200
    );
}
