//! The key for `#[event(hash)]` fields.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The shortest key [`HashKey::new`] accepts, in bytes: the HMAC-SHA256 output size.
pub const MIN_HASH_KEY_LEN: usize = 32;

/// A named HMAC-SHA256 key for `#[event(hash)]` fields.
///
/// Hashed fields are written as `"hmac-sha256:<key_id>:<64 lowercase hex>"`, so values stay
/// joinable across events without being readable, and the `key_id` says which key to use when
/// keys are rotated. The key bytes are never shown: `Debug` prints only the id.
///
/// ```
/// let key = event_core::HashKey::new("k1", &[7u8; 32]).unwrap();
/// assert_eq!(format!("{key:?}"), r#"HashKey { key_id: "k1", key: "[REDACTED]" }"#);
/// assert!(event_core::HashKey::new("k1", b"short").is_err());
/// ```
#[derive(Clone)]
pub struct HashKey {
    key_id: Box<str>,
    /// `"hmac-sha256:<key_id>:"`, built once so each hash is one copy plus the hex digits.
    prefix: Box<str>,
    /// Keyed once; cloning the keyed state is cheaper than re-keying for every value.
    mac: Hmac<Sha256>,
}

/// Why a [`HashKey`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashKeyError {
    /// The key has fewer than [`MIN_HASH_KEY_LEN`] bytes.
    #[error(
        "hash key `{key_id}` is {len} bytes long; it must be at least 32 random bytes \
         (for example from `openssl rand 32`)"
    )]
    TooShort {
        /// The id the key was given.
        key_id: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The key id is empty, too long, or has characters outside `[A-Za-z0-9._-]`.
    #[error(
        "hash key id `{key_id}` is not valid: use 1 to 64 characters from `A-Z a-z 0-9 . _ -` \
         (it is written inside every hashed value, between colons)"
    )]
    InvalidKeyId {
        /// The refused id.
        key_id: String,
    },
}

impl HashKey {
    /// A key named `key_id` (written into every hashed value) with secret bytes `key`,
    /// which must be at least [`MIN_HASH_KEY_LEN`] long.
    pub fn new(key_id: &str, key: &[u8]) -> Result<HashKey, HashKeyError> {
        let id_ok = !key_id.is_empty()
            && key_id.len() <= 64
            && key_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !id_ok {
            return Err(HashKeyError::InvalidKeyId {
                key_id: key_id.to_owned(),
            });
        }
        if key.len() < MIN_HASH_KEY_LEN {
            return Err(HashKeyError::TooShort {
                key_id: key_id.to_owned(),
                len: key.len(),
            });
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
        Ok(HashKey {
            key_id: key_id.into(),
            prefix: format!("hmac-sha256:{key_id}:").into(),
            mac,
        })
    }

    /// The key's id, as written in hashed values.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn keyed_mac(&self) -> Hmac<Sha256> {
        self.mac.clone()
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashKey")
            .field("key_id", &self.key_id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_short_keys_without_showing_them() {
        let err = HashKey::new("k1", b"0123456789abcdef0123456789abcde").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("31 bytes") && msg.contains("at least 32"),
            "{msg}"
        );
        assert!(!msg.contains("0123456789"), "{msg}");
    }

    #[test]
    fn refuses_bad_key_ids() {
        for id in ["", "a:b", "with space", &"x".repeat(65)] {
            assert!(matches!(
                HashKey::new(id, &[1; 32]),
                Err(HashKeyError::InvalidKeyId { .. })
            ));
        }
        assert_eq!(
            HashKey::new("k-1.a_b", &[1; 32]).unwrap().key_id(),
            "k-1.a_b"
        );
    }
}
