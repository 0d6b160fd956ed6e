//! The paged listing loop every AWS collector shares: each page is paced as
//! its action, retried past the SDK's own attempts ([`outlasting`](super::retry::outlasting)), counted
//! for progress and mapped by the collector's typed mapper, until the
//! service returns no next token (an empty token also ends the listing).

use std::error::Error;
use std::fmt::Debug;
use std::future::Future;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use super::retry::paced;
use super::{Meter, RegionContext, ScopeError};
use crate::model::Snapshot;

/// One page as a collector maps it.
pub struct Page {
    pub snapshots: Vec<Snapshot>,
    /// Records the page held, mapped or not (for progress).
    pub listed: usize,
    /// `NextToken` / `Marker`.
    pub next: Option<String>,
}

/// Every page of a listing. `send` sends the request for one page (`None`
/// for the first); `map` turns its answer into a [`Page`]. Each page takes a
/// token from `meter`; `action` names the call in errors.
pub async fn list_all<O, E, R, Fut>(
    ctx: &RegionContext,
    meter: Meter,
    action: &'static str,
    send: impl Fn(Option<String>) -> Fut,
    map: impl Fn(&O) -> Page,
) -> Result<Vec<Snapshot>, ScopeError>
where
    Fut: Future<Output = Result<O, SdkError<E, R>>>,
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
    R: Debug,
{
    let mut snapshots = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let answer = paced(|| ctx.pace(meter), action, || send(token.clone())).await?;
        let page = map(&answer);
        ctx.progress.listed(page.listed);
        snapshots.extend(page.snapshots);
        token = page.next.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(snapshots);
        }
    }
}
