//! Event versions: `MAJOR.MINOR`, compared numerically.

use std::fmt;
use std::str::FromStr;

/// The version of an event's schema, `MAJOR.MINOR`, written to every envelope as
/// `event_version`. Set with `#[event(version = "...")]`; 1.0 when unset.
///
/// A MINOR bump is a compatible change (an optional field was added); a MAJOR bump is a
/// breaking one (a field was removed, renamed or retyped, a treatment or the kind changed).
///
/// ```
/// use event_core::Version;
/// let v: Version = "1.1".parse().unwrap();
/// assert_eq!(v, Version::new(1, 1));
/// assert_eq!(v.to_string(), "1.1");
/// assert!(Version::new(1, 10) > Version::new(1, 9));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Version {
    /// Bumped for breaking changes.
    pub major: u16,
    /// Bumped for compatible changes.
    pub minor: u16,
}

impl Version {
    /// A version from its two parts.
    pub const fn new(major: u16, minor: u16) -> Self {
        Version { major, minor }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Why a string is not a `MAJOR.MINOR` version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a version: write `MAJOR.MINOR` with whole numbers, such as `1.2`")]
pub struct VersionParseError {
    input: String,
}

impl FromStr for Version {
    type Err = VersionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionParseError {
            input: s.to_owned(),
        };
        let (major, minor) = s.split_once('.').ok_or_else(err)?;
        let part = |p: &str| -> Result<u16, VersionParseError> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            p.parse().map_err(|_| err())
        };
        Ok(Version::new(part(major)?, part(minor)?))
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        assert_eq!("2.13".parse::<Version>().unwrap(), Version::new(2, 13));
        assert_eq!(Version::new(3, 0).to_string(), "3.0");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "1", "1.2.3", "v1.0", "1.x", ".1", "1.", "+1.0", "1.-1", "70000.0", "",
        ] {
            let err = bad.parse::<Version>().unwrap_err();
            assert!(err.to_string().contains("MAJOR.MINOR"), "{bad}: {err}");
        }
    }
}
