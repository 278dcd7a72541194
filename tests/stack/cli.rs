//! The `butterfly` CLI (`cli/`), the built binary (`BF_CLI`, set by scripts/test.sh) against the
//! real stack and an emulator org of this test's own (its restore writes disturb no other
//! test): an API key made through the API signs in (stored 0600, never printed), lists
//! connections, runs two backups around an admin's change, diffs them, plans and applies the
//! restore that undoes the change, and exports an audit pack that verifies while a tampered
//! copy fails with the verification exit status.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use okta_emulator::EmulatorConfig;
use serde_json::{json, Value};

use crate::support::*;

const TOKEN: &str = "cli-stack-test-okta-token-0123456789ab";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

struct Cli {
    home: PathBuf,
    /// Every output, to check the key never appears in any.
    seen: std::cell::RefCell<String>,
}

impl Cli {
    fn new() -> Cli {
        let home = std::env::temp_dir().join(format!(
            "butterfly-cli-stack-{}-{}",
            std::process::id(),
            now()
        ));
        std::fs::create_dir_all(&home).unwrap();
        Cli {
            home,
            seen: Default::default(),
        }
    }

    fn config(&self) -> PathBuf {
        self.home.join("xdg/butterfly/config.json")
    }

    fn run_with(&self, args: &[&str], stdin: Option<&str>, vars: &[(&str, &str)]) -> Run {
        let bin = env("BF_CLI");
        let mut cmd = Command::new(&bin);
        cmd.args(args)
            .env_remove("BUTTERFLY_API_KEY")
            .env_remove("BUTTERFLY_URL")
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join("xdg"))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{bin} does not run ({e}): scripts/test.sh builds it"));
        if let Some(text) = stdin {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let run = Run {
            code: out.status.code().expect("exited"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let mut seen = self.seen.borrow_mut();
        seen.push_str(&run.stdout);
        seen.push_str(&run.stderr);
        run
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None, &[])
    }

    /// Runs and expects success.
    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
        run
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn okta(base: &str, method: &str, path: &str, body: Option<&Value>) -> Value {
    let auth = format!("SSWS {TOKEN}");
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    let reply = call(
        method,
        &format!("{base}{path}"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        bytes.as_deref(),
    );
    assert!(reply.status < 300, "{path}: {}", reply.text());
    reply.json()
}

fn group(base: &str, id: &str) -> Value {
    okta(base, "GET", &format!("/api/v1/groups/{id}"), None)
}

#[test]
fn the_cli_signs_in_backs_up_diffs_restores_and_verifies_an_audit_pack() {
    let emulator = okta_emulator::start(EmulatorConfig {
        api_tokens: vec![TOKEN.to_owned()],
        ..EmulatorConfig::default()
    })
    .unwrap();
    let base = emulator.base_url();
    plant(TOKEN);
    let user = new_user();
    let reply = user.api(
        "POST",
        "/connections",
        Some(&json!({"org_domain": base.trim_start_matches("http://"), "api_token": TOKEN})),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let connection = reply.json()["connection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = user.api(
        "POST",
        "/api-keys",
        Some(&json!({"name": "cli", "scopes": ["read", "backup", "restore", "admin"]})),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let key = reply.json()["key"].as_str().unwrap().to_string();
    plant(&key);
    let cli = Cli::new();

    // A key of the right shape that the API refuses: exit 3, nothing stored.
    let mut wrong = key.clone();
    let last = if wrong.ends_with('A') { "B" } else { "A" };
    wrong.replace_range(wrong.len() - 1.., last);
    let run = cli.run_with(&["login", "--url", &worker()], Some(&wrong), &[]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("unauthorized"), "{}", run.stderr);
    assert!(!cli.config().exists());

    // The real key from stdin: checked, stored 0600 with the URL, never echoed.
    let run = cli.run_with(
        &["login", "--url", &worker()],
        Some(&format!("{key}\n")),
        &[],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&key[..36]), "{}", run.stdout);
    let mode = std::fs::metadata(cli.config())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(cli.config()).unwrap()).unwrap();
    assert_eq!(stored["api_key"], json!(key));
    assert_eq!(stored["url"], json!(worker()));

    let me = cli.ok(&["whoami", "--json"]).json();
    assert_eq!(me["key_prefix"], json!(&key[..36]));
    assert_eq!(me["key_source"], "config file");
    assert_eq!(me["teams"].as_array().unwrap().len(), 1, "{me}");
    // The environment overrides the file (here: no file at all).
    let elsewhere = cli.home.join("none.json");
    let run = cli.run_with(
        &["--config", elsewhere.to_str().unwrap(), "whoami", "--json"],
        None,
        &[("BUTTERFLY_API_KEY", &key), ("BUTTERFLY_URL", &worker())],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["key_source"], "environment");
    let run = cli.run(&[
        "--config",
        elsewhere.to_str().unwrap(),
        "connections",
        "list",
    ]);
    assert_eq!(run.code, 3, "not signed in: {}", run.stderr);

    let listed = cli.ok(&["connections", "list", "--json"]).json();
    let ids: Vec<&str> = listed["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, [connection.as_str()]);

    // Two backups around an admin's change to a group's description.
    let first = cli.ok(&["backup", "run", &connection, "--json"]).json();
    assert_eq!(first["backup"]["status"], "complete", "{first}");
    let b1 = first["backup"]["id"].as_str().unwrap().to_string();
    let groups = okta(&base, "GET", "/api/v1/groups", None);
    let target = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["type"] == "OKTA_GROUP")
        .expect("the org has groups")
        .clone();
    let gid = target["id"].as_str().unwrap().to_string();
    let edited = format!("changed from the cli test {}", now());
    let change = json!({"requests": [{"method": "PUT", "path": format!("/api/v1/groups/{gid}"),
        "body": {"profile": {"name": target["profile"]["name"], "description": edited}}}]});
    let changed = okta(&base, "POST", "/__emulator/changes", Some(&change));
    assert_eq!(changed["results"][0]["status"], 200, "{changed}");
    let second = cli.ok(&["backup", "run", &connection]);
    assert!(second.stdout.starts_with("Backup "), "{}", second.stdout);
    assert!(second.stdout.contains(" complete: "), "{}", second.stdout);
    let backups = cli.ok(&["backups", "list", &connection, "--json"]).json();
    let listed = backups["backups"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{backups}");
    let b2 = listed[0]["id"].as_str().unwrap().to_string();
    assert_ne!(b1, b2);
    let human = cli.ok(&["backups", "list", &connection]);
    assert!(human.stdout.starts_with("ID "), "{}", human.stdout);
    assert!(human.stdout.contains(&b1) && human.stdout.contains(&b2));

    // The diff shows exactly that change, in JSON and for a person.
    let diff = cli
        .ok(&["diff", &connection, "--from", &b1, "--to", &b2, "--json"])
        .json();
    let changes = diff["changes"].as_array().unwrap();
    assert_eq!(diff["total"].as_u64().unwrap() as usize, changes.len());
    let edit = changes
        .iter()
        .find(|c| c["resource"] == "groups" && c["id"] == gid.as_str())
        .unwrap_or_else(|| panic!("the edited group is not in the diff: {diff}"));
    assert_eq!(edit["kind"], "changed");
    let field = edit["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "/profile/description")
        .expect("the description changed");
    assert_eq!(field["after"], json!(edited));
    let human = cli.ok(&[
        "diff",
        &connection,
        "--from",
        &b1,
        "--to",
        &b2,
        "--type",
        "groups",
    ]);
    assert!(
        human.stdout.starts_with(&format!("From backup {b1} ")),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains(&format!("~ groups {gid}\n")),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("/profile/description"),
        "{}",
        human.stdout
    );

    // A restore of the groups from the first backup: planned, refused without --yes when
    // there is no terminal, then applied, which undoes the change.
    let plan = cli
        .ok(&[
            "restore",
            "plan",
            &connection,
            "--from",
            &b1,
            "--types",
            "groups",
            "--json",
        ])
        .json();
    let restore = plan["restore"]["id"].as_str().unwrap().to_string();
    let ops = plan["plan"]["operations"].as_array().unwrap();
    assert!(
        ops.iter()
            .any(|o| o["action"] == "update" && o["target_id"] == gid.as_str()),
        "{ops:?}"
    );
    let run = cli.run(&["restore", "apply", &restore]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(group(&base, &gid)["profile"]["description"], json!(edited));
    let shown = cli.ok(&["restore", "show", &restore, "--json"]).json();
    assert!(shown["restore"]["apply_status"].is_null(), "{shown}");

    let applied = cli
        .ok(&["restore", "apply", &restore, "--yes", "--json"])
        .json();
    assert_eq!(applied["restore"]["apply_status"], "complete", "{applied}");
    assert_eq!(
        applied["receipt"]["receipt"]["status"], "complete",
        "{applied}"
    );
    assert_eq!(applied["receipt"]["receipt"]["restore_id"], json!(restore));
    assert_eq!(
        group(&base, &gid)["profile"]["description"],
        target["profile"]["description"]
    );
    let human = cli.ok(&["restore", "show", &restore]);
    assert!(human.stdout.contains("Apply: complete"), "{}", human.stdout);
    // Applying twice is the API's conflict: exit 5 with its code.
    let again = cli.run(&["restore", "apply", &restore, "--yes", "--json"]);
    assert_eq!(again.code, 5, "{}", again.stderr);
    let error: Value = serde_json::from_str(again.stderr.trim()).unwrap();
    assert_eq!(error["error"]["code"], "restore_already_applied", "{error}");

    // An unknown id is exit 4.
    let missing = cli.run(&["restore", "show", "00000000-0000-4000-8000-000000000000"]);
    assert_eq!(missing.code, 4, "{}", missing.stderr);
    assert!(missing.stderr.contains("not_found"), "{}", missing.stderr);

    // The audit pack: streamed to a file, verified with the API's published keys; a copy
    // with one bit of its activity log changed fails with exit 6.
    let today = chrono::DateTime::from_timestamp(now(), 0)
        .unwrap()
        .date_naive();
    let from = (today - chrono::Days::new(30)).to_string();
    let pack = cli.home.join("pack.zip");
    let run = cli.ok(&[
        "audit-pack",
        "export",
        "--from",
        &from,
        "--to",
        &today.to_string(),
        "-o",
        pack.to_str().unwrap(),
    ]);
    assert!(run.stdout.starts_with("Wrote "), "{}", run.stdout);
    assert!(!partial(&pack).exists());
    let verified = cli
        .ok(&["audit-pack", "verify", pack.to_str().unwrap(), "--json"])
        .json();
    assert_eq!(verified["ok"], true, "{verified}");
    assert!(
        verified["summary"]["rows"].as_u64().unwrap() > 0,
        "{verified}"
    );
    assert_eq!(verified["summary"]["backup_manifests"], 2, "{verified}");
    let bytes = std::fs::read(&pack).unwrap();
    let start = zip::ZipArchive::new(std::io::Cursor::new(&bytes))
        .unwrap()
        .by_name("activity/activity_logs.jsonl")
        .unwrap()
        .data_start()
        .unwrap() as usize;
    let mut tampered = bytes.clone();
    tampered[start + 8] ^= 0x01;
    let bad = cli.home.join("tampered.zip");
    std::fs::write(&bad, &tampered).unwrap();
    let run = cli.run(&["audit-pack", "verify", bad.to_str().unwrap()]);
    assert_eq!(run.code, 6, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("FAILED"), "{}", run.stdout);
    // Exporting over an existing file needs --force.
    let run = cli.run(&[
        "audit-pack",
        "export",
        "--from",
        &from,
        "--to",
        &from,
        "-o",
        pack.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);

    let all = cli.seen.borrow();
    assert!(!all.contains(&key[37..]), "the key's secret was printed");
    assert!(
        !all.contains(&wrong[37..]),
        "the refused key's secret was printed"
    );
    drop(emulator);
}

fn partial(pack: &Path) -> PathBuf {
    pack.with_file_name("pack.zip.partial")
}
