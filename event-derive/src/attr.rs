//! Parsing `#[event(...)]` on the struct and on its fields. Malformed values, unknown keys and
//! duplicates are reported here, each at its own token; cross-field rules live in `check.rs`.

use proc_macro2::Span;
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr};

use crate::ctxt::Ctxt;
use crate::suggest::{closest, did_you_mean, listed};
use crate::symbol::*;

/// The values `kind` takes.
pub const KINDS: &[&str] = &[
    "user_action",
    "system_event",
    "business",
    "error",
    "security",
];
/// The values `level` takes.
pub const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error"];

/// One key's value, reporting a second occurrence as a duplicate (serde_derive's `Attr`).
struct Attr<'c, T> {
    cx: &'c Ctxt,
    name: Symbol,
    value: Option<T>,
}

impl<'c, T> Attr<'c, T> {
    fn none(cx: &'c Ctxt, name: Symbol) -> Self {
        Attr {
            cx,
            name,
            value: None,
        }
    }

    fn set<A: ToTokens>(&mut self, obj: A, value: T) {
        if self.value.is_some() {
            self.cx.error_spanned_by(
                obj,
                format!("duplicate key `{}`: remove one of them", self.name),
            );
        } else {
            self.value = Some(value);
        }
    }
}

/// A version written in an attribute, with the span to report problems at.
#[derive(Clone, Copy)]
pub struct VersionLit {
    pub major: u16,
    pub minor: u16,
    pub span: Span,
}

impl VersionLit {
    pub fn render(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

/// `#[event(...)]` on the struct.
pub struct Container {
    pub name: Option<LitStr>,
    pub kind: Option<String>,
    /// Whether a `kind` was written at all, valid or not, or may have been (a misspelled key
    /// close to `kind`, an unreadable attribute): a missing kind is then not reported again.
    pub kind_written: bool,
    pub version: Option<VersionLit>,
    pub level: Option<String>,
    pub crate_path: Option<syn::Path>,
}

impl Container {
    pub fn from_ast(cx: &Ctxt, input: &syn::DeriveInput) -> Container {
        let mut name = Attr::none(cx, NAME);
        let mut kind = Attr::none(cx, KIND);
        let mut kind_written = false;
        let mut version = Attr::none(cx, VERSION);
        let mut level = Attr::none(cx, LEVEL);
        let mut crate_path = Attr::none(cx, CRATE);

        for attr in event_attrs(cx, &input.attrs) {
            let result = attr.parse_nested_meta(|meta| {
                let path = meta.path.clone();
                if path == NAME {
                    if let Some(lit) = string_value(cx, NAME, &meta, "\"user_logged_in\"")? {
                        name.set(&path, lit);
                    }
                } else if path == KIND {
                    kind_written = true;
                    if let Some(lit) = string_value(cx, KIND, &meta, "\"security\"")? {
                        let value = lit.value();
                        if KINDS.contains(&value.as_str()) {
                            kind.set(&path, value);
                        } else {
                            cx.error_spanned_by(
                                &lit,
                                format!(
                                    "unknown kind `{value}`. {}The kinds are {}",
                                    did_you_mean(&value, KINDS.iter().copied()),
                                    listed(KINDS)
                                ),
                            );
                        }
                    }
                } else if path == VERSION {
                    if let Some(v) = version_value(cx, VERSION, &meta)? {
                        version.set(&path, v);
                    }
                } else if path == LEVEL {
                    if let Some(lit) = string_value(cx, LEVEL, &meta, "\"warn\"")? {
                        let value = lit.value();
                        if LEVELS.contains(&value.as_str()) {
                            level.set(&path, value);
                        } else {
                            cx.error_spanned_by(
                                &lit,
                                format!(
                                    "unknown level `{value}`. {}The levels are {}",
                                    did_you_mean(&value, LEVELS.iter().copied()),
                                    listed(LEVELS)
                                ),
                            );
                        }
                    }
                } else if path == CRATE {
                    if let Some(lit) = string_value(cx, CRATE, &meta, "\"::my_crate::event_core\"")?
                    {
                        match lit.parse::<syn::Path>() {
                            Ok(parsed) => crate_path.set(&path, parsed),
                            Err(_) => cx.error_spanned_by(
                                &lit,
                                "`crate` must be the path event_core is re-exported at, \
                                 such as `crate = \"::my_crate::event_core\"`",
                            ),
                        }
                    }
                } else {
                    let meant = unknown_key(
                        cx,
                        &meta,
                        CONTAINER_KEYS,
                        FIELD_KEYS,
                        "the struct",
                        "fields",
                    )?;
                    kind_written |= meant == Some(KIND.0);
                }
                Ok(())
            });
            if let Err(err) = result {
                // Unreadable: whether it held a `kind` cannot be told.
                kind_written = true;
                cx.syn_error(err);
            }
        }
        // `#[event = ...]` and the like: reported, and most likely where the kind was meant.
        kind_written |= has_malformed_event_attr(&input.attrs);

        Container {
            name: name.value,
            kind: kind.value,
            kind_written,
            version: version.value,
            level: level.value,
            crate_path: crate_path.value,
        }
    }
}

/// A field treatment as written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    Redact,
    Mask { keep_last: u8 },
    Hash,
    Skip,
}

impl Treatment {
    pub fn key(self) -> &'static str {
        match self {
            Treatment::Redact => "redact",
            Treatment::Mask { .. } => "mask",
            Treatment::Hash => "hash",
            Treatment::Skip => "skip",
        }
    }
}

/// `#[event(error)]` or `#[event(error(redact_message))]` on a field.
#[derive(Clone, Copy)]
pub struct ErrorAttr {
    /// Whether only the error's types are written.
    pub redact_message: bool,
    /// The `error` key's span.
    pub span: Span,
}

/// `#[event(...)]` on a field.
pub struct Field {
    /// The treatment and the key's span.
    pub treatment: Option<(Treatment, Span)>,
    /// `error`: the field is an error, written as its type, message and sources.
    pub error: Option<ErrorAttr>,
    pub pii: Option<Span>,
    pub not_sensitive: Option<Span>,
    pub rename: Option<LitStr>,
    pub since: Option<VersionLit>,
    /// Whether the field's `#[event(...)]` had an error: the sensitive-name guard then stays
    /// quiet, as the user was most likely writing a treatment.
    pub malformed: bool,
}

impl Field {
    pub fn from_ast(cx: &Ctxt, field: &syn::Field) -> Field {
        let mut treatment: Option<(Treatment, Span)> = None;
        let mut pii = Attr::none(cx, PII);
        let mut not_sensitive = Attr::none(cx, NOT_SENSITIVE);
        let mut rename = Attr::none(cx, RENAME);
        let mut since = Attr::none(cx, SINCE);
        let mut error = Attr::none(cx, ERROR);
        let errors_before = cx.error_count();

        for attr in event_attrs(cx, &field.attrs) {
            let result = attr.parse_nested_meta(|meta| {
                let path = meta.path.clone();
                let mut set_treatment = |new: Treatment| match treatment {
                    Some((old, _)) if old.key() == new.key() => cx.error_spanned_by(
                        &path,
                        format!("duplicate key `{}`: remove one of them", new.key()),
                    ),
                    Some((old, _)) => cx.error_spanned_by(
                        &path,
                        format!(
                            "two treatments on one field: `{}` and `{}`. A field takes at most \
                             one of `redact`, `mask`, `hash` and `skip`: keep the one that says \
                             how the value may leave the process",
                            old.key(),
                            new.key()
                        ),
                    ),
                    None => treatment = Some((new, path.span())),
                };
                if path == REDACT {
                    if flag(cx, REDACT, &meta)? {
                        set_treatment(Treatment::Redact);
                    }
                } else if path == HASH {
                    if flag(cx, HASH, &meta)? {
                        set_treatment(Treatment::Hash);
                    }
                } else if path == SKIP {
                    if flag(cx, SKIP, &meta)? {
                        set_treatment(Treatment::Skip);
                    }
                } else if path == MASK {
                    if let Some(keep_last) = mask_value(cx, &meta)? {
                        set_treatment(Treatment::Mask { keep_last });
                    }
                } else if path == PII {
                    if flag(cx, PII, &meta)? {
                        pii.set(&path, path.span());
                    }
                } else if path == NOT_SENSITIVE {
                    if flag(cx, NOT_SENSITIVE, &meta)? {
                        not_sensitive.set(&path, path.span());
                    }
                } else if path == RENAME {
                    if let Some(lit) = string_value(cx, RENAME, &meta, "\"output_key\"")? {
                        rename.set(&path, lit);
                    }
                } else if path == SINCE {
                    if let Some(v) = version_value(cx, SINCE, &meta)? {
                        since.set(&path, v);
                    }
                } else if path == ERROR {
                    if let Some(redact_message) = error_value(cx, &meta)? {
                        let span = path.span();
                        error.set(
                            &path,
                            ErrorAttr {
                                redact_message,
                                span,
                            },
                        );
                    }
                } else {
                    unknown_key(
                        cx,
                        &meta,
                        FIELD_KEYS,
                        CONTAINER_KEYS,
                        "a field",
                        "the struct",
                    )?;
                }
                Ok(())
            });
            if let Err(err) = result {
                cx.syn_error(err);
            }
        }

        Field {
            treatment,
            error: error.value,
            pii: pii.value,
            not_sensitive: not_sensitive.value,
            rename: rename.value,
            since: since.value,
            malformed: cx.error_count() > errors_before,
        }
    }
}

/// The `#[event(...)]` attributes among `attrs`; other shapes of `#[event]` are reported.
fn event_attrs<'a>(
    cx: &'a Ctxt,
    attrs: &'a [syn::Attribute],
) -> impl Iterator<Item = &'a syn::Attribute> {
    attrs.iter().filter(move |attr| {
        if attr.path() != &EVENT {
            return false;
        }
        if matches!(attr.meta, syn::Meta::List(_)) {
            return true;
        }
        cx.error_spanned_by(
            attr,
            "expected a list of keys: `#[event(kind = \"...\")]` on the struct, \
             `#[event(redact)]` and the like on fields",
        );
        false
    })
}

fn has_malformed_event_attr(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|attr| attr.path() == &EVENT && !matches!(attr.meta, syn::Meta::List(_)))
}

/// Consumes whatever value follows a key (`= expr` or `(...)`), so parsing can go on.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

fn unknown_key(
    cx: &Ctxt,
    meta: &ParseNestedMeta,
    here: &[Symbol],
    there: &[Symbol],
    here_name: &str,
    there_name: &str,
) -> syn::Result<Option<&'static str>> {
    let key = meta.path.to_token_stream().to_string().replace(' ', "");
    let keys: Vec<&'static str> = here.iter().map(|k| k.0).collect();
    let meant = closest(&key, keys.iter().copied());
    let msg = if meta.path == ERROR && here == CONTAINER_KEYS {
        "`error` cannot be used on the struct; it marks the field that holds an error, \
         `#[event(error)]`. For an event that reports a failure, write `kind = \"error\"`"
            .to_owned()
    } else if there.iter().any(|k| meta.path == *k) {
        format!("`{key}` cannot be used on {here_name}; it belongs on {there_name}")
    } else {
        format!(
            "unknown key `{key}`. {}The keys for {here_name} are {}",
            did_you_mean(&key, meant),
            listed(&keys)
        )
    };
    cx.error_spanned_by(&meta.path, msg);
    skip_value(meta)?;
    Ok(meant)
}

/// A key that takes no value, such as `redact`. `Ok(false)` when a value was (wrongly) given.
fn flag(cx: &Ctxt, key: Symbol, meta: &ParseNestedMeta) -> syn::Result<bool> {
    if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
        cx.error_spanned_by(
            &meta.path,
            format!("`{key}` takes no value: write `#[event({key})]`"),
        );
        skip_value(meta)?;
        return Ok(false);
    }
    Ok(true)
}

/// `key = "..."`; `Ok(None)` after reporting any other shape.
fn string_value(
    cx: &Ctxt,
    key: Symbol,
    meta: &ParseNestedMeta,
    example: &str,
) -> syn::Result<Option<LitStr>> {
    if !meta.input.peek(syn::Token![=]) {
        cx.error_spanned_by(
            &meta.path,
            format!("`{key}` needs a value: write `{key} = {example}`"),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(Some(lit)),
        other => {
            cx.error_spanned_by(
                &other,
                format!("`{key}` takes a string literal: write `{key} = {example}`"),
            );
            Ok(None)
        }
    }
}

/// `version = "M.m"` / `version = N`, or `since = "M.m"` / `since = N`.
fn version_value(
    cx: &Ctxt,
    key: Symbol,
    meta: &ParseNestedMeta,
) -> syn::Result<Option<VersionLit>> {
    let how = format!(
        "write `{key} = \"MAJOR.MINOR\"` with whole numbers, such as `{key} = \"1.2\"`, or a \
         whole number such as `{key} = 2` (meaning 2.0)"
    );
    if !meta.input.peek(syn::Token![=]) {
        cx.error_spanned_by(&meta.path, format!("`{key}` needs a value: {how}"));
        skip_value(meta)?;
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    let span = expr.span();
    let parsed = match &expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => parse_version(&lit.value()),
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) if lit.suffix().is_empty() => lit.base10_parse::<u16>().ok().map(|major| (major, 0)),
        Expr::Lit(ExprLit {
            lit: Lit::Float(lit),
            ..
        }) => {
            let text = lit.to_string();
            cx.error_at(
                span,
                format!("`{key} = {text}` is a number, not a version: write `{key} = \"{text}\"`"),
            );
            return Ok(None);
        }
        _ => None,
    };
    let text = match &expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => lit.value(),
        other => other.to_token_stream().to_string(),
    };
    match parsed {
        Some((0, _)) => {
            cx.error_at(
                span,
                format!("`{key} = {text:?}` has major version 0; event versions start at \"1.0\""),
            );
            Ok(None)
        }
        Some((major, minor)) => Ok(Some(VersionLit { major, minor, span })),
        None => {
            let how = match text.parse::<u16>() {
                Ok(major) => format!("write `{key} = \"{major}.0\"` (or `{key} = {major}`)"),
                Err(_) => how,
            };
            cx.error_at(span, format!("`{key} = {text:?}` is not a version: {how}"));
            Ok(None)
        }
    }
}

/// The same grammar as `event_core::Version::from_str`, which the derive cannot call: event-core
/// depends on this crate.
fn parse_version(text: &str) -> Option<(u16, u16)> {
    let (major, minor) = text.split_once('.')?;
    let part = |p: &str| {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u16>().ok())
            .flatten()
    };
    Some((part(major)?, part(minor)?))
}

/// `error` or `error(redact_message)`: whether the message is redacted.
fn error_value(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<Option<bool>> {
    if meta.input.peek(syn::Token![=]) {
        cx.error_spanned_by(
            &meta.path,
            "`error` takes no `=`: write `#[event(error)]`, or `#[event(error(redact_message))]` \
             to write only the error's types",
        );
        skip_value(meta)?;
        return Ok(None);
    }
    if !meta.input.peek(syn::token::Paren) {
        return Ok(Some(false));
    }
    let mut redact_message = Attr::none(cx, REDACT_MESSAGE);
    let mut ok = true;
    meta.parse_nested_meta(|inner| {
        if inner.path == REDACT_MESSAGE {
            if inner.input.peek(syn::Token![=]) || inner.input.peek(syn::token::Paren) {
                ok = false;
                cx.error_spanned_by(
                    &inner.path,
                    "`redact_message` takes no value: write `#[event(error(redact_message))]`",
                );
                skip_value(&inner)?;
            } else {
                redact_message.set(&inner.path, ());
            }
        } else {
            ok = false;
            let key = inner.path.to_token_stream().to_string().replace(' ', "");
            cx.error_spanned_by(
                &inner.path,
                format!(
                    "unknown key `{key}` in `error(...)`. {}The only key is `redact_message`, \
                     as in `error(redact_message)`, which writes the error's type and its \
                     sources' types but no message",
                    did_you_mean(&key, [REDACT_MESSAGE.0])
                ),
            );
            skip_value(&inner)?;
        }
        Ok(())
    })?;
    Ok(ok.then_some(redact_message.value.is_some()))
}

/// `mask` or `mask(keep_last = N)` with N in 0..=4.
fn mask_value(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<Option<u8>> {
    if meta.input.peek(syn::Token![=]) {
        cx.error_spanned_by(
            &meta.path,
            "`mask` takes no `=`: write `#[event(mask)]` or `#[event(mask(keep_last = 4))]`",
        );
        skip_value(meta)?;
        return Ok(None);
    }
    if !meta.input.peek(syn::token::Paren) {
        return Ok(Some(4));
    }
    let mut keep_last = Attr::none(cx, KEEP_LAST);
    let mut ok = true;
    meta.parse_nested_meta(|inner| {
        if inner.path == KEEP_LAST {
            let path = inner.path.clone();
            let expr: Expr = inner.value()?.parse()?;
            match &expr {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(lit), ..
                }) => match lit.base10_parse::<u64>() {
                    Ok(n) if n <= 4 => keep_last.set(&path, n as u8),
                    _ => {
                        ok = false;
                        cx.error_spanned_by(
                            lit,
                            format!(
                                "`keep_last = {lit}` is out of range: a mask keeps 0 to 4 \
                                 characters, since more would reveal too much of the value"
                            ),
                        );
                    }
                },
                other => {
                    ok = false;
                    cx.error_spanned_by(
                        other,
                        "`keep_last` takes a whole number from 0 to 4: `mask(keep_last = 4)`",
                    );
                }
            }
        } else {
            ok = false;
            let key = inner.path.to_token_stream().to_string();
            cx.error_spanned_by(
                &inner.path,
                format!("unknown key `{key}` in `mask(...)`; the only key is `keep_last`, as in `mask(keep_last = 4)`"),
            );
            skip_value(&inner)?;
        }
        Ok(())
    })?;
    Ok(ok.then_some(keep_last.value.unwrap_or(4)))
}
