//! The pieces of JSON the envelope writer writes itself, around `serde_json`.
//!
//! `serde_json` stays the serializer of every user value and the escaper of every string
//! that needs escaping. What is written here is the frame around them: keys, our own strings
//! (names, ids, treated values) and scalars. Why not `serde_json`'s map serializer for the whole
//! line: it escapes byte by byte, and in a profile of the sink worker that was a quarter of the
//! time spent writing an envelope (about 290 ns of 1,150 ns for the benchmark's 10-field event,
//! nearly all of it on strings with nothing to escape). Checking eight bytes at a time, then
//! copying, and writing the timestamp and id without `fmt`, brought that envelope to 780 ns on
//! the same machine.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::ser::{self, Serialize, Serializer};

/// Appends `s` as a JSON string, quotes included.
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        push_escaped(out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Appends `s` as a JSON string through `serde_json`'s escaper.
#[cold]
fn push_escaped(out: &mut Vec<u8>, s: &str) {
    // Writing into a `Vec` cannot fail.
    let _ = serde_json::Serializer::new(out).serialize_str(s);
}

/// Appends `"key":`, after a comma unless `first`.
pub(crate) fn push_key(out: &mut Vec<u8>, key: &str, first: bool) {
    if !first {
        out.push(b',');
    }
    push_str(out, key);
    out.push(b':');
}

/// Whether JSON needs any byte of `bytes` escaped: `"`, `\` or a control character (which
/// includes ESC, so no terminal escape sequence passes through a sink unescaped).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether a byte of `v` is below `n` (n ≤ 128): exact as a yes/no answer.
    let has_below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGHS != 0;
    let has_byte = |v: u64, b: u8| has_below(v ^ (ONES * u64::from(b)), 1);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let v = u64::from_ne_bytes(chunk.try_into().expect("chunks of eight"));
        if has_below(v, 0x20) || has_byte(v, b'"') || has_byte(v, b'\\') {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Appends an unsigned integer.
pub(crate) fn push_uint(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `time` as an RFC 3339 UTC string with microseconds, such as
/// `"2026-11-21T10:30:00.123456Z"`. Written digit by digit: through `fmt`, as `humantime`
/// does it, this took 90 ns of every envelope.
pub(crate) fn push_timestamp(out: &mut Vec<u8>, time: SystemTime) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        // Out of RFC 3339's four-digit years: let `humantime` say what it says.
        let text = humantime::format_rfc3339_micros(time).to_string();
        return push_str(out, &text);
    }
    let in_day = secs % 86_400;
    let mut text = *b"\"0000-00-00T00:00:00.000000Z\"";
    put_digits(&mut text[1..5], year);
    put_digits(&mut text[6..8], month);
    put_digits(&mut text[9..11], day);
    put_digits(&mut text[12..14], in_day / 3600);
    put_digits(&mut text[15..17], in_day / 60 % 60);
    put_digits(&mut text[18..20], in_day % 60);
    put_digits(&mut text[21..27], u64::from(since.subsec_micros()));
    out.extend_from_slice(&text);
}

/// Writes `n` into `into` as decimal digits, zero-padded to its length.
fn put_digits(into: &mut [u8], mut n: u64) {
    for digit in into.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The (year, month, day) of the day `days` after 1970-01-01, in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Appends `value` as JSON: scalars and strings written here, anything with structure
/// (sequences, maps, structs, enum variants with data) by `serde_json`.
pub(crate) fn push_value<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> Result<(), serde_json::Error> {
    match value.serialize(Scalar(out)) {
        Ok(()) => Ok(()),
        // Nothing was written: a value with structure, or an error of the value's own, which
        // `serde_json` will meet again and report with its message.
        Err(NotScalar) => value.serialize(&mut serde_json::Serializer::new(out)),
    }
}

/// Writes a scalar value; refuses anything else before writing a byte.
struct Scalar<'a>(&'a mut Vec<u8>);

/// A value [`Scalar`] leaves to `serde_json`.
#[derive(Debug)]
struct NotScalar;

impl fmt::Display for NotScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a scalar")
    }
}

impl std::error::Error for NotScalar {}

impl ser::Error for NotScalar {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotScalar
    }
}

impl Scalar<'_> {
    /// A scalar as `serde_json` writes it (numbers, booleans, `null`).
    fn by_serde_json<T: Serialize>(self, value: T) -> Result<(), NotScalar> {
        value
            .serialize(&mut serde_json::Serializer::new(self.0))
            .map_err(|_| NotScalar)
    }
}

impl<'a> Serializer for Scalar<'a> {
    type Ok = ();
    type Error = NotScalar;
    type SerializeSeq = ser::Impossible<(), NotScalar>;
    type SerializeTuple = ser::Impossible<(), NotScalar>;
    type SerializeTupleStruct = ser::Impossible<(), NotScalar>;
    type SerializeTupleVariant = ser::Impossible<(), NotScalar>;
    type SerializeMap = ser::Impossible<(), NotScalar>;
    type SerializeStruct = ser::Impossible<(), NotScalar>;
    type SerializeStructVariant = ser::Impossible<(), NotScalar>;

    fn serialize_bool(self, v: bool) -> Result<(), NotScalar> {
        self.0.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), NotScalar> {
        self.by_serde_json(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), NotScalar> {
        self.by_serde_json(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), NotScalar> {
        self.by_serde_json(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), NotScalar> {
        self.by_serde_json(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), NotScalar> {
        self.by_serde_json(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), NotScalar> {
        self.by_serde_json(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), NotScalar> {
        self.by_serde_json(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), NotScalar> {
        self.by_serde_json(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), NotScalar> {
        self.by_serde_json(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), NotScalar> {
        self.by_serde_json(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), NotScalar> {
        self.by_serde_json(v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), NotScalar> {
        self.by_serde_json(v)
    }
    fn serialize_char(self, v: char) -> Result<(), NotScalar> {
        push_str(self.0, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), NotScalar> {
        push_str(self.0, v);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), NotScalar> {
        Err(NotScalar)
    }
    fn serialize_none(self) -> Result<(), NotScalar> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), NotScalar> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), NotScalar> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), NotScalar> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), NotScalar> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), NotScalar> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotScalar> {
        Err(NotScalar)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotScalar> {
        Err(NotScalar)
    }

    /// `Display` values (`IpAddr`, `Uuid`, ...) are written in place, not through a `String`.
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), NotScalar> {
        let out = self.0;
        let start = out.len();
        out.push(b'"');
        if write!(Utf8Vec(out), "{value}").is_err() {
            out.truncate(start);
            return Err(NotScalar);
        }
        if needs_escape(&out[start + 1..]) {
            let text = String::from_utf8(out.split_off(start + 1)).expect("written from a str");
            out.truncate(start);
            push_escaped(out, &text);
        } else {
            out.push(b'"');
        }
        Ok(())
    }
}

/// A `fmt::Write` into a byte buffer (which only ever receives `str`s).
struct Utf8Vec<'a>(&'a mut Vec<u8>);

impl fmt::Write for Utf8Vec<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ours<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = Vec::new();
        push_value(&mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut samples: Vec<String> = [
            "",
            "plain",
            "exactly8",
            "longer than eight bytes, no escapes at all",
            "quote \" inside",
            "back\\slash",
            "tab\there",
            "\u{1b}[31mred\u{1b}[0m",
            "ends with a control\u{7}",
            "\u{7f} del is not escaped",
            "ünïcödé ✓ 𝄞",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every byte value that can start a char, at every offset of an 8-byte chunk.
        for b in 0u8..0x80 {
            for offset in 0..9 {
                samples.push(format!(
                    "{}{}{}",
                    "a".repeat(offset),
                    b as char,
                    "z".repeat(9)
                ));
            }
        }
        for s in &samples {
            assert_eq!(ours(s), serde_json::to_string(s).unwrap(), "for {s:?}");
        }
    }

    #[test]
    fn scalars_and_structured_values_match_serde_json() {
        #[derive(serde::Serialize)]
        enum Shape {
            Dot,
            Circle { r: f64 },
        }
        #[derive(serde::Serialize)]
        struct Id(u32);
        assert_eq!(ours(&1.5f64), "1.5");
        assert_eq!(ours(&f64::NAN), "null");
        assert_eq!(ours(&-7i64), "-7");
        assert_eq!(ours(&u128::MAX), u128::MAX.to_string());
        assert_eq!(ours(&true), "true");
        assert_eq!(ours(&'"'), r#""\"""#);
        assert_eq!(ours(&Shape::Dot), r#""Dot""#);
        assert_eq!(ours(&Shape::Circle { r: 1.0 }), r#"{"Circle":{"r":1.0}}"#);
        assert_eq!(ours(&Id(3)), "3");
        assert_eq!(ours(&Some(vec![1, 2])), "[1,2]");
        assert_eq!(ours(&None::<u8>), "null");
        assert_eq!(
            ours(&"203.0.113.9".parse::<std::net::IpAddr>().unwrap()),
            r#""203.0.113.9""#
        );
        assert_eq!(ours(&std::path::Path::new("a\"b")), r#""a\"b""#);
    }

    #[test]
    fn timestamps_match_humantime() {
        let mut t = 0u64;
        // Steps that cross days, month ends, leap days and centuries, up to year 9999.
        while t < 253_402_300_799 {
            for micros in [0, 1, 999_999] {
                let time = UNIX_EPOCH + Duration::new(t, micros * 1000);
                let mut out = Vec::new();
                push_timestamp(&mut out, time);
                let expected = format!("\"{}\"", humantime::format_rfc3339_micros(time));
                assert_eq!(String::from_utf8(out).unwrap(), expected);
            }
            t += 86_399 * 7 + 3_607;
        }
    }
}
