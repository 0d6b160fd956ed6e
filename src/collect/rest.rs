//! What the REST clients (Azure Resource Manager, Google Cloud) share:
//! reading a server's `Retry-After`, and describing a transport failure.

use std::time::Duration;

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
