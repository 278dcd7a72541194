//! Asymmetric user JWTs end to end: the worker fetches the stack's JWKS (served by PostgREST's
//! `rpc/local_jwks`, see dev/supabase_shim.sql) and verifies ES256 tokens against it.

use crate::support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};

/// The private half of the shim's `local-es256` key: bytes 1..=32.
fn key() -> SigningKey {
    SigningKey::from_slice(&(1..=32u8).collect::<Vec<_>>()).unwrap()
}

fn es256(header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig: Signature = key().sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

fn connections(token: &str) -> u16 {
    call(
        "GET",
        &format!("{}/api/v1/connections", worker()),
        &[("authorization", &format!("Bearer {token}"))],
        None,
    )
    .status
}

#[test]
fn es256_tokens_verify_through_the_projects_jwks_and_forgeries_do_not() {
    let user = new_user();
    let claims = json!({"sub": user.id, "aud": "authenticated", "role": "authenticated",
                        "iat": now(), "exp": now() + 600});
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": "local-es256"});
    assert_eq!(connections(&es256(header.clone(), claims.clone())), 200);

    // Unknown kid, header alg that disagrees with the key, expired, tampered: all a bare 401.
    let unknown = es256(
        json!({"alg": "ES256", "kid": "rotated-away"}),
        claims.clone(),
    );
    let wrong_alg = es256(
        json!({"alg": "RS256", "kid": "local-es256"}),
        claims.clone(),
    );
    let mut old = claims.clone();
    old["exp"] = json!(now() - 5);
    let expired = es256(header.clone(), old);
    let good = es256(header, claims);
    let (input, _) = good.rsplit_once('.').unwrap();
    let other_sig = es256(json!({"alg": "ES256"}), json!({}));
    let spliced = format!("{input}.{}", other_sig.rsplit_once('.').unwrap().1);
    for bad in [unknown, wrong_alg, expired, spliced] {
        assert_eq!(connections(&bad), 401, "{bad}");
    }
}
