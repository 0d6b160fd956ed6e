//! `transient-export`: an Azure snapshot export (SAS) URL granted and ended
//! between two scans. The live state shows a live export only while it
//! lasts; the Activity Log keeps the `beginGetAccess` that granted it. Whoever
//! held the URL meanwhile could download the disk (T1537).

use super::{Context, Kind, Meta, Rule, raise};
use crate::model::{Finding, Grantee, Provider, Severity};

pub struct TransientExport;

const GRANT: &str = "Microsoft.Compute/snapshots/beginGetAccess/action";

impl Rule for TransientExport {
    fn meta(&self) -> Meta {
        Meta { id: "transient-export", kind: Kind::Event, severity: Severity::High, mitre: &["T1537"] }
    }

    fn evaluate(&self, ctx: &Context<'_>) -> Vec<Finding> {
        let mut findings = Vec::new();
        for e in ctx.events.iter().filter(|e| e.actor.event_name.eq_ignore_ascii_case(GRANT)) {
            let Some(id) = e.resources.first() else { continue };
            // The event names no location: the snapshot's own scope, one of
            // its subscription's listed locations, now or in the baseline.
            let locations = || {
                ctx.coverage
                    .iter()
                    .map(|c| &c.scope)
                    .filter(|s| s.provider == Provider::Azure && s.account == e.account)
            };
            let now = locations().find_map(|scope| ctx.listed(scope, id));
            let Some(snapshot) = now.or_else(|| locations().find_map(|scope| ctx.previous.previous(scope, id))) else {
                continue;
            };
            let scope = &snapshot.scope;
            if !ctx.coverage_of(scope).is_some_and(|c| c.is_complete()) {
                continue;
            }
            let live = now.is_some_and(|s| s.grantees.contains(&Grantee::SasExport));
            if live || ctx.removal_seen(scope, id, &Grantee::SasExport) {
                continue;
            }
            let who = e.actor.principal.as_deref().unwrap_or("an unknown caller");
            let mut f = raise(
                self,
                scope,
                format!("{id} export at {}", e.actor.event_time),
                format!(
                    "an export (SAS) URL was granted at {} by {who} and no longer exists at this scan: the disk may have been downloaded in between",
                    e.actor.event_time
                ),
            );
            f.snapshot_id = Some(id.clone());
            f.grantees = vec![Grantee::SasExport.label().to_owned()];
            f.score = 3;
            f.actor = Some(e.actor.clone());
            findings.push(f);
        }
        findings
    }
}
