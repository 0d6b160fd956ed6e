//! Azure Resource Manager over plain REST: a bearer token per request,
//! retries of 429 and 5xx honouring `Retry-After`, and `nextLink` paging.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::credential::TokenSource;
use crate::collect::ApiCalls;

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
        let mut last = ArmError::new("Unknown", "no attempt made");
        for attempt in 0..ATTEMPTS {
            let bearer = self.token.bearer().await.map_err(|e| ArmError::new("CredentialsError", e.to_string()))?;
            self.api_calls.record(action);
            let sent = self.http.get(url.clone()).header("Authorization", bearer.header_value()).send().await;
            let wait = match sent {
                Err(e) => {
                    let code = if e.is_timeout() { "Timeout" } else { "ConnectionError" };
                    last = ArmError::new(code, format!("{action}: {}", crate::collect::rest::transport_message(e)));
                    None
                }
                Ok(response) => {
                    let status = response.status();
                    let retry_after = crate::collect::rest::retry_after(&response);
                    let body = response.bytes().await;
                    match (status.as_u16(), body) {
                        (200..=299, Ok(body)) => match serde_json::from_slice(&body) {
                            Ok(parsed) => return Ok(parsed),
                            // A cut or garbled body is retried like a 5xx.
                            Err(e) => {
                                last = ArmError::new("InvalidResponse", format!("{action}: unreadable response: {e}"));
                                None
                            }
                        },
                        (_, Err(e)) => {
                            last = ArmError::new("ConnectionError", format!("{action}: reading the response: {e}"));
                            None
                        }
                        (code @ (429 | 500..=599), Ok(body)) => {
                            last = error_from_body(action, code, &body);
                            retry_after
                        }
                        (code, Ok(body)) => return Err(error_from_body(action, code, &body)),
                    }
                }
            };
            if attempt + 1 < ATTEMPTS {
                let delay = wait.unwrap_or(self.backoff * 2u32.pow(attempt)).min(LONGEST_WAIT);
                tracing::debug!(action, attempt = attempt + 1, code = %last.code, ?delay, "ARM call failed; retrying");
                tokio::time::sleep(delay).await;
            }
        }
        last.message = format!("{} (after {ATTEMPTS} attempts)", last.message);
        Err(last)
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
