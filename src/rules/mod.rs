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
mod suppress;
mod transient_export;
mod transient_share;
mod transient_snapshot;
mod unencrypted_share;
mod unknown_exposure;

use std::collections::{BTreeSet, HashMap, HashSet};

use jiff::Timestamp;

use crate::model::{
    Baseline, Change, ChangeKind, Coverage, Finding, Grantee, Scope, Service, Severity, Snapshot, Status,
};

pub use policy::{Policy, PolicyError};
pub use settings::{Block, RuleSettings};

/// What a rule may look at.
pub struct Context<'a> {
    pub policy: &'a Policy,
    /// When the scan started: the reference for allowlist expiry and event ids.
    pub now: Timestamp,
    /// Every snapshot listed in this scan.
    pub snapshots: &'a [Snapshot],
    /// The last known state before this scan (deleted snapshots are here).
    pub previous: &'a Baseline,
    pub changes: &'a [Change],
    pub coverage: &'a [Coverage],
    /// Scopes whose first complete listing this scan is.
    pub new_baselines: &'a BTreeSet<Scope>,
    /// Accounts of the scanned organization (empty without `--org`).
    pub organization: &'a BTreeSet<String>,
    /// The scanned organization's id (`o-...`, with `--org`).
    pub organization_id: Option<&'a str>,
    /// Audit-log events since the previous scan (AWS CloudTrail).
    pub events: &'a [crate::model::AuditEvent],
    /// Who made each change, by scope and snapshot, built on first use.
    pub actors: std::sync::OnceLock<HashMap<(&'a Scope, &'a str), &'a crate::model::Actor>>,
    /// The listed snapshots by scope and id, built on first use.
    pub listed: std::sync::OnceLock<HashMap<(&'a Scope, &'a str), &'a Snapshot>>,
    /// Snapshots created and deleted between two scans, built on first use.
    pub transient: std::sync::OnceLock<Vec<Transient>>,
}

/// A snapshot (or image) the audit log shows created and deleted since the
/// previous scan, never listed: no scan could see it.
#[derive(Debug, Clone)]
pub struct Transient {
    /// As far as the log tells: scope, id, and the creation time as its
    /// `created_at`.
    pub snapshot: Snapshot,
    pub created: crate::model::Actor,
    pub deleted: crate::model::Actor,
}

impl<'a> Context<'a> {
    /// This context over other listed snapshots: one page of the listing.
    pub fn with_snapshots<'b>(&'b self, snapshots: &'b [Snapshot]) -> Context<'b>
    where
        'a: 'b,
    {
        Context {
            policy: self.policy,
            now: self.now,
            snapshots,
            previous: self.previous,
            changes: self.changes,
            coverage: self.coverage,
            new_baselines: self.new_baselines,
            organization: self.organization,
            organization_id: self.organization_id,
            events: self.events,
            actors: Default::default(),
            listed: Default::default(),
            transient: Default::default(),
        }
    }

    pub fn coverage_of(&self, scope: &Scope) -> Option<&Coverage> {
        self.coverage.iter().find(|c| &c.scope == scope)
    }

    /// Whether a share to `account` from a snapshot of `owner` is expected:
    /// the owner itself, a trusted account, or (by default) the organization.
    pub fn is_trusted(&self, owner: &str, account: &str) -> bool {
        account == owner
            || self.policy.trusted_accounts.contains(account)
            || (self.policy.trust_organization && self.organization.contains(account))
    }

    /// Whether `grantee` is trusted for snapshots of `owner`: a trusted
    /// account, a trusted organization or OU, or a trusted Google Cloud
    /// member (public and group grantees never are).
    pub fn trusts(&self, owner: &str, grantee: &Grantee) -> bool {
        match grantee {
            Grantee::Account(id) => self.is_trusted(owner, id),
            Grantee::Organization(_) | Grantee::OrganizationalUnit(_) => {
                self.policy.trusts_organization_grant(grantee, self.organization_id)
            }
            Grantee::Member(member) => {
                let organization: Vec<&str> = self.organization.iter().map(String::as_str).collect();
                self.policy.trusts_gcp_member(member, owner, &organization)
            }
            _ => false,
        }
    }

    /// The region's EBS block public access is `block-all-sharing`: public
    /// shares of the scope are ineffective.
    pub fn blocks_all_sharing(&self, scope: &Scope) -> bool {
        self.coverage_of(scope).and_then(|c| c.block_public_access.as_deref()) == Some("block-all-sharing")
    }

    /// Snapshots first seen in this scan (scopes with a baseline only).
    pub fn added(&self) -> Vec<&Snapshot> {
        let added: HashSet<(&Scope, &str)> = self
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Added)
            .map(|c| (&c.scope, c.snapshot_id.as_str()))
            .collect();
        self.snapshots.iter().filter(|s| added.contains(&(&s.scope, s.id.as_str()))).collect()
    }

    /// The snapshot `snapshot_id` as listed in `scope` this scan.
    pub fn listed(&self, scope: &Scope, snapshot_id: &str) -> Option<&Snapshot> {
        let index = self.listed.get_or_init(|| self.snapshots.iter().map(|s| ((&s.scope, s.id.as_str()), s)).collect());
        index.get(&(scope, snapshot_id)).copied()
    }

    /// The snapshot as listed now or, deleted since, as last known.
    pub fn listed_or_known(&self, scope: &Scope, snapshot_id: &str) -> Option<&Snapshot> {
        self.listed(scope, snapshot_id).or_else(|| self.previous.previous(scope, snapshot_id))
    }

    /// This scan reports `grantee` removed from the snapshot: the previous
    /// scan saw the grant, so it did not come and go unseen.
    pub fn removal_seen(&self, scope: &Scope, snapshot_id: &str, grantee: &Grantee) -> bool {
        self.changes.iter().any(|c| {
            c.kind == ChangeKind::ShareRemoved
                && &c.scope == scope
                && c.snapshot_id == snapshot_id
                && c.grantee.as_ref() == Some(grantee)
        })
    }

    /// Snapshots the audit log shows created and deleted since the previous
    /// scan in a scope listed completely now, neither listed nor known
    /// before (AWS CloudTrail: `CreateSnapshot` / `DeleteSnapshot` and the
    /// RDS and AMI equivalents).
    pub fn transient(&self) -> &[Transient] {
        self.transient.get_or_init(|| {
            use crate::model::service_changed_by;
            let mut created: HashMap<(Scope, &str), &crate::model::Actor> = HashMap::new();
            let mut deleted: Vec<((Scope, &str), &crate::model::Actor)> = Vec::new();
            for e in self.events {
                let scope_for = |service| Scope {
                    provider: crate::model::Provider::Aws,
                    service,
                    account: e.account.clone(),
                    region: e.region.clone(),
                };
                let name = e.actor.event_name.as_str();
                if let Some(service) = service_changed_by(name, ChangeKind::Added) {
                    for id in &e.subjects {
                        created.entry((scope_for(service), id.as_str())).or_insert(&e.actor);
                    }
                } else if let Some(service) = service_changed_by(name, ChangeKind::Deleted) {
                    deleted.extend(e.subjects.iter().map(|id| ((scope_for(service), id.as_str()), &e.actor)));
                }
            }
            let mut out: Vec<Transient> = Vec::new();
            // A snapshot deleted twice in the log is one transient snapshot.
            let mut seen: HashSet<(Scope, &str)> = HashSet::new();
            for (key, deleter) in deleted {
                let Some(creator) = created.get(&key) else { continue };
                let unseen = self.coverage_of(&key.0).is_some_and(Coverage::is_complete)
                    && self.previous.established.contains(&key.0)
                    && self.listed_or_known(&key.0, key.1).is_none();
                if !unseen || !seen.insert(key.clone()) {
                    continue;
                }
                let (scope, id) = key;
                out.push(Transient {
                    snapshot: Snapshot {
                        scope,
                        id: id.to_owned(),
                        kind: None,
                        source_id: None,
                        created_at: Some(creator.event_time.clone()),
                        size_gib: None,
                        encrypted: false,
                        kms_key_id: None,
                        description: None,
                        state: Some("deleted".to_owned()),
                        tags: Default::default(),
                        grantees: Vec::new(),
                        grantees_known: false,
                        attributes: Default::default(),
                    },
                    created: (*creator).clone(),
                    deleted: deleter.clone(),
                });
            }
            out.sort_by(|a, b| (&a.snapshot.scope, &a.snapshot.id).cmp(&(&b.snapshot.scope, &b.snapshot.id)));
            out
        })
    }

    /// Who made this scan's change to a snapshot, where the audit log says.
    pub fn actor_of(&self, scope: &Scope, snapshot_id: &str) -> Option<&crate::model::Actor> {
        let index = self.actors.get_or_init(|| {
            let mut index = HashMap::new();
            for c in self.changes {
                if let Some(actor) = &c.actor {
                    index.entry((&c.scope, c.snapshot_id.as_str())).or_insert(actor);
                }
            }
            index
        });
        index.get(&(scope, snapshot_id)).copied()
    }

    /// Why activity on `snapshot` is expected for `rule`, if it is: known
    /// backup tooling (for the rules it quiets) or a live allowlist entry.
    pub fn expected(&self, rule: &str, scope: &Scope, snapshot: Option<&Snapshot>) -> Option<String> {
        if self.policy.quiet_backup_tooling && self::rule(rule).is_some_and(|r| r.quiet_for_backup_tooling()) {
            // By its markers, or by the caller the audit log names.
            let by_caller = || {
                let actor = snapshot.and_then(|s| self.actor_of(scope, &s.id))?;
                backup_tooling::recognise_caller(actor)
            };
            if let Some(tool) = snapshot.and_then(backup_tooling::recognise).or_else(by_caller) {
                return Some(format!("{tool} (known backup tooling)"));
            }
        }
        let today = self.now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        self.policy
            .allow
            .iter()
            .find(|e| e.matches(rule, scope, snapshot, snapshot.and_then(|s| self.actor_of(scope, &s.id)), today))
            .map(|e| format!("{} [{}]", e.reason, e.origin))
    }
}

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
    &transient_export::TransientExport,
    &transient_snapshot::TransientSnapshot,
    &unencrypted_share::UnencryptedShare,
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
