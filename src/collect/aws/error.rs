//! A failure of one scope, with the AWS error code kept matchable.

use std::error::Error;
use std::fmt::Debug;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError {
    /// The AWS error code (`AccessDenied`, `UnauthorizedOperation`, ...) or a
    /// transport class (`Timeout`, `ConnectionError`, `InvalidResponse`).
    pub code: String,
    pub message: String,
}

impl ScopeError {
    pub fn from_sdk<E, R>(action: &str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + Error + Send + Sync + 'static,
        R: Debug,
    {
        let chain = display_chain(&err);
        let code = match &err {
            SdkError::ServiceError(_) => err.code().unwrap_or("ServiceError").to_owned(),
            SdkError::DispatchFailure(_) if chain.contains("credentials") => credentials_code(&chain),
            SdkError::TimeoutError(_) => "Timeout".to_owned(),
            SdkError::DispatchFailure(d) if d.is_timeout() => "Timeout".to_owned(),
            SdkError::DispatchFailure(_) => "ConnectionError".to_owned(),
            SdkError::ResponseError(_) => "InvalidResponse".to_owned(),
            SdkError::ConstructionFailure(_) => "RequestNotBuilt".to_owned(),
            _ => "Unknown".to_owned(),
        };
        let message = match err.message() {
            Some(m) => format!("{action}: {m}"),
            None => format!("{action}: {chain}"),
        };
        let hint = if code == "AuthFailure" {
            // EC2 answers AuthFailure for a region the account has not enabled
            // as well as for bad credentials: name both, blame neither.
            " (either the region is not enabled for this account (an opt-in region: enable it, or leave it out) \
             or the credentials are not valid here: renew them, e.g. `aws sso login`, and scan again)"
        } else if EXPIRED_OR_INVALID.contains(&code.as_str()) {
            " (the credentials expired or were revoked mid-scan: renew them, e.g. `aws sso login`, and scan again)"
        } else {
            ""
        };
        ScopeError { code, message: format!("{message}{hint}") }
    }
}

/// Codes meaning the credentials themselves stopped working. Not
/// `OptInRequired` nor `AuthFailure`, which a region the account has not
/// enabled also answers.
const EXPIRED_OR_INVALID: &[&str] =
    &["ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId"];

/// Credentials that failed to load (e.g. a role that cannot be assumed)
/// surface as a dispatch failure; the STS code inside is what people act on.
fn credentials_code(chain: &str) -> String {
    if chain.contains("no credentials") {
        return "NoCredentials".to_owned();
    }
    chain
        .split("code: \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .filter(|code| !code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
        .unwrap_or("CredentialsError")
        .to_owned()
}

/// The error and its sources, each by its `Display` (the SDK's own context
/// formatter appends a `Debug` dump, unreadable in a terminal).
fn display_chain(err: &dyn Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn Error> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && text != "other" && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::credentials_code;

    #[test]
    fn the_sts_code_is_found_in_a_credentials_failure() {
        let chain = "dispatch failure: an error occurred while loading credentials: service error: unhandled error (AccessDenied): Error { code: \"AccessDenied\", message: \"no\" }";
        assert_eq!(credentials_code(chain), "AccessDenied");
        assert_eq!(credentials_code("loading credentials: no credentials found in chain"), "NoCredentials");
        assert_eq!(credentials_code("loading credentials: timed out"), "CredentialsError");
    }
}
