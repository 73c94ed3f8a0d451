//! A value as the envelope's NDJSON line reads back, built without writing or parsing JSON:
//! for encoders that need the value's JSON shape (sorted keys, numbers as JSON parses them).

use serde::ser::{self, Error as _, Serialize};
use serde_json::{Map, Number, Value};

type Result<T> = std::result::Result<T, serde_json::Error>;

/// `value` as parsing its JSON text would give it back.
pub(crate) fn to_json_value<T: Serialize + ?Sized>(value: &T) -> Result<Value> {
    crate::render::depth::limited(value).serialize(ValueSerializer(Wide::Double))
}

/// As [`to_json_value`], but integers beyond 64 bits as strings of their digits.
pub(crate) fn to_json_value_exact<T: Serialize + ?Sized>(value: &T) -> Result<Value> {
    crate::render::depth::limited(value).serialize(ValueSerializer(Wide::Digits))
}

/// A value read back from its line as JSON, without the nesting bound (the line's parser
/// bounded it already): integers beyond 64 bits as their digits if `exact`.
pub(crate) fn stored_to_json_value<T: Serialize + ?Sized>(value: &T, exact: bool) -> Result<Value> {
    let wide = if exact { Wide::Digits } else { Wide::Double };
    value.serialize(ValueSerializer(wide))
}

/// What an integer beyond 64 bits becomes.
#[derive(Clone, Copy)]
enum Wide {
    /// The double that parsing its digits gives (what JSON readers without arbitrary
    /// precision read).
    Double,
    /// A string of its digits.
    Digits,
}

fn float(value: f64) -> Value {
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// An `f32` as its shortest decimal text parses to as an `f64`: `0.1f32` is written `0.1`,
/// which reads back as `0.1f64`, not as `0.10000000149011612`.
fn float32(value: f32) -> Value {
    if !value.is_finite() {
        return Value::Null;
    }
    let text = serde_json::to_string(&value).unwrap_or_default();
    float(text.parse().unwrap_or(f64::from(value)))
}

fn int128(value: i128, wide: Wide) -> Value {
    if let Ok(value) = i64::try_from(value) {
        Value::from(value)
    } else if let Ok(value) = u64::try_from(value) {
        Value::from(value)
    } else {
        match wide {
            Wide::Double => float(value as f64),
            Wide::Digits => Value::String(itoa::Buffer::new().format(value).to_owned()),
        }
    }
}

fn uint128(value: u128, wide: Wide) -> Value {
    match (u64::try_from(value), wide) {
        (Ok(value), _) => Value::from(value),
        (Err(_), Wide::Double) => float(value as f64),
        (Err(_), Wide::Digits) => Value::String(itoa::Buffer::new().format(value).to_owned()),
    }
}

#[derive(Clone, Copy)]
struct ValueSerializer(Wide);

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = serde_json::Error;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Seq;
    type SerializeMap = Object;
    type SerializeStruct = Object;
    type SerializeStructVariant = Object;

    fn serialize_bool(self, v: bool) -> Result<Value> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value> {
        Ok(int128(v, self.0))
    }
    fn serialize_u8(self, v: u8) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<Value> {
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value> {
        Ok(uint128(v, self.0))
    }
    fn serialize_f32(self, v: f32) -> Result<Value> {
        Ok(float32(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value> {
        Ok(float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value> {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value> {
        Ok(Value::Array(v.iter().map(|&b| Value::from(b)).collect()))
    }
    fn serialize_none(self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value> {
        Ok(Value::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value> {
        let mut object = Map::new();
        object.insert(variant.to_owned(), value.serialize(self)?);
        Ok(Value::Object(object))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq> {
        Ok(Seq {
            items: Vec::with_capacity(len.unwrap_or(0)),
            variant: None,
            wide: self.0,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq> {
        Ok(Seq {
            items: Vec::with_capacity(len),
            variant: Some(variant),
            wide: self.0,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object> {
        Ok(Object {
            map: Map::new(),
            key: None,
            variant: None,
            raw: false,
            wide: self.0,
        })
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Object> {
        let mut object = self.serialize_map(Some(len))?;
        // serde_json's `RawValue` is this struct around its JSON text, which the line holds
        // as it is.
        object.raw = name == RAW_VALUE;
        Ok(object)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object> {
        Ok(Object {
            map: Map::new(),
            key: None,
            variant: Some(variant),
            raw: false,
            wide: self.0,
        })
    }
}

/// `{variant: value}`, as serde_json writes an enum variant with data.
fn wrap(variant: Option<&'static str>, value: Value) -> Value {
    match variant {
        None => value,
        Some(variant) => {
            let mut object = Map::new();
            object.insert(variant.to_owned(), value);
            Value::Object(object)
        }
    }
}

struct Seq {
    items: Vec<Value>,
    variant: Option<&'static str>,
    wide: Wide,
}

impl Seq {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.items
            .push(value.serialize(ValueSerializer(self.wide))?);
        Ok(())
    }

    fn finish(self) -> Value {
        wrap(self.variant, Value::Array(self.items))
    }
}

impl ser::SerializeSeq for Seq {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for Seq {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for Seq {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleVariant for Seq {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

/// An object; like a parsed one, a repeated key keeps its last value.
struct Object {
    map: Map<String, Value>,
    key: Option<String>,
    variant: Option<&'static str>,
    /// A `serde_json::value::RawValue`: its one field is JSON text.
    raw: bool,
    wide: Wide,
}

/// The name `serde_json::value::RawValue` serializes as (serde_json's `RawValue` token).
const RAW_VALUE: &str = "$serde_json::private::RawValue";

impl Object {
    fn finish(self) -> Result<Value> {
        if self.raw {
            if let Some(Value::String(text)) = self.map.values().next() {
                return serde_json::from_str(text);
            }
        }
        Ok(wrap(self.variant, Value::Object(self.map)))
    }
}

impl ser::SerializeMap for Object {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .key
            .take()
            .ok_or_else(|| serde_json::Error::custom("a map value without its key"))?;
        self.map
            .insert(key, value.serialize(ValueSerializer(self.wide))?);
        Ok(())
    }
    fn end(self) -> Result<Value> {
        self.finish()
    }
}

impl ser::SerializeStruct for Object {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.map
            .insert(key.to_owned(), value.serialize(ValueSerializer(self.wide))?);
        Ok(())
    }
    fn end(self) -> Result<Value> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Object {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<Value> {
        self.finish()
    }
}

/// Map keys as serde_json writes them: strings, and scalars as their text.
struct KeySerializer;

fn key_must_be_a_string() -> serde_json::Error {
    serde_json::Error::custom("key must be a string")
}

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = serde_json::Error;
    type SerializeSeq = ser::Impossible<String, serde_json::Error>;
    type SerializeTuple = ser::Impossible<String, serde_json::Error>;
    type SerializeTupleStruct = ser::Impossible<String, serde_json::Error>;
    type SerializeTupleVariant = ser::Impossible<String, serde_json::Error>;
    type SerializeMap = ser::Impossible<String, serde_json::Error>;
    type SerializeStruct = ser::Impossible<String, serde_json::Error>;
    type SerializeStructVariant = ser::Impossible<String, serde_json::Error>;

    fn serialize_bool(self, v: bool) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String> {
        Ok(itoa::Buffer::new().format(v).to_owned())
    }
    fn serialize_i16(self, v: i16) -> Result<String> {
        Ok(itoa::Buffer::new().format(v).to_owned())
    }
    fn serialize_i32(self, v: i32) -> Result<String> {
        Ok(itoa::Buffer::new().format(v).to_owned())
    }
    fn serialize_i64(self, v: i64) -> Result<String> {
        Ok(itoa::Buffer::new().format(v).to_owned())
    }
    fn serialize_i128(self, v: i128) -> Result<String> {
        Ok(itoa::Buffer::new().format(v).to_owned())
    }
    fn serialize_u8(self, v: u8) -> Result<String> {
        Ok(itoa::Buffer::new().format(v).to_owned())
    }
    fn serialize_u16(self, v: u16) -> Result<String> {
        Ok(itoa::Buffer::new().format(v).to_owned())
    }
    fn serialize_u32(self, v: u32) -> Result<String> {
        Ok(itoa::Buffer::new().format(v).to_owned())
    }
    fn serialize_u64(self, v: u64) -> Result<String> {
        Ok(itoa::Buffer::new().format(v).to_owned())
    }
    fn serialize_u128(self, v: u128) -> Result<String> {
        Ok(itoa::Buffer::new().format(v).to_owned())
    }
    fn serialize_f32(self, v: f32) -> Result<String> {
        if !v.is_finite() {
            return Err(serde_json::Error::custom("float key must be finite"));
        }
        // As serde_json writes the key: its own float formatting.
        serde_json::to_string(&v)
    }
    fn serialize_f64(self, v: f64) -> Result<String> {
        if !v.is_finite() {
            return Err(serde_json::Error::custom("float key must be finite"));
        }
        serde_json::to_string(&v)
    }
    fn serialize_char(self, v: char) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<String> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Every shape: what `to_json_value` gives is what parsing the value's JSON text gives.
    #[test]
    fn values_read_as_their_json_text_parses() {
        #[derive(serde::Serialize)]
        enum Shape {
            Dot,
            Circle(f64),
            Rect { w: u32, h: u32 },
            Pair(i8, i8),
        }
        #[derive(serde::Serialize)]
        struct Zoo {
            zeta: u8,
            alpha: &'static str,
            big: u64,
            huge: u128,
            very_negative: i128,
            small128: i128,
            single: f32,
            nan: f64,
            infinite: f32,
            shapes: Vec<Shape>,
            int_keys: BTreeMap<u32, bool>,
            bytes: serde_bytes_like::Bytes,
            letter: char,
            unit: (),
            none: Option<u8>,
        }
        mod serde_bytes_like {
            pub struct Bytes(pub &'static [u8]);
            impl serde::Serialize for Bytes {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_bytes(self.0)
                }
            }
        }
        let zoo = Zoo {
            zeta: 1,
            alpha: "a\u{7f}",
            big: u64::MAX,
            huge: u128::MAX,
            very_negative: i128::MIN,
            small128: -5,
            single: 0.1,
            nan: f64::NAN,
            infinite: f32::INFINITY,
            shapes: vec![
                Shape::Dot,
                Shape::Circle(1.5),
                Shape::Rect { w: 2, h: 3 },
                Shape::Pair(-1, 1),
            ],
            int_keys: BTreeMap::from([(10, true), (2, false)]),
            bytes: serde_bytes_like::Bytes(b"hi"),
            letter: 'λ',
            unit: (),
            none: None,
        };
        let parsed: Value = serde_json::from_slice(&serde_json::to_vec(&zoo).unwrap()).unwrap();
        assert_eq!(to_json_value(&zoo).unwrap(), parsed);
        struct FloatKeys;
        impl Serialize for FloatKeys {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.collect_map([(1.5f64, 1), (2.0, 2), (1.5, 3), (1e20, 4), (1e-7, 5)])
            }
        }
        let keyed = FloatKeys;
        let parsed: Value = serde_json::from_slice(&serde_json::to_vec(&keyed).unwrap()).unwrap();
        assert_eq!(to_json_value(&keyed).unwrap(), parsed);
        assert!(to_json_value(&BTreeMap::from([((1, 2), 3)])).is_err());
    }

    #[test]
    fn exact_values_keep_integers_beyond_64_bits_as_digits_at_any_depth() {
        let value = (
            u128::MAX,
            vec![Some(i128::MIN), Some(i128::from(i64::MIN)), None],
            BTreeMap::from([("u64", u128::from(u64::MAX))]),
        );
        assert_eq!(
            to_json_value_exact(&value).unwrap(),
            serde_json::json!([
                "340282366920938463463374607431768211455",
                ["-170141183460469231731687303715884105728", i64::MIN, null],
                {"u64": u64::MAX}
            ])
        );
        let parsed: Value = serde_json::from_slice(&serde_json::to_vec(&value).unwrap()).unwrap();
        assert_eq!(to_json_value(&value).unwrap(), parsed);
    }
}
