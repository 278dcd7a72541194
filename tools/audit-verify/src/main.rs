//! `audit-verify`: checks a Butterfly audit pack offline.
//!
//!   audit-verify --jwks butterfly-audit-keys.json pack.zip
//!   audit-verify --key audit-key.pem pack.zip
//!
//! Exit status 0 when every check passes, 1 when any fails (each failure is printed), 2 for a
//! usage error.

use audit_verify::{verify_pack, TrustedKeys};
use std::fs::File;
use std::process::ExitCode;

const USAGE: &str = "usage: audit-verify (--jwks KEYS.json | --key KEY.pem) PACK.zip";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (keys, pack) = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--jwks", keys, pack] => (
            std::fs::read_to_string(keys)
                .map_err(|e| format!("{keys}: {e}"))
                .and_then(|t| TrustedKeys::from_jwks(&t).map_err(|e| format!("{keys}: {e}"))),
            *pack,
        ),
        ["--key", key, pack] => (
            std::fs::read_to_string(key)
                .map_err(|e| format!("{key}: {e}"))
                .and_then(|t| TrustedKeys::from_pem(&t).map_err(|e| format!("{key}: {e}"))),
            *pack,
        ),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let keys = match keys {
        Ok(k) => k,
        Err(e) => {
            eprintln!("audit-verify: {e}");
            return ExitCode::from(2);
        }
    };
    let file = match File::open(pack) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("audit-verify: {pack}: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = verify_pack(file, &keys);
    let s = &outcome.summary;
    if outcome.ok() {
        println!("{pack}: OK — audit pack {}", s.pack_id);
        println!("  signature: Ed25519 by key {}, verified", s.key_id);
        println!(
            "  files: {} checked (SHA-256 and size), nothing missing or added",
            s.files
        );
        match (s.first_seq, s.last_seq) {
            (Some(first), Some(last)) => println!(
                "  activity chain: {} rows, seq {first} to {last}, every hash recomputed and linked; {} anchors matched",
                s.rows, s.anchors
            ),
            _ => println!("  activity chain: no rows in this pack"),
        }
        println!(
            "  identities: {} commitments opened, {} erased by a deletion purge",
            s.identities_opened, s.identities_erased
        );
        println!(
            "  snapshot manifests: {} matched their backup rows",
            s.backup_manifests
        );
        for note in &s.notes {
            println!("  note: {note}");
        }
        ExitCode::SUCCESS
    } else {
        println!("{pack}: FAILED — {} problems", outcome.failures.len());
        for failure in &outcome.failures {
            println!("  - {failure}");
        }
        ExitCode::from(1)
    }
}
