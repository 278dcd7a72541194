//! The cron trigger starts backups of active connections.

use crate::support::*;
use std::time::{Duration, Instant};

#[test]
fn cron_trigger_backs_up_active_connections() {
    let user = new_user();
    let connection = user.create_connection();
    let reply = call(
        "GET",
        &format!("{}/__scheduled?cron=17+*/6+*+*+*", worker()),
        &[],
        None,
    );
    assert!(reply.status < 300, "{}", reply.text());

    let deadline = Instant::now() + Duration::from_secs(180);
    let backup = loop {
        let list = user
            .api("GET", &format!("/connections/{connection}/backups"), None)
            .json();
        let runs = list["backups"].as_array().unwrap().clone();
        if let Some(run) = runs
            .iter()
            .find(|b| b["trigger"] == "schedule" && b["status"] != "running")
        {
            break run.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled backup finished: {list}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(backup["status"], "complete", "{backup}");
    assert!(backup["requested_by"].is_null());
    let team = backup["team_id"].as_str().unwrap();
    let log = activity(team);
    let scheduled = log
        .iter()
        .find(|r| r["action"] == "backup.schedule")
        .expect("schedule event");
    assert_eq!(scheduled["actor_type"], "system");
    assert_eq!(scheduled["actor_id"], "cron");
    assert!(log
        .iter()
        .any(|r| r["action"] == "backup.complete" && r["target_id"] == backup["id"]));
}
