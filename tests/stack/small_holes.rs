//! The smaller holes of the security review (issue 10, item 7), one test each: the last-owner
//! check under concurrency, what `anon` may reach with Supabase's default grants, invitations
//! (listing, revocation, the inviter re-checked, a verified email), and downloads by role.

use crate::access::{api_as, jwt_with_email, team_with};
use crate::support::*;
use butterfly::authz::matrix::Role;
use serde_json::{json, Value};
use std::thread;
use std::time::Duration;

/// Two owners demote each other at the same moment: without a lock on the team each sees the
/// other still an owner and both commit, leaving no owner. The first holds its transaction
/// open; the second must wait for it, then see it and be refused.
#[test]
fn two_concurrent_demotions_cannot_leave_a_team_without_an_owner() {
    let (a, b) = (new_user(), new_user());
    let team = team_with(&a, Some((&b, Role::Owner)));
    let demote = |user: &User| {
        format!(
            "update team_members set role = 'admin' where team_id = '{team}' and user_id = '{}'",
            user.id
        )
    };
    let first = {
        let sql = format!("begin; {}; select pg_sleep(1.5); commit;", demote(&a));
        thread::spawn(move || std::panic::catch_unwind(|| psql(&sql)).is_ok())
    };
    thread::sleep(Duration::from_millis(500));
    let second = std::panic::catch_unwind(|| psql(&demote(&b))).is_ok();
    let first = first.join().unwrap();
    let owners = psql(&format!(
        "select count(*) from team_members where team_id = '{team}' and role = 'owner'"
    ));
    assert_eq!(owners, "1", "first committed: {first}, second: {second}");
    assert!(first && !second, "the second demotion waits and is refused");

    // The same race through the worker's own function (as the API's role change runs it).
    let team = team_with(&a, Some((&b, Role::Owner)));
    let call = |user: &User| {
        format!(
            "select public.member_set_role('{team}', '{}', 'admin', \
             '{{\"actor_type\": \"system\", \"actor_id\": \"test\", \"action\": \"member.role_change\"}}'::jsonb)",
            user.id
        )
    };
    let first = {
        let sql = format!(
            "set role service_role; begin; {}; select pg_sleep(1.5); commit;",
            call(&a)
        );
        thread::spawn(move || std::panic::catch_unwind(|| psql(&sql)).is_ok())
    };
    thread::sleep(Duration::from_millis(500));
    let second =
        std::panic::catch_unwind(|| psql(&format!("set role service_role; {}", call(&b)))).is_ok();
    assert!(first.join().unwrap() && !second);
    let owners = psql(&format!(
        "select count(*) from team_members where team_id = '{team}' and role = 'owner'"
    ));
    assert_eq!(owners, "1");
}

/// The local shim grants what a Supabase project grants by default (EXECUTE on every new function
/// and ALL on every new table in `public` to anon, authenticated and service_role): with those
/// grants, `anon` (any request with the project's public key) must still reach no function and no
/// table. Only the dev-only local JWKS function is public.
#[test]
fn anon_can_execute_no_function_and_touch_no_table() {
    // The shim's defaults are in force (otherwise this test would prove nothing).
    let defaults = psql(
        "select count(*) from pg_default_acl d join pg_namespace n on n.oid = d.defaclnamespace
          where n.nspname = 'public' and d.defaclobjtype in ('f', 'r')
            and array_to_string(d.defaclacl, ',') like '%anon=%'",
    );
    assert_eq!(
        defaults, "2",
        "the shim reproduces Supabase's default grants"
    );
    let functions = psql(
        "select coalesce(string_agg(p.proname, ',' order by p.proname), '') from pg_proc p
           join pg_namespace n on n.oid = p.pronamespace
          where n.nspname = 'public' and p.prorettype <> 'trigger'::regtype
            and has_function_privilege('anon', p.oid, 'execute')
            and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')",
    );
    assert_eq!(functions, "local_jwks", "anon may execute these");
    let tables = psql(
        "select coalesce(string_agg(c.relname, ',' order by c.relname), '') from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'v', 'm', 'p', 'S')
            and (has_table_privilege('anon', c.oid, 'select,insert,update,delete,truncate,references,trigger')
                 or (c.relkind = 'S' and has_sequence_privilege('anon', c.oid, 'usage,select,update')))",
    );
    assert_eq!(tables, "", "anon holds privileges on these");
    // And through PostgREST with no JWT at all (the anon role): nothing to call.
    let reply = call(
        "POST",
        &format!("{}/rpc/can", env("BF_POSTGREST_URL")),
        &[("content-type", "application/json")],
        Some(br#"{"team": "00000000-0000-4000-8000-000000000000", "action": "team.read"}"#),
    );
    assert!(
        reply.status == 401 || reply.status == 403 || reply.status == 404,
        "{}",
        reply.text()
    );
}

fn invite(by: &User, team: &str, who: &User, role: &str) -> (String, String) {
    let reply = by.api(
        "POST",
        &format!("/teams/{team}/invitations"),
        Some(&json!({"email": format!("user-{}@test.local", who.id), "role": role})),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let token = reply.json()["token"].as_str().unwrap().to_string();
    plant(&token);
    let id = reply.json()["invitation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (id, token)
}

fn accept(jwt: &str, token: &str) -> Reply {
    api_as(
        jwt,
        "POST",
        "/invitations/accept",
        Some(&json!({"token": token})),
    )
}

fn member_of(user: &User, team: &str) -> bool {
    psql(&format!(
        "select count(*) from team_members where team_id = '{team}' and user_id = '{}'",
        user.id
    )) == "1"
}

/// Member managers list and revoke invitations (audited); a revoked invitation admits nobody; an
/// invitation whose inviter lost the right to invite (demoted, or gone) admits nobody until the
/// right is back. Viewers neither list nor revoke.
#[test]
fn invitations_are_listed_and_revoked_and_acceptance_rechecks_the_inviter() {
    let owner = new_user();
    let admin = new_user();
    let team = team_with(&owner, Some((&admin, Role::Admin)));
    let viewer = new_user();
    psql(&format!(
        "insert into team_members (team_id, user_id, role) values ('{team}', '{}', 'viewer')",
        viewer.id
    ));
    let bob = new_user();
    let (id, token) = invite(&admin, &team, &bob, "viewer");

    let listed = admin.api("GET", &format!("/teams/{team}/invitations"), None);
    assert_eq!(listed.status, 200, "{}", listed.text());
    let rows = listed.json()["invitations"].clone();
    assert_eq!(rows[0]["id"], json!(id));
    assert_eq!(rows[0]["status"], "open");
    assert_eq!(rows[0]["invited_by"], json!(admin.id));
    assert!(!listed.text().contains("token_hash") && !listed.text().contains(&token));
    let path = format!("/teams/{team}/invitations/{id}");
    for (method, p) in [
        ("GET", format!("/teams/{team}/invitations")),
        ("DELETE", path.clone()),
    ] {
        let refused = viewer.api(method, &p, None);
        assert_eq!(refused.status, 403, "viewer {method}: {}", refused.text());
    }

    let revoked = admin.api("DELETE", &path, None);
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(
        admin.api("DELETE", &path, None).error_code(),
        "invitation_closed"
    );
    assert_eq!(accept(&jwt_with_email(&bob), &token).status, 404);
    assert!(!member_of(&bob, &team));
    let rows = admin
        .api("GET", &format!("/teams/{team}/invitations"), None)
        .json();
    assert_eq!(rows["invitations"][0]["status"], "revoked");
    let audit = activity(&team);
    let row = audit
        .iter()
        .find(|r| r["action"] == "member.invite_revoke")
        .expect("revocation audited");
    assert_eq!(row["actor_id"], json!(admin.id));
    assert_eq!(row["target_id"], json!(id));

    // The inviter is demoted: the invitation admits nobody; promoted again, it admits.
    let carol = new_user();
    let (_, token) = invite(&admin, &team, &carol, "viewer");
    let set_role = |role: &str| {
        let r = owner.api(
            "PATCH",
            &format!("/teams/{team}/members/{}", admin.id),
            Some(&json!({"role": role})),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };
    set_role("viewer");
    assert_eq!(accept(&jwt_with_email(&carol), &token).status, 404);
    assert!(!member_of(&carol, &team));
    set_role("admin");
    let joined = accept(&jwt_with_email(&carol), &token);
    assert_eq!(joined.status, 200, "{}", joined.text());

    // The inviter left the team.
    let dave = new_user();
    let (_, token) = invite(&admin, &team, &dave, "viewer");
    let gone = owner.api(
        "DELETE",
        &format!("/teams/{team}/members/{}", admin.id),
        None,
    );
    assert_eq!(gone.status, 200, "{}", gone.text());
    assert_eq!(accept(&jwt_with_email(&dave), &token).status, 404);
    assert!(!member_of(&dave, &team));
}

/// The email binding needs an address the user proved they own: the token must say so
/// (`user_metadata.email_verified`, as Supabase Auth issues it), and the database must agree
/// (`auth.users.email_confirmed_at`), since the metadata is the user's to edit.
#[test]
fn accepting_an_invitation_needs_a_verified_email() {
    let owner = new_user();
    let team = crate::access::personal_team(&owner);
    let erin = new_user();
    let (_, token) = invite(&owner, &team, &erin, "viewer");
    let email = format!("user-{}@test.local", erin.id);
    let token_with = |extra: Value| {
        let mut claims = json!({
            "sub": erin.id, "role": "authenticated", "aud": "authenticated",
            "iat": now(), "exp": now() + 3600, "email": email,
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        sign_json(&claims)
    };
    for (case, extra) in [
        ("no claim", json!({})),
        (
            "false",
            json!({"user_metadata": {"email": email, "email_verified": false}}),
        ),
        (
            "string",
            json!({"user_metadata": {"email_verified": "true"}}),
        ),
        (
            "stale metadata",
            json!({"user_metadata": {"email": "old@test.local", "email_verified": true}}),
        ),
    ] {
        let refused = accept(&token_with(extra), &token);
        assert_eq!(refused.status, 403, "{case}: {}", refused.text());
        assert_eq!(refused.error_code(), "email_not_verified", "{case}");
    }
    // The claim alone (user-editable metadata) is not enough: Supabase Auth has not confirmed it.
    psql(&format!(
        "update auth.users set email_confirmed_at = null where id = '{}'",
        erin.id
    ));
    let claimed = token_with(json!({"user_metadata": {"email": email, "email_verified": true}}));
    assert_eq!(accept(&claimed, &token).status, 404);
    assert!(!member_of(&erin, &team));
    psql(&format!(
        "update auth.users set email_confirmed_at = now() where id = '{}'",
        erin.id
    ));
    let joined = accept(&claimed, &token);
    assert_eq!(joined.status, 200, "{}", joined.text());
    assert!(member_of(&erin, &team));
}

fn db_can_download(jwt: &str, team: &str) -> bool {
    let reply = rest_as(
        jwt,
        "POST",
        "rpc/can",
        Some(&json!({"team": team, "action": "backup.download"})),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json() == json!(true)
}

/// Least privilege for decrypted tenant data: viewers and auditors get no download URL (and the
/// database's `can` agrees) until the team's owner grants their role; only an owner changes the
/// setting, through the worker, audited; the grant can be taken back.
#[test]
fn viewers_and_auditors_download_only_when_the_owner_grants_it() {
    let owner = new_user();
    let team = crate::access::personal_team(&owner);
    let connection = owner.create_connection();
    let backup = owner.backup(&connection)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let member = |role: &str| {
        let user = new_user();
        psql(&format!(
            "insert into team_members (team_id, user_id, role) values ('{team}', '{}', '{role}')",
            user.id
        ));
        user
    };
    let (admin, viewer, auditor, operator) = (
        member("admin"),
        member("viewer"),
        member("auditor"),
        member("operator"),
    );
    let url = format!("/backups/{backup}/objects/users/url");
    let can_get_url = |user: &User| {
        let reply = user.api("GET", &url, None);
        assert!(matches!(reply.status, 200 | 403), "{}", reply.text());
        reply.status == 200
    };
    for (user, expected) in [(&operator, true), (&viewer, false), (&auditor, false)] {
        assert_eq!(can_get_url(user), expected);
        assert_eq!(db_can_download(&user.jwt, &team), expected);
    }

    let settings = format!("/teams/{team}/settings");
    let grant = |by: &User, roles: Value| {
        by.api("PATCH", &settings, Some(&json!({"download_roles": roles})))
    };
    assert_eq!(grant(&admin, json!(["viewer"])).status, 403);
    let bad = grant(&owner, json!(["operator"]));
    assert_eq!(bad.status, 422, "{}", bad.text());
    assert_eq!(bad.json()["error"]["field"], "download_roles");
    // Not around the worker either.
    let direct = rest_insert(
        &owner.jwt,
        "team_download_roles",
        &json!({"team_id": team, "role": "viewer"}),
    );
    assert!(direct.status >= 400, "{}", direct.text());

    let granted = grant(&owner, json!(["viewer"]));
    assert_eq!(granted.status, 200, "{}", granted.text());
    assert_eq!(
        granted.json()["settings"]["download_roles"],
        json!(["viewer"])
    );
    let shown = viewer.api("GET", &settings, None);
    assert_eq!(
        shown.json()["settings"]["download_roles"],
        json!(["viewer"])
    );
    assert!(can_get_url(&viewer));
    assert!(db_can_download(&viewer.jwt, &team));
    assert!(!can_get_url(&auditor));
    assert!(!db_can_download(&auditor.jwt, &team));
    let row = activity(&team)
        .into_iter()
        .find(|r| r["action"] == "team.download_roles")
        .expect("the grant is audited");
    assert_eq!(row["actor_id"], json!(owner.id));
    assert_eq!(row["details"]["to"], json!(["viewer"]));

    assert_eq!(grant(&owner, json!([])).status, 200);
    assert!(!can_get_url(&viewer));
    assert!(!db_can_download(&viewer.jwt, &team));
}

/// An Okta org (here a loopback endpoint standing in for one) that answers with a redirect to
/// another host must not get the request, and its `Authorization: SSWS` token, forwarded: the
/// worker fetches with `redirect: manual`, so connecting to it fails even though the redirect's
/// target (the emulator) would accept the token.
#[test]
fn outbound_fetches_do_not_follow_redirects() {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = env("BF_OKTA_URL");
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            seen.fetch_add(1, Ordering::SeqCst);
            let reply = format!(
                "HTTP/1.1 302 Found\r\nLocation: {target}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });

    let owner = new_user();
    let mut body = okta_connection_body();
    body["org_domain"] = json!(format!("127.0.0.1:{port}"));
    let reply = owner.api("POST", "/connections", Some(&body));
    assert!(
        hits.load(Ordering::SeqCst) >= 1,
        "the worker asked the redirecting org"
    );
    assert_ne!(
        reply.status,
        201,
        "a redirect was followed: {}",
        reply.text()
    );
    assert!(reply.status >= 400, "{}", reply.text());
    let team = crate::access::personal_team(&owner);
    assert_eq!(
        psql(&format!(
            "select count(*) from okta_connections where team_id = '{team}'"
        )),
        "0"
    );
    // The same org without the redirect connects (the refusal above was the redirect's).
    assert_eq!(
        owner
            .api("POST", "/connections", Some(&okta_connection_body()))
            .status,
        201
    );
}
