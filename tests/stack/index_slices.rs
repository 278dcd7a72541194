//! Backup indexing in the database (migration 0029): the job runs in slices, each call names
//! the step it moves on from, and sweeps pass over a type's heads in chunks.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{new_user, psql, service};

fn rpc(function: &str, args: &Value) -> Value {
    let reply = service("POST", &format!("rpc/{function}"), Some(args));
    assert_eq!(reply.status, 200, "{function}: {}", reply.text());
    reply.json()
}

#[test]
fn indexing_runs_in_slices_and_its_sweeps_remove_in_chunks_what_a_backup_lacks() {
    let user = new_user();
    let connection = user.create_connection();
    let backup = user.backup(&connection);
    assert_eq!(backup["status"], "complete", "{backup}");
    let id = backup["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while psql(&format!(
        "select coalesce((select done from resource_index_progress where backup_id = '{id}'), false)"
    )) != "t"
    {
        assert!(Instant::now() < deadline, "backup {id} not indexed");
        std::thread::sleep(Duration::from_millis(500));
    }
    // The suite's slices are 20 subrequests; every collected type took at least one call.
    let steps: u32 = psql(&format!(
        "select step from resource_index_progress where backup_id = '{id}'"
    ))
    .parse()
    .unwrap();
    assert!(steps > 24, "{steps} steps");
    let heads = |state: &str| -> u32 {
        psql(&format!(
            "select count(*) from resource_heads where connection_id = '{connection}'
              and resource_type = 'users' and state = '{state}'"
        ))
        .parse()
        .unwrap()
    };
    let users = heads("present");
    assert!(users >= 5, "{users} users indexed");
    assert_eq!(
        psql(&format!(
            "select count(*) from resource_index_seen where backup_id = '{id}'"
        )),
        "0"
    );

    // A later backup of the same connection that holds only two of those users.
    let later = psql(&format!(
        "insert into backups (id, team_id, connection_id, requested_by, trigger, status,
                              started_at, finished_at, r2_prefix, manifest_sha256)
         select gen_random_uuid(), team_id, connection_id, requested_by, trigger, 'complete',
                now(), now(), r2_prefix || 'later/', manifest_sha256
           from backups where id = '{id}' returning id"
    ));
    let kept = psql(&format!(
        "select json_agg(json_build_object('id', resource_id, 'hash', content_hash, 'position', n))
           from (select resource_id, content_hash, row_number() over (order by resource_id) - 1 as n
                   from resource_heads where connection_id = '{connection}'
                    and resource_type = 'users' order by resource_id limit 2) h"
    ));
    let kept: Value = serde_json::from_str(&kept).unwrap();
    let key = psql(&format!(
        "select hash_key from resource_heads where connection_id = '{connection}' limit 1"
    ));
    let observe = |step: u64| {
        rpc(
            "resource_index_observe",
            &json!({"p_backup": later, "p_step": step, "p_type": "users", "p_ordinal": 0,
                    "p_hash_key": key, "p_items": kept, "p_offset": 10, "p_position": 2}),
        )
    };
    assert_eq!(
        observe(0),
        json!({"step": 1, "recorded": 0, "unchanged": 2})
    );
    // A racing delivery that read step 0 too does nothing.
    assert_eq!(observe(0), json!({"stale": true}));
    let mut step = 1;
    let (mut calls, mut removed) = (0, 0);
    loop {
        let swept = rpc(
            "resource_index_sweep",
            &json!({"p_backup": later, "p_step": step, "p_type": "users", "p_ordinal": 0,
                    "p_hash_key": key, "p_limit": 2}),
        );
        calls += 1;
        step = swept["step"].as_u64().expect("a step");
        removed += swept["removed"].as_u64().unwrap();
        if swept["done"] == true {
            break;
        }
        let checkpoint: Value = serde_json::from_str(&psql(&format!(
            "select checkpoint from resource_index_progress where backup_id = '{later}'"
        )))
        .unwrap();
        assert_eq!(checkpoint, json!({"ordinal": 0, "phase": "sweep"}));
    }
    assert_eq!(calls, users / 2 + 1, "{users} heads, 2 a call");
    assert_eq!(removed, u64::from(users) - 2);
    assert_eq!((heads("present"), heads("removed")), (2, users - 2));
    assert_eq!(
        psql(&format!(
            "select count(*) from resource_index_seen where backup_id = '{later}'"
        )),
        "0"
    );
    let checkpoint: Value = serde_json::from_str(&psql(&format!(
        "select checkpoint from resource_index_progress where backup_id = '{later}'"
    )))
    .unwrap();
    assert_eq!(
        checkpoint["ordinal"], 1,
        "the next type's start: {checkpoint}"
    );
    // A limit out of bounds is refused; the finish moves the step once.
    let reply = service(
        "POST",
        "rpc/resource_index_sweep",
        Some(
            &json!({"p_backup": later, "p_step": step, "p_type": "users", "p_ordinal": 1,
                     "p_hash_key": key, "p_limit": 50001}),
        ),
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    let finish = |step: u64| {
        rpc(
            "resource_index_finish",
            &json!({"p_backup": later, "p_step": step}),
        )
    };
    assert_eq!(finish(step), json!(true));
    assert_eq!(finish(step + 1), json!(false));
    // Members cannot call the index functions.
    let reply = user.rest(
        "POST",
        "rpc/resource_index_finish",
        Some(&json!({"p_backup": later, "p_step": 0})),
    );
    assert!(reply.status >= 400, "{}", reply.text());
}
