//! Treatments: what a field's value becomes on its way to any output, chosen per field with
//! `#[event(redact)]`, `#[event(mask)]`, `#[event(hash)]` or `#[event(skip)]`.
//!
//! Treatments are applied while serializing: the raw value of a treated field is never
//! turned into a string that could escape. `redact` never reads the value at all; `mask`
//! streams the value's `Display` text through a four-character window; `hash` streams it
//! into the keyed HMAC.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::Mac;

use crate::HashKey;

/// The constant every redacted value (and every hashed value without a key) becomes.
pub const REDACTED: &str = "[REDACTED]";

/// The mask every masked value starts with.
pub const MASK: &str = "********";

/// What a field's value becomes in outputs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Treatment {
    /// The value, serialized with serde.
    None,
    /// `"[REDACTED]"`: nothing derived from the value, not even its length.
    Redact,
    /// `"********"` followed by the value's last `keep_last` characters (0..=4); values shorter
    /// than `keep_last + 4` characters become `"********"`.
    Mask {
        /// How many trailing characters stay readable.
        keep_last: u8,
    },
    /// `"hmac-sha256:<key_id>:<64 lowercase hex>"`; `"[REDACTED]"` when no key is configured.
    Hash,
    /// The field is omitted.
    Skip,
    /// An `#[event(error)]` field: `{"type", "message", "chain": [source messages…]}`, or with
    /// `redact_message`, `{"type", "chain": [source types…]}`.
    Error {
        /// Whether only the types are written (`#[event(error(redact_message))]`).
        redact_message: bool,
    },
}

impl Treatment {
    /// The attribute name: `"none"`, `"redact"`, `"mask"`, `"hash"`, `"skip"` or `"error"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Treatment::None => "none",
            Treatment::Redact => "redact",
            Treatment::Mask { .. } => "mask",
            Treatment::Hash => "hash",
            Treatment::Skip => "skip",
            Treatment::Error { .. } => "error",
        }
    }
}

/// How sensitive a field is, as written in the schema's `x-sensitivity.class`.
///
/// The derive decides it from the field's attributes and from the secret and PII words in its
/// name or output key: `not_sensitive` makes it `Public`; else a secret word makes it `Secret`;
/// `pii` or a PII word, `Pii`; a treatment or `error(redact_message)`, `Sensitive`; anything else
/// (a plain `error` field too) is `Public`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Sensitivity {
    /// Nothing sensitive: no sensitive word in the name, or `not_sensitive`.
    Public,
    /// Treated by choice, though its name has no sensitive word.
    Sensitive,
    /// Personal data: a PII word in the name, or `#[event(pii)]`.
    Pii,
    /// A secret: a secret word in the name.
    Secret,
}

impl Sensitivity {
    /// `"public"`, `"sensitive"`, `"pii"` or `"secret"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Sensitive => "sensitive",
            Sensitivity::Pii => "pii",
            Sensitivity::Secret => "secret",
        }
    }
}

/// What treatments need at render time: the hash key, and where to count its absence.
#[derive(Clone, Copy)]
pub(crate) struct TreatmentContext<'a> {
    pub(crate) hash_key: Option<&'a HashKey>,
    /// Raised once per hashed value rendered as `"[REDACTED]"` for lack of a key; `None`
    /// where nobody counts (or it was counted already).
    pub(crate) hash_key_missing: Option<&'a AtomicU64>,
}

/// A failure of the user's own `Display` while treating a value. It carries no part of the
/// value, so it is safe to show.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DisplayFailed;

/// `"********"` plus the last `keep_last` characters of `value`'s `Display` text.
///
/// The text is streamed through a window of the last four characters, so no copy of the whole
/// value is ever made.
pub(crate) fn mask<T: fmt::Display + ?Sized>(
    value: &T,
    keep_last: u8,
) -> Result<MaskedText, DisplayFailed> {
    struct Tail {
        window: [char; 4],
        seen: usize,
    }
    impl fmt::Write for Tail {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for c in s.chars() {
                self.window[self.seen % 4] = c;
                self.seen += 1;
            }
            Ok(())
        }
    }
    let mut tail = Tail {
        window: ['\0'; 4],
        seen: 0,
    };
    write!(tail, "{value}").map_err(|_| DisplayFailed)?;
    let keep = usize::from(keep_last.min(4));
    let mut out = MaskedText {
        buf: [0; MASK.len() + 16],
        len: MASK.len(),
    };
    out.buf[..MASK.len()].copy_from_slice(MASK.as_bytes());
    if keep > 0 && tail.seen >= keep + 4 {
        for i in tail.seen - keep..tail.seen {
            let c = tail.window[i % 4];
            out.len += c.encode_utf8(&mut out.buf[out.len..]).len();
        }
    }
    Ok(out)
}

/// A masked value, on the stack: at most eight stars and four characters.
pub(crate) struct MaskedText {
    buf: [u8; MASK.len() + 16],
    len: usize,
}

impl MaskedText {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).expect("built from whole chars")
    }
}

/// A hashed value: `"hmac-sha256:<key_id>:<hex>"` with a key, else `"[REDACTED]"` (counted).
pub(crate) fn hash<T: fmt::Display + ?Sized>(
    value: &T,
    ctx: TreatmentContext<'_>,
) -> Result<HashedText, DisplayFailed> {
    let Some(key) = ctx.hash_key else {
        if let Some(missing) = ctx.hash_key_missing {
            missing.fetch_add(1, Ordering::Relaxed);
        }
        return Ok(HashedText::Redacted);
    };
    struct MacWriter<M>(M);
    impl<M: Mac> fmt::Write for MacWriter<M> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.update(s.as_bytes());
            Ok(())
        }
    }
    let mut writer = MacWriter(key.keyed_mac());
    write!(writer, "{value}").map_err(|_| DisplayFailed)?;
    let digest = writer.0.finalize().into_bytes();
    // On the stack: `hmac-sha256:<id ≤ 64>:` and 64 hex digits fit in 160 bytes.
    let prefix = key.prefix().as_bytes();
    let mut text = [0u8; HASHED_MAX];
    text[..prefix.len()].copy_from_slice(prefix);
    let len = prefix.len() + 64;
    hex::encode_to_slice(digest, &mut text[prefix.len()..len])
        .expect("32 bytes fill 64 hex digits");
    Ok(HashedText::Keyed { text, len })
}

/// The longest hashed value: `hmac-sha256:` (12) + a 64-byte key id + `:` + 64 hex digits.
const HASHED_MAX: usize = 160;

pub(crate) enum HashedText {
    Keyed { text: [u8; HASHED_MAX], len: usize },
    Redacted,
}

impl HashedText {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            HashedText::Keyed { text, len } => {
                std::str::from_utf8(&text[..*len]).expect("an ASCII key id and hex digits")
            }
            HashedText::Redacted => REDACTED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(value: &str, keep_last: u8) -> String {
        mask(value, keep_last).unwrap().as_str().to_owned()
    }

    #[test]
    fn mask_keeps_the_last_characters_only_of_long_enough_values() {
        assert_eq!(masked("4111111111111111", 4), "********1111");
        assert_eq!(masked("12345678", 4), "********5678");
        assert_eq!(masked("1234567", 4), "********");
        assert_eq!(masked("", 4), "********");
        assert_eq!(masked("abcdef", 2), "********ef");
        assert_eq!(masked("abcde", 2), "********");
        assert_eq!(masked("4111111111111111", 0), "********");
        assert_eq!(masked("héllo wörld €uro", 4), "********€uro");
    }

    #[test]
    fn hash_without_key_is_redacted_and_counted() {
        let counter = AtomicU64::new(0);
        let ctx = TreatmentContext {
            hash_key: None,
            hash_key_missing: Some(&counter),
        };
        assert_eq!(hash("a@b.c", ctx).unwrap().as_str(), REDACTED);
        assert_eq!(counter.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn hash_matches_rfc4231_test_case_6() {
        // RFC 4231 §4.7: a 131-byte key of 0xaa, hashed with HMAC-SHA-256.
        let key = HashKey::new("k1", &[0xaa; 131]).unwrap();
        let counter = AtomicU64::new(0);
        let ctx = TreatmentContext {
            hash_key: Some(&key),
            hash_key_missing: Some(&counter),
        };
        let data = "Test Using Larger Than Block-Size Key - Hash Key First";
        assert_eq!(
            hash(data, ctx).unwrap().as_str(),
            "hmac-sha256:k1:60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
