//! Allowlist entries: expected work, with a reason and an optional expiry.
//! A matching finding is `suppressed` (still stored and listable), and a
//! matching snapshot does not count toward bulk thresholds.

use std::collections::BTreeSet;

use jiff::civil::Date;

use crate::model::{Actor, Scope, Snapshot};

#[derive(Debug, Clone)]
pub struct AllowEntry {
    pub reason: String,
    /// Last day (UTC) the entry applies; from the next day on it is ignored.
    pub expires: Option<Date>,
    /// Rule ids it applies to; `None` means every rule.
    pub rules: Option<BTreeSet<String>>,
    /// A tag key, and the value it must have if given (`key=value`).
    pub tag: Option<(String, Option<String>)>,
    pub snapshot_id: Option<String>,
    /// Regex on the snapshot's description.
    pub description: Option<regex_lite::Regex>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// The caller's ARN (`*` globs), from the audit log.
    pub principal: Option<regex_lite::Regex>,
    /// The AWS service that called on the principal's behalf.
    pub invoked_by: Option<String>,
    /// Where it was written, for messages: `policies/x.yaml, allow #2`.
    pub origin: String,
}

impl AllowEntry {
    pub fn is_expired(&self, today: Date) -> bool {
        self.expires.is_some_and(|last| today > last)
    }

    /// Whether the entry covers `rule` on this scope and (if known) snapshot
    /// and the actor of its change. Every matcher the entry states must
    /// match; one that needs a snapshot never matches a finding about a group
    /// or a scope, and one that needs a caller never matches without one.
    pub fn matches(
        &self,
        rule: &str,
        scope: &Scope,
        snapshot: Option<&Snapshot>,
        actor: Option<&Actor>,
        today: Date,
    ) -> bool {
        if self.is_expired(today) || self.rules.as_ref().is_some_and(|r| !r.contains(rule)) {
            return false;
        }
        if let Some(pattern) = &self.principal
            && !actor.and_then(|a| a.principal.as_deref()).is_some_and(|p| pattern.is_match(p))
        {
            return false;
        }
        if let Some(service) = &self.invoked_by
            && actor.and_then(|a| a.invoked_by.as_deref()) != Some(service.as_str())
        {
            return false;
        }
        if self.account.as_ref().is_some_and(|a| a != &scope.account)
            || self.region.as_ref().is_some_and(|r| r != &scope.region)
        {
            return false;
        }
        let needs_snapshot = self.tag.is_some() || self.snapshot_id.is_some() || self.description.is_some();
        if !needs_snapshot {
            return true;
        }
        let Some(snap) = snapshot else { return false };
        if self.snapshot_id.as_ref().is_some_and(|id| id != &snap.id) {
            return false;
        }
        if let Some((key, value)) = &self.tag {
            match (snap.tags.get(key), value) {
                (None, _) => return false,
                (Some(actual), Some(wanted)) if actual != wanted => return false,
                _ => {}
            }
        }
        if let Some(pattern) = &self.description
            && !snap.description.as_deref().is_some_and(|d| pattern.is_match(d))
        {
            return false;
        }
        true
    }
}

/// An ARN pattern where `*` matches any run of characters, anchored.
pub fn glob(pattern: &str) -> regex_lite::Regex {
    let body: Vec<String> = pattern.split('*').map(regex_lite::escape).collect();
    regex_lite::Regex::new(&format!("^{}$", body.join(".*"))).expect("an escaped glob is a valid regex")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::snapshot;

    fn entry() -> AllowEntry {
        AllowEntry {
            reason: "change CHG-1".into(),
            expires: None,
            rules: None,
            tag: Some(("change-ticket".into(), None)),
            snapshot_id: None,
            description: None,
            account: None,
            region: None,
            principal: None,
            invoked_by: None,
            origin: "test".into(),
        }
    }

    fn tagged() -> Snapshot {
        let mut s = snapshot("snap-1", vec![]);
        s.tags.insert("change-ticket".into(), "CHG-1".into());
        s
    }

    #[test]
    fn expiry_is_inclusive_of_its_day() {
        let today = jiff::civil::date(2026, 11, 24);
        let mut e = entry();
        let s = tagged();
        e.expires = Some(jiff::civil::date(2026, 11, 23));
        assert!(!e.matches("new-snapshot", &s.scope, Some(&s), None, today), "expired yesterday");
        e.expires = Some(jiff::civil::date(2026, 11, 24));
        assert!(e.matches("new-snapshot", &s.scope, Some(&s), None, today), "expires today: still applies");
        e.expires = Some(jiff::civil::date(2026, 11, 25));
        assert!(e.matches("new-snapshot", &s.scope, Some(&s), None, today), "expires tomorrow");
    }

    #[test]
    fn every_stated_matcher_must_match() {
        let today = jiff::civil::date(2026, 1, 1);
        let s = tagged();
        let mut e = entry();
        e.tag = Some(("change-ticket".into(), Some("CHG-2".into())));
        assert!(!e.matches("new-snapshot", &s.scope, Some(&s), None, today), "wrong tag value");
        e.tag = Some(("change-ticket".into(), Some("CHG-1".into())));
        assert!(e.matches("new-snapshot", &s.scope, Some(&s), None, today));
        e.region = Some("us-east-1".into());
        assert!(!e.matches("new-snapshot", &s.scope, Some(&s), None, today), "other region");
        e.region = None;
        e.description = Some(regex_lite::Regex::new("^nightly").unwrap());
        assert!(!e.matches("new-snapshot", &s.scope, Some(&s), None, today), "no description");
        e.description = None;
        e.rules = Some(["bulk-creation".to_owned()].into());
        assert!(!e.matches("new-snapshot", &s.scope, Some(&s), None, today), "other rule");
        assert!(e.matches("bulk-creation", &s.scope, Some(&s), None, today));
        assert!(!e.matches("bulk-creation", &s.scope, None, None, today), "a tag matcher needs a snapshot");
    }
}
