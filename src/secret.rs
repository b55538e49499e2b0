//! Secrets (routing keys, tokens, webhook signing secrets, Kafka passwords): held where they are
//! used, never printed. Below every component: the config reads them, the components use them.

use std::fmt;

/// A value that must never appear in logs, errors or metrics; its `Debug` is `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("<redacted>")
    }
}
