//! A bound on how deeply a value may nest, applied to every output. A `Serialize` value nests
//! by recursion on the thread that writes it, so a value thousands of levels deep (a parsed
//! document, a linked list) would overflow a sink worker's stack and abort the whole process.
//! Past the bound, writing the value fails like any other serialization error: the event is
//! counted `serialize_error` and dropped, and the application goes on.

use std::fmt::Display;

use serde::ser::{self, Error as _, Serialize, Serializer};

/// How many levels a field's value may nest. Each sequence, tuple, map, struct, enum variant
/// with data, `Some` and newtype counts one level; the field itself is at level 0.
///
/// Thirty levels are more than any document this framework was tried with, and every reader
/// takes what is written: `serde_json` reads 128 levels (the envelope adds 2), and a
/// collector built on `prost` decodes 100 nested messages, of which an OTLP record takes 5
/// and each level of a map value 3. A `serde_json::RawValue` is written as it is: its
/// content is bounded only by the 128 levels `serde_json` parses.
pub const MAX_NESTING: usize = 30;

/// The error of a value nested deeper than [`MAX_NESTING`].
const TOO_DEEP: &str = "the value nests more than 30 levels deep (the most written)";

/// Whether an error's text is that of a value nested too deeply.
pub(crate) fn is_too_deep(text: &str) -> bool {
    text == TOO_DEEP
}

/// `value`, written through any serializer with the nesting bound.
pub(crate) fn limited<T: Serialize + ?Sized>(value: &T) -> Nested<'_, T> {
    Nested { value, depth: 0 }
}

/// A value at `depth`, whose serializer refuses to go deeper than [`MAX_NESTING`].
pub(crate) struct Nested<'a, T: ?Sized> {
    value: &'a T,
    depth: usize,
}

impl<T: Serialize + ?Sized> Serialize for Nested<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Limited {
            inner: serializer,
            depth: self.depth,
        })
    }
}

/// A serializer that passes everything on to `inner`, counting the levels.
struct Limited<S> {
    inner: S,
    depth: usize,
}

impl<S: Serializer> Limited<S> {
    /// The depth of what is entered now, or the error if it is too deep.
    fn enter(&self) -> Result<usize, S::Error> {
        if self.depth >= MAX_NESTING {
            return Err(S::Error::custom(format_args!("{TOO_DEEP}")));
        }
        Ok(self.depth + 1)
    }
}

/// A compound value's serializer, whose members are one level deeper.
struct Compound<C> {
    inner: C,
    depth: usize,
}

impl<C> Compound<C> {
    fn member<'a, T: ?Sized>(&self, value: &'a T) -> Nested<'a, T> {
        Nested {
            value,
            depth: self.depth,
        }
    }
}

macro_rules! forward_scalars {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, value: $ty) -> Result<S::Ok, S::Error> {
            self.inner.$method(value)
        })*
    };
}

impl<S: Serializer> Serializer for Limited<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeStruct>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    forward_scalars!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    );

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let depth = self.enter()?;
        self.inner.serialize_some(&Nested { value, depth })
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let depth = self.enter()?;
        self.inner
            .serialize_newtype_struct(name, &Nested { value, depth })
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let depth = self.enter()?;
        self.inner
            .serialize_newtype_variant(name, index, variant, &Nested { value, depth })
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let depth = self.enter()?;
        let inner = self.inner.serialize_seq(len)?;
        Ok(Compound { inner, depth })
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let depth = self.enter()?;
        let inner = self.inner.serialize_tuple(len)?;
        Ok(Compound { inner, depth })
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let depth = self.enter()?;
        let inner = self.inner.serialize_tuple_struct(name, len)?;
        Ok(Compound { inner, depth })
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let depth = self.enter()?;
        let inner = self
            .inner
            .serialize_tuple_variant(name, index, variant, len)?;
        Ok(Compound { inner, depth })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let depth = self.enter()?;
        let inner = self.inner.serialize_map(len)?;
        Ok(Compound { inner, depth })
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let depth = self.enter()?;
        let inner = self.inner.serialize_struct(name, len)?;
        Ok(Compound { inner, depth })
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let depth = self.enter()?;
        let inner = self
            .inner
            .serialize_struct_variant(name, index, variant, len)?;
        Ok(Compound { inner, depth })
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The compound serializers whose members come one by one (`serialize_element` or
/// `serialize_field` without a key): each member one level deeper.
macro_rules! members_one_level_deeper {
    ($($trait:ident :: $method:ident),* $(,)?) => {
        $(impl<C: ser::$trait> ser::$trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                let member = self.member(value);
                self.inner.$method(&member)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        })*
    };
}

members_one_level_deeper!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

/// The compound serializers whose members come with a `&'static str` key (structs and struct
/// variants): each member one level deeper.
macro_rules! fields_one_level_deeper {
    ($($trait:ident),* $(,)?) => {
        $(impl<C: ser::$trait> ser::$trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), C::Error> {
                let member = self.member(value);
                self.inner.serialize_field(key, &member)
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
                self.inner.skip_field(key)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        })*
    };
}

fields_one_level_deeper!(SerializeStruct, SerializeStructVariant);

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        let member = self.member(key);
        self.inner.serialize_key(&member)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let member = self.member(value);
        self.inner.serialize_value(&member)
    }
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), C::Error> {
        let (key, value) = (self.member(key), self.member(value));
        self.inner.serialize_entry(&key, &value)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value `levels` deep, built by recursion alone (no heap structure to drop).
    struct Deep(usize);

    impl Serialize for Deep {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            match self.0 {
                0 => serializer.serialize_u8(0),
                n if n % 2 == 0 => serializer.serialize_some(&Deep(n - 1)),
                n => {
                    let mut seq = serializer.serialize_seq(Some(1))?;
                    seq.serialize_element(&Deep(n - 1))?;
                    seq.end()
                }
            }
        }
    }

    #[test]
    fn values_nest_up_to_the_bound_and_not_deeper() {
        let at_bound = serde_json::to_string(&limited(&Deep(MAX_NESTING))).unwrap();
        assert_eq!(at_bound.matches('[').count(), MAX_NESTING / 2);
        let err = serde_json::to_string(&limited(&Deep(MAX_NESTING + 1))).unwrap_err();
        assert!(err.to_string().contains("more than 30 levels"), "{err}");
        assert!(is_too_deep(&err.to_string()));
        assert!(TOO_DEEP.contains(&format!(" {MAX_NESTING} ")));
        // Far beyond it, the error comes as soon as the bound is reached.
        assert!(serde_json::to_string(&limited(&Deep(100_000))).is_err());
    }
}
