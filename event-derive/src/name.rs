//! Event names and output keys: snake_case conversion, the `object_action` rule (snake_case,
//! at least two words, at most 64 characters: the thing, then what happened to it), and the
//! nearest valid name to suggest.

pub const MAX_LEN: usize = 64;

/// `HTTPRequestFailed` → `http_request_failed`, `UserLogin!` → `user_login!`.
pub fn snake_case(input: &str) -> String {
    let chars: Vec<char> = input.chars().collect();
    let mut out = String::with_capacity(input.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let word_starts = match prev {
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(char::is_lowercase),
                _ => false,
            };
            if word_starts && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Why `name` is not a valid event name, or `None` if it is one.
/// Valid: `^[a-z][a-z0-9]*(_[a-z0-9]+)+$`, at most 64 characters.
pub fn event_name_problem(name: &str) -> Option<String> {
    if name.len() > MAX_LEN {
        return Some(format!(
            "is {} characters long; the limit is {MAX_LEN}",
            name.len()
        ));
    }
    if let Some(problem) = key_problem(name) {
        return Some(problem);
    }
    if !name.contains('_') {
        return Some(
            "is a single word, but an event name is `object_action`: the thing, then what \
             happened to it"
                .into(),
        );
    }
    None
}

/// Why `key` is not snake_case (one word allowed), or `None`.
pub fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("is empty".into());
    }
    if key.chars().any(|c| c.is_ascii_uppercase()) {
        return Some("has uppercase letters; it must be snake_case".into());
    }
    if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Some(format!(
            "has the character `{}`; only lowercase letters, digits and `_` are allowed",
            bad.escape_default()
        ));
    }
    if !key.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some("must start with a lowercase letter".into());
    }
    if key.contains("__") {
        return Some("has a double underscore `__`".into());
    }
    if key.ends_with('_') {
        return Some("ends with `_`".into());
    }
    None
}

/// The nearest valid event name: `UserLogin!` → `user_login`, `login` → `user_login`.
pub fn suggest_event_name(input: &str) -> String {
    let mut words = words(input);
    if words.is_empty() {
        return "object_action".into();
    }
    if words.len() == 1 {
        words.insert(0, "user".into());
    }
    join_within_limit(&words)
}

/// The nearest snake_case key: `userId` → `user_id`.
pub fn suggest_key(input: &str) -> String {
    let words = words(input);
    if words.is_empty() {
        return "field".into();
    }
    join_within_limit(&words)
}

/// `user_login` → `UserLogin`.
pub fn camel_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn words(input: &str) -> Vec<String> {
    let snake = snake_case(input);
    let cleaned: String = snake
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut words: Vec<String> = cleaned
        .split('_')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    // A name starts with a letter: drop leading digits ("1st_login" → "st_login").
    while let Some(first) = words.first_mut() {
        let trimmed = first
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .to_owned();
        if trimmed.is_empty() {
            words.remove(0);
        } else {
            *first = trimmed;
            break;
        }
    }
    words
}

fn join_within_limit(words: &[String]) -> String {
    let mut out = String::new();
    for word in words {
        let extra = if out.is_empty() {
            word.len()
        } else {
            word.len() + 1
        };
        if out.len() + extra > MAX_LEN {
            break;
        }
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        out = words[0][..MAX_LEN].to_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_struct_names() {
        assert_eq!(snake_case("HTTPRequestFailed"), "http_request_failed");
        assert_eq!(snake_case("UserLoginAttempt"), "user_login_attempt");
        assert_eq!(snake_case("Oauth2TokenIssued"), "oauth2_token_issued");
        assert_eq!(snake_case("Login"), "login");
    }

    #[test]
    fn validates_names() {
        assert_eq!(event_name_problem("user_login"), None);
        assert_eq!(event_name_problem("a1_b2_c3"), None);
        for bad in [
            "login",
            "User_login",
            "user__login",
            "_user_login",
            "user_login_",
            "1st_login",
            "user-login",
            "",
        ] {
            assert!(event_name_problem(bad).is_some(), "{bad}");
        }
        assert!(event_name_problem(&"ab_".repeat(22)).is_some());
    }

    #[test]
    fn suggests_the_nearest_valid_name() {
        assert_eq!(suggest_event_name("UserLogin!"), "user_login");
        assert_eq!(suggest_event_name("login"), "user_login");
        assert_eq!(suggest_event_name("user__login"), "user_login");
        assert_eq!(suggest_event_name("1st-login"), "st_login");
        let long = suggest_event_name(&"word_".repeat(20));
        assert!(
            long.len() <= MAX_LEN && event_name_problem(&long).is_none(),
            "{long}"
        );
        assert_eq!(camel_case("user_login"), "UserLogin");
    }
}
