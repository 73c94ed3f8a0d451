//! The event-definition rules that span more than one attribute: names, kind, `since`, the
//! sensitive-name guard, and output keys. Each error points at the token to change and says
//! how.

use std::collections::BTreeMap;

use quote::ToTokens;

use crate::ast::{Container, Field};
use crate::attr::{Treatment, KINDS};
use crate::ctxt::Ctxt;
use crate::name;
use crate::sensitive::{field_word, PII_WORDS, SECRET_WORDS};
use crate::suggest::listed;

pub fn check(cx: &Ctxt, cont: &Container) {
    check_event_name(cx, cont);
    check_kind(cx, cont);
    let mut keys: BTreeMap<String, &Field> = BTreeMap::new();
    for field in &cont.fields {
        check_since(cx, cont, field);
        check_error(cx, field);
        check_sensitive(cx, field);
        check_key(cx, field, &mut keys);
    }
}

// `ENVELOPE_FIELD_KEYS`, kept in event-core, which the derive cannot depend on (event-core
// depends on it).
include!("../../event-core/src/model/envelope_field_keys.rs");

/// `error` takes no treatment besides, and stays inside `metadata`.
fn check_error(cx: &Ctxt, field: &Field) {
    let Some(error) = field.attrs.error else {
        return;
    };
    let key = field.key();
    if ENVELOPE_FIELD_KEYS.contains(&key.as_str()) {
        cx.error_at(
            error.span,
            format!(
                "error field `{}` would be written as `{key}`, which the envelope keeps at its \
                 top level for a string id (from the spans, or from an event field): give the \
                 error another key, such as `rename = \"error\"`",
                field.name
            ),
        );
    }
    let Some((treatment, span)) = field.attrs.treatment else {
        return;
    };
    let instead = match treatment {
        Treatment::Skip => "to leave the field out, remove `error`".to_owned(),
        other => format!(
            "to write only the error's type and its sources' types, without messages, \
             write `error(redact_message)` instead of `{}`",
            other.key()
        ),
    };
    cx.error_at(
        span,
        format!(
            "`{}` cannot be combined with `error` on field `{}`: `error` already decides how \
             the value is written (its type, message and sources); {instead}",
            treatment.key(),
            field.name
        ),
    );
}

fn check_event_name(cx: &Ctxt, cont: &Container) {
    let event_name = cont.event_name();
    let Some(problem) = name::event_name_problem(&event_name) else {
        return;
    };
    let suggestion = name::suggest_event_name(&event_name);
    match &cont.attrs.name {
        Some(lit) => cx.error_spanned_by(
            lit,
            format!(
                "event name `{event_name}` {problem}. Event names are snake_case \
                 `object_action`, at most 64 characters: try `name = \"{suggestion}\"`"
            ),
        ),
        None => cx.error_spanned_by(
            cont.ident,
            format!(
                "event name `{event_name}` (from the struct name `{}`) {problem}. Rename the \
                 struct, such as `{}`, or set `#[event(name = \"{suggestion}\")]`",
                cont.ident,
                name::camel_case(&suggestion)
            ),
        ),
    }
}

fn check_kind(cx: &Ctxt, cont: &Container) {
    // A malformed or misspelled `kind` is reported where it was written.
    if cont.attrs.kind.is_none() && !cont.attrs.kind_written {
        cx.error_spanned_by(
            cont.ident,
            format!(
                "event `{}` has no kind: add `#[event(kind = \"...\")]` with one of {}",
                cont.ident,
                listed(KINDS)
            ),
        );
    }
}

fn check_since(cx: &Ctxt, cont: &Container, field: &Field) {
    let Some(since) = field.attrs.since else {
        return;
    };
    if let Some(version) = cont.attrs.version {
        if (since.major, since.minor) > (version.major, version.minor) {
            cx.error_at(
                since.span,
                format!(
                    "`since = \"{}\"` is later than the event's version {}: a field cannot be \
                     added in a version that does not exist yet. Raise the event's `version` \
                     to \"{}\", or lower `since`",
                    since.render(),
                    version.render(),
                    since.render()
                ),
            );
        }
    } else if (since.major, since.minor) > (1, 0) {
        cx.error_at(
            since.span,
            format!(
                "`since = \"{}\"` is later than the event's version, which is 1.0 when unset: \
                 add `version = \"{}\"` to the struct's `#[event(...)]`",
                since.render(),
                since.render()
            ),
        );
    }
    if field.option_inner.is_none() {
        cx.error_spanned_by(
            field.ty,
            format!(
                "`since` marks a field added after the first version, so events from older \
                 code lack it: declare it `Option<{}>`",
                field.ty.to_token_stream()
            ),
        );
    }
}

fn check_sensitive(cx: &Ctxt, field: &Field) {
    let attrs = &field.attrs;
    if attrs.malformed {
        return;
    }
    let name = &field.name;
    let word_in = |words| field_word(field, words);
    // Which name holds the word, for the message: the field's, or its `rename`.
    let holder = |holder: String| {
        if &holder == name {
            "its name".to_owned()
        } else {
            format!("its output key `{holder}`")
        }
    };

    // `error(redact_message)` writes type names only: nothing of the value's text.
    let redacted_error = attrs.error.is_some_and(|e| e.redact_message);

    if let Some(not_sensitive) = attrs.not_sensitive {
        let conflict = attrs
            .treatment
            .map(|(t, _)| t.key())
            .or(attrs.pii.map(|_| "pii"));
        if let Some(other) = conflict {
            cx.error_at(
                not_sensitive,
                format!(
                    "`not_sensitive` contradicts `{other}` on field `{name}`: keep `{other}` if \
                     the value is sensitive, or remove it if not"
                ),
            );
        }
        return;
    }

    if let Some((word, held_by)) = word_in(SECRET_WORDS) {
        let fix = if attrs.error.is_some() {
            "use `#[event(error(redact_message))]` (only the error's types are written), or \
             `#[event(not_sensitive)]` if its messages hold no secret"
        } else {
            "use `#[event(redact)]` (written as \"[REDACTED]\") or `#[event(skip)]` \
             (left out), or `#[event(not_sensitive)]` if it is not a secret"
        };
        if let Some(error) = attrs.error.filter(|_| !redacted_error) {
            if attrs.pii.is_none() && attrs.treatment.is_none() {
                cx.error_at(
                    error.span,
                    format!(
                        "error field `{name}` looks like it holds a secret ({} contains \
                         `{word}`), and an error's message often quotes the value it failed \
                         on: write `#[event(error(redact_message))]` to write only the types, \
                         or add `#[event(not_sensitive)]` if its messages hold no secret",
                        holder(held_by.clone())
                    ),
                );
            }
        }
        match attrs.treatment {
            Some((Treatment::Redact | Treatment::Skip, _)) => {}
            Some((refused @ (Treatment::Mask { .. } | Treatment::Hash), span)) => {
                let leak = match refused {
                    Treatment::Hash => "a hash of a secret can be checked against guesses",
                    _ => "a mask still shows part of the secret",
                };
                cx.error_at(
                    span,
                    format!(
                        "`{}` is not allowed on `{name}`: {} contains the secret word \
                         `{word}`, and {leak}. Instead, {fix}",
                        refused.key(),
                        holder(held_by.clone())
                    ),
                );
            }
            None if attrs.pii.is_none() && attrs.error.is_none() => cx.error_spanned_by(
                field.ident,
                format!(
                    "field `{name}` looks like a secret ({} contains `{word}`), and \
                     secrets must never reach an output: {fix}",
                    holder(held_by.clone())
                ),
            ),
            None => {}
        }
        if let Some(pii) = attrs.pii {
            cx.error_at(
                pii,
                format!(
                    "`pii` is not allowed on `{name}`: {} contains the secret word \
                     `{word}`, and `pii` would emit it as is. Instead, {fix}",
                    holder(held_by.clone())
                ),
            );
        }
        return;
    }

    if let Some((word, held_by)) = word_in(PII_WORDS) {
        if let Some(error) = attrs.error.filter(|_| !redacted_error) {
            if attrs.pii.is_none() && attrs.treatment.is_none() {
                cx.error_at(
                    error.span,
                    format!(
                        "error field `{name}` looks like it is about personal data ({} \
                         contains `{word}`), and an error's message often quotes the value it \
                         failed on: write `#[event(error(redact_message))]` to write only the \
                         types, `#[event(error, pii)]` to write the messages labelled PII, or \
                         add `#[event(not_sensitive)]` if its messages hold no personal data",
                        holder(held_by.clone())
                    ),
                );
            }
            return;
        }
        if attrs.treatment.is_none() && attrs.pii.is_none() && !redacted_error {
            cx.error_spanned_by(
                field.ident,
                format!(
                    "field `{name}` looks like personal data ({} contains `{word}`): \
                     decide how it is emitted. Add `#[event(hash)]` (keyed, still joinable), \
                     `#[event(mask)]`, `#[event(redact)]` or `#[event(skip)]`, or \
                     `#[event(pii)]` to emit it as is, labelled PII; if it is not personal \
                     data, add `#[event(not_sensitive)]`",
                    holder(held_by.clone())
                ),
            );
        }
    }
}

fn check_key<'a>(cx: &Ctxt, field: &'a Field<'a>, keys: &mut BTreeMap<String, &'a Field<'a>>) {
    if matches!(field.attrs.treatment, Some((Treatment::Skip, _))) {
        return;
    }
    let key = field.key();
    if let Some(problem) = name::key_problem(&key) {
        let suggestion = name::suggest_key(&key);
        match &field.attrs.rename {
            Some(lit) => cx.error_spanned_by(
                lit,
                format!("`rename = \"{key}\"` {problem}: try `rename = \"{suggestion}\"`"),
            ),
            None => cx.error_spanned_by(
                field.ident,
                format!(
                    "field `{key}` would be written as the key `{key}`, which {problem}: \
                     add `#[event(rename = \"{suggestion}\")]`"
                ),
            ),
        }
        return;
    }
    if let Some(first) = keys.get(&key) {
        let at = field
            .attrs
            .rename
            .as_ref()
            .map(|lit| lit.to_token_stream())
            .unwrap_or_else(|| field.ident.to_token_stream());
        cx.error_spanned_by(
            at,
            format!(
                "fields `{}` and `{}` would both be written as the key `{key}`: give one of \
                 them another `rename`",
                first.name, field.name
            ),
        );
        return;
    }
    keys.insert(key, field);
}
