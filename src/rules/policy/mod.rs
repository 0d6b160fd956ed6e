//! Policy files: parsed strictly (unknown keys are errors), then validated
//! into a typed [`Policy`]. Every problem names the file, line and key.
//! Several files merge in the order given: lists (trusted accounts, allow
//! entries) are joined, and a later file overrides a setting only where it
//! states it.

mod allow;
mod file;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;

use crate::model::Severity;
pub use allow::AllowEntry;
use file::{AllowFile, NotifyFile, PolicyFile};

/// The policy the rules read, after validation and merging.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Accounts a share to is not external (besides the snapshot's own).
    pub trusted_accounts: BTreeSet<String>,
    /// Trust every account of the organization scanned with `--org`.
    pub trust_organization: bool,
    /// New snapshots and bulk activity of known backup tooling (AWS Backup,
    /// Data Lifecycle Manager, RDS automated backups) do not alert.
    pub quiet_backup_tooling: bool,
    /// How long an event finding (a burst, a deletion, a new share) stays
    /// `open` after the scan that saw it.
    pub events_open_for: SignedDuration,
    /// Scans older than this are pruned after each scan (`retention`);
    /// `None` keeps everything.
    pub retention: Option<SignedDuration>,
    /// `enabled` / `severity` per rule id, where a file stated them.
    pub switches: BTreeMap<&'static str, RuleSwitch>,
    pub bulk_creation: BulkCreation,
    /// `bulk-deletion` fires above this many deletions in one scope.
    pub bulk_deletion_threshold: usize,
    pub business_hours: BusinessHours,
    pub allow: Vec<AllowEntry>,
    pub notify: Notify,
    /// Files merged into this policy, in order.
    pub sources: Vec<PathBuf>,
}

/// `notify:` in the policy; `--notify` / SNAPAUDIT_NOTIFY_URL give the URL
/// instead of `url_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// A file holding the webhook URL (relative paths are taken from the
    /// policy file's folder).
    pub url_file: Option<PathBuf>,
    /// New findings below this severity are not posted.
    pub min_severity: Severity,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleSwitch {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkCreation {
    /// Fires when more than this many snapshots fall in one window.
    pub threshold: usize,
    pub window: SignedDuration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BusinessHours {
    pub timezone: TimeZone,
    /// Business hours are `start <= time < end` on `days`.
    pub start: Time,
    pub end: Time,
    pub days: Vec<Weekday>,
}

impl BusinessHours {
    /// Whether `at` falls outside business hours in the policy's timezone.
    pub fn is_off_hours(&self, at: jiff::Timestamp) -> bool {
        let local = at.to_zoned_datetime(self.timezone.clone());
        let time = local.time();
        !self.days.contains(&local.weekday()) || time < self.start || time >= self.end
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            trusted_accounts: BTreeSet::new(),
            trust_organization: true,
            quiet_backup_tooling: true,
            events_open_for: SignedDuration::from_hours(7 * 24),
            retention: None,
            switches: BTreeMap::new(),
            bulk_creation: BulkCreation { threshold: 5, window: SignedDuration::from_hours(24) },
            bulk_deletion_threshold: 5,
            business_hours: BusinessHours {
                timezone: TimeZone::UTC,
                start: Time::constant(7, 0, 0, 0),
                end: Time::constant(19, 0, 0, 0),
                days: vec![Weekday::Monday, Weekday::Tuesday, Weekday::Wednesday, Weekday::Thursday, Weekday::Friday],
            },
            allow: Vec::new(),
            notify: Notify { url_file: None, min_severity: Severity::Info },
            sources: Vec::new(),
        }
    }
}

impl Policy {
    pub fn is_enabled(&self, rule: &str) -> bool {
        self.switches.get(rule).and_then(|s| s.enabled).unwrap_or(true)
    }

    pub fn severity_override(&self, rule: &str) -> Option<Severity> {
        self.switches.get(rule).and_then(|s| s.severity)
    }

    /// Allow entries whose expiry date has passed (`validate` warns of them).
    pub fn expired_allow_entries(&self, today: jiff::civil::Date) -> impl Iterator<Item = &AllowEntry> {
        self.allow.iter().filter(move |e| e.is_expired(today))
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

/// What one file says, validated, before merging: `None` is "not stated".
#[derive(Default)]
struct Layer {
    trusted_accounts: Vec<String>,
    trust_organization: Option<bool>,
    quiet_backup_tooling: Option<bool>,
    events_open_for: Option<SignedDuration>,
    retention: Option<SignedDuration>,
    switches: Vec<(&'static str, RuleSwitch)>,
    bulk_threshold: Option<usize>,
    bulk_window: Option<SignedDuration>,
    deletion_threshold: Option<usize>,
    timezone: Option<TimeZone>,
    hours: Option<(Time, Time)>,
    days: Option<Vec<Weekday>>,
    allow: Vec<AllowEntry>,
    notify_url_file: Option<PathBuf>,
    notify_min_severity: Option<Severity>,
}

impl Policy {
    /// Load and merge several files, in the order given.
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
        policy.apply(parse_layer(text, "<policy>")?);
        Ok(policy)
    }

    fn apply(&mut self, layer: Layer) {
        self.trusted_accounts.extend(layer.trusted_accounts);
        set(&mut self.trust_organization, layer.trust_organization);
        set(&mut self.quiet_backup_tooling, layer.quiet_backup_tooling);
        set(&mut self.events_open_for, layer.events_open_for);
        if layer.retention.is_some() {
            self.retention = layer.retention;
        }
        for (rule, switch) in layer.switches {
            let current = self.switches.entry(rule).or_default();
            current.enabled = switch.enabled.or(current.enabled);
            current.severity = switch.severity.or(current.severity);
        }
        set(&mut self.bulk_creation.threshold, layer.bulk_threshold);
        set(&mut self.bulk_creation.window, layer.bulk_window);
        set(&mut self.bulk_deletion_threshold, layer.deletion_threshold);
        set(&mut self.business_hours.timezone, layer.timezone);
        if let Some((start, end)) = layer.hours {
            (self.business_hours.start, self.business_hours.end) = (start, end);
        }
        set(&mut self.business_hours.days, layer.days);
        self.allow.extend(layer.allow);
        if layer.notify_url_file.is_some() {
            self.notify.url_file = layer.notify_url_file;
        }
        set(&mut self.notify.min_severity, layer.notify_min_severity);
    }
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
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
    let mut layer = parse_layer(&text, &path.display().to_string())
        .map_err(|problems| PolicyError { file: path.to_owned(), problems })?;
    if let (Some(file), Some(folder)) = (&layer.notify_url_file, path.parent())
        && file.is_relative()
    {
        layer.notify_url_file = Some(folder.join(file));
    }
    Ok(layer)
}

fn parse_layer(text: &str, origin: &str) -> Result<Layer, Vec<PolicyProblem>> {
    if text.trim().lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Err(vec![PolicyProblem {
            line: None,
            column: None,
            key: None,
            message: "the policy is empty; it needs at least `version: 1`".into(),
        }]);
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
        let mut layer = Layer {
            trusted_accounts: file.trusted_accounts,
            trust_organization: file.trust_organization,
            quiet_backup_tooling: file.quiet_backup_tooling,
            events_open_for: file.events_open_for.as_deref().and_then(|d| self.duration(d, "events_open_for")),
            retention: file.retention.as_deref().and_then(|d| self.duration(d, "retention")),
            ..Layer::default()
        };
        let r = file.rules;
        let plain = [
            ("public-share", r.public_share),
            ("external-share", r.external_share),
            ("share-added", r.share_added),
            ("unencrypted-share", r.unencrypted_share),
            ("azure-sas-export", r.azure_sas_export),
            ("azure-network-exposure", r.azure_network_exposure),
            ("new-snapshot", r.new_snapshot),
            ("coverage-gap", r.coverage_gap),
        ];
        for (id, switch) in plain {
            if let Some(s) = switch {
                layer.switches.push((id, RuleSwitch { enabled: s.enabled, severity: s.severity }));
            }
        }
        if let Some(b) = r.bulk_creation {
            layer.switches.push(("bulk-creation", RuleSwitch { enabled: b.enabled, severity: b.severity }));
            layer.bulk_threshold = b.threshold;
            layer.bulk_window = b.window.as_deref().and_then(|w| self.duration(w, "rules.bulk-creation.window"));
        }
        if let Some(b) = r.bulk_deletion {
            layer.switches.push(("bulk-deletion", RuleSwitch { enabled: b.enabled, severity: b.severity }));
            layer.deletion_threshold = b.threshold;
        }
        if let Some(o) = r.off_hours_creation {
            layer.switches.push(("off-hours-creation", RuleSwitch { enabled: o.enabled, severity: o.severity }));
            if let Some(name) = &o.timezone {
                match TimeZone::get(name) {
                    Ok(tz) => layer.timezone = Some(tz),
                    Err(_) => self.problem(
                        name,
                        "rules.off-hours-creation.timezone",
                        format!("{name:?} is not an IANA timezone name (e.g. Europe/Berlin, America/New_York, UTC)"),
                    ),
                }
            }
            if let Some(hours) = &o.business_hours {
                layer.hours = self.business_hours(hours);
            }
            layer.days = o.business_days.map(|days| days.into_iter().map(|d| d.weekday()).collect());
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

    fn business_hours(&mut self, text: &str) -> Option<(Time, Time)> {
        let parsed = text.split_once('-').and_then(|(a, b)| {
            let time = |s: &str| s.trim().parse::<Time>().ok();
            Some((time(a)?, time(b)?))
        });
        match parsed {
            Some((start, end)) if start < end => Some((start, end)),
            _ => {
                self.problem(
                    text,
                    "rules.off-hours-creation.business_hours",
                    format!("{text:?} is not a range of the day like \"07:00-19:00\" (start before end)"),
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
            for id in rules.iter().filter(|id| !super::RULES.iter().any(|r| r.id() == id.as_str())) {
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
        if f.tag.is_none()
            && f.snapshot_id.is_none()
            && f.description.is_none()
            && f.account.is_none()
            && f.region.is_none()
        {
            self.problem(
                &f.reason,
                "allow",
                "an allow entry needs something to match: tag, snapshot_id, description, account or region".into(),
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
            origin: origin.to_owned(),
        })
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `30s`, `15m`, `24h`, `7d`: a whole number and one unit.
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

fn problem_from_yaml(e: &serde_norway::Error, text: &str) -> PolicyProblem {
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

/// First line (1-based) mentioning `needle`, to place a validation problem.
/// The first line that mentions `needle` outside a comment.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    let code = |line: &str| -> String {
        if line.trim_start().starts_with('#') {
            return String::new();
        }
        match line.find(" #") {
            Some(i) => line[..i].to_owned(),
            None => line.to_owned(),
        }
    };
    text.lines().position(|l| code(l).contains(needle)).map(|i| i + 1)
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

    const FULL: &str = r#"version: 1
events_open_for: 3d
rules:
  bulk-creation:
    threshold: 10
    window: 2h
  off-hours-creation:
    timezone: Europe/Berlin
    business_hours: "08:00-18:00"
    business_days: [mon, tue, wed, thu]
  public-share:
    severity: high
  new-snapshot:
    enabled: false
allow:
  - reason: change-managed work
    tag: change-ticket
    expires: 2027-01-31
    rules: [new-snapshot, bulk-creation]
"#;

    #[test]
    fn rule_settings_and_allow_entries_parse() {
        let p = Policy::parse(FULL).unwrap();
        assert_eq!(p.events_open_for, SignedDuration::from_hours(72));
        assert_eq!(p.bulk_creation, BulkCreation { threshold: 10, window: SignedDuration::from_hours(2) });
        assert_eq!(p.business_hours.timezone.iana_name(), Some("Europe/Berlin"));
        assert_eq!(p.business_hours.days.len(), 4);
        assert_eq!(p.severity_override("public-share"), Some(Severity::High));
        assert!(!p.is_enabled("new-snapshot") && p.is_enabled("bulk-creation"));
        assert_eq!(p.allow[0].tag, Some(("change-ticket".to_owned(), None)));
        assert_eq!(p.allow[0].expires, Some(jiff::civil::date(2027, 1, 31)));
    }

    #[test]
    fn bad_values_name_their_line_and_key() {
        let cases = [
            ("rules:\n  bulk-creation:\n    window: 24 hours\n", 4, "rules.bulk-creation.window"),
            ("rules:\n  off-hours-creation:\n    timezone: Mars/Olympus\n", 4, "rules.off-hours-creation.timezone"),
            (
                "rules:\n  off-hours-creation:\n    business_hours: \"19:00-07:00\"\n",
                4,
                "rules.off-hours-creation.business_hours",
            ),
            ("allow:\n  - reason: x\n    tag: t\n    expires: 2026-13-45\n", 5, "allow.expires"),
            ("allow:\n  - reason: x\n    description: \"(unclosed\"\n", 4, "allow.description"),
            ("allow:\n  - reason: x\n    tag: t\n    rules: [bulk-creaton]\n", 5, "allow.rules"),
            ("allow:\n  - reason: nothing to match\n", 3, "allow"),
            ("notify:\n  url_file: \"  \"\n", 3, "notify.url_file"),
        ];
        for (body, line, key) in cases {
            let text = format!("version: 1\n{body}");
            let problems = Policy::parse(&text).unwrap_err();
            assert_eq!(problems[0].line, Some(line), "{text}\n{problems:?}");
            assert_eq!(problems[0].key.as_deref(), Some(key), "{text}\n{problems:?}");
        }
    }

    #[test]
    fn unknown_rules_and_rule_settings_are_errors() {
        let problems = Policy::parse("version: 1\nrules:\n  bulk-creaton:\n    threshold: 3\n").unwrap_err();
        assert_eq!(
            (problems[0].line, problems[0].key.as_deref()),
            (Some(3), Some("rules.bulk-creaton")),
            "{problems:?}"
        );
        // `window` belongs to bulk-creation, not bulk-deletion.
        let problems = Policy::parse("version: 1\nrules:\n  bulk-deletion:\n    window: 1h\n").unwrap_err();
        assert_eq!(
            (problems[0].line, problems[0].key.as_deref()),
            (Some(4), Some("rules.bulk-deletion.window")),
            "{problems:?}"
        );
        let problems = Policy::parse("version: 1\nrules:\n  public-share:\n    severity: urgent\n").unwrap_err();
        assert_eq!(problems[0].line, Some(4), "{problems:?}");
    }

    #[test]
    fn notify_names_a_url_file_never_the_url_itself() {
        let p =
            Policy::parse("version: 1\nnotify:\n  url_file: /etc/snapaudit/webhook\n  min_severity: high\n").unwrap();
        assert_eq!(p.notify.url_file.as_deref(), Some(Path::new("/etc/snapaudit/webhook")));
        assert_eq!(p.notify.min_severity, Severity::High);
        assert_eq!(Policy::default().notify.min_severity, Severity::Info, "every new finding by default");
        let problems =
            Policy::parse("version: 1\nnotify:\n  url: https://hooks.example/T1/secret-token\n").unwrap_err();
        assert_eq!((problems[0].line, problems[0].key.as_deref()), (Some(3), Some("notify.url")), "{problems:?}");
        assert!(problems[0].message.contains("url_file") && !problems[0].message.contains("secret-token"));
    }

    #[test]
    fn a_relative_url_file_is_taken_from_the_policy_folder() {
        let dir = std::env::temp_dir().join(format!("snapaudit-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.yaml");
        std::fs::write(&path, "version: 1\nnotify:\n  url_file: webhook.url\n").unwrap();
        let p = Policy::load_all(&[path]).unwrap();
        assert_eq!(p.notify.url_file, Some(dir.join("webhook.url")));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let problems = Policy::parse("version: 1\ntrust_organization: true\ntrust_organization: false\n").unwrap_err();
        assert_eq!(problems[0].line, Some(3), "{problems:?}");
    }

    #[test]
    fn business_hours_boundaries_in_a_non_utc_timezone() {
        let p = Policy::parse(
            "version: 1\nrules:\n  off-hours-creation:\n    timezone: America/New_York\n    business_hours: \"07:00-19:00\"\n",
        )
        .unwrap();
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        // Tuesday 2026-11-24: New York is UTC-5.
        assert!(!p.business_hours.is_off_hours(at("2026-11-24T23:59:00Z")), "18:59 local");
        assert!(p.business_hours.is_off_hours(at("2026-11-25T00:01:00Z")), "19:01 local");
        assert!(p.business_hours.is_off_hours(at("2026-11-24T11:59:00Z")), "06:59 local");
        assert!(!p.business_hours.is_off_hours(at("2026-11-24T12:00:00Z")), "07:00 local");
        assert!(p.business_hours.is_off_hours(at("2026-11-28T15:00:00Z")), "Saturday 10:00 local");
    }

    #[test]
    fn later_files_override_rule_settings_field_by_field() {
        let dir = std::env::temp_dir().join(format!("snapaudit-policy-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.yaml"), dir.join("b.yaml"));
        std::fs::write(&a, "version: 1\nrules:\n  public-share:\n    severity: high\n    enabled: false\n").unwrap();
        std::fs::write(&b, "version: 1\nrules:\n  public-share:\n    enabled: true\n").unwrap();
        let p = Policy::load_all(&[a, b]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(p.is_enabled("public-share"));
        assert_eq!(p.severity_override("public-share"), Some(Severity::High));
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
