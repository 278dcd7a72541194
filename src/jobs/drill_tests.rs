//! Recovery drills end to end in memory: settings and their refusals, a drill through the job
//! runner with its report, RTO over the objective and unexplained differences alerting once,
//! and a drill killed mid-way resuming where it stopped.

use chrono::Duration;
use futures::executor::block_on;
use serde_json::{json, Value};

use super::drill::{self, DrillState, Step};
use super::lease::Lease;
use super::{deliver, Job};
use crate::authz::matrix::Role;
use crate::ids::{ConnectionId, UserId};
use crate::services::drills::{self, EnvironmentRequest, SettingsRequest};
use crate::services::ServiceError;
use crate::store::{
    ApplyStatus, DbError, DrillRow, DrillSettingsRow, DrillStatus, Environment, JobKey,
};
use crate::testing::world::World;

fn answer(world: &World, path: &str, body: Value) {
    let response = crate::testing::json_response(200, &body, &[]);
    world
        .okta_answers
        .borrow_mut()
        .push((path.to_string(), response));
}

fn ann() -> Value {
    json!({"id": "00uann", "status": "ACTIVE",
           "profile": {"login": "ann@acme.com", "email": "ann@acme.com", "firstName": "Ann", "lastName": "Lee"}})
}

/// A backed-up connection whose org has Ann, a sandbox connection of the same team (the fake
/// answers both orgs from one state), and the drill configured with `rto` seconds.
fn configured(world: &World, owner: UserId, rto: u32) -> (ConnectionId, ConnectionId) {
    // The credentials act as a super admin (the plan's credential check needs it).
    answer(world, "/api/v1/users/me", json!({"id": "00uadmin"}));
    answer(
        world,
        "/api/v1/iam/assignees/users",
        json!({"value": [{"id": "00uadmin"}]}),
    );
    answer(
        world,
        "/api/v1/users/00uadmin/roles",
        json!([{"id": "ra1", "type": "SUPER_ADMIN", "status": "ACTIVE", "assignmentType": "USER"}]),
    );
    *world.okta_users.borrow_mut() = vec![ann()];
    let (connection, _) = world.backed_up(owner);
    let sandbox = world.connect_sandbox(owner);
    let body = SettingsRequest {
        sandbox_connection_id: Some(sandbox),
        enabled: Some(true),
        rto_objective_seconds: Some(rto),
    };
    block_on(drills::configure(
        &world.caller(owner),
        connection,
        body,
        true,
    ))
    .expect("configure");
    world.db.activity.borrow_mut().clear();
    (connection, sandbox)
}

fn code(e: ServiceError) -> &'static str {
    match e {
        ServiceError::Conflict { code, .. } => code,
        other => panic!("not a conflict: {other:?}"),
    }
}

fn report(world: &World, owner: UserId, row: &DrillRow) -> DrillRow {
    block_on(drills::get(&world.caller(owner), row.id)).unwrap()
}

fn drill_mail(world: &World, row: &DrillRow) -> usize {
    (world.db.outbox().into_iter())
        .filter(|o| o.key.starts_with(&format!("drill:{}", row.id)))
        .count()
}

#[test]
fn a_drill_restores_the_backup_into_the_sandbox_and_reports_rto_rpo_and_fidelity() {
    let world = World::new();
    let owner = world.user();
    let (connection, sandbox) = configured(&world, owner, 3600);
    // The sandbox lacks Ann; the backup restored is half an hour old.
    world.okta_users.borrow_mut().clear();
    world.advance(Duration::minutes(30));

    let row = block_on(drill::request(&world.caller(owner), connection)).unwrap();
    assert_eq!(row.status, DrillStatus::Running);
    assert_eq!(row.sandbox_connection_id, sandbox);
    // Never two drills of one connection at once.
    assert_eq!(
        code(block_on(drill::request(&world.caller(owner), connection)).unwrap_err()),
        "drill_running"
    );
    world.advance(Duration::seconds(7));
    world.drain_queue();

    let done = report(&world, owner, &row);
    assert_eq!(done.status, DrillStatus::Passed, "{:?}", done.report);
    assert_eq!(done.rpo_seconds, Some(1800));
    assert_eq!(done.rto_seconds, Some(7));
    assert!(!done.alerted);
    let r = done.report.clone().unwrap();
    // Ann was created in the sandbox, and waits for her password there: documented.
    let users = &r["fidelity"]["types"]["users"];
    assert_eq!(users["differing"], 0, "{r}");
    assert_eq!(users["not_restorable"], 1, "{r}");
    assert_eq!(users["reasons"]["user_credentials"], 1, "{r}");
    assert_eq!(r["fidelity"]["unexplained"], 0);
    assert_eq!(r["failures"], json!([]));
    let restored = world.okta_users.borrow().clone();
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0]["profile"]["login"], "ann@acme.com");
    // The restore went into the sandbox, with no second approver.
    let plan = done.restore_plan_id.expect("the drill's restore");
    let restore = block_on(world.system("t").stores().restore_plan(plan))
        .unwrap()
        .unwrap();
    assert_eq!(restore.target_connection_id, sandbox);
    assert_eq!(restore.apply_status, Some(ApplyStatus::Complete));
    assert_eq!(r["restore"]["apply_status"], "complete");
    assert_eq!(
        world.db.actions(),
        [
            "drill.start",
            "restore.plan",
            "restore.apply",
            "restore.start",
            "restore.complete",
            "drill.complete"
        ]
    );

    // The history: settings, the report, the trend.
    let listed = block_on(drills::list(&world.caller(owner), connection)).unwrap();
    assert_eq!(listed.drills.len(), 1);
    assert_eq!(listed.trend.passed, 1);
    assert_eq!(listed.trend.last_rto_seconds, Some(7));
    assert_eq!(listed.settings.unwrap().sandbox_connection_id, sandbox);
    // Another team sees none of it.
    let stranger = world.user();
    assert!(matches!(
        block_on(drills::list(&world.caller(stranger), connection)),
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        block_on(drills::get(&world.caller(stranger), row.id)),
        Err(ServiceError::NotFound)
    ));
}

#[test]
fn a_drill_never_targets_a_production_or_foreign_connection() {
    let world = World::new();
    let owner = world.user();
    let (connection, _) = world.backed_up(owner);
    let sandbox = world.connect_sandbox(owner);
    let other = world.user();
    let theirs = world.connect_sandbox(other);
    let caller = world.caller(owner);
    let production = EnvironmentRequest {
        environment: Environment::Production,
    };
    block_on(drills::set_environment(&caller, sandbox, production)).unwrap();
    let to = |target| SettingsRequest {
        sandbox_connection_id: Some(target),
        ..SettingsRequest::default()
    };
    // Production: refused, by the service and by the database.
    assert_eq!(
        code(block_on(drills::configure(&caller, connection, to(sandbox), true)).unwrap_err()),
        "target_not_sandbox"
    );
    let forged = DrillSettingsRow {
        connection_id: connection,
        team_id: world.team_of(owner),
        sandbox_connection_id: sandbox,
        enabled: true,
        rto_objective_seconds: 3600,
        configured_by: owner,
        updated_at: world.deps.clock.now(),
    };
    let audit = world.system("t").audit(crate::services::audit::Event {
        team: forged.team_id,
        action: "drill.settings",
        target_type: "okta_connection",
        target_id: connection.to_string(),
        details: json!({}),
    });
    assert!(matches!(
        block_on(
            world
                .system("t")
                .stores()
                .set_drill_settings(&forged, &audit)
        ),
        Err(DbError::Constraint)
    ));
    // Itself, and another team's sandbox: not a target.
    assert!(matches!(
        block_on(drills::configure(&caller, connection, to(connection), true)),
        Err(ServiceError::Invalid { .. })
    ));
    assert!(matches!(
        block_on(drills::configure(&caller, connection, to(theirs), true)),
        Err(ServiceError::Invalid {
            field: "sandbox_connection_id",
            ..
        })
    ));
    // Without settings there is no drill to run.
    assert_eq!(
        code(block_on(drill::request(&caller, connection)).unwrap_err()),
        "no_drill_settings"
    );
    // Labelled a sandbox it is one; operators may not configure drills, viewers not run them.
    let sandbox_label = EnvironmentRequest {
        environment: Environment::Sandbox,
    };
    block_on(drills::set_environment(&caller, sandbox, sandbox_label)).unwrap();
    let team = world.team_of(owner);
    let operator = world.member(team, Role::Operator);
    assert!(matches!(
        block_on(drills::configure(
            &world.caller(operator),
            connection,
            to(sandbox),
            true
        )),
        Err(ServiceError::Forbidden)
    ));
    let set = block_on(drills::configure(&caller, connection, to(sandbox), true)).unwrap();
    assert_eq!(
        set.rto_objective_seconds,
        drills::DEFAULT_RTO_OBJECTIVE_SECONDS
    );
    assert!(set.enabled);
    // PATCH keeps what it does not name.
    let patch = SettingsRequest {
        rto_objective_seconds: Some(900),
        ..SettingsRequest::default()
    };
    let set = block_on(drills::configure(&caller, connection, patch, false)).unwrap();
    assert_eq!(set.sandbox_connection_id, sandbox);
    assert_eq!(set.rto_objective_seconds, 900);
    let viewer = world.member(team, Role::Viewer);
    assert!(matches!(
        block_on(drill::request(&world.caller(viewer), connection)),
        Err(ServiceError::Forbidden)
    ));
    // A sandbox a drill writes into cannot become production under it.
    let production = EnvironmentRequest {
        environment: Environment::Production,
    };
    assert_eq!(
        code(block_on(drills::set_environment(&caller, sandbox, production)).unwrap_err()),
        "sandbox_in_use"
    );
    assert_eq!(
        world.db.actions(),
        [
            "connection.environment",
            "connection.environment",
            "drill.settings",
            "drill.settings"
        ]
    );
}

#[test]
fn a_drill_slower_than_the_objective_alerts_once() {
    let world = World::with_email();
    let owner = world.user();
    world.db.verify_email(owner, &format!("{owner}@test.local"));
    let (connection, _) = configured(&world, owner, 60);
    world.okta_users.borrow_mut().clear();
    let row = block_on(drill::request(&world.caller(owner), connection)).unwrap();
    // The first slice plans; then the restore takes two minutes.
    let (message, _) = world.queue.sent.borrow_mut().remove(0);
    let first = block_on(deliver(world.deps, message.clone()));
    assert_eq!(first.retry_after, None, "{}", first.log);
    world.advance(Duration::minutes(2));
    world.drain_queue();

    let done = report(&world, owner, &row);
    assert_eq!(done.status, DrillStatus::Passed, "{:?}", done.report);
    assert!(done.rto_seconds.unwrap() >= 120);
    assert!(done.alerted);
    assert_eq!(done.report.as_ref().unwrap()["rto_over_objective"], true);
    assert_eq!(drill_mail(&world, &row), 1);
    let sent = world.mail_sent().into_iter().map(|m| m.to_string());
    let alert: Vec<String> = sent.filter(|m| m.contains("Restore drill")).collect();
    assert_eq!(alert.len(), 1, "{alert:?}");
    assert!(alert[0].contains("rto_over_objective"), "{}", alert[0]);
    // A late duplicate of its message changes nothing and alerts nobody again.
    let late = block_on(deliver(world.deps, message));
    assert_eq!(late.retry_after, None);
    assert_eq!(drill_mail(&world, &row), 1);
    assert_eq!(
        world
            .db
            .actions()
            .iter()
            .filter(|a| **a == "drill.complete")
            .count(),
        1
    );
}

#[test]
fn an_unexplained_difference_fails_the_drill_and_alerts_once() {
    let world = World::with_email();
    let owner = world.user();
    world.db.verify_email(owner, &format!("{owner}@test.local"));
    let (connection, _) = configured(&world, owner, 3600);
    // The sandbox's Ann differs, and the fake org ignores the profile write that would fix it.
    world.okta_users.borrow_mut()[0]["profile"]["firstName"] = json!("Anna");
    let row = block_on(drill::request(&world.caller(owner), connection)).unwrap();
    world.drain_queue();

    let done = report(&world, owner, &row);
    assert_eq!(done.status, DrillStatus::Failed, "{:?}", done.report);
    let r = done.report.clone().unwrap();
    assert_eq!(r["fidelity"]["unexplained"], 1, "{r}");
    let difference = &r["fidelity"]["differences"][0];
    assert_eq!(difference["resource"], "users");
    assert_eq!(difference["action"], "update");
    assert_eq!(difference["fields"], json!(["/profile/firstName"]));
    assert!(difference.get("documented").is_none());
    assert_eq!(r["failures"][0]["code"], "fidelity");
    assert!(done.alerted);
    assert_eq!(drill_mail(&world, &row), 1);
    let listed = block_on(drills::list(&world.caller(owner), connection)).unwrap();
    assert_eq!((listed.trend.passed, listed.trend.failed), (0, 1));
}

#[test]
fn a_drill_killed_mid_way_resumes_where_it_stopped_and_ends_once() {
    let world = World::new();
    let owner = world.user();
    let (connection, _) = configured(&world, owner, 3600);
    world.okta_users.borrow_mut().clear();
    let row = block_on(drill::request(&world.caller(owner), connection)).unwrap();
    let (message, _) = world.queue.sent.borrow_mut().remove(0);
    let job: Job = serde_json::from_value(message.clone()).unwrap();

    // The first invocation plans and dies before it sends its job on.
    let _ = block_on(super::run(world.deps, &job));
    assert!(world.queue.sent.borrow().is_empty());
    // Another dies holding the drill's lease, mid-slice.
    let key = JobKey {
        kind: drill::KIND,
        id: row.id.as_uuid(),
    };
    let sys = world.system("t");
    let held = block_on(Lease::<DrillState>::claim(
        sys.stores(),
        key,
        world.deps.rng,
    ))
    .unwrap()
    .expect("free");
    assert_eq!(held.state().step, Step::Apply);
    // The queue delivers the message again: busy until the dead lease lapses, then resumed.
    let busy = block_on(deliver(world.deps, message.clone()));
    assert!(busy.retry_after.is_some(), "{}", busy.log);
    world.db.expire_leases();
    let resumed = block_on(deliver(world.deps, message.clone()));
    assert_eq!(resumed.retry_after, None, "{}", resumed.log);
    world.drain_queue();

    let done = report(&world, owner, &row);
    assert_eq!(done.status, DrillStatus::Passed, "{:?}", done.report);
    // Planned once, restored once, ended once: Ann exists once.
    let actions = world.db.actions();
    for once in [
        "restore.plan",
        "restore.start",
        "restore.complete",
        "drill.complete",
    ] {
        assert_eq!(
            actions.iter().filter(|a| **a == once).count(),
            1,
            "{once}: {actions:?}"
        );
    }
    let anns = (world.okta_users.borrow().iter())
        .filter(|u| u["profile"]["login"] == "ann@acme.com")
        .count();
    assert_eq!(anns, 1);
    // The dead holder can no longer write.
    assert!(block_on(held.commit(&DrillState::default())).is_err());
    let late = block_on(deliver(world.deps, message));
    assert_eq!(late.retry_after, None);
}

#[test]
fn the_weekly_cron_drills_every_enabled_connection_once() {
    let world = World::new();
    let owner = world.user();
    let (connection, _) = configured(&world, owner, 3600);
    let cron = world.deps.config.drill_cron.clone();
    let log = block_on(super::scheduled(world.deps, &cron));
    assert_eq!(log["event"], "scheduled.drills", "{log}");
    assert_eq!(log["queued"], 1, "{log}");
    // Fired again while it runs: skipped, not doubled.
    let log = block_on(super::scheduled(world.deps, &cron));
    assert_eq!(log["skipped_running"], 1, "{log}");
    world.drain_queue();
    let listed = block_on(drills::list(&world.caller(owner), connection)).unwrap();
    assert_eq!(listed.drills.len(), 1);
    assert_eq!(listed.drills[0].status, DrillStatus::Passed);
    // Scheduled drills apply as the member who configured them.
    assert_eq!(listed.drills[0].requested_by, Some(owner));
    // Disabled: the cron leaves it alone.
    let off = SettingsRequest {
        enabled: Some(false),
        ..SettingsRequest::default()
    };
    block_on(drills::configure(
        &world.caller(owner),
        connection,
        off,
        false,
    ))
    .unwrap();
    let log = block_on(super::scheduled(world.deps, &cron));
    assert_eq!(log["queued"], 0, "{log}");
}
