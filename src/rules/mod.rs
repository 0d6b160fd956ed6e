//! STAGE 3, pure: rules turn the scan's state and changes into findings.
//!
//! One file per rule, listed in [`RULES`]. Rules read a [`Context`] and touch
//! neither the network nor the disk. After the rules: `suppress` marks
//! expected work (allowlists, backup tooling), `correlate` scores bursts
//! that are also off-hours, and [`lifecycle`] compares with the previous
//! scan's findings (new / open / resolved).

mod azure_network_exposure;
mod azure_sas_export;
mod backup_tooling;
mod block_public_access_weakened;
mod bulk_creation;
mod bulk_deletion;
mod context;
mod correlate;
mod coverage_gap;
pub mod exposure;
mod external_share;
pub mod lifecycle;
mod new_snapshot;
mod off_hours_creation;
pub mod policy;
mod public_share;
mod scope_missing;
pub mod settings;
mod share_added;
mod share_refused;
mod snapshot_exported;
mod suppress;
mod transient_export;
mod transient_share;
mod transient_snapshot;
mod unencrypted_share;
mod unknown_exposure;

use crate::model::{Finding, Scope, Service, Severity, Snapshot, Status};

pub use context::{Context, Transient};
pub use policy::{Policy, PolicyError};
pub use settings::{Block, RuleSettings};

/// Whether a rule judges the current state or an event between two scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Re-evaluated every scan; resolved when its scope lists without it.
    State,
    /// Raised once, by the scan that saw it; stays open for
    /// `events_open_for`, then expires (the baseline keeps it).
    Event,
}

/// What a rule is, as `snapaudit rules` lists it: one literal per rule.
pub struct Meta {
    /// The rule id used in output and policies, e.g. `public-share`.
    pub id: &'static str,
    pub kind: Kind,
    /// The severity the policy's `severity` setting replaces.
    pub severity: Severity,
    /// MITRE ATT&CK technique ids.
    pub mitre: &'static [&'static str],
}

pub trait Rule: Sync {
    fn meta(&self) -> Meta;
    fn id(&self) -> &'static str {
        self.meta().id
    }
    fn kind(&self) -> Kind {
        self.meta().kind
    }
    fn severity(&self) -> Severity {
        self.meta().severity
    }
    fn mitre(&self) -> &'static [&'static str] {
        self.meta().mitre
    }
    /// Stays quiet for known backup tooling (`quiet_backup_tooling`):
    /// routine creation and retention, never shares.
    fn quiet_for_backup_tooling(&self) -> bool {
        false
    }
    /// Judges who may read a snapshot: its suppression is the reason a
    /// share is accepted in `report shared`.
    fn judges_exposure(&self) -> bool {
        false
    }
    /// Judges each listed snapshot on its own (from `ctx.snapshots`, with
    /// nothing else of the listing): a scan runs it over its whole listing
    /// page by page ([`evaluate_listing`]), so no snapshot is held for it.
    fn per_snapshot(&self) -> bool {
        false
    }
    /// Reads this rule's own settings (its policy keys besides `enabled`
    /// and `severity`), for `validate` and loading. A rule without settings
    /// reads none, so any key is an error.
    fn settings(&self, _block: &mut Block<'_>) {}
    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding>;
}

/// Every rule, in the order their findings are listed at equal severity.
pub const RULES: &[&dyn Rule] = &[
    &public_share::PublicShare,
    &external_share::ExternalShare,
    &share_added::ShareAdded,
    &transient_share::TransientShare,
    &share_refused::ShareRefused,
    &transient_export::TransientExport,
    &transient_snapshot::TransientSnapshot,
    &unencrypted_share::UnencryptedShare,
    &snapshot_exported::SnapshotExported,
    &block_public_access_weakened::BlockPublicAccessWeakened,
    &azure_sas_export::AzureSasExport,
    &azure_network_exposure::AzureNetworkExposure,
    &bulk_deletion::BulkDeletion,
    &bulk_creation::BulkCreation,
    &off_hours_creation::OffHoursCreation,
    &scope_missing::ScopeMissing,
    &coverage_gap::CoverageGap,
    &unknown_exposure::UnknownExposure,
    &new_snapshot::NewSnapshot,
];

/// How far before each new snapshot the rules look at older ones (bursts):
/// what a scan must load of its listing besides the new, shared and changed
/// snapshots. `None`: no rule does.
pub fn creation_lookback(policy: &Policy) -> Option<jiff::SignedDuration> {
    bulk_creation::lookback(policy)
}

pub fn rule(id: &str) -> Option<&'static dyn Rule> {
    RULES.iter().copied().find(|r| r.id() == id)
}

/// A finding of `rule` at its default severity and score 1, status `new`.
fn raise(
    rule: &(impl Rule + ?Sized),
    scope: &Scope,
    subject: impl Into<String>,
    message: impl Into<String>,
) -> Finding {
    Finding {
        rule: rule.id().to_owned(),
        severity: rule.severity(),
        score: 1,
        mitre: rule.mitre().iter().map(|m| (*m).to_owned()).collect(),
        scope: scope.clone(),
        subject: subject.into(),
        snapshot_id: None,
        grantees: Vec::new(),
        related: Vec::new(),
        message: message.into(),
        status: Status::New,
        first_seen: None,
        suppressed_by: None,
        actor: None,
        remedy: None,
    }
}

/// A finding about one snapshot; on an AMI, `related` names the EBS
/// snapshots behind it (whoever may launch it can read them).
fn raise_on(rule: &(impl Rule + ?Sized), snapshot: &Snapshot, message: impl Into<String>) -> Finding {
    let mut f = raise(rule, &snapshot.scope, snapshot.id.clone(), message);
    f.snapshot_id = Some(snapshot.id.clone());
    f.related = snapshot.backing_snapshots().into_iter().map(str::to_owned).collect();
    f
}

/// The remedy that removes `grantees` (and only them) from `snapshot`.
fn remedy_on(snapshot: &Snapshot, grantees: &[crate::model::Grantee]) -> Option<crate::model::Remedy> {
    let bindings = snapshot.attributes.get(crate::model::IAM_BINDINGS).map(String::as_str);
    crate::model::Remedy::remove(&snapshot.scope, &snapshot.id, grantees, bindings)
}

/// What the subject is, in a finding's message: `snapshot`; `docdb cluster
/// snapshot` (RDS, with its engine: DocumentDB and Neptune share the RDS
/// API); `AMI (backed by snap-1, snap-2)`.
fn subject_noun(s: &Snapshot) -> String {
    let engine = s.attributes.get("engine");
    match (s.scope.service, engine) {
        (Service::Ami, _) => match s.backing_snapshots().as_slice() {
            [] => "AMI".to_owned(),
            ids => format!("AMI (backed by {})", ids.join(", ")),
        },
        (Service::Rds, Some(engine)) => format!("{engine} DB snapshot"),
        (Service::RdsCluster, Some(engine)) => format!("{engine} cluster snapshot"),
        (Service::GcpImage, _) => "image".to_owned(),
        (Service::GcpMachineImage, _) => "machine image".to_owned(),
        _ => "snapshot".to_owned(),
    }
}

/// Run every enabled rule, apply severity overrides, suppression and
/// correlation, over what `ctx` holds. Statuses against the previous scan
/// come from [`lifecycle`].
pub fn evaluate(ctx: &Context<'_>) -> Vec<Finding> {
    let listing = evaluate_listing(ctx);
    evaluate_with_listing(ctx, listing)
}

/// The per-snapshot rules ([`Rule::per_snapshot`]) over `ctx.snapshots`,
/// one page of a listing, suppression applied.
pub fn evaluate_listing(ctx: &Context<'_>) -> Vec<Finding> {
    let mut findings = run(ctx, |r| r.per_snapshot());
    suppress::apply(ctx, &mut findings);
    findings
}

/// Every other rule over `ctx`, joined with the per-snapshot rules'
/// findings of the whole listing ([`evaluate_listing`], page by page), then
/// correlation and order.
pub fn evaluate_with_listing(ctx: &Context<'_>, listing: Vec<Finding>) -> Vec<Finding> {
    let mut findings = run(ctx, |r| !r.per_snapshot());
    suppress::apply(ctx, &mut findings);
    findings.extend(listing);
    correlate::bursts_off_hours(&mut findings);
    sort(&mut findings);
    findings
}

/// The enabled rules `which` selects, with severity overrides.
fn run(ctx: &Context<'_>, which: impl Fn(&dyn Rule) -> bool) -> Vec<Finding> {
    let mut findings = Vec::new();
    for rule in RULES.iter().filter(|r| which(**r) && ctx.policy.is_enabled(r.id())) {
        let replacement = ctx.policy.severity_override(rule.id());
        for mut f in rule.evaluate(ctx) {
            // Only the default severity is replaced: a finding the rule
            // lowered (trusted grantee, blocked public access) stays lowered.
            if let Some(severity) = replacement.filter(|_| f.severity == rule.severity()) {
                f.severity = severity;
            }
            findings.push(f);
        }
    }
    findings
}

/// Most severe first, then by score, scope and subject.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| b.score.cmp(&a.score))
            .then_with(|| rule_rank(&a.rule).cmp(&rule_rank(&b.rule)))
            .then_with(|| a.scope.cmp(&b.scope))
            .then_with(|| a.subject.cmp(&b.subject))
    });
}

fn rule_rank(id: &str) -> usize {
    RULES.iter().position(|r| r.id() == id).unwrap_or(usize::MAX)
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeSet;

    use super::{Context, Policy};
    use crate::model::{Baseline, Change, ChangeKind, Coverage, Fields, Grantee, Provider, Scope, Service, Snapshot};

    pub const OWN: &str = "111111111111";

    pub fn snapshot(id: &str, grantees: Vec<Grantee>) -> Snapshot {
        Snapshot {
            scope: Scope {
                provider: Provider::Aws,
                service: Service::Ebs,
                account: OWN.into(),
                region: "eu-west-1".into(),
            },
            id: id.into(),
            kind: None,
            source_id: Some("vol-1".into()),
            created_at: None,
            size_gib: Some(8),
            encrypted: false,
            kms_key_id: None,
            description: None,
            state: Some("completed".into()),
            tags: Default::default(),
            grantees,
            grantees_known: true,
            attributes: Fields::new(),
        }
    }

    /// An Azure snapshot with these API attributes, its exposure derived as
    /// the collector derives it.
    pub fn azure_snapshot(id: &str, attributes: &[(&str, &str)]) -> Snapshot {
        let mut s = snapshot(id, vec![]);
        s.scope.provider = Provider::Azure;
        s.scope.service = Service::AzureSnapshot;
        s.scope.account = "00000000-0000-0000-0000-000000000001".into();
        s.scope.region = "westus".into();
        s.encrypted = true;
        s.attributes = attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        s.state = s.attributes.get("diskState").cloned();
        s.grantees = Grantee::azure_exposure(&s.attributes);
        s
    }

    /// A CloudTrail event `name` about `id` in the fixture's account and
    /// region (`resources` and `subjects` both name it), by mallory at `at`.
    pub fn audit_event(name: &str, id: &str, at: &str) -> crate::model::AuditEvent {
        crate::model::AuditEvent {
            account: OWN.into(),
            region: "eu-west-1".into(),
            resources: vec![id.into()],
            subjects: vec![id.into()],
            added: Vec::new(),
            removed: Vec::new(),
            error_code: None,
            actor: crate::model::Actor {
                principal: Some("arn:aws:iam::111111111111:user/mallory".into()),
                identity_type: Some("IAMUser".into()),
                invoked_by: None,
                source_ip: None,
                user_agent: None,
                event_time: at.into(),
                event_id: format!("{name}-{id}-{at}"),
                event_name: name.into(),
            },
        }
    }

    /// Everything a [`Context`] borrows, owned, for unit tests.
    #[derive(Default)]
    pub struct Fixture {
        pub policy: Policy,
        pub now: jiff::Timestamp,
        pub snapshots: Vec<Snapshot>,
        pub previous: Baseline,
        pub changes: Vec<Change>,
        pub coverage: Vec<Coverage>,
        pub new_baselines: BTreeSet<Scope>,
        pub organization: BTreeSet<String>,
        pub project_numbers: std::collections::BTreeMap<String, String>,
        pub organization_id: Option<String>,
        pub events: Vec<crate::model::AuditEvent>,
    }

    impl Fixture {
        pub fn with(snapshots: Vec<Snapshot>) -> Fixture {
            Fixture { snapshots, now: "2026-11-24T12:00:00Z".parse().unwrap(), ..Fixture::default() }
        }

        /// Mark snapshots as first seen in this scan.
        pub fn added(mut self, ids: &[&str]) -> Fixture {
            for s in self.snapshots.iter().filter(|s| ids.contains(&s.id.as_str())) {
                self.changes.push(Change {
                    kind: ChangeKind::Added,
                    scope: s.scope.clone(),
                    snapshot_id: s.id.clone(),
                    grantee: None,
                    details: "first seen".into(),
                    actor: None,
                });
            }
            self
        }

        pub fn ctx(&self) -> Context<'_> {
            Context {
                policy: &self.policy,
                now: self.now,
                snapshots: &self.snapshots,
                previous: &self.previous,
                changes: &self.changes,
                coverage: &self.coverage,
                new_baselines: &self.new_baselines,
                organization: &self.organization,
                project_numbers: &self.project_numbers,
                organization_id: self.organization_id.as_deref(),
                events: &self.events,
                actors: Default::default(),
                listed: Default::default(),
                transient: Default::default(),
            }
        }
    }

    /// `count` snapshots of `source`, one every `step_minutes` from `start`.
    pub fn series(prefix: &str, source: &str, start: &str, step_minutes: i64, count: usize) -> Vec<Snapshot> {
        let start: jiff::Timestamp = start.parse().unwrap();
        (0..count)
            .map(|i| {
                let mut s = snapshot(&format!("{prefix}-{i}"), vec![]);
                s.source_id = Some(source.into());
                let at = start + jiff::SignedDuration::from_mins(step_minutes * i as i64);
                s.created_at = Some(at.to_string());
                s
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn rule_ids_are_unique_and_each_has_its_policy_key() {
        let ids: BTreeSet<&str> = RULES.iter().map(|r| r.id()).collect();
        assert_eq!(ids.len(), RULES.len());
        for id in ids {
            let text = format!("version: 1\nrules:\n  {id}:\n    enabled: false\n");
            let policy = Policy::parse(&text).unwrap_or_else(|p| panic!("{id}: {p:?}"));
            assert!(!policy.is_enabled(id), "{id}");
        }
    }

    #[test]
    fn a_disabled_rule_raises_nothing_and_overrides_replace_only_the_default() {
        use crate::model::Grantee;
        let mut fx = test_support::Fixture::with(vec![test_support::snapshot("p", vec![Grantee::Public])]);
        fx.policy = Policy::parse(
            "version: 1\nrules:\n  public-share:\n    severity: high\n  unencrypted-share:\n    enabled: false\n",
        )
        .unwrap();
        let findings = evaluate(&fx.ctx());
        let rules: Vec<(&str, Severity)> = findings.iter().map(|f| (f.rule.as_str(), f.severity)).collect();
        assert_eq!(rules, vec![("public-share", Severity::High)]);
    }
}
