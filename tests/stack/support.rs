//! Test support: talks to the running local stack (started by scripts/test.sh) over HTTP and psql.

use butterfly::api::openapi;
use butterfly::api::routes::{resolve, Resolved};
use butterfly::auth::jwt::{sign_hs256, Claims};
use butterfly::ports::Method;
use serde_json::Value;
use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run these tests through scripts/test.sh"))
}

pub fn worker() -> String {
    env("BF_WORKER_URL")
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON (HTTP {}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP call; non-2xx statuses are returned, not raised.
pub fn call(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(120));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|n| response.header(&n).map(|v| (n.clone(), v.to_string())))
        .collect();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
    let reply = Reply {
        status,
        headers,
        body,
    };
    if let Some(path) = url.strip_prefix(&worker()) {
        check_against_spec(method, path, &reply);
    }
    reply
}

/// Every response of the worker is checked against the OpenAPI document (`api::openapi`): the
/// route must declare the status, and a JSON body must match the schema declared for it (an
/// error's `code` among the codes the route lists for that status). A mismatch fails the test
/// that made the call, so every stack test checks the spec as it goes.
pub fn check_against_spec(method: &str, path_and_query: &str, reply: &Reply) {
    static DOC: OnceLock<Value> = OnceLock::new();
    let doc = DOC.get_or_init(openapi::document_json);
    let path = path_and_query.split('?').next().unwrap_or_default();
    let json_body = reply
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json"))
        && !reply.body.is_empty();
    let where_ = format!("{method} {path} -> {}", reply.status);
    if !json_body {
        // Still a declared status: resolved (and refused if undeclared) below without a body.
        let _ = schema_for(doc, method, path, reply, &where_);
        return;
    }
    let Some(validator) = schema_for(doc, method, path, reply, &where_) else {
        return;
    };
    let instance: Value = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("OpenAPI: {where_}: body is not JSON: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(5)
        .collect();
    assert!(
        errors.is_empty(),
        "OpenAPI: {where_}: the body does not match the spec: {errors:#?}\nbody: {}",
        String::from_utf8_lossy(&reply.body)
            .chars()
            .take(2000)
            .collect::<String>()
    );
}

/// The compiled validator of the schema a response must match (`None`: no JSON body declared),
/// compiled once per route, method and status: the stack tests make thousands of calls, and the
/// rate-limit tests need theirs to come quickly.
fn schema_for(
    doc: &Value,
    method: &str,
    path: &str,
    reply: &Reply,
    where_: &str,
) -> Option<Arc<jsonschema::Validator>> {
    type Cache = Mutex<HashMap<(String, String, u16), Option<Arc<jsonschema::Validator>>>>;
    static COMPILED: OnceLock<Cache> = OnceLock::new();
    let (key, schema) = match resolve(Method::parse(method), path) {
        Resolved::Found(def, _) => {
            let key = (method.to_string(), def.template.to_string(), reply.status);
            if let Some(v) = COMPILED
                .get_or_init(Default::default)
                .lock()
                .unwrap()
                .get(&key)
            {
                return v.clone();
            }
            match openapi::response_schema(doc, def.method, def.template, reply.status) {
                Some(schema) => (key, schema),
                None => panic!(
                    "OpenAPI: {where_}: status not declared for {} {}: {}",
                    method,
                    def.template,
                    reply.text()
                ),
            }
        }
        // Outside the table (unknown paths, methods, preflights): the edge's error body.
        Resolved::NotFound | Resolved::MethodNotAllowed => {
            let key = (String::new(), String::new(), 0);
            if let Some(v) = COMPILED
                .get_or_init(Default::default)
                .lock()
                .unwrap()
                .get(&key)
            {
                return v.clone();
            }
            let mut error = doc["components"]["schemas"]["Error"].clone();
            error["components"] = doc["components"].clone();
            (key, Some(error))
        }
    };
    let compiled = schema.map(|schema| {
        Arc::new(
            jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap_or_else(|e| panic!("OpenAPI: {where_}: schema does not compile: {e}")),
        )
    });
    COMPILED
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .insert(key, compiled.clone());
    compiled
}

/// A Supabase auth user with a personal team, and a JWT for it.
pub struct User {
    pub id: String,
    pub jwt: String,
}

static COUNTER: AtomicU64 = AtomicU64::new(1);

pub fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            &env("BF_DB"),
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
            sql,
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn jwt_for(sub: &str, role: &str, exp: i64) -> String {
    let claims = Claims {
        sub: sub.into(),
        exp,
        iat: now(),
        nbf: None,
        aud: "authenticated".into(),
        role: role.into(),
        email: None,
        email_verified: false,
        iss: None,
    };
    sign_hs256(&claims, env("SUPABASE_JWT_SECRET").as_bytes())
}

/// Signs arbitrary claims with the project's JWT secret (for tokens `jwt_for` cannot express).
pub fn sign_json(claims: &Value) -> String {
    sign_hs256(claims, env("SUPABASE_JWT_SECRET").as_bytes())
}

/// Records a credential the suite handed out, so scripts/test.sh can check the worker log never
/// contains it.
pub fn plant(secret: &str) {
    if let Ok(path) = std::env::var("BF_PLANTED") {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("planted-secrets file opens");
        writeln!(file, "{secret}").unwrap();
    }
}

pub fn new_user() -> User {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (nanos >> 32) as u32,
        nanos as u16,
        n & 0xfff,
        std::process::id() & 0xfff,
        (nanos ^ n) & 0xffff_ffff_ffff
    );
    psql(&format!(
        "insert into auth.users (id, email, email_confirmed_at) values ('{id}', 'user-{id}@test.local', now())"
    ));
    let jwt = jwt_for(&id, "authenticated", now() + 3600);
    User { id, jwt }
}

impl User {
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let auth = format!("Bearer {}", self.jwt);
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
        let mut headers = vec![("authorization", auth.as_str())];
        if bytes.is_some() {
            headers.push(("content-type", "application/json"));
        }
        call(
            method,
            &format!("{}/api/v1{path}", worker()),
            &headers,
            bytes.as_deref(),
        )
    }

    /// Straight to PostgREST with this user's JWT: what RLS alone allows.
    pub fn rest(&self, method: &str, path_and_query: &str, body: Option<&Value>) -> Reply {
        rest_as(&self.jwt, method, path_and_query, body)
    }

    pub fn create_connection(&self) -> String {
        let reply = self.api("POST", "/connections", Some(&okta_connection_body()));
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()["connection"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Starts a backup and waits for it to finish.
    pub fn backup(&self, connection: &str) -> Value {
        let reply = self.api("POST", &format!("/connections/{connection}/backups"), None);
        assert_eq!(reply.status, 202, "{}", reply.text());
        let id = reply.json()["backup"]["id"].as_str().unwrap().to_string();
        self.wait_backup(&id)
    }

    pub fn wait_backup(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let reply = self.api("GET", &format!("/backups/{id}"), None);
            assert_eq!(reply.status, 200, "{}", reply.text());
            let backup = reply.json()["backup"].clone();
            if backup["status"] != "running" {
                return backup;
            }
            assert!(Instant::now() < deadline, "backup {id} still running");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

pub fn rest_as(jwt: &str, method: &str, path_and_query: &str, body: Option<&Value>) -> Reply {
    let auth = format!("Bearer {jwt}");
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    call(
        method,
        &format!("{}/{path_and_query}", env("BF_POSTGREST_URL")),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("prefer", "return=representation"),
        ],
        bytes.as_deref(),
    )
}

/// A direct insert that reads nothing back (`return=minimal`), so a column the caller may write
/// but not read does not make PostgREST refuse it for the wrong reason.
pub fn rest_insert(jwt: &str, table: &str, row: &Value) -> Reply {
    let auth = format!("Bearer {jwt}");
    call(
        "POST",
        &format!("{}/{table}", env("BF_POSTGREST_URL")),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("prefer", "return=minimal"),
        ],
        Some(&serde_json::to_vec(row).unwrap()),
    )
}

/// PostgREST as the service role (test inspection of what is really stored).
pub fn service(method: &str, path_and_query: &str, body: Option<&Value>) -> Reply {
    rest_as(
        &env("SUPABASE_SERVICE_ROLE_KEY"),
        method,
        path_and_query,
        body,
    )
}

pub fn okta_host() -> String {
    env("BF_OKTA_URL").trim_start_matches("http://").to_string()
}

pub fn okta_connection_body() -> Value {
    serde_json::json!({"org_domain": okta_host(), "api_token": env("BF_OKTA_TOKEN")})
}

/// Every item of an emulator list endpoint, following its Link headers.
pub fn okta_list(path: &str) -> Vec<Value> {
    let auth = format!("SSWS {}", env("BF_OKTA_TOKEN"));
    let mut next = Some(format!("{}{path}", env("BF_OKTA_URL")));
    let mut all = Vec::new();
    while let Some(url) = next.take() {
        let reply = call("GET", &url, &[("authorization", &auth)], None);
        assert_eq!(reply.status, 200, "{url}: {}", reply.text());
        all.extend(reply.json().as_array().unwrap().iter().cloned());
        for (k, v) in &reply.headers {
            if k.eq_ignore_ascii_case("link") && v.contains("rel=\"next\"") {
                next = v
                    .split('<')
                    .nth(1)
                    .and_then(|s| s.split('>').next())
                    .map(str::to_string);
            }
        }
    }
    all
}

pub fn emulator(method: &str, path: &str, body: Option<&Value>) -> Reply {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    call(
        method,
        &format!("{}{path}", env("BF_OKTA_URL")),
        &[("content-type", "application/json")],
        bytes.as_deref(),
    )
}

/// A backup object through a signed download URL (checking its lifetime): the decrypted JSON.
pub fn download_json(user: &User, backup: &str, object: &str) -> Value {
    let reply = user.api(
        "GET",
        &format!("/backups/{backup}/objects/{object}/url"),
        None,
    );
    assert_eq!(reply.status, 200, "{object}: {}", reply.text());
    let body = reply.json();
    let url = body["url"].as_str().unwrap();
    let expires = body["expires_at"].as_i64().unwrap();
    assert!(
        expires > now() && expires <= now() + 300,
        "URL lifetime must be at most 5 minutes"
    );
    let data = call("GET", url, &[], None);
    assert_eq!(data.status, 200, "{object}: {}", data.text());
    data.json()
}

/// A list object of a backup, decrypted.
pub fn download(user: &User, backup: &str, object: &str) -> Vec<Value> {
    download_json(user, backup, object)
        .as_array()
        .unwrap_or_else(|| panic!("{object} is not a list"))
        .clone()
}

/// Activity rows of a team, as the service role sees them.
pub fn activity(team: &str) -> Vec<Value> {
    let reply = service(
        "GET",
        &format!("activity_logs?team_id=eq.{team}&order=id.asc"),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json().as_array().unwrap().clone()
}
