//! Every attribute key, as a constant.

use std::fmt;

use syn::{Ident, Path};

#[derive(Copy, Clone, PartialEq, Eq)]
pub struct Symbol(pub &'static str);

pub const EVENT: Symbol = Symbol("event");

// Container keys.
pub const NAME: Symbol = Symbol("name");
pub const KIND: Symbol = Symbol("kind");
pub const VERSION: Symbol = Symbol("version");
pub const LEVEL: Symbol = Symbol("level");
pub const CRATE: Symbol = Symbol("crate");

// Field keys.
pub const REDACT: Symbol = Symbol("redact");
pub const MASK: Symbol = Symbol("mask");
pub const KEEP_LAST: Symbol = Symbol("keep_last");
pub const HASH: Symbol = Symbol("hash");
pub const SKIP: Symbol = Symbol("skip");
pub const PII: Symbol = Symbol("pii");
pub const NOT_SENSITIVE: Symbol = Symbol("not_sensitive");
pub const RENAME: Symbol = Symbol("rename");
pub const SINCE: Symbol = Symbol("since");
pub const ERROR: Symbol = Symbol("error");
pub const REDACT_MESSAGE: Symbol = Symbol("redact_message");

pub const CONTAINER_KEYS: &[Symbol] = &[NAME, KIND, VERSION, LEVEL, CRATE];
pub const FIELD_KEYS: &[Symbol] = &[
    REDACT,
    MASK,
    HASH,
    SKIP,
    ERROR,
    PII,
    NOT_SENSITIVE,
    RENAME,
    SINCE,
];

impl PartialEq<Symbol> for Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl PartialEq<Symbol> for Ident {
    fn eq(&self, word: &Symbol) -> bool {
        self == word.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
