//! Asymmetric user JWTs end to end: the worker fetches the stack's JWKS (served by PostgREST's
//! `rpc/local_jwks`, see dev/supabase_shim.sql) and verifies ES256 and RS256 tokens against it.

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

/// The private half of the shim's `local-rs256` key (RSA-2048, PKCS#8 DER in base64), generated
/// for these tests only.
const RS256_KEY: [&str; 19] = [
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCX34XlmYd4oT0+rncbfJGAlcnLuIZSIf8NgNB3",
    "4eolborWUG97hXMXWYHimZoM/POp963TkwRxCs3jFOI0PPEqPbmr6e8xRRA3i5aeTHnqNURyLFwfzDLGaCk13dTz",
    "+MXTEUjYZrC1/zS4sXE4YKDwyRhTH3XuIUuCl2S9XAesj4Ha0y4jBZun0Ap7LgSGW+TMJ9Pqzq7HR5Tu5aZTvxO3",
    "tjTEdMBANWilqJDu8Pr6qoJnW+lu8j3oZsaeS5GeU3+SEUZmCTngGhYHo9Ap/xunSXVhbAhNwLbJGZJ4cnC/dQBR",
    "nkN4G6sVoYNgfP6SFlEHYDxNLVynpcVOUgYKPzzbAgMBAAECggEAPDVnslHu5JJbouVsn89/KZB4e1Swn5ANus82",
    "FkjQWD2eOf+SatBJg9i+xtRpP7vqZ5gi6A1RRfVoER3+3YHJhBsLaE2qP4inOLYUpLYh4Ql0FKVkclC0UncJ22qR",
    "2ZTm7FneXLg9VzGRN6VVAuo/86VtiMqgqKK3elLFo9J/0ldH0J5f4aWHSHiuYMtzGe1v5pzjYd/yjgVD2m8MSRdk",
    "h6AUK4KRy0jncK96VHy1+ErcEbLrazb3qypfTL8+wjGuUjJUe7MimRY29pyuijnvUFUtxD3KDOobE1cq6SXaRP3R",
    "xvyb0HeM+I9EDKrMEP62uq5UEEJok2imYrNI52bCMQKBgQDL2GACD2cgeYn3s5S7cBbXEb4+sWV2KxnfsCV5I9r6",
    "OOhnEwfvX4aU5UzAAqKT7H0pu/4npgfWvVXgjaylB+Zh49AMipLmYw25FJSfL1EheLZOTdRTPBOmx1FM/KHBpDRW",
    "QKpJ/6/Gk/Bc0M1+Hs++7ubthT9gQmV1OAmCVvMqawKBgQC+uwmGy2VxICeMu4fEgQdFY2Gqetj59sZ2fQTL9ag0",
    "uC2GKcOrKADLHT2Fu+HqKp62m+COe6XzBI83c22KQO0N4J4k/i8ARXkuUjCyDTk3hSocrCD/mKw11/kSWPjHAH2S",
    "7Y/DzKmUNksSHdp74CP5WRNYQ4crdgEaFVSsF3KzUQKBgQCRtk8Sye3e4eJEpSL5RWueOzmx2N79NFwfcOuoh3/d",
    "g9Zk786pRrCOOMa/LmMGuHLT5WUM9Hr//oGnrb4ujdIaQV2TyW6urzm9BkAi9hDZi09N9AaFpRkrC6lLDf+Wywj6",
    "aukPUm1U1qVnw35Q3DeGdYGvYaNm7K9XtkHd4MeblwKBgA9rK1/8PV0hzlCwME+QZrgTSqfvem7qpiyZ+rNKTqjE",
    "Ytm/spO5jibdXEXdZGv7ugzlGQgrssSsj69Z43cTvJYsnFw9OCt7ckpuVoVuUDvOxhK/T4OaIgHQTdBP5Pyha4Vf",
    "MwoPF35lzTfPtgPhoMbdjpTKELlQttIW+1tWIe2hAoGAH5epsX6NcDHgiLngzMuKz74ppRpo/HT50OA6mJW4a0XQ",
    "QQbhRf9Pnc2fhg/nBYkXnq+wSjtxdP0q5brwEvNUM7fg60BqOUn2KYEmrL49wJANO5ULQWtg1raoBrO/ruS8MFLT",
    "3DAKjDqeXYxdz6JIES3f3irAX5SsaqqLLhkv3A0=",
];

fn rs256(header: Value, claims: Value) -> String {
    use base64::engine::general_purpose::STANDARD;
    use rsa::pkcs8::DecodePrivateKey as _;
    use sha2::{Digest, Sha256};
    let der = STANDARD.decode(RS256_KEY.concat()).unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_der(&der).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let digest = Sha256::digest(input.as_bytes());
    let sig = key
        .sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest)
        .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[test]
fn rs256_tokens_verify_through_the_projects_jwks_and_forgeries_do_not() {
    let user = new_user();
    let claims = json!({"sub": user.id, "aud": "authenticated", "role": "authenticated",
                        "iat": now(), "exp": now() + 600});
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "local-rs256"});
    let good = rs256(header.clone(), claims.clone());
    assert_eq!(connections(&good), 200);
    // The same user's data through RS256 as through the HS256 session.
    let reply = call(
        "GET",
        &format!("{}/api/v1/connections", worker()),
        &[("authorization", &format!("Bearer {good}"))],
        None,
    );
    assert_eq!(reply.json(), user.api("GET", "/connections", None).json());

    // ES256 header on the RSA key, HS256 with the RSA key id, an ES256 signature under the RSA
    // key id, expired, another audience, claims changed after signing: all a bare 401.
    let wrong_alg = rs256(
        json!({"alg": "ES256", "kid": "local-rs256"}),
        claims.clone(),
    );
    let mut hs = sign_json(&claims);
    hs = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "kid": "local-rs256"}).to_string()),
        hs.split_once('.').unwrap().1
    );
    let cross = es256(
        json!({"alg": "RS256", "kid": "local-rs256"}),
        claims.clone(),
    );
    let mut old = claims.clone();
    old["exp"] = json!(now() - 5);
    let expired = rs256(header.clone(), old);
    let mut other_aud = claims.clone();
    other_aud["aud"] = json!("someone-else");
    let audience = rs256(header.clone(), other_aud);
    let (head, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut admin = claims.clone();
    admin["role"] = json!("service_role");
    let escalated = format!("{head}.{}.{sig}", URL_SAFE_NO_PAD.encode(admin.to_string()));
    for bad in [wrong_alg, hs, cross, expired, audience, escalated] {
        assert_eq!(connections(&bad), 401, "{bad}");
    }
}
