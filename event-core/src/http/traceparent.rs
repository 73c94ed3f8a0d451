//! W3C Trace Context `traceparent` headers: `version-trace_id-parent_id-flags`, such as
//! `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`.

use std::fmt;

/// A parsed `traceparent` header: the caller's trace and the span that called us.
///
/// Parsed as the Trace Context recommendation says: lowercase hex only; trace and parent
/// ids not all zeros; version `ff` refused; version `00` exactly 55 characters. A *later*
/// version is accepted when its first 55 characters read as version `00` and anything after
/// them starts with `-`, and every flag value is accepted: only the `sampled` bit (`01`) has
/// a meaning today, and refusing unknown flags (`03`) would split real traces in two.
///
/// ```
/// use event_core::http::TraceParent;
///
/// let parent = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert_eq!(parent.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(parent.sampled());
/// assert!(TraceParent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    version: u8,
    trace_id: TraceId,
    parent_id: SpanId,
    flags: u8,
}

/// A 16-byte trace id, shown as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id, shown as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

/// Length of a version-`00` header: 2 + 1 + 32 + 1 + 16 + 1 + 2.
const VERSION_00_LEN: usize = 55;

impl TraceParent {
    /// Parses a header value; `None` when it is not a valid `traceparent`. Surrounding spaces
    /// and tabs (HTTP's optional whitespace) are ignored.
    pub fn parse(value: &str) -> Option<TraceParent> {
        let value = value.trim_matches([' ', '\t']);
        let bytes = value.as_bytes();
        if bytes.len() < VERSION_00_LEN {
            return None;
        }
        let version = hex_byte(&bytes[0..2])?;
        match version {
            0xff => return None,
            0x00 if bytes.len() != VERSION_00_LEN => return None,
            // A later version may add fields, after a `-`.
            _ if bytes.len() > VERSION_00_LEN && bytes[VERSION_00_LEN] != b'-' => return None,
            _ => {}
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let trace_id = TraceId(hex_array(&bytes[3..35])?);
        let parent_id = SpanId(hex_array(&bytes[36..52])?);
        let flags = hex_byte(&bytes[53..55])?;
        if trace_id.is_zero() || parent_id.is_zero() {
            return None;
        }
        Some(TraceParent {
            version,
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The header's version (`0` today).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The trace the request belongs to.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The caller's span: the parent of the span that handles the request.
    pub fn parent_id(&self) -> SpanId {
        self.parent_id
    }

    /// The trace flags, unknown bits included.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the caller sampled the trace (flag `01`).
    pub fn sampled(&self) -> bool {
        self.flags & 0x01 != 0
    }
}

impl TraceId {
    /// A new random trace id (never all zeros).
    pub fn random() -> TraceId {
        // A v4 UUID is 122 random bits; its version nibble makes it never all zeros.
        TraceId(*uuid::Uuid::new_v4().as_bytes())
    }

    fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl SpanId {
    /// A new random span id (never all zeros).
    pub fn random() -> SpanId {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        // Bytes 0..8 of a v4 UUID include its version nibble (byte 6), so never all zeros.
        SpanId(bytes[..8].try_into().expect("8 of 16 bytes"))
    }

    fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }
}

/// Lowercase hex for `Display`, `Id(hex)` for `Debug`.
macro_rules! hex_id_formatting {
    ($($id:ident),*) => {$(
        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($id), "({})"), self)
            }
        }
    )*};
}

hex_id_formatting!(TraceId, SpanId);

/// Two lowercase hex digits as a byte.
fn hex_byte(digits: &[u8]) -> Option<u8> {
    Some(hex_digit(digits[0])? << 4 | hex_digit(digits[1])?)
}

fn hex_array<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = hex_byte(pair)?;
    }
    Some(out)
}

/// Lowercase only: the recommendation refuses uppercase hex.
fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";

    #[test]
    fn valid_headers_are_read() {
        let valid = [
            (format!("00-{TRACE}-{PARENT}-01"), 0x00, 0x01),
            (format!("00-{TRACE}-{PARENT}-00"), 0x00, 0x00),
            // Unknown flags are kept, not refused.
            (format!("00-{TRACE}-{PARENT}-03"), 0x00, 0x03),
            (format!("00-{TRACE}-{PARENT}-ff"), 0x00, 0xff),
            // Later versions: the version-00 fields, then more after a `-`.
            (format!("01-{TRACE}-{PARENT}-01"), 0x01, 0x01),
            (
                format!("cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like"),
                0xcc,
                0x01,
            ),
            (format!("fe-{TRACE}-{PARENT}-09-"), 0xfe, 0x09),
            // Optional whitespace around the value.
            (format!(" \t00-{TRACE}-{PARENT}-01 "), 0x00, 0x01),
        ];
        for (header, version, flags) in valid {
            let parsed = TraceParent::parse(&header).unwrap_or_else(|| panic!("{header:?}"));
            assert_eq!(parsed.version(), version, "{header}");
            assert_eq!(parsed.flags(), flags, "{header}");
            assert_eq!(parsed.trace_id().to_string(), TRACE);
            assert_eq!(parsed.parent_id().to_string(), PARENT);
            assert_eq!(parsed.sampled(), flags & 1 == 1);
        }
    }

    #[test]
    fn invalid_headers_are_refused() {
        let upper_trace = TRACE.to_uppercase();
        let invalid = [
            String::new(),
            "00".into(),
            format!("00-{upper_trace}-{PARENT}-01"),
            format!("00-{TRACE}-00F067AA0BA902B7-01"),
            format!("00-{TRACE}-{PARENT}-0A"),
            format!("0A-{TRACE}-{PARENT}-01"),
            format!("00-{}-{PARENT}-01", "0".repeat(32)),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            format!("ff-{TRACE}-{PARENT}-01"),
            // Version 00 has exactly four fields.
            format!("00-{TRACE}-{PARENT}-01-extra"),
            format!("00-{TRACE}-{PARENT}-01 x"),
            // A later version must continue with `-`.
            format!("01-{TRACE}-{PARENT}-01x"),
            format!("00-{TRACE}-{PARENT}-1"),
            format!("00-{}-{PARENT}-01", &TRACE[..31]),
            format!("00-{TRACE}0-{PARENT}-01"),
            format!("00_{TRACE}-{PARENT}-01"),
            format!("00-{TRACE}_{PARENT}-01"),
            format!("00-{TRACE}-{PARENT}_01"),
            format!("00-{}g-{PARENT}-01", &TRACE[..31]),
            format!("0g-{TRACE}-{PARENT}-01"),
            format!("00-{TRACE}-{PARENT}-0\u{e9}"),
        ];
        for header in invalid {
            assert_eq!(TraceParent::parse(&header), None, "{header:?}");
        }
    }

    #[test]
    fn random_ids_are_never_zero_and_differ() {
        let (a, b) = (TraceId::random(), TraceId::random());
        assert!(!a.is_zero() && a != b);
        let (c, d) = (SpanId::random(), SpanId::random());
        assert!(!c.is_zero() && c != d);
        assert_eq!(a.to_string().len(), 32);
        assert_eq!(c.to_string().len(), 16);
    }
}
