//! Outlasting faults the SDK's own retries give up on: a throttling storm
//! longer than its attempts (and its retry quota, shared by every call of a
//! client), or a response body that arrives cut off. A scan then finishes
//! late, never incomplete, and never with part of a listing missing.

use std::error::Error;
use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use super::ScopeError;

/// Rounds of waiting after the SDK's retries: 2, 4, 8, 16, then 32 s each,
/// about 2.5 minutes in all.
const ROUNDS: u32 = 8;

/// Codes AWS answers when a bucket is empty.
pub fn is_throttling(code: &str) -> bool {
    matches!(code, "RequestLimitExceeded" | "Throttling" | "ThrottlingException" | "TooManyRequestsException")
}

/// Worth another try: throttled, or a body that could not be read whole.
fn worth_retrying(code: &str) -> bool {
    is_throttling(code) || code == "InvalidResponse"
}

/// Two SDK attempts per round, for the calls an endpoint may not implement
/// (an emulator answers 5xx): each retry would cost a backoff per region
/// for nothing. The calls that use it say what they do without an answer.
pub fn few_attempts() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
}

/// Call until it succeeds, fails for a reason waiting cannot fix, or the
/// rounds run out.
pub async fn outlasting<T, F, Fut>(mut call: F) -> Result<T, ScopeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ScopeError>>,
{
    let mut round = 0;
    loop {
        match call().await {
            Err(e) if worth_retrying(&e.code) && round < ROUNDS => {
                round += 1;
                let wait = Duration::from_secs(1 << round.min(5));
                tracing::info!(code = %e.code, round, ?wait, "{}; the SDK's retries are spent, waiting", e.message);
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

/// One SDK call as every listing and lookup makes it: `pace` waits for a
/// token before each round, `send` builds the request (SDK futures start on
/// first poll), errors name `action`, and throttling is outlasted.
pub async fn paced<T, E, R, P, S>(
    pace: impl Fn() -> P,
    action: &'static str,
    send: impl Fn() -> S,
) -> Result<T, ScopeError>
where
    P: Future<Output = ()>,
    S: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
    R: Debug,
{
    outlasting(|| {
        let (wait, request) = (pace(), send());
        async move {
            wait.await;
            request.await.map_err(|e| ScopeError::from_sdk(action, e))
        }
    })
    .await
}
