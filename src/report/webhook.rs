//! `--notify URL`: new findings (status `new` only) posted as JSON to a
//! webhook, with Slack-compatible `text`. The URL is a secret (webhook URLs
//! carry their token in the path): it is never printed, logged or stored.

use std::fmt;
use std::time::Duration;

use serde_json::json;

use crate::model::{Finding, Status};

/// Attempts before giving up; waits 1, 2, 4 s between them (or what
/// `Retry-After` asks, up to 30 s).
const ATTEMPTS: u32 = 4;

#[derive(Clone)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn new(url: String) -> Self {
        WebhookUrl(url)
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

/// What was sent: nothing (no new finding), delivered, or given up.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    NothingNew,
    Delivered { attempts: u32 },
    Failed { attempts: u32, reason: String },
}

/// The message: `text` for Slack and chat tools, the findings for machines.
/// Only new findings at or above `min_severity` are sent.
pub fn payload(scan_id: i64, new: &[&Finding]) -> Option<serde_json::Value> {
    if new.is_empty() {
        return None;
    }
    let escalated = new.iter().filter(|f| f.status == Status::Open).count();
    let mut text = match escalated {
        0 => format!("snapaudit scan {scan_id}: {} new finding(s)", new.len()),
        n => format!("snapaudit scan {scan_id}: {} new and {n} escalated finding(s)", new.len() - n),
    };
    for f in new.iter().take(20) {
        text.push_str(&format!(
            "\n• {} {} {} {} {}: {}",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.scope.account,
            f.scope.region,
            f.subject,
            f.message
        ));
    }
    if new.len() > 20 {
        text.push_str(&format!("\n… and {} more", new.len() - 20));
    }
    Some(json!({
        "text": text,
        "scan_id": scan_id,
        "findings": new.iter().map(|f| super::jsonl::finding(f)).collect::<Vec<_>>(),
    }))
}

pub async fn post(url: &WebhookUrl, body: &serde_json::Value, first_wait: Duration) -> Delivery {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(15)).build() {
        Ok(c) => c,
        Err(e) => return Delivery::Failed { attempts: 0, reason: e.without_url().to_string() },
    };
    let body = body.to_string();
    let mut reason = String::new();
    for attempt in 1..=ATTEMPTS {
        let sent = client.post(&url.0).header("content-type", "application/json").body(body.clone()).send().await;
        let wait = match sent {
            Ok(r) if r.status().is_success() => return Delivery::Delivered { attempts: attempt },
            Ok(r) => {
                reason = format!("HTTP {}", r.status().as_u16());
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                // Other 4xx answers will not change on a retry.
                if r.status().is_client_error() && r.status().as_u16() != 429 {
                    return Delivery::Failed { attempts: attempt, reason };
                }
                retry_after
            }
            Err(e) => {
                reason = e.without_url().to_string();
                None
            }
        };
        if attempt < ATTEMPTS {
            let delay = wait.unwrap_or(first_wait * 2u32.pow(attempt - 1)).min(Duration::from_secs(30));
            tokio::time::sleep(delay).await;
        }
    }
    Delivery::Failed { attempts: ATTEMPTS, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_never_shows_in_debug_output() {
        let url = WebhookUrl::new("https://hooks.example.com/services/T000/B000/very-secret".into());
        assert_eq!(format!("{url:?}"), "WebhookUrl(<redacted>)");
    }
}
