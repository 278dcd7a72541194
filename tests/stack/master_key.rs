//! Master-key rotation as an operator does it: restart the worker with a new active entry in
//! `MASTER_KEYS` (the old one kept for unwrapping), let the hourly re-wrap move every live data
//! key under it, then restart with the old entry removed: credentials still open, and the
//! re-wraps are audited. The stack is put back under its own key afterwards.

use std::time::{Duration, Instant};

use butterfly::config::DEFAULT_KEY_REWRAP_CRON;

use crate::support::*;
use crate::worker_instance::WorkerInstance;

/// A fixed 32-byte test key (base64), never a real one.
const ROTATED: &str = "rot:YnV0dGVyZmx5LXRlc3Qtcm90YXRlZC1tYXN0ZXItayE=";

fn stack_master_keys() -> String {
    std::fs::read_to_string(env("BF_WORKER_ENV"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MASTER_KEYS=").map(str::to_string))
        .expect("MASTER_KEYS in the stack's env")
}

/// Fires the re-wrap cron on `instance` and waits until no live data key is wrapped by another
/// master key than `active_id`.
fn rewrap_all(instance: &WorkerInstance, active_id: &str) {
    let cron = DEFAULT_KEY_REWRAP_CRON.replace(' ', "+");
    let fired = call(
        "GET",
        &format!("{}/__scheduled?cron={cron}", instance.url),
        &[],
        None,
    );
    assert!(fired.status < 300, "{}", fired.text());
    let deadline = Instant::now() + Duration::from_secs(180);
    let left = || {
        psql(&format!(
            "select count(*) from tenant_keys where wrapped_key is not null and master_key_id <> '{active_id}'"
        ))
    };
    while left() != "0" {
        assert!(Instant::now() < deadline, "{} keys left to re-wrap", left());
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_master_key_rotates_by_restart_and_the_old_one_can_then_be_removed() {
    let original = stack_master_keys();
    let original_id = original.split(':').next().unwrap().to_string();
    let owner = new_user();
    let connection = owner.create_connection();
    let team = psql(&format!(
        "select team_id from okta_connections where id = '{connection}'"
    ));
    let wrapped_by = || {
        psql(&format!(
            "select string_agg(distinct master_key_id, ',') from tenant_keys where team_id = '{team}' and wrapped_key is not null"
        ))
    };
    assert_eq!(wrapped_by(), original_id);

    // Restart 1: the new key active, the old one kept to unwrap.
    {
        let both = format!("{ROTATED},{original}");
        let rotating = WorkerInstance::start("rotating", &[("MASTER_KEYS", &both)], &[]);
        rewrap_all(&rotating, "rot");
    }
    assert_eq!(wrapped_by(), "rot");
    let audited = activity(&team);
    assert!(
        audited
            .iter()
            .any(|r| r["action"] == "key.rewrap" && r["actor_type"] == "system"),
        "no key.rewrap activity row"
    );

    // Restart 2: the old key removed. The credential still opens: a backup completes.
    {
        let rotated = WorkerInstance::start("rotated", &[("MASTER_KEYS", ROTATED)], &[]);
        let auth = format!("Bearer {}", owner.jwt);
        let started = call(
            "POST",
            &format!("{}/api/v1/connections/{connection}/backups", rotated.url),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(b"{}"),
        );
        assert_eq!(started.status, 202, "{}", started.text());
        let id = started.json()["backup"]["id"].as_str().unwrap().to_string();
        let backup = owner.wait_backup(&id);
        assert_eq!(backup["status"], "complete", "{backup}");
    }

    // Back under the stack's own key, for the tests after this one.
    {
        let back = format!("{original},{ROTATED}");
        let restoring = WorkerInstance::start("restoring", &[("MASTER_KEYS", &back)], &[]);
        rewrap_all(&restoring, &original_id);
    }
    assert_eq!(wrapped_by(), original_id);
    owner.api("DELETE", &format!("/connections/{connection}"), None);
}
