//! Label matchers in Alertmanager's syntax: `name="value"`, `name!="value"`, `name=~"regex"`,
//! `name!~"regex"`. A label that is absent matches as the empty string, as in Alertmanager.

use std::fmt;

use regex::Regex;

use crate::model::Labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Matcher {
    name: Box<str>,
    op: MatchOp,
    value: Box<str>,
    /// Compiled, anchored at both ends, for the regex operators.
    regex: Option<Regex>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("no operator in matcher {0:?}: expected one of =, !=, =~, !~")]
    NoOperator(String),
    #[error("unknown operator {op:?} in matcher {matcher:?}: expected one of =, !=, =~, !~")]
    UnknownOperator { matcher: String, op: String },
    #[error("empty label name in matcher {0:?}")]
    EmptyName(String),
    #[error("unterminated quoted value in matcher {0:?}")]
    UnterminatedQuote(String),
    #[error("invalid regex {regex:?}: {reason}")]
    InvalidRegex { regex: String, reason: String },
}

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, MatcherError> {
        if name.is_empty() {
            return Err(MatcherError::EmptyName(format!("{name}{}{value:?}", op.as_str())));
        }
        let regex = match op {
            MatchOp::Equal | MatchOp::NotEqual => None,
            MatchOp::Regex | MatchOp::NotRegex => {
                let anchored = format!("^(?:{value})$");
                let compiled = Regex::new(&anchored).map_err(|error| MatcherError::InvalidRegex {
                    regex: value.to_owned(),
                    reason: error.to_string(),
                })?;
                Some(compiled)
            }
        };
        Ok(Matcher { name: name.into(), op, value: value.into(), regex })
    }

    /// Parses `name<op>value` where value may be double-quoted (with `\"` and `\\` escapes).
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let trimmed = text.trim();
        let op_start =
            trimmed.find(['=', '!', '~']).ok_or_else(|| MatcherError::NoOperator(trimmed.to_owned()))?;
        let name = trimmed[..op_start].trim();
        let rest = &trimmed[op_start..];
        let op_len = rest.find(|character: char| !matches!(character, '=' | '!' | '~')).unwrap_or(rest.len());
        let op = match &rest[..op_len] {
            "=" | "==" => MatchOp::Equal,
            "!=" => MatchOp::NotEqual,
            "=~" => MatchOp::Regex,
            "!~" => MatchOp::NotRegex,
            other => {
                return Err(MatcherError::UnknownOperator {
                    matcher: trimmed.to_owned(),
                    op: other.to_owned(),
                });
            }
        };
        if name.is_empty() {
            return Err(MatcherError::EmptyName(trimmed.to_owned()));
        }
        let value = unquote(rest[op_len..].trim())
            .ok_or_else(|| MatcherError::UnterminatedQuote(trimmed.to_owned()))?;
        Matcher::new(name, op, &value)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn op(&self) -> MatchOp {
        self.op
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }

    /// Whether a label value (the empty string for an absent label) satisfies the matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == &*self.value,
            (MatchOp::NotEqual, _) => value != &*self.value,
            (MatchOp::Regex, Some(regex)) => regex.is_match(value),
            (MatchOp::NotRegex, Some(regex)) => !regex.is_match(value),
            // Construction always compiles a regex for the regex operators.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }
}

/// Stored (API silences in the write-ahead log and snapshots) as name, operator and value; read
/// back through [`Matcher::new`], which compiles the regex again.
impl serde::Serialize for Matcher {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&*self.name, self.op, &*self.value).serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Matcher {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Matcher, D::Error> {
        let (name, op, value) = <(String, MatchOp, String)>::deserialize(deserializer)?;
        Matcher::new(&name, op, &value).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Some(value.to_owned());
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(character) = chars.next() {
        match character {
            '"' => return chars.as_str().trim().is_empty().then_some(out),
            '\\' => out.push(chars.next()?),
            other => out.push(other),
        }
    }
    None
}

/// True when every matcher matches (an empty list matches everything).
pub fn all_match(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|matcher| matcher.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels::from_pairs([("alertname", "RedisDown"), ("severity", "critical")])
    }

    #[test]
    fn operators() {
        let cases = [
            ("severity=\"critical\"", true),
            ("severity = critical", true),
            ("severity!=\"critical\"", false),
            ("alertname=~\"Redis.*\"", true),
            ("alertname=~\"Down\"", false),
            ("alertname!~\"Kube.*\"", true),
            ("team=\"\"", true),
            ("team!=\"\"", false),
        ];
        for (text, expected) in cases {
            let matcher = Matcher::parse(text).unwrap();
            assert_eq!(matcher.matches(&labels()), expected, "{text}");
        }
    }

    #[test]
    fn errors_name_what_is_wrong() {
        assert!(matches!(
            Matcher::parse("a=~~\"x\""),
            Err(MatcherError::UnknownOperator { op, .. }) if op == "=~~"
        ));
        assert!(matches!(Matcher::parse("severity"), Err(MatcherError::NoOperator(_))));
        assert!(matches!(Matcher::parse("=x"), Err(MatcherError::EmptyName(_))));
        assert!(matches!(Matcher::parse("a=~\"(\""), Err(MatcherError::InvalidRegex { .. })));
        assert!(matches!(Matcher::parse("a=\"x"), Err(MatcherError::UnterminatedQuote(_))));
    }
}
