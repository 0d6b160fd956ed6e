//! A rule's own policy settings. Every block under `rules:` may say
//! `enabled` and `severity`; any other key belongs to its rule, which reads
//! it from a [`Block`] (as a ripgrep flag parses its own value). A key the
//! rule does not read is an error that names the keys it has.

use jiff::SignedDuration;
use serde::de::DeserializeOwned;
use serde_norway::{Mapping, Value};

/// The keys every rule block has, read by the policy itself.
pub const SWITCH_KEYS: &[&str] = &["enabled", "severity"];

/// A rule's settings type: read from a block, defaults where unstated.
pub trait RuleSettings: Sized {
    fn read(block: &mut Block<'_>) -> Self;
}

/// A problem with one setting of one rule; the policy places it at the line
/// of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingProblem {
    pub key: String,
    pub message: String,
}

/// What one rule's block states besides `enabled` and `severity`, and the
/// problems found while the rule read it.
pub struct Block<'a> {
    stated: &'a Mapping,
    known: Vec<&'static str>,
    problems: Vec<SettingProblem>,
}

impl<'a> Block<'a> {
    pub fn new(stated: &'a Mapping) -> Block<'a> {
        Block { stated, known: Vec::new(), problems: Vec::new() }
    }

    /// The value of `key` as a `T`, if stated; a value of another shape is
    /// a problem that says what was `expected`.
    pub fn value<T: DeserializeOwned>(&mut self, key: &'static str, expected: &str) -> Option<T> {
        self.known.push(key);
        let value = self.stated.get(key)?;
        match serde_norway::from_value(value.clone()) {
            Ok(v) => Some(v),
            Err(_) => {
                self.problem(key, format!("{} is not {expected}", shown(value)));
                None
            }
        }
    }

    /// A count, e.g. a threshold.
    pub fn count(&mut self, key: &'static str) -> Option<usize> {
        self.value(key, "a whole number (0 or more)")
    }

    /// A duration such as `30m`, `24h` or `7d`.
    pub fn duration(&mut self, key: &'static str) -> Option<SignedDuration> {
        let text: String = self.value(key, "a duration such as 30m, 24h or 7d")?;
        let parsed = parse_duration(&text);
        if parsed.is_none() {
            self.problem(
                key,
                format!("{text:?} is not a duration: a whole number and a unit s, m, h or d (e.g. 30m, 24h, 7d)"),
            );
        }
        parsed
    }

    /// Record a problem with `key`.
    pub fn problem(&mut self, key: &str, message: String) {
        self.problems.push(SettingProblem { key: key.to_owned(), message });
    }

    /// Every problem, including the keys stated that the rule never read.
    pub fn finish(mut self) -> Vec<SettingProblem> {
        for key in self.stated.keys() {
            let name = shown(key);
            if !self.known.iter().any(|k| Some(*k) == key.as_str()) {
                let expected: Vec<String> =
                    SWITCH_KEYS.iter().chain(self.known.iter()).map(|k| format!("`{k}`")).collect();
                self.problems.push(SettingProblem {
                    key: name.clone(),
                    message: format!("unknown field `{name}`, expected one of {}", expected.join(", ")),
                });
            }
        }
        self.problems
    }
}

/// A YAML value as the policy spelled it, for messages.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => serde_norway::to_string(other).map(|s| s.trim_end().to_owned()).unwrap_or_default(),
    }
}

/// `90s`, `15m`, `24h`, `7d`: a positive whole number and a unit.
pub fn parse_duration(text: &str) -> Option<SignedDuration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: i64 = text[..text.len() - unit.len_utf8()].parse().ok().filter(|n| *n > 0)?;
    let seconds = match unit {
        's' => n,
        'm' => n.checked_mul(60)?,
        'h' => n.checked_mul(3600)?,
        'd' => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(SignedDuration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(yaml: &str) -> Mapping {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn read_keys_parse_and_unread_keys_are_named() {
        let stated = mapping("threshold: 3\nwindow: 2h\nwindw: 1h\n");
        let mut block = Block::new(&stated);
        assert_eq!(block.count("threshold"), Some(3));
        assert_eq!(block.duration("window"), Some(SignedDuration::from_hours(2)));
        let problems = block.finish();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "windw");
        assert_eq!(
            problems[0].message,
            "unknown field `windw`, expected one of `enabled`, `severity`, `threshold`, `window`"
        );
    }

    #[test]
    fn values_of_the_wrong_shape_say_what_was_expected() {
        let stated = mapping("threshold: many\nwindow: 24 hours\n");
        let mut block = Block::new(&stated);
        assert_eq!(block.count("threshold"), None);
        assert_eq!(block.duration("window"), None);
        let problems = block.finish();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].message.starts_with("many is not a whole number"), "{problems:?}");
        assert!(problems[1].message.starts_with("\"24 hours\" is not a duration"), "{problems:?}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90m"), Some(SignedDuration::from_mins(90)));
        assert_eq!(parse_duration("7d"), Some(SignedDuration::from_hours(168)));
        for bad in ["", "h", "24", "-1h", "0h", "1.5h", "1w", "99999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
