//! What a rule may look at: one scan's state, changes, coverage and audit
//! events, with the indexes and judgements several rules share (who is
//! trusted, what was listed, which events a scan judges).

use std::collections::{BTreeSet, HashMap, HashSet};

use jiff::Timestamp;

use super::Policy;
use crate::model::{AuditEvent, Baseline, Change, ChangeKind, Coverage, Grantee, Scope, Snapshot, Verification};

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
    /// Google Cloud project numbers by project id: a service agent names
    /// its project by number.
    pub project_numbers: &'a std::collections::BTreeMap<String, String>,
    /// The scanned organization's id (`o-...`, with `--org`).
    pub organization_id: Option<&'a str>,
    /// Audit-log events since the previous scan (AWS CloudTrail).
    pub events: &'a [AuditEvent],
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
            project_numbers: self.project_numbers,
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
                let number = self.project_numbers.get(owner).map(String::as_str);
                self.policy.trusts_gcp_member(member, owner, number, &organization)
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

    /// A share-granting event (`ModifySnapshotAttribute` and its RDS and AMI
    /// equivalents): the scope it grants in, and the grantees it added that
    /// are neither the owner nor trusted, each with the event's spelling.
    /// `None` for any other event.
    pub fn untrusted_grants<'e>(&self, event: &'e AuditEvent) -> Option<(Scope, Vec<(&'e str, Grantee)>)> {
        let service = crate::model::granted_service(&event.actor.event_name)?;
        let scope = Scope {
            provider: crate::model::Provider::Aws,
            service,
            account: event.account.clone(),
            region: event.region.clone(),
        };
        let grants = event
            .added
            .iter()
            .map(|label| (label.as_str(), Grantee::decode(label)))
            .filter(|(_, g)| !g.is_account(&scope.account) && !self.trusts(&scope.account, g))
            .collect();
        Some((scope, grants))
    }

    /// Whether this scan judges `event` in `scope`: the call took effect (a
    /// refused one, with CloudTrail's `errorCode`, changed nothing), and it
    /// falls in the scope's window: from its previous complete listing less
    /// the policy's `cloudtrail_overlap` (what came before was the earlier
    /// scans' to judge) to this scan's start (what came after is the next
    /// scan's: this scan may have read the lists before it).
    pub fn judges(&self, scope: &Scope, event: &AuditEvent) -> bool {
        event.succeeded() && self.in_window(scope, event)
    }

    /// The window part of [`Context::judges`], refused calls included.
    pub fn in_window(&self, scope: &Scope, event: &AuditEvent) -> bool {
        let Some(at) = event.time() else { return false };
        let listed_at = self.previous.shares_read.get(scope).and_then(|r| r.listed_at);
        let from = listed_at.map(|t| t.checked_sub(self.policy.cloudtrail_overlap).unwrap_or(t));
        at < self.now && from.is_none_or(|from| at >= from)
    }

    /// When the share list this scan holds for `snapshot` was read: during
    /// this scan (so after its start), or, carried by an incremental scan,
    /// when an earlier scan read it. `None` when it could not be read.
    pub fn list_read_at(&self, snapshot: &Snapshot) -> Option<Timestamp> {
        if !snapshot.grantees_known {
            return None;
        }
        let carried = self.coverage_of(&snapshot.scope).is_some_and(|c| {
            c.verification == Some(Verification::Incremental) && !c.shares_read.contains(&snapshot.id)
        });
        if !carried {
            return Some(self.now);
        }
        self.previous.shares_read.get(&snapshot.scope)?.of(&snapshot.id)
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
                let judged = |service| self.judges(&scope_for(service), e);
                if let Some(service) = service_changed_by(name, ChangeKind::Added).filter(|s| judged(*s)) {
                    for id in &e.subjects {
                        created.entry((scope_for(service), id.as_str())).or_insert(&e.actor);
                    }
                } else if let Some(service) = service_changed_by(name, ChangeKind::Deleted).filter(|s| judged(*s)) {
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
        if self.policy.quiet_backup_tooling && super::rule(rule).is_some_and(|r| r.quiet_for_backup_tooling()) {
            // By its markers, or by the caller the audit log names.
            let by_caller = || {
                let actor = snapshot.and_then(|s| self.actor_of(scope, &s.id))?;
                super::backup_tooling::recognise_caller(actor)
            };
            if let Some(tool) = snapshot.and_then(super::backup_tooling::recognise).or_else(by_caller) {
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
