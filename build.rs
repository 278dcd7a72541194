//! Build-time checks of configuration the code relies on, so a broken deploy fails at
//! `cargo build` with a clear message instead of at 3 a.m. in a cron trigger.

use std::fs;
use std::path::Path;

/// Names of settings that are secrets: they must come from `wrangler secret`, never `[vars]`.
const SECRETS: &[&str] = &[
    "SUPABASE_JWT_SECRET",
    "SUPABASE_SERVICE_ROLE_KEY",
    "MASTER_KEYS",
    "SNAPSHOT_MASTER_SECRET",
    "DOWNLOAD_SIGNING_KEY",
    "API_KEY_PEPPER",
    "AUDIT_SIGNING_KEYS",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "SENDGRID_API_KEY",
    "UNSUBSCRIBE_SIGNING_KEYS",
    "VERIFICATION_CODE_PEPPERS",
];

/// The setting that turns on the dashboard's dev-only sign-in (`config::Config::dev_sign_in`).
const DEV_ONLY: &str = "DEV_SIGN_IN_USER";

/// Every key anywhere in the document (`[vars]`, `[env.*.vars]`, ...).
fn toml_names(table: &toml::Table) -> Vec<String> {
    fn inner(value: &toml::Value) -> Vec<String> {
        match value {
            toml::Value::Table(table) => toml_names(table),
            toml::Value::Array(items) => items.iter().flat_map(inner).collect(),
            _ => Vec::new(),
        }
    }
    table
        .iter()
        .flat_map(|(k, v)| std::iter::once(k.clone()).chain(inner(v)))
        .collect()
}

/// Rate-limit bindings the worker requires (`platform::Runtime::load`).
const RATE_LIMITERS: &[&str] = &[
    "CALLER_LIMITER",
    "FAILED_AUTH_LIMITER",
    "KEY_LOOKUP_LIMITER",
    "DOWNLOAD_LIMITER",
];

fn main() {
    println!("cargo:rerun-if-changed=wrangler.toml");
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=src/config.rs");
    let mut errors = Vec::new();
    check_wrangler(&mut errors);
    check_migrations(&mut errors);
    if !errors.is_empty() {
        for e in &errors {
            println!("cargo:warning={e}");
        }
        panic!(
            "configuration checks failed:\n  - {}",
            errors.join("\n  - ")
        );
    }
}

/// The scheduler sends backups and compliance runs through JOB_QUEUE; the same worker must consume that queue.
fn check_queue(doc: &toml::Table, errors: &mut Vec<String>) {
    let list = |kind: &str| -> Vec<toml::Table> {
        doc.get("queues")
            .and_then(|q| q.get(kind))
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|t| t.as_table().cloned()).collect())
            .unwrap_or_default()
    };
    let field = |t: &toml::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let producer = list("producers")
        .into_iter()
        .find(|p| field(p, "binding").as_deref() == Some("JOB_QUEUE"));
    let Some(queue) = producer.and_then(|p| field(&p, "queue")) else {
        return errors.push(
            "wrangler.toml: a [[queues.producers]] binding named JOB_QUEUE is required".into(),
        );
    };
    if !list("consumers")
        .iter()
        .any(|c| field(c, "queue").as_deref() == Some(queue.as_str()))
    {
        errors.push(format!(
            "wrangler.toml: no [[queues.consumers]] entry consumes {queue}"
        ));
    }
}

fn check_wrangler(errors: &mut Vec<String>) {
    let text = match fs::read_to_string("wrangler.toml") {
        Ok(t) => t,
        Err(e) => return errors.push(format!("wrangler.toml: {e}")),
    };
    let doc: toml::Table = match text.parse() {
        Ok(d) => d,
        Err(e) => return errors.push(format!("wrangler.toml does not parse: {e}")),
    };
    let buckets = doc.get("r2_buckets").and_then(|b| b.as_array());
    let has_snapshots = buckets.is_some_and(|bs| {
        bs.iter()
            .any(|b| b.get("binding").and_then(|v| v.as_str()) == Some("SNAPSHOTS"))
    });
    if !has_snapshots {
        errors.push("wrangler.toml: an [[r2_buckets]] binding named SNAPSHOTS is required".into());
    }
    check_queue(&doc, errors);
    let limiters = doc.get("ratelimits").and_then(|r| r.as_array());
    for name in RATE_LIMITERS {
        let declared = limiters.is_some_and(|ls| {
            ls.iter().any(|l| {
                l.get("name").and_then(|v| v.as_str()) == Some(name)
                    && l.get("simple")
                        .and_then(|s| s.get("limit"))
                        .and_then(|v| v.as_integer())
                        .is_some_and(|n| n > 0)
            })
        });
        if !declared {
            errors.push(format!(
                "wrangler.toml: a [[ratelimits]] binding named {name} with simple.limit is required"
            ));
        }
    }
    if let Some(vars) = doc.get("vars").and_then(|v| v.as_table()) {
        for name in vars.keys() {
            if SECRETS.contains(&name.as_str()) {
                errors.push(format!("wrangler.toml: {name} is a secret; use `wrangler secret put {name}`, not [vars]"));
            }
        }
    }
    // The dashboard's dev sign-in mints a user's JWT for anyone who asks: only the local
    // stack's env file (scripts/dev.sh, scripts/test.sh) may set it, never the deployed config.
    if toml_names(&doc).iter().any(|name| name == DEV_ONLY) {
        errors.push(format!(
            "wrangler.toml: {DEV_ONLY} enables the dashboard's dev sign-in; set it only in the local stack's env file"
        ));
    }
    let crons: Vec<&str> = doc
        .get("triggers")
        .and_then(|t| t.get("crons"))
        .and_then(|c| c.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for cron in &crons {
        if let Err(e) = check_cron(cron) {
            errors.push(format!("wrangler.toml: cron \"{cron}\": {e}"));
        }
    }
    let config = fs::read_to_string("src/config.rs").unwrap_or_default();
    check_cpu_limit(&doc, &config, errors);
    let mut taken: Vec<(&str, &str)> = Vec::new();
    for (constant, job) in [
        ("DEFAULT_BACKUP_CRON", "backup"),
        ("DEFAULT_COMPLIANCE_CRON", "compliance"),
        ("DEFAULT_KEY_REWRAP_CRON", "master-key re-wrap"),
        ("DEFAULT_ANCHOR_CRON", "anchor"),
        ("DEFAULT_RETENTION_CRON", "retention"),
        ("DEFAULT_PURGE_CRON", "deletion purge"),
        ("DEFAULT_DRIFT_CRON", "drift"),
        ("DEFAULT_OUTBOX_CRON", "outbox delivery"),
        ("DEFAULT_DRILL_CRON", "recovery drill"),
    ] {
        let default_cron = config
            .lines()
            .find(|l| l.contains(&format!("pub const {constant}")))
            .and_then(|l| l.split('"').nth(1));
        match default_cron {
            // One job a cron: the scheduler starts the first schedule whose cron matches.
            Some(c) if taken.iter().any(|(t, _)| *t == c) => errors.push(format!(
                "src/config.rs: the {job} schedule \"{c}\" is also the {} schedule's",
                taken
                    .iter()
                    .find(|(t, _)| *t == c)
                    .map(|(_, j)| *j)
                    .unwrap_or_default()
            )),
            Some(c) if crons.contains(&c) => taken.push((c, job)),
            Some(c) => errors.push(format!(
                "wrangler.toml: no cron trigger matches the {job} schedule \"{c}\" in src/config.rs"
            )),
            None => errors.push(format!("src/config.rs: {constant} not found")),
        }
    }
}

/// `[limits] cpu_ms` must be set (Workers default to 30 s, which a large backup slice or
/// download would exceed), within what Workers allow, and equal to `WORKER_CPU_MS` in
/// src/config.rs, from which the backup slices' CPU bound is derived.
fn check_cpu_limit(doc: &toml::Table, config: &str, errors: &mut Vec<String>) {
    let cpu_ms = doc
        .get("limits")
        .and_then(|l| l.get("cpu_ms"))
        .and_then(|v| v.as_integer());
    let Some(cpu_ms) = cpu_ms else {
        return errors.push("wrangler.toml: [limits] cpu_ms is required".into());
    };
    if !(30_000..=300_000).contains(&cpu_ms) {
        errors.push(format!(
            "wrangler.toml: [limits] cpu_ms = {cpu_ms} is outside 30000..=300000"
        ));
    }
    let constant = config
        .lines()
        .find(|l| l.contains("pub const WORKER_CPU_MS"))
        .and_then(|l| l.split('=').nth(1))
        .map(|v| v.trim().trim_end_matches(';').replace('_', ""))
        .and_then(|v| v.parse::<i64>().ok());
    match constant {
        Some(c) if c == cpu_ms => {}
        Some(c) => errors.push(format!(
            "wrangler.toml: [limits] cpu_ms = {cpu_ms} but src/config.rs WORKER_CPU_MS = {c}"
        )),
        None => errors.push("src/config.rs: WORKER_CPU_MS not found".into()),
    }
}

/// Five fields, each `*`, a number, a range, a list or a step, within the field's bounds.
fn check_cron(expr: &str) -> Result<(), String> {
    const BOUNDS: [(&str, u32, u32); 5] = [
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day of month", 1, 31),
        ("month", 1, 12),
        ("day of week", 0, 7),
    ];
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != BOUNDS.len() {
        return Err(format!("expected 5 fields, found {}", fields.len()));
    }
    for (field, (name, lo, hi)) in fields.iter().zip(BOUNDS) {
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (part, None),
            };
            if let Some(step) = step {
                match step.parse::<u32>() {
                    Ok(s) if s >= 1 && s <= hi => {}
                    _ => return Err(format!("{name}: bad step \"{step}\"")),
                }
            }
            if range == "*" {
                continue;
            }
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let parse = |v: &str| v.parse::<u32>().ok().filter(|n| (lo..=hi).contains(n));
            match (parse(a), parse(b)) {
                (Some(a), Some(b)) if a <= b => {}
                _ => return Err(format!("{name}: \"{range}\" is not within {lo}-{hi}")),
            }
        }
    }
    Ok(())
}

/// `NNNN_snake_name.sql`, numbered 0001, 0002, ... with no gaps or duplicates.
fn check_migrations(errors: &mut Vec<String>) {
    let dir = Path::new("migrations");
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => return errors.push(format!("migrations/: {e}")),
    };
    names.sort();
    for (i, name) in names.iter().enumerate() {
        let expected = format!("{:04}_", i + 1);
        let stem_ok = name
            .strip_suffix(".sql")
            .and_then(|s| s.strip_prefix(&expected))
            .is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            });
        if !stem_ok {
            errors.push(format!("migrations/{name}: expected a name like {expected}snake_case.sql (sequential, no gaps)"));
        }
    }
}
