//! Scalar values as `AnyValue` messages, written straight into a buffer: the values most
//! attributes hold, with no `AnyValue` built. Numbers as the envelope's JSON reads back,
//! except that an integer no `int_value` holds (beyond `i64`, up to 128 bits) is a string of
//! its exact digits; `f32` as the double its shortest text parses to, `NaN` and infinities as
//! no value.

use event_core::envelope::FieldValue;
use event_core::Version;
use prost::encoding::{encode_key, encode_varint, WireType};
use serde::ser::{self, Impossible, Serialize};

// The fields of `AnyValue`'s `value` oneof (opentelemetry/proto/common/v1).
const STRING_VALUE: u32 = 1;
const BOOL_VALUE: u32 = 2;
const INT_VALUE: u32 = 3;
const DOUBLE_VALUE: u32 = 4;

/// An `AnyValue` holding `text`.
pub(super) fn string(text: &str, out: &mut Vec<u8>) {
    encode_key(STRING_VALUE, WireType::LengthDelimited, out);
    encode_varint(text.len() as u64, out);
    out.extend_from_slice(text.as_bytes());
}

/// Writes `version` (`MAJOR.MINOR`) as a string `AnyValue`.
pub(super) fn version(version: Version, out: &mut Vec<u8>) {
    let (mut major, mut minor) = (itoa::Buffer::new(), itoa::Buffer::new());
    let (major, minor) = (major.format(version.major), minor.format(version.minor));
    encode_key(STRING_VALUE, WireType::LengthDelimited, out);
    encode_varint((major.len() + 1 + minor.len()) as u64, out);
    out.extend_from_slice(major.as_bytes());
    out.push(b'.');
    out.extend_from_slice(minor.as_bytes());
}

/// Writes `value` as an `AnyValue` if it is a scalar; `false` (nothing written) if it has
/// structure.
pub(super) fn write(value: &FieldValue<'_>, out: &mut Vec<u8>) -> bool {
    value.serialize(Scalar(out)).is_ok()
}

fn int(value: i64, out: &mut Vec<u8>) {
    encode_key(INT_VALUE, WireType::Varint, out);
    encode_varint(value as u64, out);
}

fn double(value: f64, out: &mut Vec<u8>) {
    // Not finite: JSON has no such number, the envelope says `null`, an empty `AnyValue`.
    if value.is_finite() {
        encode_key(DOUBLE_VALUE, WireType::SixtyFourBit, out);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn unsigned(value: u64, out: &mut Vec<u8>) {
    match i64::try_from(value) {
        Ok(value) => int(value, out),
        // Above i64::MAX: a double would round it; the digits stay exact.
        Err(_) => string(itoa::Buffer::new().format(value), out),
    }
}

struct Scalar<'a>(&'a mut Vec<u8>);

/// A value with structure: written through `AnyValue` instead.
#[derive(Debug)]
struct Structured;

impl std::fmt::Display for Structured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value with structure")
    }
}

impl std::error::Error for Structured {}

impl ser::Error for Structured {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Structured
    }
}

type Result = std::result::Result<(), Structured>;

impl ser::Serializer for Scalar<'_> {
    type Ok = ();
    type Error = Structured;
    type SerializeSeq = Impossible<(), Structured>;
    type SerializeTuple = Impossible<(), Structured>;
    type SerializeTupleStruct = Impossible<(), Structured>;
    type SerializeTupleVariant = Impossible<(), Structured>;
    type SerializeMap = Impossible<(), Structured>;
    type SerializeStruct = Impossible<(), Structured>;
    type SerializeStructVariant = Impossible<(), Structured>;

    fn serialize_bool(self, v: bool) -> Result {
        encode_key(BOOL_VALUE, WireType::Varint, self.0);
        encode_varint(u64::from(v), self.0);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result {
        int(v.into(), self.0);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result {
        int(v.into(), self.0);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result {
        int(v.into(), self.0);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result {
        int(v, self.0);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result {
        if let Ok(v) = i64::try_from(v) {
            int(v, self.0);
        } else {
            // Beyond 64 bits: a double would round it; the digits stay exact.
            string(itoa::Buffer::new().format(v), self.0);
        }
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result {
        int(v.into(), self.0);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result {
        int(v.into(), self.0);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result {
        int(v.into(), self.0);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result {
        unsigned(v, self.0);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result {
        match u64::try_from(v) {
            Ok(v) => unsigned(v, self.0),
            Err(_) => string(itoa::Buffer::new().format(v), self.0),
        }
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result {
        if v.is_finite() {
            // As serde_json writes it, read back as an f64.
            let text = serde_json::to_string(&v).unwrap_or_default();
            double(text.parse().unwrap_or(f64::from(v)), self.0);
        }
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result {
        double(v, self.0);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result {
        string(v.encode_utf8(&mut [0; 4]), self.0);
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result {
        string(v, self.0);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result {
        Err(Structured)
    }
    fn serialize_none(self) -> Result {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        string(variant, self.0);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result {
        Err(Structured)
    }
    fn serialize_seq(
        self,
        _: Option<usize>,
    ) -> std::result::Result<Self::SerializeSeq, Structured> {
        Err(Structured)
    }
    fn serialize_tuple(self, _: usize) -> std::result::Result<Self::SerializeTuple, Structured> {
        Err(Structured)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeTupleStruct, Structured> {
        Err(Structured)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeTupleVariant, Structured> {
        Err(Structured)
    }
    fn serialize_map(
        self,
        _: Option<usize>,
    ) -> std::result::Result<Self::SerializeMap, Structured> {
        Err(Structured)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeStruct, Structured> {
        Err(Structured)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeStructVariant, Structured> {
        Err(Structured)
    }
}
