//! Google Cloud REST (Compute Engine, Resource Manager) over plain HTTP: a
//! bearer token per request, paced per project, retries of rate limits and
//! 5xx, `pageToken` paging.
//!
//! Compute Engine meters requests per project and minute, and answers a
//! project over its quota with 403 `rateLimitExceeded` (or 429
//! `RATE_LIMIT_EXCEEDED`): "Compute Engine rate quotas" (default: 1,500 read
//! and 1,500 list requests per minute per project). Both are retried after a
//! wait, never turned into a gap; a 403 for any other reason is final.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::credential::GcpToken;
use crate::collect::ApiCalls;
use crate::collect::buckets::{Buckets, RateLimit};
use crate::collect::rest::{CallError, Retries, Verdict, Wait, json_with_retries};

/// Attempts per request before the scope is given up as failed.
const ATTEMPTS: u32 = 6;
/// Never wait longer than this for one retry: the quota refills each minute.
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// Per project: 20 a second (1,200 a minute) stays under the documented
/// 1,500 a minute of each group, with room for other clients.
pub const PROJECT_RATE: RateLimit = RateLimit { burst: 20.0, per_second: 20.0 };

/// A failed call: Google's `status` (`PERMISSION_DENIED`, ...) and the
/// first `reason` it gives (`accessNotConfigured`, `SERVICE_DISABLED`,
/// `forbidden`), or a transport class (`Timeout`, `ConnectionError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpError {
    /// The HTTP status (0 where none came).
    pub status: u16,
    pub code: String,
    pub reason: Option<String>,
    pub message: String,
    /// 401: the token itself was refused.
    pub unauthenticated: bool,
}

impl GcpError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        GcpError { status: 0, code: code.into(), reason: None, message: message.into(), unauthenticated: false }
    }

    /// The resource does not exist (deleted since it was listed).
    pub fn not_found(&self) -> bool {
        self.status == 404
    }

    /// The Compute Engine API is not enabled in the project ("Enable an
    /// API", Service Usage: 403 with reason `SERVICE_DISABLED`, or
    /// `accessNotConfigured` in the older `errors` list).
    pub fn service_disabled(&self) -> bool {
        matches!(self.reason.as_deref(), Some("SERVICE_DISABLED" | "accessNotConfigured"))
    }

    fn rate_limited(&self) -> bool {
        matches!(
            self.reason.as_deref(),
            Some("rateLimitExceeded" | "userRateLimitExceeded" | "RATE_LIMIT_EXCEEDED" | "RESOURCE_EXHAUSTED")
        ) || self.code == "RESOURCE_EXHAUSTED"
    }
}

/// Google's error body (AIP-193): `{"error": {"code", "message", "status",
/// "errors": [{"reason"}], "details": [{"@type": ...ErrorInfo, "reason"}]}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
    status: Option<String>,
    #[serde(default)]
    errors: Vec<Reason>,
    #[serde(default)]
    details: Vec<Reason>,
}

#[derive(Deserialize)]
struct Reason {
    reason: Option<String>,
}

/// One page of a list: the items under `items_key`, and `nextPageToken`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    next_page_token: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

pub struct Rest {
    http: reqwest::Client,
    token: GcpToken,
    api_calls: ApiCalls,
    pacer: Buckets<String>,
    /// First retry delay when the server names none; doubled each time.
    backoff: Duration,
}

impl Rest {
    pub fn new(token: GcpToken, api_calls: ApiCalls, backoff: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("snapaudit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Rest { http, token, api_calls, pacer: Buckets::default(), backoff })
    }

    /// A token now, so a credential problem stops the scan before it starts.
    pub async fn check_credentials(&self) -> Result<(), crate::collect::CollectError> {
        self.token.bearer().await.map(|_| ())
    }

    /// Every item under `items_key` of a list, page by page, handed to
    /// `on_page` as it arrives. `permission` names the IAM permission for
    /// counts and messages; `project` is the quota the calls draw from.
    pub async fn list<T: DeserializeOwned>(
        &self,
        permission: &'static str,
        project: &str,
        url: url::Url,
        items_key: &str,
        mut on_page: impl FnMut(Vec<T>),
    ) -> Result<(), GcpError> {
        let mut token: Option<String> = None;
        loop {
            let mut page_url = url.clone();
            if let Some(t) = &token {
                page_url.query_pairs_mut().append_pair("pageToken", t);
            }
            let page: Page = self.call(permission, project, reqwest::Method::GET, page_url).await?;
            let raw = page.rest.get(items_key).and_then(|v| v.as_array()).cloned().unwrap_or_default();
            let mut items = Vec::with_capacity(raw.len());
            for item in raw {
                items.push(T::deserialize(item).map_err(|e| {
                    GcpError::new(
                        "InvalidResponse",
                        format!("{permission}: an item of the list could not be read: {e}"),
                    )
                })?);
            }
            on_page(items);
            token = page.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                return Ok(());
            }
        }
    }

    /// One call answering JSON (`GET`, or `POST` with an empty body).
    pub async fn call<T: DeserializeOwned>(
        &self,
        permission: &str,
        project: &str,
        method: reqwest::Method,
        url: url::Url,
    ) -> Result<T, GcpError> {
        let retries = Retries { attempts: ATTEMPTS, backoff: self.backoff, longest: LONGEST_WAIT };
        let request = || async {
            let bearer = self.token.bearer().await.map_err(|e| GcpError::new("CredentialsError", e.to_string()))?;
            self.pacer.take(project.to_owned(), PROJECT_RATE).await;
            self.api_calls.record(permission);
            let mut request = self.http.request(method.clone(), url.clone()).header("Authorization", bearer);
            if method == reqwest::Method::POST {
                request = request.header("Content-Type", "application/json").body("{}");
            }
            Ok(request)
        };
        let judge = |status: u16, body: &[u8], server_wait: Option<Duration>| {
            let e = error_from_body(permission, status, body);
            if !(status == 429 || status >= 500 || e.rate_limited()) {
                return Verdict::Fail(e);
            }
            // Over the per-minute quota: wait for its refill.
            let floor = if e.rate_limited() { Duration::from_secs(1) } else { Duration::ZERO };
            Verdict::Retry(e, Wait::AtLeast(server_wait.unwrap_or(floor)))
        };
        json_with_retries(permission, retries, request, judge).await
    }
}

impl CallError for GcpError {
    fn transient(code: &'static str, message: String) -> Self {
        GcpError::new(code, message)
    }

    fn code(&self) -> &str {
        &self.code
    }

    fn after_attempts(mut self, attempts: u32) -> Self {
        self.message = format!("{} (after {attempts} attempts)", self.message);
        self
    }
}

fn error_from_body(permission: &str, status: u16, body: &[u8]) -> GcpError {
    let detail = serde_json::from_slice::<ErrorBody>(body).ok().map(|b| b.error);
    let code = detail.as_ref().and_then(|d| d.status.clone()).unwrap_or_else(|| format!("Http{status}"));
    let reason = detail.as_ref().and_then(|d| d.details.iter().chain(&d.errors).find_map(|r| r.reason.clone()));
    let message = detail.and_then(|d| d.message).unwrap_or_else(|| format!("HTTP status {status}"));
    let hint = match (status, reason.as_deref()) {
        (401, _) => " (the token was refused: run `gcloud auth application-default login`, or check the key file)",
        (403, Some("SERVICE_DISABLED" | "accessNotConfigured")) => "",
        (403, _) => " (grant the snapaudit custom role: `snapaudit permissions --provider gcp`)",
        _ => "",
    };
    GcpError { status, code, reason, message: format!("{permission}: {message}{hint}"), unauthenticated: status == 401 }
}

#[cfg(test)]
mod tests {
    use super::error_from_body;

    #[test]
    fn google_errors_give_their_status_and_reason() {
        let disabled = br#"{"error":{"code":403,"message":"Compute Engine API has not been used in project p before or it is disabled.","status":"PERMISSION_DENIED",
            "errors":[{"message":"...","domain":"usageLimits","reason":"accessNotConfigured"}],
            "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com"}]}}"#;
        let e = error_from_body("compute.snapshots.list", 403, disabled);
        assert_eq!((e.code.as_str(), e.reason.as_deref()), ("PERMISSION_DENIED", Some("SERVICE_DISABLED")));
        assert!(e.service_disabled());
        let denied = br#"{"error":{"code":403,"message":"Required 'compute.snapshots.list' permission","status":"PERMISSION_DENIED","errors":[{"reason":"forbidden"}]}}"#;
        let e = error_from_body("compute.snapshots.list", 403, denied);
        assert!(!e.service_disabled() && !e.rate_limited());
        assert!(e.message.contains("snapaudit permissions --provider gcp"), "{}", e.message);
        let quota = br#"{"error":{"code":403,"message":"Quota exceeded","errors":[{"reason":"rateLimitExceeded"}]}}"#;
        assert!(error_from_body("p", 403, quota).rate_limited());
        let garbage = error_from_body("p", 502, b"<html>");
        assert_eq!(garbage.code, "Http502");
    }
}
