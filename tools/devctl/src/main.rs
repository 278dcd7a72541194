//! `devctl`: what the local stack scripts need that the shell lacks.
//!
//!   devctl secret                      32 random bytes, base64 (a key or a JWT secret)
//!   devctl jwt <sub> <role> <ttl-secs> HS256 JWT signed with $SUPABASE_JWT_SECRET
//!   devctl seal-bench <MiB>            seal throughput of the snapshot sealer (scripts/bench.sh)
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
        ["seal-bench", mib] => seal_bench(mib),
        _ => Err(
            "usage: devctl secret | devctl jwt <sub> <role> <ttl-secs> | devctl seal-bench <MiB>"
                .into(),
        ),
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
        email_verified: false,
        iss: Some("butterfly-local".into()),
    };
    Ok(sign_hs256(&claims, secret.as_bytes()))
}

/// Randomness from the OS, for the sealer's per-object salt.
struct OsRng;

impl butterfly::ports::Rng for OsRng {
    fn fill(&self, buf: &mut [u8]) {
        getrandom::getrandom(buf).expect("OS randomness");
    }
}

/// Seals `mib` MiB of snapshot-like JSON (user records) through the sealer on the Rust primitives (gzip +
/// AES-256-GCM STREAM) and prints one line per figure: plaintext MB/s through the whole path,
/// and AES-256-GCM alone on 64 KiB chunks (the part WebCrypto would replace).
fn seal_bench(mib: &str) -> Result<String, String> {
    use aes_gcm::aead::AeadInPlace;
    use aes_gcm::{Aes256Gcm, KeyInit};
    use butterfly::crypto::keys::Key256;
    use butterfly::crypto::native::RustPrimitives;
    use butterfly::crypto::stream::{Sealer, SnapshotKey};
    use futures_util::FutureExt;
    use std::time::Instant;

    let mib: usize = mib.parse().map_err(|_| "MiB must be a number")?;
    let total = mib * 1024 * 1024;
    let mut record = 0u64;
    let mut plain = Vec::with_capacity(total + 512);
    while plain.len() < total {
        record += 1;
        plain.extend_from_slice(
            format!(
                r#"{{"id":"00u{record:017}","status":"ACTIVE","profile":{{"login":"user{record}@example.com","firstName":"User","lastName":"N{}","department":"D{}"}}}},"#,
                record.wrapping_mul(2_654_435_761) % 100_000,
                record % 37
            )
            .as_bytes(),
        );
    }
    plain.truncate(total);
    let key = SnapshotKey::derive(&Key256::from_bytes([7; 32]), "team", "conn");

    let started = Instant::now();
    // The Rust primitives never wait, so each call completes on its first poll.
    let ready = "the Rust primitives never wait";
    let failed = |_| "sealing failed";
    let mut sealer = Sealer::new(&RustPrimitives, &key, &OsRng, "bench/users.json.bfs")
        .now_or_never()
        .expect(ready)
        .map_err(failed)?;
    let mut sealed = 0usize;
    for page in plain.chunks(256 * 1024) {
        sealed += sealer
            .push(page)
            .now_or_never()
            .expect(ready)
            .map_err(failed)?
            .len();
    }
    sealed += sealer
        .finish()
        .now_or_never()
        .expect(ready)
        .map_err(failed)?
        .len();
    let whole = started.elapsed().as_secs_f64();

    let cipher = Aes256Gcm::new(&[9u8; 32].into());
    let mut chunk = vec![0u8; 64 * 1024];
    let started = Instant::now();
    for (i, part) in plain.chunks(64 * 1024).enumerate() {
        chunk.truncate(part.len());
        chunk.copy_from_slice(part);
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
        cipher
            .encrypt_in_place_detached(&nonce.into(), b"", &mut chunk)
            .map_err(|_| "seal failed")?;
    }
    let gcm = started.elapsed().as_secs_f64();
    let mb = total as f64 / 1e6;
    Ok(format!(
        "rust_seal_path_mb_per_s {:.1} (gzip+AES-256-GCM, {mb:.1} MB -> {sealed} sealed bytes)\nrust_aes_gcm_mb_per_s {:.1}",
        mb / whole,
        mb / gcm
    ))
}
