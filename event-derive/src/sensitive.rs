//! The sensitive-name guard: a field whose name or output key holds a secret word must be
//! redacted or skipped, and one with a PII word needs a decision (a treatment, `pii` or
//! `not_sensitive`), so neither leaks by default. The word lists are kept in
//! `event-core/src/model/sensitive_words.rs`, shared with the layer's check of context fields.

use crate::ast::Field;

include!("../../event-core/src/model/sensitive_words.rs");

/// The first word of `words` that `name` contains. The name is compared in snake_case and
/// lowercase, with digits ending a part ignored: `userPassword`, `EMAIL` and `api_key2` match.
pub fn find_word(name: &str, words: &[&'static str]) -> Option<&'static str> {
    find_word_in_snake(&crate::name::snake_case(name).to_lowercase(), words)
}

/// What the schema's `x-sensitivity.class` says of a field.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Public,
    Sensitive,
    Pii,
    Secret,
}

/// The first word of `words` in the field's name or its output key, with the name that holds
/// it.
pub fn field_word(field: &Field, words: &[&'static str]) -> Option<(&'static str, String)> {
    [field.name.clone(), field.key()]
        .into_iter()
        .find_map(|name| find_word(&name, words).map(|word| (word, name)))
}

impl Class {
    pub fn of(field: &Field) -> Class {
        let contains = |words| field_word(field, words).is_some();
        if field.attrs.not_sensitive.is_some() {
            Class::Public
        } else if contains(SECRET_WORDS) {
            Class::Secret
        } else if field.attrs.pii.is_some() || contains(PII_WORDS) {
            Class::Pii
        } else if field.attrs.treatment.is_some()
            || field.attrs.error.is_some_and(|e| e.redact_message)
        {
            Class::Sensitive
        } else {
            Class::Public
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word lists as the derive's rustdoc and the README print them: exactly these words,
    /// in this order, so the documentation can never fall behind the code.
    #[test]
    fn the_documented_word_lists_are_the_real_ones() {
        let docs = [
            ("derive.md", include_str!("../../event-core/src/derive.md")),
            ("README.md", include_str!("../../README.md")),
        ];
        for (file, text) in docs {
            for (list, words) in [("| secret | ", SECRET_WORDS), ("| PII | ", PII_WORDS)] {
                let row = text
                    .lines()
                    .find(|line| line.starts_with(list))
                    .unwrap_or_else(|| panic!("{file} has no `{list}` row"));
                let cell = row[list.len()..].split(" | ").next().unwrap();
                let documented: Vec<&str> = cell
                    .split(", ")
                    .map(|word| word.split(' ').next().unwrap().trim_matches('`'))
                    .collect();
                assert_eq!(documented, words, "{file}, row `{list}`");
            }
        }
    }

    #[test]
    fn finds_words_on_part_boundaries() {
        assert_eq!(find_word("password", SECRET_WORDS), Some("password"));
        assert_eq!(
            find_word("new_password_hash", SECRET_WORDS),
            Some("password")
        );
        assert_eq!(find_word("refresh_tokens", SECRET_WORDS), Some("token"));
        assert_eq!(find_word("stripe_api_key", SECRET_WORDS), Some("api_key"));
        assert_eq!(
            find_word("user_credentials", SECRET_WORDS),
            Some("credential")
        );
        assert_eq!(find_word("tokenizer", SECRET_WORDS), None);
        assert_eq!(find_word("api", SECRET_WORDS), None);
        assert_eq!(find_word("client_ip", PII_WORDS), Some("ip"));
        assert_eq!(find_word("email_addresses", PII_WORDS), Some("email"));
        assert_eq!(find_word("billing_addresses", PII_WORDS), Some("address"));
        assert_eq!(find_word("first_name", PII_WORDS), Some("first_name"));
        assert_eq!(find_word("name", PII_WORDS), None);
        assert_eq!(find_word("zip", PII_WORDS), None);
        assert_eq!(find_word("shipping", PII_WORDS), None);
        assert_eq!(find_word("Password", SECRET_WORDS), Some("password"));
        assert_eq!(find_word("userPassword", SECRET_WORDS), Some("password"));
        assert_eq!(find_word("apiKey", SECRET_WORDS), Some("api_key"));
        assert_eq!(find_word("api_key2", SECRET_WORDS), Some("api_key"));
        assert_eq!(find_word("password2", SECRET_WORDS), Some("password"));
        assert_eq!(find_word("EMAIL", PII_WORDS), Some("email"));
        assert_eq!(find_word("ipv6", PII_WORDS), None);
    }
}
