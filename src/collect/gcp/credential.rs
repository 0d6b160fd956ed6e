//! Where the Google Cloud bearer token comes from: Application Default
//! Credentials (`GOOGLE_APPLICATION_CREDENTIALS` key file or workload
//! identity federation config, `gcloud auth application-default login`, the
//! metadata server) through `google-cloud-auth`, or, against a test server
//! only, a static token.

use std::fmt;

use crate::collect::CollectError;

/// The environment variable holding a static token for `--gcp-endpoint`.
pub const STATIC_TOKEN_VAR: &str = "SNAPAUDIT_GCP_TOKEN";

/// Read-only access is all a scan needs: Compute Engine and Resource
/// Manager reads ("OAuth 2.0 Scopes for Google APIs").
const SCOPES: &[&str] = &["https://www.googleapis.com/auth/cloud-platform.read-only"];

pub const WHAT_TO_DO: &str = "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS \
     to a service-account key or workload identity federation file, or run on Google Cloud with a service account";

/// The token source of a scan.
#[derive(Clone)]
pub enum GcpToken {
    /// `SNAPAUDIT_GCP_TOKEN`, for a test server.
    Static(String),
    /// Application Default Credentials; tokens are cached and refreshed by
    /// the library.
    Adc(google_cloud_auth::credentials::AccessTokenCredentials),
}

impl fmt::Debug for GcpToken {
    // Never the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GcpToken::Static(_) => "GcpToken::Static(<redacted>)",
            GcpToken::Adc(_) => "GcpToken::Adc",
        })
    }
}

impl GcpToken {
    /// The static token with a test endpoint; Application Default
    /// Credentials otherwise. The static token is refused against Google.
    pub fn select(test_endpoint: bool, env: impl Fn(&str) -> Option<String>) -> Result<GcpToken, CollectError> {
        match env(STATIC_TOKEN_VAR).filter(|t| !t.is_empty()) {
            Some(_) if !test_endpoint => Err(credential_error(format!(
                "{STATIC_TOKEN_VAR} is set but is only accepted with --gcp-endpoint (a test server); \
                 unset it to use Application Default Credentials"
            ))),
            Some(token) => Ok(GcpToken::Static(token)),
            None => google_cloud_auth::credentials::Builder::default()
                .with_scopes(SCOPES.iter().copied())
                .build_access_token_credentials()
                .map(GcpToken::Adc)
                .map_err(|e| credential_error(format!("Application Default Credentials: {e}"))),
        }
    }

    /// `Bearer <token>`, for the Authorization header.
    pub async fn bearer(&self) -> Result<String, CollectError> {
        match self {
            GcpToken::Static(token) => Ok(format!("Bearer {token}")),
            GcpToken::Adc(credentials) => credentials
                .access_token()
                .await
                .map(|t| format!("Bearer {}", t.token))
                .map_err(|e| credential_error(format!("no access token: {e}"))),
        }
    }
}

fn credential_error(message: String) -> CollectError {
    CollectError::GcpCredentials { message, hint: WHAT_TO_DO }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_static_token_is_only_for_a_test_server_and_never_printed() {
        let env = |name: &str| (name == STATIC_TOKEN_VAR).then(|| "very-secret".to_owned());
        let refused = GcpToken::select(false, env).unwrap_err().to_string();
        assert!(refused.contains("--gcp-endpoint") && !refused.contains("very-secret"), "{refused}");
        let token = GcpToken::select(true, env).unwrap();
        assert!(!format!("{token:?}").contains("very-secret"));
    }
}
