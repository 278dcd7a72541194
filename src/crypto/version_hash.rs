//! Content hashes of the version index (`resource_versions.content_hash`): HMAC-SHA256 of a
//! resource's canonical normalised content under a key derived per connection from the snapshot
//! secret. The content covers secrets (so a rotated client secret is a new version); keying the
//! hash means a stored hash cannot be used to guess a low-entropy secret offline without the
//! Worker secret.

use super::keys::Key256;
use super::{hmac_sha256, put_field};

const SALT: &[u8] = b"butterfly/resource-version/v1";

pub struct VersionHashKey(Key256);

impl VersionHashKey {
    pub fn derive(master_secret: &Key256, team: &str, connection: &str) -> VersionHashKey {
        let mut info = Vec::new();
        put_field(&mut info, team.as_bytes());
        put_field(&mut info, connection.as_bytes());
        VersionHashKey(Key256::hkdf(SALT, master_secret.expose(), &info))
    }

    /// The hex HMAC of `content` (canonical bytes).
    pub fn hash(&self, content: &[u8]) -> String {
        hex::encode(hmac_sha256(self.0.expose(), &[content]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_per_connection_and_secret() {
        let a = Key256::from_bytes([1; 32]);
        let b = Key256::from_bytes([2; 32]);
        let h = |k: &Key256, conn: &str| VersionHashKey::derive(k, "t", conn).hash(b"{}");
        assert_eq!(h(&a, "c1"), h(&a, "c1"));
        assert_ne!(h(&a, "c1"), h(&a, "c2"));
        assert_ne!(h(&a, "c1"), h(&b, "c1"));
        assert_eq!(h(&a, "c1").len(), 64);
    }
}
