//! Azure Resource Manager over plain REST: a bearer token per request,
//! retries of 429 and 5xx honouring `Retry-After`, and `nextLink` paging.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::credential::TokenSource;
use crate::collect::ApiCalls;
use crate::collect::rest::{CallError, Retries, Verdict, Wait, json_with_retries};

/// Attempts per request before the scope is given up as failed.
const ATTEMPTS: u32 = 6;
/// Never wait longer than this for one retry, whatever `Retry-After` says.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// A failed ARM call: the ARM error code (`AuthorizationFailed`, ...) or a
/// transport class (`Timeout`, `ConnectionError`, `InvalidResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmError {
    pub code: String,
    pub message: String,
    /// 401: the token itself was refused (not one subscription's rights).
    pub unauthenticated: bool,
}

impl ArmError {
    fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ArmError { code: code.into(), message: message.into(), unauthenticated: false }
    }
}

/// ARM's error body: `{"error": {"code": ..., "message": ...}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: Option<String>,
    message: Option<String>,
}

/// One page of a list operation.
#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    value: Vec<serde_json::Value>,
    #[serde(rename = "nextLink")]
    next_link: Option<String>,
}

pub struct Arm {
    http: reqwest::Client,
    /// `https://management.azure.com` or `--azure-endpoint`, without a
    /// trailing slash.
    base: url::Url,
    token: TokenSource,
    api_calls: ApiCalls,
    /// First retry delay when the server names none; doubled each time.
    backoff: Duration,
}

impl Arm {
    pub fn new(base: url::Url, token: TokenSource, api_calls: ApiCalls, backoff: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("snapaudit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Arm { http, base, token, api_calls, backoff })
    }

    /// A token now, so a credential problem stops the scan before it starts.
    pub async fn check_credentials(&self) -> Result<(), crate::collect::CollectError> {
        self.token.bearer().await.map(|_| ())
    }

    /// Every item of a list operation, page by page, handed to `on_page` as
    /// it arrives (raw pages are not kept). `action` names the RBAC action
    /// for counts and messages.
    pub async fn list<T: DeserializeOwned>(
        &self,
        action: &'static str,
        path_and_query: &str,
        mut on_page: impl FnMut(Vec<T>),
    ) -> Result<(), ArmError> {
        let mut url = self.base.join(path_and_query).map_err(|e| ArmError::new("InvalidRequest", e.to_string()))?;
        loop {
            let page: Page = self.get(action, &url).await?;
            let mut items = Vec::with_capacity(page.value.len());
            for raw in page.value {
                let item = T::deserialize(raw).map_err(|e| {
                    ArmError::new("InvalidResponse", format!("{action}: an item of the list could not be read: {e}"))
                })?;
                items.push(item);
            }
            on_page(items);
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(link) => url = self.next_url(action, &link)?,
                None => return Ok(()),
            }
        }
    }

    /// `nextLink` is followed as given, but only to the server we started
    /// with: the bearer token must not travel to another host.
    fn next_url(&self, action: &str, link: &str) -> Result<url::Url, ArmError> {
        let next =
            self.base.join(link).map_err(|e| ArmError::new("InvalidResponse", format!("{action}: nextLink: {e}")))?;
        if next.origin() != self.base.origin() {
            return Err(ArmError::new(
                "InvalidResponse",
                format!(
                    "{action}: nextLink points to another server ({}); not followed",
                    next.origin().ascii_serialization()
                ),
            ));
        }
        Ok(next)
    }

    async fn get<T: DeserializeOwned>(&self, action: &str, url: &url::Url) -> Result<T, ArmError> {
        let retries = Retries { attempts: ATTEMPTS, backoff: self.backoff, longest: LONGEST_WAIT };
        let request = || async {
            let bearer = self.token.bearer().await.map_err(|e| ArmError::new("CredentialsError", e.to_string()))?;
            self.api_calls.record(action);
            Ok(self.http.get(url.clone()).header("Authorization", bearer.header_value()))
        };
        // ARM's 429 and 5xx are retried after its `Retry-After`; any other
        // status is final.
        let judge = |status: u16, body: &[u8], server_wait: Option<Duration>| {
            let e = error_from_body(action, status, body);
            match status {
                429 | 500..=599 => Verdict::Retry(e, server_wait.map_or(Wait::Backoff, Wait::Exactly)),
                _ => Verdict::Fail(e),
            }
        };
        json_with_retries(action, retries, request, judge).await
    }
}

impl CallError for ArmError {
    fn transient(code: &'static str, message: String) -> Self {
        ArmError::new(code, message)
    }

    fn code(&self) -> &str {
        &self.code
    }

    fn after_attempts(mut self, attempts: u32) -> Self {
        self.message = format!("{} (after {attempts} attempts)", self.message);
        self
    }
}

fn error_from_body(action: &str, status: u16, body: &[u8]) -> ArmError {
    let detail = serde_json::from_slice::<ErrorBody>(body).ok().map(|b| b.error);
    let code = detail.as_ref().and_then(|d| d.code.clone()).unwrap_or_else(|| format!("Http{status}"));
    let message = detail.and_then(|d| d.message).unwrap_or_else(|| format!("HTTP status {status}"));
    let hint = match status {
        401 => " (the token was refused: sign in again, or check the tenant)",
        403 => " (grant the Reader role, or Microsoft.Compute/snapshots/read, on this subscription)",
        _ => "",
    };
    let mut e = ArmError::new(code, format!("{action}: {message}{hint}"));
    e.unauthenticated = status == 401;
    e
}
