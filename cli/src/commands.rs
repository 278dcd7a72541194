//! Each command: its API calls, its waiting, and its output (the API's JSON with `--json`,
//! [`crate::render`] otherwise).

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::api::Client;
use crate::args::{
    AuditPackCommand, BackupCommand, BackupsCommand, Cli, Command, ConnectionsCommand, DiffArgs,
    PlanArgs, RestoreCommand,
};
use crate::config::{self, ApiKey, ConfigFile, Settings, ENV_KEY};
use crate::error::{local, CliError};
use crate::render;

/// How often a running backup or restore is polled.
const POLL: Duration = Duration::from_secs(1);
/// Changes per diff page (the API's largest).
const DIFF_PAGE: u32 = 200;

struct Ctx {
    json: bool,
    config: PathBuf,
    flag_url: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = Ctx {
        json: cli.json,
        config: config::path(cli.config.as_deref(), &env)?,
        flag_url: cli.url,
    };
    match cli.command {
        Command::Login => login(&ctx),
        Command::Logout => logout(&ctx),
        Command::Whoami => whoami(&ctx),
        Command::Connections(ConnectionsCommand::List) => {
            let list = ctx.client()?.get("/connections")?;
            ctx.emit(&list, || render::connections(&list["connections"]))
        }
        Command::Backups(BackupsCommand::List { connection }) => {
            let path = format!("/connections/{}/backups", id(&connection)?);
            let list = ctx.client()?.get(&path)?;
            ctx.emit(&list, || render::backups(&list["backups"]))
        }
        Command::Backup(BackupCommand::Run {
            connection,
            no_wait,
        }) => backup_run(&ctx, &connection, no_wait),
        Command::Diff(args) => diff(&ctx, &args),
        Command::Restore(RestoreCommand::Plan(args)) => restore_plan(&ctx, &args),
        Command::Restore(RestoreCommand::Show { id: plan }) => {
            let view = ctx.client()?.get(&format!("/restores/{}", id(&plan)?))?;
            ctx.emit(&view, || render::restore(&view))
        }
        Command::Restore(RestoreCommand::Apply { id, yes, no_wait }) => {
            restore_apply(&ctx, &id, yes, no_wait)
        }
        Command::AuditPack(AuditPackCommand::Export {
            team,
            from,
            to,
            output,
            force,
        }) => export(&ctx, team, &from, &to, &output, force),
        Command::AuditPack(AuditPackCommand::Verify { file, jwks, key }) => {
            verify(&ctx, &file, jwks.as_deref(), key.as_deref())
        }
    }
}

impl Ctx {
    fn settings(&self) -> Result<Settings, CliError> {
        let file = config::load(&self.config)?;
        config::resolve(self.flag_url.as_deref(), &env, file.as_ref())
    }

    fn url(settings: &Settings) -> Result<String, CliError> {
        match &settings.url {
            Some((url, _)) => config::normalise_url(url),
            None => Err(CliError::Usage(
                "no API URL: pass --url, set BUTTERFLY_URL or run `butterfly login --url URL`"
                    .into(),
            )),
        }
    }

    /// A client with the key in force.
    fn client(&self) -> Result<Client, CliError> {
        let settings = self.settings()?;
        let (key, _) = settings.key.clone().ok_or(CliError::NotSignedIn)?;
        Ok(Client::new(Self::url(&settings)?, Some(key)))
    }

    /// The output of a command: the JSON, or the human text.
    fn emit(&self, json: &Value, human: impl FnOnce() -> String) -> Result<(), CliError> {
        if self.json {
            print(&format!("{json}\n"));
        } else {
            print(&human());
        }
        Ok(())
    }

    /// A progress display on stderr, only for a person watching (stdout a terminal, no --json).
    fn progress(&self, bar: impl FnOnce() -> ProgressBar) -> ProgressBar {
        if self.json || !std::io::stdout().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = bar();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        }
    }
}

/// Writes to stdout; a closed pipe (`butterfly diff ... | head`) ends the command quietly.
fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// An id the CLI puts into a path: a UUID, so nothing else can reach the URL.
fn id(text: &str) -> Result<&str, CliError> {
    let ok = text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if ok {
        Ok(text)
    } else {
        Err(CliError::Usage(format!("{text:?} is not an id (a UUID)")))
    }
}

fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}").expect("valid template"),
    );
    bar.set_message(message.to_string());
    bar
}

/// The key `login` checks: `BUTTERFLY_API_KEY`, else stdin (prompted for, without echo, on a
/// terminal). Never an argument: other users can read a process's arguments.
fn read_key() -> Result<ApiKey, CliError> {
    if let Some(key) = env(ENV_KEY).filter(|k| !k.trim().is_empty()) {
        return ApiKey::parse(&key);
    }
    let text = if std::io::stdin().is_terminal() {
        let term = console::Term::stderr();
        term.write_str("API key: ")
            .and_then(|()| term.read_secure_line())
            .map_err(|e| local("reading the key", e))?
    } else {
        let mut text = String::new();
        std::io::stdin()
            .take(4096)
            .read_to_string(&mut text)
            .map_err(|e| local("reading the key from stdin", e))?;
        text
    };
    ApiKey::parse(&text)
}

fn login(ctx: &Ctx) -> Result<(), CliError> {
    // A file `login` cannot read is one it is about to replace: only its URL would be used.
    let file = config::load(&ctx.config).ok().flatten();
    let settings = config::resolve(ctx.flag_url.as_deref(), &env, file.as_ref())?;
    let url = Ctx::url(&settings)?;
    let key = read_key()?;
    let client = Client::new(url.clone(), Some(key.clone()));
    let teams = client.get("/teams")?;
    config::save(
        &ctx.config,
        &ConfigFile {
            url: url.clone(),
            api_key: key.clone(),
        },
    )?;
    let out = json!({
        "url": url,
        "key_prefix": key.prefix(),
        "teams": teams["teams"],
        "config": ctx.config,
    });
    ctx.emit(&out, || {
        format!(
            "Signed in to {url} with key {}; saved to {}\n{}",
            key.prefix(),
            ctx.config.display(),
            render::teams(&teams["teams"])
        )
    })
}

fn logout(ctx: &Ctx) -> Result<(), CliError> {
    let removed = config::remove(&ctx.config)?;
    let out = json!({"removed": removed, "config": ctx.config});
    ctx.emit(&out, || {
        if removed {
            format!(
                "Removed {}. The key stays valid until it is revoked in Butterfly.\n",
                ctx.config.display()
            )
        } else {
            format!("Not signed in ({} does not exist).\n", ctx.config.display())
        }
    })
}

fn whoami(ctx: &Ctx) -> Result<(), CliError> {
    let settings = ctx.settings()?;
    let (key, key_source) = settings.key.clone().ok_or(CliError::NotSignedIn)?;
    let url = Ctx::url(&settings)?;
    let url_source = settings.url.as_ref().map(|(_, s)| s.as_str());
    let teams = Client::new(url.clone(), Some(key.clone())).get("/teams")?;
    let out = json!({
        "url": url,
        "url_source": url_source,
        "key_prefix": key.prefix(),
        "key_source": key_source.as_str(),
        "teams": teams["teams"],
    });
    ctx.emit(&out, || {
        format!(
            "{url} ({})\nkey {} ({})\n{}",
            url_source.unwrap_or("-"),
            key.prefix(),
            key_source.as_str(),
            render::teams(&teams["teams"])
        )
    })
}

/// Failures a wait rides out: the job goes on whether or not this poll was answered.
fn transient(e: &CliError) -> bool {
    matches!(e, CliError::Network(_))
        || matches!(e, CliError::Api { status, .. } if matches!(status, 429 | 502 | 503 | 504))
}

/// Most failed polls in a row before a wait gives up (the job itself keeps running).
const POLL_RETRIES: u32 = 5;

/// One poll of a running job, retried with a growing pause through transient failures.
fn poll(client: &Client, path: &str) -> Result<Value, CliError> {
    let mut failures = 0;
    loop {
        match client.get(path) {
            Err(e) if transient(&e) && failures < POLL_RETRIES => {
                failures += 1;
                std::thread::sleep(POLL * 2u32.pow(failures));
            }
            other => return other,
        }
    }
}

fn wait_backup(ctx: &Ctx, client: &Client, backup: &str) -> Result<Value, CliError> {
    let bar = ctx.progress(|| spinner("backup queued"));
    loop {
        let row = poll(client, &format!("/backups/{backup}"))?["backup"].clone();
        if row["status"] != "running" {
            bar.finish_and_clear();
            return Ok(row);
        }
        let checkpoint = render::when(&row["heartbeat_at"]);
        bar.set_message(format!(
            "backup running: {} slices, last checkpoint {}",
            row["slices"].as_u64().unwrap_or(0),
            checkpoint.split_once(' ').map_or("-", |(_, time)| time)
        ));
        std::thread::sleep(POLL);
    }
}

fn backup_run(ctx: &Ctx, connection: &str, no_wait: bool) -> Result<(), CliError> {
    let client = ctx.client()?;
    let created = client.post(&format!("/connections/{}/backups", id(connection)?), None)?;
    let mut row = created["backup"].clone();
    if !no_wait {
        let backup = row["id"].as_str().unwrap_or_default().to_string();
        row = wait_backup(ctx, &client, &backup)?;
    }
    ctx.emit(&json!({ "backup": row }), || render::backup(&row))?;
    if row["status"] == "failed" {
        return Err(CliError::JobFailed(format!(
            "backup {} failed: {}",
            row["id"].as_str().unwrap_or("-"),
            row["error"].as_str().unwrap_or("no reason given")
        )));
    }
    Ok(())
}

fn diff(ctx: &Ctx, args: &DiffArgs) -> Result<(), CliError> {
    let client = ctx.client()?;
    let base = format!("/connections/{}/diff", id(&args.connection)?);
    let (from, to) = (id(&args.from)?, id(&args.to)?);
    let mut cursor: Option<String> = None;
    let mut first: Option<Value> = None;
    let mut all = Vec::new();
    loop {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("from", from)
            .append_pair("to", to)
            .append_pair("limit", &DIFF_PAGE.to_string());
        if let Some(t) = &args.resource_type {
            q.append_pair("type", t);
        }
        if let Some(r) = &args.resource_id {
            q.append_pair("resource_id", r);
        }
        if let Some(c) = &cursor {
            q.append_pair("cursor", c);
        }
        let mut page = client.get(&format!("{base}?{}", q.finish()))?;
        let changes = page["changes"].take();
        let changes = changes.as_array().cloned().unwrap_or_default();
        if first.is_none() && !ctx.json {
            print(&render::diff_summary(&page));
        }
        if ctx.json {
            all.extend(changes);
        } else {
            // Each page as it arrives: a large diff starts showing at once.
            print(&changes.iter().map(render::change).collect::<String>());
        }
        cursor = page["next_cursor"].as_str().map(str::to_string);
        first.get_or_insert(page);
        if cursor.is_none() {
            break;
        }
    }
    if ctx.json {
        let head = first.unwrap_or_default();
        let out = json!({"from": head["from"], "to": head["to"], "summary": head["summary"],
                         "total": head["total"], "changes": all});
        print(&format!("{out}\n"));
    }
    Ok(())
}

fn plan_body(args: &PlanArgs) -> Result<Value, CliError> {
    let scope = if !args.types.is_empty() {
        json!({"kind": "types", "resources": args.types})
    } else if !args.resource.is_empty() {
        let items = args
            .resource
            .iter()
            .map(|r| match r.split_once(':') {
                Some((t, i)) if !t.is_empty() && !i.is_empty() => {
                    Ok(json!({"resource": t, "id": i}))
                }
                _ => Err(CliError::Usage(format!(
                    "--resource {r:?}: expected TYPE:ID, e.g. groups:00g1abcd"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        json!({"kind": "resources", "items": items})
    } else {
        json!({"kind": "tenant"})
    };
    Ok(json!({
        "source_backup_id": id(&args.from)?,
        "scope": scope,
        "options": {"delete_missing": args.delete_missing, "override_lockout": args.override_lockout},
    }))
}

fn restore_plan(ctx: &Ctx, args: &PlanArgs) -> Result<(), CliError> {
    let body = plan_body(args)?;
    let path = format!("/connections/{}/restores", id(&args.connection)?);
    let view = ctx.client()?.post(&path, Some(&body))?;
    ctx.emit(&view, || render::restore(&view))
}

/// Asks on the terminal; without one, applying needs `--yes`.
fn confirm(view: &Value) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "restore apply writes to Okta: pass --yes to apply without a terminal to confirm on"
                .into(),
        ));
    }
    let term = console::Term::stderr();
    let shown: String = render::restore(view)
        .lines()
        .filter(|l| !l.starts_with("Apply it with:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let question = format!(
        "{shown}Apply restore {} ({} writes to connection {})? Type \"yes\" to apply: ",
        view["restore"]["id"].as_str().unwrap_or("-"),
        render::writes(view),
        view["restore"]["target_connection_id"]
            .as_str()
            .unwrap_or("-"),
    );
    term.write_str(&question)
        .map_err(|e| local("the terminal", e))?;
    let answer = term.read_line().map_err(|e| local("the terminal", e))?;
    if answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(CliError::Usage(
            "not applied (the answer was not \"yes\")".into(),
        ))
    }
}

fn wait_restore(ctx: &Ctx, client: &Client, plan: &str) -> Result<Value, CliError> {
    let bar = ctx.progress(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    });
    loop {
        let row = poll(client, &format!("/restores/{plan}"))?["restore"].clone();
        let p = &row["progress"];
        bar.set_length(p["total"].as_u64().unwrap_or(0));
        bar.set_position(p["done"].as_u64().unwrap_or(0));
        bar.set_message(format!(
            "operations ({} failed)",
            p["failed"].as_u64().unwrap_or(0)
        ));
        if row["apply_status"] != "running" {
            bar.finish_and_clear();
            return Ok(row);
        }
        std::thread::sleep(POLL);
    }
}

fn restore_apply(ctx: &Ctx, plan: &str, yes: bool, no_wait: bool) -> Result<(), CliError> {
    let client = ctx.client()?;
    let plan = id(plan)?;
    if !yes {
        confirm(&client.get(&format!("/restores/{plan}"))?)?;
    }
    let applied = client.post(&format!("/restores/{plan}/apply"), None)?;
    if no_wait {
        return ctx.emit(&applied, || render::restore(&applied));
    }
    let row = wait_restore(ctx, &client, plan)?;
    let status = row["apply_status"].as_str().unwrap_or("-").to_string();
    if status == "failed" {
        ctx.emit(&json!({ "restore": row }), || {
            format!("Restore {plan} stopped; applying it again resumes it.\n")
        })?;
        return Err(CliError::JobFailed(format!(
            "restore {plan} failed: {}",
            row["apply_error"].as_str().unwrap_or("no reason given")
        )));
    }
    let receipt = client.get(&format!("/restores/{plan}/receipt"))?;
    ctx.emit(&json!({"restore": row, "receipt": receipt}), || {
        render::receipt(&receipt)
    })?;
    if status != "complete" {
        return Err(CliError::JobFailed(format!(
            "restore {plan} ended {status}: see the receipt"
        )));
    }
    Ok(())
}

/// RFC 3339 as given, or a date: its start (`end` false) or its end (`end` true), in UTC.
pub fn when(text: &str, end: bool) -> Result<String, CliError> {
    use chrono::{DateTime, Days, NaiveDate, Utc};
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t
            .with_timezone(&Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        CliError::Usage(format!(
            "{text:?} is neither a date (2026-12-01) nor an RFC 3339 time"
        ))
    })?;
    let day = if end {
        date.checked_add_days(Days::new(1))
            .ok_or_else(|| CliError::Usage(format!("{text:?} is out of range")))?
    } else {
        date
    };
    Ok(format!("{}T00:00:00Z", day.format("%Y-%m-%d")))
}

/// The team to export: the one named, else the key's only team.
fn export_team(client: &Client, team: Option<String>) -> Result<String, CliError> {
    if let Some(t) = team {
        return Ok(id(&t)?.to_string());
    }
    let teams = client.get("/teams")?;
    match teams["teams"].as_array().map(Vec::as_slice) {
        Some([one]) => Ok(one["id"].as_str().unwrap_or_default().to_string()),
        _ => Err(CliError::Usage(
            "the key reaches several teams (or none): pass --team (see `butterfly whoami`)".into(),
        )),
    }
}

fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    output.with_file_name(name)
}

fn export(
    ctx: &Ctx,
    team: Option<String>,
    from: &str,
    to: &str,
    output: &Path,
    force: bool,
) -> Result<(), CliError> {
    let (from, to) = (when(from, false)?, when(to, true)?);
    if output.exists() && !force {
        return Err(CliError::Usage(format!(
            "{} exists: pass --force to replace it",
            output.display()
        )));
    }
    let client = ctx.client()?;
    let team = export_team(&client, team)?;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("team_id", &team)
        .append_pair("from", &from)
        .append_pair("to", &to)
        .finish();
    // Written beside the target and renamed only once complete: a failed transfer leaves no
    // file that looks like a pack. Evidence is sensitive: 0600 like the config.
    let partial = partial_path(output);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| local(partial.display(), e))?;
    let bar = ctx.progress(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed:>4} {bytes} {binary_bytes_per_sec} {msg}",
            )
            .expect("valid template"),
        );
        bar.set_message("audit pack");
        bar
    });
    let result = client
        .download(
            &format!("/export/audit-pack?{query}"),
            &mut file,
            &mut |n| bar.set_position(n),
        )
        .and_then(|done| {
            file.sync_all().map_err(|e| local(partial.display(), e))?;
            std::fs::rename(&partial, output).map_err(|e| local(output.display(), e))?;
            Ok(done)
        });
    bar.finish_and_clear();
    let done = result.inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    let out = json!({"file": output, "bytes": done.bytes, "sha256": done.sha256,
                     "team_id": team, "from": from, "to": to});
    ctx.emit(&out, || {
        format!(
            "Wrote {} ({}, sha256 {})\nCheck it with: butterfly audit-pack verify {}\n",
            output.display(),
            render::bytes(done.bytes),
            done.sha256,
            output.display()
        )
    })
}

fn trusted_keys(
    ctx: &Ctx,
    jwks: Option<&Path>,
    pem: Option<&Path>,
) -> Result<audit_verify::TrustedKeys, CliError> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| local(p.display(), e));
    match (jwks, pem) {
        (Some(p), _) => {
            audit_verify::TrustedKeys::from_jwks(&read(p)?).map_err(|e| local(p.display(), e))
        }
        (None, Some(p)) => {
            audit_verify::TrustedKeys::from_pem(&read(p)?).map_err(|e| local(p.display(), e))
        }
        // The keys the API publishes, over the same checked HTTPS as every call (no key needed).
        (None, None) => {
            let url = Ctx::url(&ctx.settings()?)?;
            let text =
                Client::new(url, None).public_text("/.well-known/butterfly-audit-keys.json")?;
            audit_verify::TrustedKeys::from_jwks(&text)
                .map_err(|e| CliError::Network(format!("the API's audit keys: {e}")))
        }
    }
}

fn verify(ctx: &Ctx, file: &Path, jwks: Option<&Path>, pem: Option<&Path>) -> Result<(), CliError> {
    let keys = trusted_keys(ctx, jwks, pem)?;
    let pack = std::fs::File::open(file).map_err(|e| local(file.display(), e))?;
    let outcome = audit_verify::verify_pack(std::io::BufReader::new(pack), &keys);
    let s = &outcome.summary;
    let out = json!({
        "file": file,
        "ok": outcome.ok(),
        "failures": outcome.failures,
        "summary": {
            "pack_id": s.pack_id, "key_id": s.key_id, "files": s.files, "rows": s.rows,
            "first_seq": s.first_seq, "last_seq": s.last_seq, "anchors": s.anchors,
            "identities_opened": s.identities_opened, "identities_erased": s.identities_erased,
            "backup_manifests": s.backup_manifests, "notes": s.notes,
        },
    });
    let name = file.display().to_string();
    ctx.emit(&out, || render::verification(&name, &outcome))?;
    if outcome.ok() {
        Ok(())
    } else {
        Err(CliError::Verification(format!(
            "{name} does not verify: {} problems",
            outcome.failures.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    const U: &str = "0a1b2c3d-0000-4000-8000-00000000abcd";

    fn plan(args: &[&str]) -> Result<Value, CliError> {
        let cli = Cli::try_parse_from(
            ["butterfly", "restore", "plan", U, "--from", U]
                .iter()
                .chain(args),
        )
        .unwrap();
        match cli.command {
            Command::Restore(RestoreCommand::Plan(p)) => plan_body(&p),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ids_in_paths_are_uuids_only() {
        assert_eq!(id(U).unwrap(), U);
        for bad in [
            "",
            "../../teams",
            "0a1b2c3d-0000-4000-8000-00000000abc?",
            U.replace('-', "_").as_str(),
        ] {
            assert!(matches!(id(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn a_plan_body_has_the_scope_the_flags_name() {
        assert_eq!(plan(&[]).unwrap()["scope"], json!({"kind": "tenant"}));
        let body = plan(&["--types", "groups,group_members", "--delete-missing"]).unwrap();
        assert_eq!(
            body,
            json!({"source_backup_id": U,
                   "scope": {"kind": "types", "resources": ["groups", "group_members"]},
                   "options": {"delete_missing": true, "override_lockout": false}})
        );
        let body = plan(&["--resource", "groups:00g1", "--resource", "users:00u2"]).unwrap();
        assert_eq!(
            body["scope"],
            json!({"kind": "resources", "items": [{"resource": "groups", "id": "00g1"},
                                                  {"resource": "users", "id": "00u2"}]})
        );
        assert!(matches!(
            plan(&["--resource", "groups"]),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            plan(&["--resource", ":1"]),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn waits_ride_out_rate_limits_and_outages_but_not_refusals() {
        let api = |status| CliError::Api {
            status,
            code: "x".into(),
            message: "m".into(),
            request_id: None,
        };
        for status in [429, 502, 503, 504] {
            assert!(transient(&api(status)), "{status}");
        }
        assert!(transient(&CliError::Network("reset".into())));
        for status in [400, 401, 403, 404, 409, 500] {
            assert!(!transient(&api(status)), "{status}");
        }
        assert!(!transient(&CliError::NotSignedIn));
    }

    #[test]
    fn export_ranges_take_dates_or_rfc3339() {
        assert_eq!(when("2026-12-01", false).unwrap(), "2026-12-01T00:00:00Z");
        assert_eq!(when("2026-12-31", true).unwrap(), "2027-01-01T00:00:00Z");
        assert_eq!(
            when("2026-12-01T10:00:00+02:00", true).unwrap(),
            "2026-12-01T08:00:00Z"
        );
        assert!(matches!(when("yesterday", false), Err(CliError::Usage(_))));
    }

    #[test]
    fn a_partial_export_sits_beside_its_file() {
        assert_eq!(
            partial_path(Path::new("/tmp/x/pack.zip")),
            Path::new("/tmp/x/pack.zip.partial")
        );
    }
}
