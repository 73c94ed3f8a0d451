// The sensitive-name guard's word lists: the one place they are kept. Compiled into
// `event-core` (for `EventLayer::context_field` names, checked at build time) and included
// into `event-derive` (for field names, checked at compile time) with `include!`, so both
// apply the same words. A name contains a word when, once in snake_case and lowercase, split
// on `_` and with each part's trailing digits dropped (`password2`, `api2_key`), consecutive
// parts spell the word's own parts, the last one optionally in the plural (`tokens`,
// `email_addresses`).

/// A field whose name contains one of these needs `redact` or `skip` (or `not_sensitive`);
/// `mask`, `hash` and `pii` are refused for it.
pub const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "authorization",
    "cookie",
    "credential",
];

/// A field whose name contains one of these needs a treatment, `pii`, or `not_sensitive`.
pub const PII_WORDS: &[&str] = &[
    "email",
    "phone",
    "ip",
    "address",
    "ssn",
    "passport",
    "card",
    "iban",
    "birth",
    "dob",
    "first_name",
    "last_name",
    "full_name",
];

/// The first word of `words` that `snake`, a name already in snake_case and lowercase,
/// contains.
pub fn find_word_in_snake(snake: &str, words: &[&'static str]) -> Option<&'static str> {
    let parts: Vec<&str> = snake
        .split('_')
        .map(|part| part.trim_end_matches(|c: char| c.is_ascii_digit()))
        .collect();
    words.iter().copied().find(|word| {
        let word_parts: Vec<&str> = word.split('_').collect();
        parts.windows(word_parts.len()).any(|window| {
            let (last, init) = window.split_last().expect("words are not empty");
            let (word_last, word_init) = word_parts.split_last().expect("words are not empty");
            init == word_init && is_word_or_plural(last, word_last)
        })
    })
}

fn is_word_or_plural(part: &str, word: &str) -> bool {
    part == word
        || part
            .strip_prefix(word)
            .is_some_and(|suffix| suffix == "s" || suffix == "es")
}
