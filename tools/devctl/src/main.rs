//! `devctl`: what the local stack scripts need that the shell lacks.
//!
//!   devctl secret                      32 random bytes, base64 (a key or a JWT secret)
//!   devctl jwt <sub> <role> <ttl-secs> HS256 JWT signed with $SUPABASE_JWT_SECRET
//!
//! Secrets are read from the environment, never from arguments (which other users can see).

use base64::Engine;
use butterfly::auth::jwt::{sign_hs256, Claims};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["secret"] => secret(),
        ["jwt", sub, role, ttl] => jwt(sub, role, ttl),
        _ => Err("usage: devctl secret | devctl jwt <sub> <role> <ttl-secs>".into()),
    };
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("devctl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn jwt(sub: &str, role: &str, ttl: &str) -> Result<String, String> {
    let secret =
        std::env::var("SUPABASE_JWT_SECRET").map_err(|_| "SUPABASE_JWT_SECRET is not set")?;
    let ttl: i64 = ttl.parse().map_err(|_| "ttl must be seconds")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs() as i64;
    let claims = Claims {
        sub: sub.to_string(),
        exp: now + ttl,
        iat: now,
        nbf: None,
        aud: "authenticated".into(),
        role: role.to_string(),
        email: None,
        iss: Some("butterfly-local".into()),
    };
    Ok(sign_hs256(&claims, secret.as_bytes()))
}
