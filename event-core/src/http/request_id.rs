//! Request ids: the caller's, when it is safe to copy into outputs, or a fresh UUIDv7.

use std::fmt;

/// The id of one request, the envelope's `request_id`.
///
/// An inbound value (`x-request-id` by default) is taken when it is 1 to 128 characters of
/// `A-Z a-z 0-9 . _ : -`, which covers UUIDs, ULIDs and the ids proxies and load balancers
/// generate. Anything else is refused, never copied into an output (it could carry a log
/// injection or personal data), and replaced by a fresh UUIDv7.
///
/// ```
/// use event_core::http::RequestId;
///
/// let id = RequestId::from_inbound(Some(b"req-7f3a"));
/// assert_eq!(id.as_str(), "req-7f3a");
/// assert!(id.is_inbound());
///
/// let refused = RequestId::from_inbound(Some(b"req\n{\"admin\":true}"));
/// assert!(!refused.is_inbound());
/// assert_eq!(refused.as_str().len(), 36); // a UUIDv7
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RequestId {
    id: String,
    inbound: bool,
}

/// The longest inbound id taken.
pub const MAX_REQUEST_ID_LEN: usize = 128;

impl RequestId {
    /// The inbound header's value if it is acceptable, else a new id.
    pub fn from_inbound(value: Option<&[u8]>) -> RequestId {
        match value.filter(|value| acceptable(value)) {
            Some(value) => RequestId {
                // Acceptable values are ASCII.
                id: String::from_utf8_lossy(value).into_owned(),
                inbound: true,
            },
            None => RequestId::generate(),
        }
    }

    /// A new id: a UUIDv7, so ids sort by creation time.
    pub fn generate() -> RequestId {
        RequestId {
            id: uuid::Uuid::now_v7().to_string(),
            inbound: false,
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// Whether the id came from the request rather than being generated.
    pub fn is_inbound(&self) -> bool {
        self.inbound
    }
}

fn acceptable(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({:?})", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptable_ids_are_taken() {
        let longest = "a".repeat(MAX_REQUEST_ID_LEN);
        for id in [
            "a",
            "req-7f3a",
            "01J9ZQ3X5W4Y8V2T6R0P9N7M5K",
            "0193a6f0-0000-7000-8000-000000000001",
            "1-5759e988-bd862e3fe1be46a994272793",
            "svc.v2:abc_DEF-9",
            &longest,
        ] {
            let taken = RequestId::from_inbound(Some(id.as_bytes()));
            assert!(taken.is_inbound(), "{id}");
            assert_eq!(taken.as_str(), id);
        }
    }

    #[test]
    fn other_ids_are_replaced_and_never_copied() {
        let too_long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        for id in [
            "",
            "has space",
            "line\nbreak",
            "quote\"",
            "semi;colon",
            "Root=1-5759e988-bd862e3fe1be46a994272793",
            "slash/",
            "caf\u{e9}",
            "\u{1b}[31m",
            &too_long,
        ] {
            let replaced = RequestId::from_inbound(Some(id.as_bytes()));
            assert!(!replaced.is_inbound(), "{id:?}");
            assert_ne!(replaced.as_str(), id);
            let uuid = uuid::Uuid::parse_str(replaced.as_str()).unwrap();
            assert_eq!(uuid.get_version_num(), 7);
        }
        assert!(!RequestId::from_inbound(None).is_inbound());
        assert!(!RequestId::from_inbound(Some(b"\xff\xfe")).is_inbound());
    }
}
