//! Human output: plain functions from the API's JSON to text, so they are tested without a
//! terminal. `--json` output is the API's own JSON and does not come through here.

use std::fmt::Write as _;

use serde_json::Value;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// A timestamp shortened to the second, as `2026-12-04 18:51:24Z`.
pub fn when(v: &Value) -> String {
    match v.as_str() {
        Some(t) if t.len() >= 19 => format!("{} {}Z", &t[..10], &t[11..19]),
        Some(t) => t.to_string(),
        None => "-".into(),
    }
}

pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Columns padded to their widest cell; the last is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                let _ = write!(out, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

pub fn teams(teams: &Value) -> String {
    let rows: Vec<Vec<String>> = teams
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            vec![
                s(&t["id"]).into(),
                s(&t["name"]).into(),
                s(&t["role"]).into(),
            ]
        })
        .collect();
    table(&["TEAM", "NAME", "ROLE"], &rows)
}

pub fn connections(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            vec![
                s(&c["id"]).into(),
                s(&c["org_domain"]).into(),
                s(&c["status"]).into(),
                when(&c["verified_at"]),
                c["last_error"].as_str().unwrap_or("").into(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "No connections.\n".into();
    }
    table(&["ID", "ORG", "STATUS", "VERIFIED", "LAST ERROR"], &rows)
}

pub fn backups(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            vec![
                s(&b["id"]).into(),
                s(&b["status"]).into(),
                s(&b["trigger"]).into(),
                when(&b["started_at"]),
                when(&b["finished_at"]),
                b["object_count"]
                    .as_u64()
                    .map_or("-".into(), |c| c.to_string()),
                b["sealed_bytes"].as_u64().map_or("-".into(), bytes),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "No backups.\n".into();
    }
    table(
        &[
            "ID", "STATUS", "TRIGGER", "STARTED", "FINISHED", "OBJECTS", "SIZE",
        ],
        &rows,
    )
}

/// A finished (or queued) backup run.
pub fn backup(b: &Value) -> String {
    let id = s(&b["id"]);
    match s(&b["status"]) {
        "complete" => {
            let mut out = format!(
                "Backup {id} complete: {} objects, {} sealed, started {}, finished {}\n",
                n(&b["object_count"]),
                bytes(n(&b["sealed_bytes"])),
                when(&b["started_at"]),
                when(&b["finished_at"]),
            );
            if let Some(counts) = b["counts"].as_object().filter(|c| !c.is_empty()) {
                let rows: Vec<Vec<String>> = counts
                    .iter()
                    .map(|(t, c)| vec![t.clone(), n(c).to_string()])
                    .collect();
                out.push_str(&table(&["TYPE", "ITEMS"], &rows));
            }
            out
        }
        "failed" => format!(
            "Backup {id} failed: {}\n",
            b["error"].as_str().unwrap_or("no reason given")
        ),
        status => format!("Backup {id} {status}, started {}\n", when(&b["started_at"])),
    }
}

/// The head of a diff: the two backups and the counts per type.
pub fn diff_summary(page: &Value) -> String {
    let mut out = format!(
        "From backup {} ({}) to {} ({}): {} changes\n",
        s(&page["from"]["id"]),
        when(&page["from"]["started_at"]),
        s(&page["to"]["id"]),
        when(&page["to"]["started_at"]),
        n(&page["total"]),
    );
    let rows: Vec<Vec<String>> = page["summary"]["types"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| {
            t["compared"] == true && n(&t["added"]) + n(&t["removed"]) + n(&t["changed"]) > 0
        })
        .map(|t| {
            vec![
                s(&t["resource"]).into(),
                n(&t["added"]).to_string(),
                n(&t["removed"]).to_string(),
                n(&t["changed"]).to_string(),
                n(&t["unchanged"]).to_string(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(
            &["TYPE", "ADDED", "REMOVED", "CHANGED", "UNCHANGED"],
            &rows,
        ));
    }
    out
}

fn value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => format!("{s:?}"),
        other => {
            let text = other.to_string();
            if text.chars().count() > 80 {
                text.chars().take(77).collect::<String>() + "..."
            } else {
                text
            }
        }
    }
}

/// One field change: `  /status: "ACTIVE" -> "SUSPENDED"`.
fn field(f: &Value) -> String {
    let path = s(&f["path"]);
    if f["secret"] == true && f.get("before").is_none() && f.get("after").is_none() {
        return format!("    {path}: (secret, withheld)\n");
    }
    match s(&f["op"]) {
        "added" => format!("    {path}: added {}\n", value(&f["after"])),
        "removed" => format!("    {path}: removed {}\n", value(&f["before"])),
        _ => {
            if let Some(m) = f.get("members") {
                let list = |k: &str| {
                    m[k].as_array()
                        .map(|a| a.iter().map(value).collect::<Vec<_>>().join(", "))
                        .unwrap_or_default()
                };
                format!("    {path}: +[{}] -[{}]\n", list("added"), list("removed"))
            } else {
                format!(
                    "    {path}: {} -> {}\n",
                    value(&f["before"]),
                    value(&f["after"])
                )
            }
        }
    }
}

/// One resource that differs between the backups.
pub fn change(c: &Value) -> String {
    let mark = match s(&c["kind"]) {
        "added" => "+",
        "removed" => "-",
        _ => "~",
    };
    let mut out = format!("{mark} {} {}", s(&c["resource"]), s(&c["id"]));
    if let Some(after) = c["after_id"].as_str() {
        let _ = write!(out, " -> {after}");
    }
    out.push('\n');
    for f in c["fields"].as_array().into_iter().flatten() {
        out.push_str(&field(f));
    }
    out
}

/// A restore plan (`POST /connections/{id}/restores`, `GET /restores/{id}`).
pub fn restore(view: &Value) -> String {
    let row = &view["restore"];
    let id = s(&row["id"]);
    let mut out = format!(
        "Restore plan {id} ({}{}): backup {} into connection {}\n  created {}, expires {}\n",
        s(&row["status"]),
        if view["expired"] == true {
            ", expired"
        } else {
            ""
        },
        s(&row["source_backup_id"]),
        s(&row["target_connection_id"]),
        when(&row["created_at"]),
        when(&row["expires_at"]),
    );
    let overview = &row["overview"];
    let types = overview["summary"]["types"].as_object();
    let rows: Vec<Vec<String>> = types
        .into_iter()
        .flatten()
        .map(|(t, c)| {
            vec![
                t.clone(),
                n(&c["create"]).to_string(),
                n(&c["update"]).to_string(),
                n(&c["delete"]).to_string(),
                n(&c["skip"]).to_string(),
                n(&c["unchanged"]).to_string(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(
            &["TYPE", "CREATE", "UPDATE", "DELETE", "SKIP", "UNCHANGED"],
            &rows,
        ));
    }
    let blockers: Vec<&str> = overview["blockers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !blockers.is_empty() {
        let _ = writeln!(out, "Blocked by: {}", blockers.join(", "));
    }
    for op in view["plan"]["operations"].as_array().into_iter().flatten() {
        if op["action"] == "skip" {
            continue;
        }
        let target = op["target_id"]
            .as_str()
            .or(op["source_id"].as_str())
            .unwrap_or("-");
        let _ = writeln!(
            out,
            "  {} {} {target}",
            s(&op["action"]),
            s(&op["resource"])
        );
        for f in op["fields"].as_array().into_iter().flatten() {
            out.push_str(&field(f));
        }
    }
    match row["apply_status"].as_str() {
        Some(status) => {
            let p = &row["progress"];
            let _ = writeln!(
                out,
                "Apply: {status}, {}/{} done ({} applied, {} failed, {} skipped){}",
                n(&p["done"]),
                n(&p["total"]),
                n(&p["applied"]),
                n(&p["failed"]),
                n(&p["skipped"]),
                row["apply_error"]
                    .as_str()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
        None if row["status"] == "ready" && blockers.is_empty() && view["expired"] != true => {
            let _ = writeln!(out, "Apply it with: butterfly restore apply {id}");
        }
        None => {}
    }
    out
}

/// The number of writes a plan makes (its operations other than skips).
pub fn writes(view: &Value) -> usize {
    view["plan"]["operations"].as_array().map_or(0, |ops| {
        ops.iter().filter(|o| o["action"] != "skip").count()
    })
}

/// An applied restore's receipt (`GET /restores/{id}/receipt`).
pub fn receipt(r: &Value) -> String {
    let receipt = &r["receipt"];
    let c = &receipt["counts"];
    let mut out = format!(
        "Restore {}: {} at {}\n  {} applied, {} failed, {} skipped, {} unsupported of {}\n  receipt sha256 {}\n",
        s(&receipt["restore_id"]),
        s(&receipt["status"]),
        when(&receipt["finished_at"]),
        n(&c["applied"]),
        n(&c["failed"]),
        n(&c["skipped"]),
        n(&c["unsupported"]),
        n(&c["total"]),
        s(&r["sha256"]),
    );
    for op in receipt["not_restored"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  not restored: {} {} {} ({}): {}",
            s(&op["action"]),
            s(&op["resource"]),
            op["target_id"]
                .as_str()
                .or(op["source_id"].as_str())
                .unwrap_or("-"),
            s(&op["outcome"]),
            op["reason"].as_str().unwrap_or("no reason given")
        );
    }
    out
}

/// An audit pack's verification, as the auditor's tool reports it.
pub fn verification(file: &str, outcome: &audit_verify::Outcome) -> String {
    let s = &outcome.summary;
    if !outcome.ok() {
        let mut out = format!("{file}: FAILED, {} problems\n", outcome.failures.len());
        for f in &outcome.failures {
            let _ = writeln!(out, "  - {f}");
        }
        return out;
    }
    let mut out = format!(
        "{file}: OK, audit pack {}\n  signature: Ed25519 by key {}, verified\n  files: {} checked (SHA-256 and size)\n",
        s.pack_id, s.key_id, s.files
    );
    match (s.first_seq, s.last_seq) {
        (Some(first), Some(last)) => {
            let _ = writeln!(
                out,
                "  activity chain: {} rows, seq {first} to {last}, linked; {} anchors matched",
                s.rows, s.anchors
            );
        }
        _ => out.push_str("  activity chain: no rows in this pack\n"),
    }
    let _ = writeln!(
        out,
        "  identities: {} opened, {} erased; snapshot manifests: {} matched",
        s.identities_opened, s.identities_erased, s.backup_manifests
    );
    for note in &s.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_their_columns() {
        let t = table(
            &["ID", "NAME"],
            &[
                vec!["a".into(), "x".into()],
                vec!["long-id".into(), "y".into()],
            ],
        );
        assert_eq!(t, "ID       NAME\na        x\nlong-id  y\n");
    }

    #[test]
    fn sizes_and_times_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(
            when(&json!("2026-12-04T18:51:24.123456+00:00")),
            "2026-12-04 18:51:24Z"
        );
        assert_eq!(when(&Value::Null), "-");
    }

    #[test]
    fn connections_and_backups_render_as_tables() {
        let c = connections(
            &json!([{"id": "c1", "org_domain": "acme.okta.com", "status": "active",
                                     "verified_at": "2026-12-04T10:00:00Z", "last_error": null}]),
        );
        assert!(c.starts_with("ID  ORG"), "{c}");
        assert!(
            c.contains("c1  acme.okta.com  active  2026-12-04 10:00:00Z"),
            "{c}"
        );
        assert_eq!(connections(&json!([])), "No connections.\n");
        let b = backups(
            &json!([{"id": "b1", "status": "complete", "trigger": "manual",
                                 "started_at": "2026-12-04T10:00:00Z", "finished_at": "2026-12-04T10:01:00Z",
                                 "object_count": 24, "sealed_bytes": 2048}]),
        );
        assert!(b.contains("b1  complete  manual"), "{b}");
        assert!(b.contains("24       2.0 KiB"), "{b}");
    }

    #[test]
    fn a_finished_backup_says_how_it_ended() {
        let done = backup(&json!({"id": "b1", "status": "complete", "object_count": 3,
                                  "sealed_bytes": 100, "counts": {"users": 5, "groups": 2}}));
        assert!(
            done.starts_with("Backup b1 complete: 3 objects, 100 B sealed"),
            "{done}"
        );
        assert!(done.contains("users   5"), "{done}");
        let failed = backup(&json!({"id": "b2", "status": "failed", "error": "okta_rejected"}));
        assert_eq!(failed, "Backup b2 failed: okta_rejected\n");
    }

    #[test]
    fn a_diff_shows_its_counts_then_each_change_with_its_fields() {
        let page = json!({
            "from": {"id": "b1", "started_at": "2026-12-01T00:00:00Z"},
            "to": {"id": "b2", "started_at": "2026-12-02T00:00:00Z"},
            "total": 2,
            "summary": {"types": [
                {"resource": "users", "compared": true, "added": 0, "removed": 0, "changed": 1, "unchanged": 9},
                {"resource": "apps", "compared": true, "added": 0, "removed": 0, "changed": 0, "unchanged": 4},
                {"resource": "groups", "compared": true, "added": 1, "removed": 0, "changed": 0, "unchanged": 3}]},
        });
        let head = diff_summary(&page);
        assert!(head.starts_with(
            "From backup b1 (2026-12-01 00:00:00Z) to b2 (2026-12-02 00:00:00Z): 2 changes\n"
        ));
        assert!(
            head.contains("users   0      0        1        9"),
            "{head}"
        );
        assert!(
            !head.contains("apps"),
            "unchanged types are left out: {head}"
        );
        let changed = change(
            &json!({"resource": "users", "id": "00u1", "kind": "changed",
            "fields": [{"path": "/status", "op": "modified", "before": "ACTIVE", "after": "SUSPENDED"},
                       {"path": "/credentials/password", "op": "modified", "secret": true}]}),
        );
        assert_eq!(
            changed,
            "~ users 00u1\n    /status: \"ACTIVE\" -> \"SUSPENDED\"\n    /credentials/password: (secret, withheld)\n"
        );
        assert_eq!(
            change(&json!({"resource": "groups", "id": "00g9", "kind": "added"})),
            "+ groups 00g9\n"
        );
    }

    #[test]
    fn a_plan_shows_its_counts_writes_and_how_to_apply_it() {
        let view = json!({
            "expired": false,
            "restore": {"id": "r1", "status": "ready", "source_backup_id": "b1", "target_connection_id": "c1",
                        "overview": {"summary": {"types": {"groups": {"create": 0, "update": 1, "delete": 0, "skip": 0, "unchanged": 7}}},
                                     "blockers": []}},
            "plan": {"operations": [
                {"seq": 1, "action": "update", "resource": "groups", "source_id": "00g1", "target_id": "00g1",
                 "fields": [{"path": "/profile/description", "op": "modified", "before": "vandalised", "after": "Sales"}]},
                {"seq": 2, "action": "skip", "resource": "apps", "source_id": "0oa1"}]},
        });
        let text = restore(&view);
        assert!(
            text.starts_with("Restore plan r1 (ready): backup b1 into connection c1"),
            "{text}"
        );
        assert!(
            text.contains("groups  0       1       0       0     7"),
            "{text}"
        );
        assert!(
            text.contains(
                "  update groups 00g1\n    /profile/description: \"vandalised\" -> \"Sales\"\n"
            ),
            "{text}"
        );
        assert!(
            !text.contains("0oa1"),
            "skips are counted, not listed: {text}"
        );
        assert!(
            text.ends_with("Apply it with: butterfly restore apply r1\n"),
            "{text}"
        );
        assert_eq!(writes(&view), 1);
        let mut applied = view.clone();
        applied["restore"]["apply_status"] = json!("complete");
        applied["restore"]["progress"] =
            json!({"total": 1, "done": 1, "applied": 1, "failed": 0, "skipped": 0});
        assert!(restore(&applied)
            .ends_with("Apply: complete, 1/1 done (1 applied, 0 failed, 0 skipped)\n"));
    }

    #[test]
    fn a_receipt_names_what_failed() {
        let r = receipt(
            &json!({"sha256": "ab12", "receipt": {"restore_id": "r1", "status": "complete_with_failures",
            "finished_at": "2026-12-04T10:00:00Z",
            "counts": {"total": 2, "done": 2, "applied": 1, "failed": 1, "skipped": 0, "unsupported": 0},
            "operations": [{"outcome": "applied", "resource": "groups", "target_id": "00g1"}],
            "not_restored": [{"seq": 2, "action": "update", "outcome": "failed", "resource": "groups",
                              "target_id": "00g2", "reason": "okta said no"}]}}),
        );
        assert!(
            r.starts_with(
                "Restore r1: complete_with_failures at 2026-12-04 10:00:00Z\n  1 applied, 1 failed"
            ),
            "{r}"
        );
        assert!(r.contains("receipt sha256 ab12"), "{r}");
        assert!(
            r.contains("  not restored: update groups 00g2 (failed): okta said no\n"),
            "{r}"
        );
        assert!(!r.contains("00g1"), "{r}");
    }

    #[test]
    fn a_verification_lists_every_failure() {
        let mut outcome = audit_verify::Outcome::default();
        outcome.failures.push("manifest.sig does not verify".into());
        let text = verification("p.zip", &outcome);
        assert_eq!(
            text,
            "p.zip: FAILED, 1 problems\n  - manifest.sig does not verify\n"
        );
        let ok = verification("p.zip", &audit_verify::Outcome::default());
        assert!(ok.starts_with("p.zip: OK"), "{ok}");
    }
}
