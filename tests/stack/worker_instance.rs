//! Further `wrangler dev` instances of the stack's already-built worker, with other settings:
//! what production's configuration does (plain HTTP refused) and what an operator's restart does
//! (a rotated `MASTER_KEYS`). They share the stack's database, PostgREST and Okta emulator; each
//! has its own local R2 and queue.

use crate::support::env;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `wrangler dev` of the already-built worker, killed when dropped.
pub struct WorkerInstance {
    child: Child,
    pub url: String,
    dir: PathBuf,
}

impl Drop for WorkerInstance {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The repository's wrangler.toml without its build step (the stack already built the worker),
/// pointing at the built shim by absolute path.
fn config_without_build(repo: &Path) -> String {
    let original = std::fs::read_to_string(repo.join("wrangler.toml")).unwrap();
    let mut out = String::new();
    let mut in_build = false;
    for line in original.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_build = trimmed == "[build]";
        }
        if in_build {
            continue;
        }
        if trimmed.starts_with("main = ") {
            let shim = repo.join("build/worker/shim.mjs");
            out.push_str(&format!("main = {:?}\n", shim.to_str().unwrap()));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(out.contains("shim.mjs") && !out.contains("[build]"));
    out
}

impl WorkerInstance {
    /// Starts one with the stack's settings, `set` replacing or adding some and `unset`
    /// removing others, and waits until it answers.
    pub fn start(name: &str, set: &[(&str, &str)], unset: &[&str]) -> WorkerInstance {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = std::env::temp_dir().join(format!("bf-worker-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("wrangler.toml"), config_without_build(&repo)).unwrap();
        let mut vars: String = std::fs::read_to_string(env("BF_WORKER_ENV"))
            .unwrap()
            .lines()
            .filter(|l| {
                let name = l.split('=').next().unwrap_or_default();
                !unset.contains(&name) && !set.iter().any(|(k, _)| *k == name)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        for (k, v) in set {
            vars.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(dir.join("worker.env"), vars).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("wrangler.log")).unwrap();
        let mut command = Command::new(repo.join("node_modules/.bin/wrangler"));
        command
            .args([
                "dev",
                "--local",
                "--ip",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .arg("--config")
            .arg(dir.join("wrangler.toml"))
            .arg("--env-file")
            .arg(dir.join("worker.env"))
            .arg("--persist-to")
            .arg(dir.join("state"))
            .args(["--test-scheduled", "--show-interactive-dev-session=false"])
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .env("VSCODE_INSPECTOR_OPTIONS", "{}")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // Its own process group, so dropping it stops workerd too.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("wrangler dev");
        let instance = WorkerInstance {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let up = ureq::get(&format!("{}/api/v1/health", instance.url))
                .timeout(Duration::from_secs(5))
                .call();
            if matches!(up, Ok(_) | Err(ureq::Error::Status(_, _))) {
                return instance;
            }
            assert!(
                Instant::now() < deadline,
                "worker {name} did not start: {}",
                std::fs::read_to_string(instance.dir.join("wrangler.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
