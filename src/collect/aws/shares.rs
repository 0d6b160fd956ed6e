//! Reading each snapshot's share list with bounded concurrency: the one loop
//! the EBS and RDS collectors share.

use futures_util::StreamExt;

use super::retry::{is_throttling, outlasting};
use super::{BoxFuture, RegionContext, ScopeError};
use crate::model::{Grantee, Snapshot};

/// How a collector reads one snapshot's grantees.
pub trait ReadShares: Sync {
    /// The error code meaning "deleted since it was listed".
    fn gone_code(&self) -> &'static str;
    /// The IAM action of the read, e.g. `ec2:DescribeSnapshotAttribute`.
    fn permission(&self) -> &'static str;
    fn read<'a>(
        &'a self,
        ctx: &'a RegionContext,
        snapshot_id: String,
    ) -> BoxFuture<'a, Result<Vec<Grantee>, ScopeError>>;
}

/// Snapshots whose share list could not be read, and why.
#[derive(Debug, Default)]
pub struct Unread {
    pub ids: Vec<String>,
    /// What people can act on: see [`why_unread`].
    pub reason: Option<String>,
}

/// Fill in `grantees` for every snapshot `needs_call` selects. Snapshots
/// deleted meanwhile are dropped (they are gone); any other failure marks the
/// snapshot's exposure unknown and returns its id, never drops it.
pub async fn fill_grantees(
    ctx: &RegionContext,
    snapshots: &mut Vec<Snapshot>,
    needs_call: impl Fn(&Snapshot) -> bool,
    reader: &dyn ReadShares,
) -> Unread {
    // Owned ids: a closure borrowing the snapshots trips the compiler's Send check.
    let ids: Vec<(usize, String)> =
        snapshots.iter().enumerate().filter(|(_, s)| needs_call(s)).map(|(i, s)| (i, s.id.clone())).collect();
    let results: Vec<(usize, Result<Vec<Grantee>, ScopeError>)> = futures_util::stream::iter(ids)
        .map(|(i, id)| async move { (i, read_outlasting_throttling(ctx, reader, id).await) })
        .buffer_unordered(ctx.max_concurrency.max(1))
        .collect()
        .await;

    let mut gone = Vec::new();
    let mut unknown = Vec::new();
    let mut first_error: Option<ScopeError> = None;
    for (i, result) in results {
        ctx.progress.share_checked();
        match result {
            Ok(mut list) => {
                list.sort();
                list.dedup();
                snapshots[i].grantees = list;
            }
            Err(e) if e.code == reader.gone_code() => gone.push(i),
            Err(e) => {
                snapshots[i].grantees_known = false;
                unknown.push(snapshots[i].id.clone());
                first_error.get_or_insert(e);
            }
        }
    }
    gone.sort_unstable();
    for i in gone.into_iter().rev() {
        snapshots.remove(i);
    }
    unknown.sort();
    Unread { ids: unknown, reason: first_error.map(|e| why_unread(&e, reader.permission())) }
}

/// Codes AWS answers when a policy (IAM, SCP, permission boundary) denies.
const DENIED: &[&str] = &["UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "AuthorizationError"];

/// Why a share list could not be read, in words people can act on: a denial
/// names the permission to grant, throttling past the retries names the
/// rate settings; anything else gives the code and message.
pub fn why_unread(e: &ScopeError, permission: &str) -> String {
    if DENIED.contains(&e.code.as_str()) {
        format!(
            "{permission} is denied ({}): grant it to the scanning identity (check SCPs and permission boundaries too)",
            e.code
        )
    } else if is_throttling(&e.code) {
        format!(
            "{permission} stayed throttled past every retry ({}): lower --max-rps-per-action or --burst, or scan when other clients are quiet",
            e.code
        )
    } else {
        format!("{permission} failed: {} ({})", e.message, e.code)
    }
}

/// A throttled read waits and tries again, so a throttling storm makes the
/// scan late, never incomplete.
async fn read_outlasting_throttling(
    ctx: &RegionContext,
    reader: &dyn ReadShares,
    id: String,
) -> Result<Vec<Grantee>, ScopeError> {
    outlasting(|| reader.read(ctx, id.clone())).await
}

/// RDS `restore` attribute values: `all` or account ids.
pub fn restore_grantees(values: &[String]) -> Vec<Grantee> {
    values.iter().map(|v| if v == "all" { Grantee::Public } else { Grantee::Account(v.clone()) }).collect()
}
