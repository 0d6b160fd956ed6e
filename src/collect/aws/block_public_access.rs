//! A region's block public access setting (EBS snapshots, AMIs), read like
//! the listings: paced, and throttling outlasted past the SDK's attempts
//! ([`outlasting`](super::retry::outlasting)), so a storm does not turn a state into `unknown`.
//! `unknown` is left for endpoints that cannot say (older partitions,
//! emulators: a server error or a denial): the setting only qualifies
//! findings, so it never fails the scan, and the diff carries the last known
//! state over it.

use std::error::Error;
use std::fmt::Debug;
use std::future::Future;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use super::retry::paced;
use super::{Meter, RegionContext};
use crate::model::Coverage;

/// The state `call` answers; `call` gets a config override with few SDK
/// attempts per round (an endpoint without the action answers 5xx, and each
/// retry would cost a backoff per region for nothing).
pub async fn read<F, Fut, E, R>(ctx: &RegionContext, action: &'static str, call: F) -> String
where
    F: Fn(aws_sdk_ec2::config::Builder) -> Fut,
    Fut: Future<Output = Result<Option<String>, SdkError<E, R>>>,
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
    R: Debug,
{
    let answer = paced(|| ctx.pace(Meter::Ec2(action)), action, || call(super::retry::few_attempts())).await;
    match answer {
        Ok(state) => state.unwrap_or_else(|| Coverage::UNKNOWN_STATE.to_owned()),
        Err(e) => {
            tracing::info!(code = %e.code, region = %ctx.region, "{action} unread: {}", e.message);
            Coverage::UNKNOWN_STATE.to_owned()
        }
    }
}
