//! Policy files: parsed strictly (unknown keys are errors), then validated
//! into a typed [`Policy`]. Every problem names the file, line and key.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The policy the rules read, after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Accounts a share to is not external (besides the snapshot's own).
    pub trusted_accounts: BTreeSet<String>,
    /// Trust every account of the organization scanned with `--org`.
    pub trust_organization: bool,
    /// Files merged into this policy, in order.
    pub sources: Vec<PathBuf>,
}

/// Exactly what a policy file may say; anything else is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: u32,
    #[serde(default)]
    trusted_accounts: Vec<String>,
    trust_organization: Option<bool>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { trusted_accounts: BTreeSet::new(), trust_organization: true, sources: Vec::new() }
    }
}

/// One problem in one policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
    pub message: String,
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

/// Policy files larger than this are refused before parsing.
const MAX_POLICY_BYTES: usize = 1 << 20;

/// What one file says, before merging.
struct Layer {
    trusted_accounts: Vec<String>,
    trust_organization: Option<bool>,
}

impl Policy {
    /// Load and merge several files, in the order given: lists are joined,
    /// and a later file overrides a setting only where it states it.
    pub fn load_all(paths: &[PathBuf]) -> Result<Policy, PolicyError> {
        let mut policy = Policy::default();
        for path in paths {
            policy.apply(load_layer(path)?);
            policy.sources.push(path.clone());
        }
        Ok(policy)
    }

    /// Parse one policy document; every problem found is returned.
    pub fn parse(text: &str) -> Result<Policy, Vec<PolicyProblem>> {
        let mut policy = Policy::default();
        policy.apply(parse_layer(text)?);
        Ok(policy)
    }

    fn apply(&mut self, layer: Layer) {
        self.trusted_accounts.extend(layer.trusted_accounts);
        if let Some(trust) = layer.trust_organization {
            self.trust_organization = trust;
        }
    }
}

fn load_layer(path: &Path) -> Result<Layer, PolicyError> {
    let fail = |message: String| PolicyError {
        file: path.to_owned(),
        problems: vec![PolicyProblem { line: None, column: None, key: None, message }],
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(fail(format!("{} bytes is over the {MAX_POLICY_BYTES}-byte limit for a policy", bytes.len())));
    }
    let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))?;
    parse_layer(&text).map_err(|problems| PolicyError { file: path.to_owned(), problems })
}

fn parse_layer(text: &str) -> Result<Layer, Vec<PolicyProblem>> {
    if text.trim().lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Err(vec![PolicyProblem {
            line: None,
            column: None,
            key: None,
            message: "the policy is empty; it needs at least `version: 1`".into(),
        }]);
    }
    let file: PolicyFile = serde_norway::from_str(text).map_err(|e| vec![problem_from_yaml(&e)])?;
    let mut problems = Vec::new();
    if file.version != 1 {
        problems.push(PolicyProblem {
            line: line_of(text, "version"),
            column: None,
            key: Some("version".into()),
            message: format!("version {} is not supported; this snapaudit reads version 1", file.version),
        });
    }
    for account in &file.trusted_accounts {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            problems.push(PolicyProblem {
                line: line_of(text, account),
                column: None,
                key: Some("trusted_accounts".into()),
                message: format!("{account:?} is not an AWS account id (12 digits, quoted)"),
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Layer { trusted_accounts: file.trusted_accounts, trust_organization: file.trust_organization })
}

fn problem_from_yaml(e: &serde_norway::Error) -> PolicyProblem {
    let location = e.location();
    let raw = e.to_string();
    // The library appends " at line L column C"; the location is shown apart.
    let message = raw.split(" at line ").next().unwrap_or(&raw).to_owned();
    let key = key_in_message(&message);
    PolicyProblem {
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        key,
        message,
    }
}

/// The key an error is about: `unknown field `x`` or a `path: ...` prefix.
fn key_in_message(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        return rest.split('`').next().map(str::to_owned);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        return rest.split('`').next().map(str::to_owned);
    }
    let (path, _) = message.split_once(": ")?;
    (!path.contains(' ')).then(|| path.to_owned())
}

/// First line (1-based) mentioning `needle`, to place a validation problem.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_policy_parses() {
        let p = Policy::parse("version: 1\ntrusted_accounts:\n  - \"111111111111\"\n").unwrap();
        assert!(p.trusted_accounts.contains("111111111111"));
    }

    #[test]
    fn an_unknown_key_names_line_and_key() {
        let problems = Policy::parse("version: 1\ntrusted_acounts: []\n").unwrap_err();
        assert_eq!(problems[0].line, Some(2));
        assert_eq!(problems[0].key.as_deref(), Some("trusted_acounts"));
    }

    #[test]
    fn an_unquoted_account_id_keeps_its_leading_zero() {
        let p = Policy::parse("version: 1\ntrusted_accounts:\n  - 012345678901\n").unwrap();
        assert!(p.trusted_accounts.contains("012345678901"), "{p:?}");
    }

    #[test]
    fn a_wrong_type_names_line_and_key() {
        let problems = Policy::parse("version: 1\ntrusted_accounts:\n  nested: map\n").unwrap_err();
        assert_eq!(problems[0].line, Some(3), "{problems:?}");
        assert_eq!(problems[0].key.as_deref(), Some("trusted_accounts"), "{problems:?}");
    }

    #[test]
    fn every_validation_problem_is_reported() {
        let problems = Policy::parse("version: 2\ntrusted_accounts: [\"12\", \"abc\"]\n").unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(problems[0].key.as_deref(), Some("version"));
        assert_eq!(problems[1].line, Some(2));
    }

    #[test]
    fn later_files_override_only_what_they_state() {
        let dir = std::env::temp_dir().join(format!("snapaudit-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.yaml"), dir.join("b.yaml"));
        std::fs::write(&a, "version: 1\ntrust_organization: false\ntrusted_accounts: [\"111111111111\"]\n").unwrap();
        std::fs::write(&b, "version: 1\ntrusted_accounts: [\"222222222222\"]\n").unwrap();
        let p = Policy::load_all(&[a, b]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!p.trust_organization);
        assert_eq!(p.trusted_accounts.len(), 2);
    }

    #[test]
    fn empty_and_missing_version_are_errors() {
        assert!(Policy::parse("# only a comment\n").unwrap_err()[0].message.contains("empty"));
        let problems = Policy::parse("trusted_accounts: []\n").unwrap_err();
        assert_eq!(problems[0].key.as_deref(), Some("version"));
    }
}
