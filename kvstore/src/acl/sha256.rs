//! Password hashes: Redis stores and prints a password as the lower-case hex of its SHA-256
//! (`ACLHashPassword`), so `#<hash>` rules written by redis-server load here too. The digest
//! is RustCrypto's `sha2`.

use sha2::{Digest, Sha256};

/// Redis's `ACLHashPassword`: the lower-case hex of the digest.
pub(crate) fn hex_digest(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::hex_digest;

    #[test]
    fn known_digests() {
        assert_eq!(
            hex_digest(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // What redis-server prints for `>p1`.
        assert_eq!(
            hex_digest(b"p1"),
            "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a"
        );
    }
}
