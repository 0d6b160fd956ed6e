//! Reading one policy file: size and depth guards, strict parsing, then
//! validation into a [`Layer`] (what that file states), collecting every
//! problem before failing. Each rule validates its own settings.

use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use serde_norway::Mapping;

use super::RuleSwitch;
use super::allow::AllowEntry;
use super::error::{PolicyError, PolicyProblem, line_of, line_of_key_under, problem_from_yaml};
use super::file::{AllowFile, NotifyFile, PolicyFile};
use crate::model::Severity;
use crate::rules::settings::{Block, parse_duration};

/// Policy files larger than this are refused before parsing.
const MAX_POLICY_BYTES: usize = 1 << 20;

/// What one file says, validated, before merging: `None` is "not stated".
#[derive(Default)]
pub(super) struct Layer {
    pub trusted_accounts: Vec<String>,
    pub trusted_organizations: Vec<String>,
    pub trusted_organizational_units: Vec<String>,
    pub trusted_gcp_domains: Vec<String>,
    pub trusted_gcp_projects: Vec<String>,
    pub trusted_export_buckets: Vec<String>,
    pub trust_organization: Option<bool>,
    pub quiet_backup_tooling: Option<bool>,
    pub events_open_for: Option<SignedDuration>,
    pub retention: Option<SignedDuration>,
    pub verification: Option<crate::model::Verification>,
    pub full_verification_every: Option<SignedDuration>,
    pub cloudtrail_overlap: Option<SignedDuration>,
    /// Per rule: `enabled` / `severity`, and the rule's own keys.
    pub rules: Vec<(&'static str, RuleSwitch, Mapping)>,
    pub allow: Vec<AllowEntry>,
    pub notify_url_file: Option<PathBuf>,
    pub notify_min_severity: Option<Severity>,
}

pub(super) fn load_layer(path: &Path) -> Result<Layer, PolicyError> {
    let fail = |message: String| PolicyError { file: path.to_owned(), problems: vec![PolicyProblem::whole(message)] };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if bytes.len() > MAX_POLICY_BYTES {
        return Err(fail(format!("{} bytes is over the {MAX_POLICY_BYTES}-byte limit for a policy", bytes.len())));
    }
    let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))?;
    let mut layer = parse_layer(&text, &path.display().to_string())
        .map_err(|problems| PolicyError { file: path.to_owned(), problems })?;
    if let (Some(file), Some(folder)) = (&layer.notify_url_file, path.parent())
        && file.is_relative()
    {
        layer.notify_url_file = Some(folder.join(file));
    }
    Ok(layer)
}

pub(super) fn parse_layer(text: &str, origin: &str) -> Result<Layer, Vec<PolicyProblem>> {
    if text.trim().lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Err(vec![PolicyProblem::whole("the policy is empty; it needs at least `version: 1`".into())]);
    }
    if let Some(line) = too_deep(text) {
        return Err(vec![PolicyProblem {
            line: Some(line),
            column: None,
            key: None,
            message: format!("nested more than {MAX_FLOW_DEPTH} levels of [ ] or {{ }}; a policy never needs that"),
        }]);
    }
    let file: PolicyFile = serde_norway::from_str(text).map_err(|e| vec![problem_from_yaml(&e, text)])?;
    Validator { text, problems: Vec::new() }.layer(file, origin)
}

/// Deeper flow nesting than any policy needs. Checked before parsing: the
/// YAML scanner takes quadratic time on long runs of unclosed `[`.
const MAX_FLOW_DEPTH: usize = 32;

/// The line where `[`/`{` nesting first exceeds [`MAX_FLOW_DEPTH`], outside
/// quotes and comments.
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (n, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut previous = ' ';
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') if previous.is_whitespace() => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some(n + 1);
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            previous = c;
        }
    }
    None
}

/// Turns a parsed file into a [`Layer`], collecting every problem.
struct Validator<'t> {
    text: &'t str,
    problems: Vec<PolicyProblem>,
}

impl Validator<'_> {
    fn problem(&mut self, needle: &str, key: &str, message: String) {
        self.problems.push(PolicyProblem {
            line: line_of(self.text, needle),
            column: None,
            key: Some(key.to_owned()),
            message,
        });
    }

    fn layer(mut self, file: PolicyFile, origin: &str) -> Result<Layer, Vec<PolicyProblem>> {
        if file.version != 1 {
            self.problem(
                "version",
                "version",
                format!("version {} is not supported; this snapaudit reads version 1", file.version),
            );
        }
        for account in &file.trusted_accounts {
            if !is_account_id(account) {
                self.problem(
                    account,
                    "trusted_accounts",
                    format!("{account:?} is not an AWS account id (12 digits, quoted)"),
                );
            }
        }
        for bucket in &file.trusted_export_buckets {
            // Amazon S3 User Guide, "General purpose bucket naming rules":
            // 3-63 characters, lowercase letters, digits, dots and hyphens.
            let valid = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
            if !valid {
                self.problem(
                    bucket,
                    "trusted_export_buckets",
                    format!(
                        "{bucket:?} is not an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens; no s3://)"
                    ),
                );
            }
        }
        for id in &file.trusted_organizations {
            if !is_organization_id(id) {
                self.problem(
                    id,
                    "trusted_organizations",
                    format!("{id:?} is not an organization id (like o-a1b2c3d4e5)"),
                );
            }
        }
        for id in &file.trusted_organizational_units {
            if !is_ou_id(id) {
                self.problem(
                    id,
                    "trusted_organizational_units",
                    format!("{id:?} is not an organizational unit id (like ou-a1b2-c3d4e5f6)"),
                );
            }
        }
        let mut layer = Layer {
            trusted_accounts: file.trusted_accounts,
            trusted_organizations: file.trusted_organizations,
            trusted_organizational_units: file.trusted_organizational_units,
            trusted_gcp_domains: file.trusted_gcp_domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            trusted_gcp_projects: file.trusted_gcp_projects,
            trusted_export_buckets: file.trusted_export_buckets,
            trust_organization: file.trust_organization,
            quiet_backup_tooling: file.quiet_backup_tooling,
            events_open_for: file.events_open_for.as_deref().and_then(|d| self.duration(d, "events_open_for")),
            retention: file.retention.as_deref().and_then(|d| self.duration(d, "retention")),
            verification: file.verification,
            full_verification_every: file
                .full_verification_every
                .as_deref()
                .and_then(|d| self.duration(d, "full_verification_every")),
            cloudtrail_overlap: file.cloudtrail_overlap.as_deref().and_then(|d| self.duration(d, "cloudtrail_overlap")),
            ..Layer::default()
        };
        for (id, block) in file.rules {
            let Some(rule) = crate::rules::rule(&id) else {
                let known: Vec<String> = crate::rules::RULES.iter().map(|r| format!("`{}`", r.id())).collect();
                self.problem(
                    &format!("{id}:"),
                    &format!("rules.{id}"),
                    format!("unknown field `{id}`, expected one of {}", known.join(", ")),
                );
                continue;
            };
            let block = block.unwrap_or_default();
            // The rule reads its own keys; what it did not read is unknown.
            let mut reader = Block::new(&block.settings);
            rule.settings(&mut reader);
            for p in reader.finish() {
                self.problems.push(PolicyProblem {
                    line: line_of_key_under(self.text, &id, &p.key),
                    column: None,
                    key: Some(format!("rules.{id}.{}", p.key)),
                    message: p.message,
                });
            }
            let switch = RuleSwitch { enabled: block.enabled, severity: block.severity };
            layer.rules.push((rule.id(), switch, block.settings));
        }
        if let Some(notify) = file.notify {
            self.notify(notify, &mut layer);
        }
        for (i, entry) in file.allow.into_iter().enumerate() {
            if let Some(e) = self.allow_entry(entry, &format!("{origin}, allow #{}", i + 1)) {
                layer.allow.push(e);
            }
        }
        if self.problems.is_empty() { Ok(layer) } else { Err(self.problems) }
    }

    fn notify(&mut self, notify: NotifyFile, layer: &mut Layer) {
        if notify.url.is_some() {
            self.problem(
                "url:",
                "notify.url",
                "the webhook URL is a secret (it carries its token) and policies are shared: put it in a \
                 file readable by snapaudit only and name that file with `url_file`, or set SNAPAUDIT_NOTIFY_URL"
                    .into(),
            );
        }
        match notify.url_file.as_deref().map(str::trim) {
            Some("") => self.problem("url_file", "notify.url_file", "the path is empty".into()),
            Some(path) => layer.notify_url_file = Some(PathBuf::from(path)),
            None => {}
        }
        layer.notify_min_severity = notify.min_severity;
    }

    fn duration(&mut self, text: &str, key: &str) -> Option<SignedDuration> {
        match parse_duration(text) {
            Some(d) => Some(d),
            None => {
                self.problem(
                    text,
                    key,
                    format!("{text:?} is not a duration: a whole number and a unit s, m, h or d (e.g. 30m, 24h, 7d)"),
                );
                None
            }
        }
    }

    fn allow_entry(&mut self, f: AllowFile, origin: &str) -> Option<AllowEntry> {
        let before = self.problems.len();
        if f.reason.trim().is_empty() {
            self.problem("reason", "allow.reason", "an allow entry needs a reason people can read".into());
        }
        let expires = f.expires.as_deref().and_then(|d| match d.parse::<jiff::civil::Date>() {
            Ok(date) => Some(date),
            Err(_) => {
                self.problem(d, "allow.expires", format!("{d:?} is not a date; write YYYY-MM-DD"));
                None
            }
        });
        if let Some(rules) = &f.rules {
            for id in rules.iter().filter(|id| crate::rules::rule(id).is_none()) {
                self.problem(id, "allow.rules", format!("{id:?} is not a rule id; see `snapaudit rules`"));
            }
        }
        let description = f.description.as_deref().and_then(|p| match regex_lite::Regex::new(p) {
            Ok(re) => Some(re),
            Err(e) => {
                self.problem(p, "allow.description", format!("{p:?} is not a valid regular expression: {e}"));
                None
            }
        });
        if let Some(account) = f.account.as_deref().filter(|a| !is_account_id(a)) {
            self.problem(account, "allow.account", format!("{account:?} is not an AWS account id (12 digits, quoted)"));
        }
        if let Some(p) = f.principal.as_deref().filter(|p| !p.starts_with("arn:") && !p.starts_with('*')) {
            self.problem(
                p,
                "allow.principal",
                format!("{p:?} is not an ARN pattern (like arn:aws:iam::*:role/Backup*)"),
            );
        }
        if f.tag.is_none()
            && f.snapshot_id.is_none()
            && f.description.is_none()
            && f.account.is_none()
            && f.region.is_none()
            && f.principal.is_none()
            && f.invoked_by.is_none()
        {
            self.problem(
                &f.reason,
                "allow",
                "an allow entry needs something to match: tag, snapshot_id, description, account, region, principal or invoked_by".into(),
            );
        }
        if self.problems.len() > before {
            return None;
        }
        let tag = f.tag.map(|t| match t.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (t, None),
        });
        Some(AllowEntry {
            reason: f.reason,
            expires,
            rules: f.rules.map(|r| r.into_iter().collect()),
            tag,
            snapshot_id: f.snapshot_id,
            description,
            account: f.account,
            region: f.region,
            principal: f.principal.as_deref().map(super::allow::glob),
            invoked_by: f.invoked_by,
            origin: origin.to_owned(),
        })
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn lower_alnum(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// AWS Organizations API Reference, Organization `Id`: `^o-[a-z0-9]{10,32}$`.
fn is_organization_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|rest| lower_alnum(rest, 10, 32))
}

/// AWS Organizations API Reference, OrganizationalUnit `Id`:
/// `^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`.
fn is_ou_id(s: &str) -> bool {
    s.strip_prefix("ou-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(root, unit)| lower_alnum(root, 4, 32) && lower_alnum(unit, 8, 32))
}
