//! `BuildError`: a configuration mistake found when a layer or sink is built, so a bad setting
//! fails at startup rather than losing events later.

use std::fmt;

/// A configuration mistake, found at build time. The message names the setting and how to
/// fix it; it never contains a key, token or header value.
#[derive(Debug)]
pub struct BuildError {
    setting: String,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BuildError {
    /// An error in `setting` (such as `"FileSink path"` or `"hash_key"`).
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        BuildError {
            setting: setting.into(),
            message: message.into(),
            source: None,
        }
    }

    /// The same, with the underlying cause.
    pub fn with_source(
        setting: impl Into<String>,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        BuildError {
            source: Some(Box::new(source)),
            ..BuildError::new(setting, message)
        }
    }

    /// The setting at fault.
    pub fn setting(&self) -> &str {
        &self.setting
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
