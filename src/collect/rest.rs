//! What the REST clients (Azure Resource Manager, Google Cloud) share: one
//! JSON call with retries. A transport failure or an unreadable body is
//! retried; an error status is judged by the provider ([`Verdict`]); the
//! waits double from a backoff, capped.

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;

/// A provider's error type, as the retry loop needs it.
pub trait CallError: Sized {
    /// A failure with no answer to judge (`Timeout`, `ConnectionError`,
    /// `InvalidResponse`), retried.
    fn transient(code: &'static str, message: String) -> Self;
    fn code(&self) -> &str;
    /// The last failure, after every attempt was spent.
    fn after_attempts(self, attempts: u32) -> Self;
}

/// How long to wait before the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The doubling backoff.
    Backoff,
    /// What the server said (`Retry-After`), whatever the backoff.
    Exactly(Duration),
    /// The backoff, but no less than this.
    AtLeast(Duration),
}

/// A provider's judgement of an error status.
pub enum Verdict<E> {
    Retry(E, Wait),
    Fail(E),
}

/// The attempts and waits of one client.
#[derive(Debug, Clone, Copy)]
pub struct Retries {
    pub attempts: u32,
    /// First wait; doubled each attempt.
    pub backoff: Duration,
    /// Never wait longer than this for one retry.
    pub longest: Duration,
}

/// One JSON call: `request` builds each attempt (a fresh token, pacing);
/// `judge` decides on an error status from the status, body and
/// `Retry-After`. `what` names the call in messages and logs.
pub async fn json_with_retries<T, E, Fut>(
    what: &str,
    retries: Retries,
    request: impl Fn() -> Fut,
    judge: impl Fn(u16, &[u8], Option<Duration>) -> Verdict<E>,
) -> Result<T, E>
where
    T: DeserializeOwned,
    E: CallError,
    Fut: Future<Output = Result<reqwest::RequestBuilder, E>>,
{
    let mut attempt = 0;
    loop {
        let (last, wait) = match request().await?.send().await {
            Err(e) => {
                let code = if e.is_timeout() { "Timeout" } else { "ConnectionError" };
                (E::transient(code, format!("{what}: {}", transport_message(e))), Wait::Backoff)
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let server_wait = retry_after(&response);
                match (status, response.bytes().await) {
                    (200..=299, Ok(body)) => match serde_json::from_slice(&body) {
                        Ok(parsed) => return Ok(parsed),
                        // A cut or garbled body is retried like a 5xx.
                        Err(e) => (
                            E::transient("InvalidResponse", format!("{what}: unreadable response: {e}")),
                            Wait::Backoff,
                        ),
                    },
                    (_, Err(e)) => {
                        (E::transient("ConnectionError", format!("{what}: reading the response: {e}")), Wait::Backoff)
                    }
                    (status, Ok(body)) => match judge(status, &body, server_wait) {
                        Verdict::Retry(e, wait) => (e, wait),
                        Verdict::Fail(e) => return Err(e),
                    },
                }
            }
        };
        attempt += 1;
        if attempt >= retries.attempts {
            return Err(last.after_attempts(retries.attempts));
        }
        let backoff = retries.backoff * 2u32.pow(attempt - 1);
        let delay = match wait {
            Wait::Backoff => backoff,
            Wait::Exactly(d) => d,
            Wait::AtLeast(d) => backoff.max(d),
        }
        .min(retries.longest);
        tracing::debug!(what, attempt, code = %last.code(), ?delay, "REST call failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

/// `Retry-After` in seconds, where the server gives one.
pub fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The error and its sources, without the URL (which may carry tokens from
/// a `nextLink`).
pub fn transport_message(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
