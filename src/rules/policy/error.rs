//! Policy problems and where they are: every problem names the file, the
//! line and the dotted key, so a typo can be fixed without guessing.

use std::fmt;
use std::path::PathBuf;

/// One problem in one policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl PolicyProblem {
    /// A problem with the whole file, at no particular line.
    pub fn whole(message: String) -> PolicyProblem {
        PolicyProblem { line: None, column: None, key: None, message }
    }
}

/// All problems found in a policy file, reported together.
#[derive(Debug, thiserror::Error)]
pub struct PolicyError {
    pub file: PathBuf,
    pub problems: Vec<PolicyProblem>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match (p.line, p.column) {
                (Some(l), Some(c)) => write!(f, "{file}:{l}:{c}: ")?,
                (Some(l), None) => write!(f, "{file}:{l}: ")?,
                _ => write!(f, "{file}: ")?,
            }
            if let Some(key) = &p.key {
                write!(f, "key `{key}`: ")?;
            }
            f.write_str(&p.message)?;
        }
        Ok(())
    }
}

/// A YAML or schema error from the parser, placed at its line and key.
pub fn problem_from_yaml(e: &serde_norway::Error, text: &str) -> PolicyProblem {
    let location = e.location();
    let raw = e.to_string();
    // The library appends " at line L column C"; the location is shown apart.
    let message = raw.split(" at line ").next().unwrap_or(&raw).to_owned();
    let key = key_in_message(&message);
    let (mut line, mut column) = (location.as_ref().map(|l| l.line()), location.as_ref().map(|l| l.column()));
    // A duplicate key is reported at its mapping's start; point at the repeat.
    if let Some(field) = message.split("duplicate field `").nth(1).and_then(|r| r.split('`').next()) {
        let spelled = format!("{field}:");
        if let Some(i) =
            text.lines().enumerate().filter(|(_, l)| l.trim_start().starts_with(&spelled)).nth(1).map(|(i, _)| i)
        {
            (line, column) = (Some(i + 1), None);
        }
    }
    PolicyProblem { line, column, key, message }
}

/// The key an error is about, as a dotted path: `rules.bulk-creation.window`
/// from `rules.bulk-creation: unknown field `window`` or `path: ...`.
fn key_in_message(message: &str) -> Option<String> {
    let (path, rest) = match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => (Some(path), rest),
        _ => (None, message),
    };
    let field = ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| rest.strip_prefix(prefix))
        .and_then(|r| r.split('`').next());
    match (path, field) {
        (Some(path), Some(field)) => Some(format!("{path}.{field}")),
        (None, Some(field)) => Some(field.to_owned()),
        (Some(path), None) => Some(path.to_owned()),
        (None, None) => None,
    }
}

/// The part of a line that is not a comment.
fn code(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// The first line (1-based) that mentions `needle` outside a comment.
pub fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| code(l).contains(needle)).map(|i| i + 1)
}

/// The line of `key:` inside the block that opens with `parent:` (a rule's
/// settings), or else the first mention of `key`.
pub fn line_of_key_under(text: &str, parent: &str, key: &str) -> Option<usize> {
    let (parent, key) = (format!("{parent}:"), format!("{key}:"));
    let start = text.lines().position(|l| code(l).trim_start().starts_with(&parent));
    start
        .and_then(|start| {
            text.lines()
                .enumerate()
                .skip(start + 1)
                .find(|(_, l)| code(l).trim_start().starts_with(&key))
                .map(|(i, _)| i + 1)
        })
        .or_else(|| line_of(text, &key))
        .or_else(|| start.map(|i| i + 1))
}
