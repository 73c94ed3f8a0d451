//! Keeps the values of client settings (SASL passwords, TLS keys) out of everything the sink
//! shows: librdkafka's messages can quote a setting's value, so each message is cleaned of
//! them before it reaches stats or an error.

/// Setting names whose values are secret whatever their length.
const SECRET_WORDS: [&str; 6] = ["password", "secret", "token", "jaas", "key", "username"];

/// The values to remove, longest first (so a value that contains another goes whole).
#[derive(Clone, Default)]
pub(super) struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    /// From the settings the application passed with `.client_config(..)`. The values of
    /// secret-looking settings are removed wherever they appear; other values of at least six
    /// characters too (a short value such as `all` or `1` would garble every message, and is
    /// no secret).
    pub(super) fn new<'a>(settings: impl IntoIterator<Item = (&'a str, &'a str)>) -> Redactor {
        let mut values: Vec<String> = settings
            .into_iter()
            .filter(|(key, value)| {
                !value.is_empty()
                    && (value.len() >= 6 || SECRET_WORDS.iter().any(|word| key.contains(word)))
            })
            .map(|(_, value)| value.to_owned())
            .collect();
        values.sort_by_key(|value| std::cmp::Reverse(value.len()));
        values.dedup();
        Redactor { values }
    }

    /// `text` with every configured value replaced by `[REDACTED]`.
    pub(super) fn clean(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for value in &self.values {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), "[REDACTED]");
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_values_never_survive_a_message() {
        let redactor = Redactor::new([
            ("sasl.password", "hunter"),
            ("sasl.username", "bob"),
            ("acks", "all"),
            ("ssl.ca.location", "/etc/ssl/private-ca.pem"),
        ]);
        let cleaned = redactor.clean(
            "Invalid value \"hunter\" for bob; all brokers down; see /etc/ssl/private-ca.pem",
        );
        assert_eq!(
            cleaned,
            "Invalid value \"[REDACTED]\" for [REDACTED]; all brokers down; see [REDACTED]"
        );
    }
}
