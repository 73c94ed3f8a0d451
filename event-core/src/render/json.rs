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
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::ser::{self, Serialize, Serializer};

use crate::render::depth::limited;

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
    let _ = serializer(out).serialize_str(s);
}

/// A `serde_json` serializer into `out` that also escapes DEL and the C1 controls.
fn serializer<W: io::Write>(out: W) -> serde_json::Serializer<W, Escaping> {
    serde_json::Serializer::with_formatter(out, Escaping)
}

/// Writes `value` as compact JSON, as [`serde_json::to_writer`] does, but also escapes DEL
/// (U+007F) and the C1 controls (U+0080..=U+009F) as `\u007f` ... `\u009f`, as every
/// envelope does. For sinks that re-encode an envelope (a JSON value taken apart and written
/// again): `serde_json` alone would let those characters through raw, and C1 includes the
/// 8-bit CSI (U+009B), which can start an escape sequence in a terminal.
///
/// ```
/// let mut out = Vec::new();
/// event_core::write_json(&mut out, &serde_json::json!({ "note": "a\u{9b}b\u{7f}" })).unwrap();
/// assert_eq!(out, br#"{"note":"a\u009bb\u007f"}"#);
/// ```
pub fn write_json<W, T>(writer: W, value: &T) -> serde_json::Result<()>
where
    W: io::Write,
    T: Serialize + ?Sized,
{
    value.serialize(&mut serializer(writer))
}

/// `serde_json`'s compact output, with DEL (U+007F) and the C1 controls (U+0080..=U+009F)
/// escaped as `\u007f`, `\u0080` ... `\u009f`, as it escapes the C0 ones. `serde_json` leaves
/// them raw, and C1 includes the 8-bit CSI (U+009B): raw in a terminal, it can start an
/// escape sequence.
struct Escaping;

impl serde_json::ser::Formatter for Escaping {
    /// `fragment` is a run with nothing `serde_json` escapes; copied as is unless it holds DEL
    /// or a C1 control.
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        let (mut copied, mut at) = (0, 0);
        while at < bytes.len() {
            // In UTF-8, DEL is the byte 0x7F and a C1 control 0xC2 then 0x80..=0x9F.
            let (control, len) = match (bytes[at], bytes.get(at + 1)) {
                (0x7f, _) => (0x7f, 1),
                (0xc2, Some(&next @ 0x80..=0x9f)) => (next, 2),
                _ => {
                    at += 1;
                    continue;
                }
            };
            writer.write_all(&bytes[copied..at])?;
            writer.write_all(&unicode_escape(control))?;
            at += len;
            copied = at;
        }
        writer.write_all(&bytes[copied..])
    }
}

/// `\u00XX` for the char `code` (below U+0100), in lowercase hex as `serde_json` writes the
/// C0 controls.
fn unicode_escape(code: u8) -> [u8; 6] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [
        b'\\',
        b'u',
        b'0',
        b'0',
        HEX[usize::from(code >> 4)],
        HEX[usize::from(code & 0xf)],
    ]
}

/// Appends `"key":`, after a comma unless `first`, for a `key` known to need no escaping (only
/// ASCII letters, digits and `_`).
pub(crate) fn push_plain_key(out: &mut Vec<u8>, key: &str, first: bool) {
    debug_assert!(!needs_escape(key.as_bytes()), "{key:?}");
    out.reserve(key.len() + 4);
    if !first {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends `"key":`, after a comma unless `first`.
pub(crate) fn push_key(out: &mut Vec<u8>, key: &str, first: bool) {
    if !first {
        out.push(b',');
    }
    push_str(out, key);
    out.push(b':');
}

/// Whether JSON needs any byte of `bytes` escaped: `"`, `\` or a control character: C0
/// (which includes ESC), DEL or C1 (which includes the 8-bit CSI U+009B), so no terminal
/// escape sequence passes through a sink unescaped.
///
/// Every key and string of every envelope passes through here, most of them short: it looks
/// at eight bytes at a time, and a string under eight bytes is read as one word built in
/// registers, without a loop per byte. A word with a byte that may need it (0xC2 also leads
/// U+00A0..=U+00BF, such as NBSP, `£` or `°`, which need none) sends the whole string to the
/// exact check.
#[inline]
fn needs_escape(bytes: &[u8]) -> bool {
    let len = bytes.len();
    let maybe = if len >= 8 {
        let mut chunks = bytes.chunks_exact(8);
        let mut maybe = false;
        for chunk in &mut chunks {
            maybe |= word_may_need_escape(read_u64(chunk));
        }
        // The last bytes, as the last eight (overlapping the chunk before).
        maybe
            | (!chunks.remainder().is_empty() && word_may_need_escape(read_u64(&bytes[len - 8..])))
    } else {
        // Up to seven bytes as one word, from overlapping reads (every byte read at least
        // once), the rest spaces, which need no escaping. Built in registers: a copy into a
        // padded buffer made the next load wait for the stores (seen in the profile).
        let word = if len >= 4 {
            let head = u32::from_le_bytes(bytes[..4].try_into().expect("four bytes"));
            let tail = u32::from_le_bytes(bytes[len - 4..].try_into().expect("four bytes"));
            u64::from(head) | (u64::from(tail) << 32)
        } else if len > 0 {
            const SPACES: u64 = u64::from_le_bytes([b' '; 8]);
            let bytes3 = u64::from(bytes[0])
                | (u64::from(bytes[len / 2]) << 8)
                | (u64::from(bytes[len - 1]) << 16);
            bytes3 | (SPACES & !0xff_ffff)
        } else {
            return false;
        };
        word_may_need_escape(word)
    };
    maybe && needs_escape_exactly(bytes)
}

/// Eight bytes as a word.
#[inline]
fn read_u64(eight: &[u8]) -> u64 {
    u64::from_le_bytes(eight.try_into().expect("eight bytes"))
}

/// Whether `b` is, or may start (0xC2), a char JSON output needs escaped.
fn may_need_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f || b == 0xc2
}

/// [`may_need_escape`] for any of eight bytes.
#[inline]
fn word_may_need_escape(v: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of a byte set where `v`'s is below `n` (n ≤ 128): exact as a yes/no answer.
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGHS;
    let byte = |b: u8| below(v ^ (ONES * u64::from(b)), 1);
    below(v, 0x20) | byte(b'"') | byte(b'\\') | byte(0x7f) | byte(0xc2) != 0
}

/// Whether UTF-8 `bytes` hold a char JSON output needs escaped: `"`, `\`, C0, DEL, or C1
/// (0xC2 followed by 0x80..=0x9F).
#[cold]
fn needs_escape_exactly(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| match b {
        0xc2 => matches!(bytes.get(i + 1), Some(0x80..=0x9f)),
        _ => may_need_escape(b),
    })
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
    match limited(value).serialize(Scalar(out)) {
        Ok(()) => Ok(()),
        // Nothing was written: a value with structure, or an error of the value's own (or
        // of its depth), which `serde_json` will meet again and report with its message.
        Err(NotScalar) => limited(value).serialize(&mut serializer(out)),
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
            .serialize(&mut serializer(self.0))
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

    /// DEL and the C1 controls: U+007F..=U+009F.
    fn del_and_c1() -> impl Iterator<Item = char> {
        '\u{7f}'..='\u{9f}'
    }

    /// `serde_json`'s output for `s`, with DEL and C1 escaped as it escapes C0.
    fn expected(s: &str) -> String {
        let mut out = String::new();
        for c in serde_json::to_string(s).unwrap().chars() {
            if ('\u{7f}'..='\u{9f}').contains(&c) {
                write!(out, "\\u{:04x}", u32::from(c)).unwrap();
            } else {
                out.push(c);
            }
        }
        out
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
            "\u{7f} del is escaped",
            "\u{9b}31m 8-bit CSI is escaped",
            "ünïcödé ✓ 𝄞",
            "£5 at 20°C\u{a0}¿ ÿ",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every char of one byte, and every char led by 0xC2 (C1 controls and U+00A0..=U+00BF,
        // which must stay raw), at every offset of an 8-byte chunk.
        for c in ('\0'..='\u{7f}').chain('\u{80}'..='\u{bf}') {
            for offset in 0..9 {
                samples.push(format!("{}{c}{}", "a".repeat(offset), "z".repeat(9)));
            }
            // And at the end of strings short and long (the last bytes are checked apart).
            for offset in 0..18 {
                samples.push(format!("{}{c}", "a".repeat(offset)));
            }
        }
        for s in &samples {
            assert_eq!(ours(s), expected(s), "for {s:?}");
        }
    }

    #[test]
    fn chars_that_need_no_escape_take_the_plain_copy() {
        for s in [
            "plain ascii text",
            "£5 at 20°C\u{a0}¿",
            "ünïcödé ✓ 𝄞",
            "\u{a0}\u{bf}\u{c2}",
        ] {
            assert!(!needs_escape(s.as_bytes()), "for {s:?}");
        }
        for c in del_and_c1() {
            for offset in 0..9 {
                let s = format!("{}{c}{}", "a".repeat(offset), "£".repeat(5));
                assert!(needs_escape(s.as_bytes()), "for {s:?}");
            }
        }
    }

    /// Whether `json` holds `c` escaped, never raw, and reads back as `original`.
    fn assert_escaped<T>(json: &str, c: char, original: &T)
    where
        T: serde::de::DeserializeOwned + PartialEq + fmt::Debug,
    {
        let escape = format!("\\u{:04x}", u32::from(c));
        assert!(json.contains(&escape), "{escape} not in {json:?}");
        assert!(!json.contains(c), "raw {c:?} in {json:?}");
        let back: T = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json:?}: {e}"));
        assert_eq!(&back, original);
    }

    #[test]
    fn del_and_c1_controls_are_escaped_on_every_path() {
        /// A `Display` value, written through `collect_str`.
        struct Shown<'a>(&'a str);
        impl Serialize for Shown<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self.0)
            }
        }
        for c in del_and_c1() {
            let s = format!("a{c}b{c}{c}");
            // Our own strings: names, ids, treated values.
            let mut out = Vec::new();
            push_str(&mut out, &s);
            assert_escaped(&String::from_utf8(out).unwrap(), c, &s);
            // A key written here.
            let mut out = b"{".to_vec();
            push_key(&mut out, &s, true);
            out.extend_from_slice(b"1}");
            let map = std::collections::BTreeMap::from([(s.clone(), 1)]);
            assert_escaped(&String::from_utf8(out).unwrap(), c, &map);
            // Scalar values written here.
            assert_escaped(&ours(&s), c, &s);
            assert_escaped(&ours(&c), c, &c);
            assert_escaped(&ours(&Shown(&s)), c, &s);
            // Values with structure, written by `serde_json`: strings, map keys, `collect_str`.
            assert_escaped(&ours(&vec![s.clone()]), c, &vec![s.clone()]);
            let map = std::collections::BTreeMap::from([(s.clone(), s.clone())]);
            assert_escaped(&ours(&map), c, &map);
            assert_escaped(&ours(&[Shown(&s)]), c, &vec![s.clone()]);
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
