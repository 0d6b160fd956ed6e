//! Where the ARM bearer token comes from: azure_identity 1.x credentials in
//! the usual order, or, against a test server only, a static token.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_identity::{
    ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential, WorkloadIdentityCredential,
};

use crate::collect::CollectError;

/// The token scope of Azure Resource Manager.
const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// The environment variable holding a static token for `--azure-endpoint`.
pub const STATIC_TOKEN_VAR: &str = "SNAPAUDIT_AZURE_TOKEN";

/// A credential that does not answer within this time is skipped in the
/// chain (managed identity probes an address that only exists on Azure).
const SOURCE_TIMEOUT: Duration = Duration::from_secs(15);

/// `--azure-credential`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CredentialChoice {
    /// Environment client secret, then workload identity, managed identity,
    /// and the Azure CLI / Azure Developer CLI, first that works.
    Auto,
    /// AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET.
    Environment,
    /// Federated token file (AKS workload identity, GitHub OIDC).
    WorkloadIdentity,
    /// The VM's, App Service's or container's managed identity.
    ManagedIdentity,
    /// `az login` / `azd auth login`.
    Cli,
}

/// One link of the chain, in the order tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    StaticToken,
    ClientSecret,
    WorkloadIdentity,
    ManagedIdentity,
    DeveloperTools,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Source::StaticToken => STATIC_TOKEN_VAR,
            Source::ClientSecret => "environment client secret",
            Source::WorkloadIdentity => "workload identity",
            Source::ManagedIdentity => "managed identity",
            Source::DeveloperTools => "Azure CLI / Azure Developer CLI",
        }
    }
}

pub const WHAT_TO_DO: &str = "run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, \
     or choose a credential with --azure-credential";

/// Which sources to try, from the choice and the environment alone (pure,
/// so the selection is unit-tested without any identity endpoint).
pub fn select_sources(
    choice: CredentialChoice,
    test_endpoint: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Source>, CollectError> {
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    if set(STATIC_TOKEN_VAR) {
        if !test_endpoint {
            return Err(credentials(format!(
                "{STATIC_TOKEN_VAR} is set but is only accepted with --azure-endpoint (a test server); \
                 unset it to use the Azure credential chain"
            )));
        }
        return Ok(vec![Source::StaticToken]);
    }
    let secret_vars = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"];
    let has_secret = secret_vars.iter().all(|v| set(v));
    let has_workload = set("AZURE_FEDERATED_TOKEN_FILE");
    Ok(match choice {
        CredentialChoice::Auto => {
            let mut chain = Vec::new();
            if has_secret {
                chain.push(Source::ClientSecret);
            }
            if has_workload {
                chain.push(Source::WorkloadIdentity);
            }
            chain.extend([Source::ManagedIdentity, Source::DeveloperTools]);
            chain
        }
        CredentialChoice::Environment if has_secret => vec![Source::ClientSecret],
        CredentialChoice::Environment => {
            let missing: Vec<&str> = secret_vars.into_iter().filter(|v| !set(v)).collect();
            return Err(credentials(format!("--azure-credential environment: {} not set", missing.join(", "))));
        }
        CredentialChoice::WorkloadIdentity => vec![Source::WorkloadIdentity],
        CredentialChoice::ManagedIdentity => vec![Source::ManagedIdentity],
        CredentialChoice::Cli => vec![Source::DeveloperTools],
    })
}

fn credentials(message: String) -> CollectError {
    CollectError::AzureCredentials { message, hint: WHAT_TO_DO }
}

/// A bearer token; never printed.
#[derive(Clone)]
pub struct Bearer(String);

impl Bearer {
    pub fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

/// The chain, remembering the first source that gave a token. Credentials
/// cache their tokens and renew them before expiry, so asking before every
/// request keeps long scans authenticated.
pub struct TokenSource {
    chain: Vec<(Source, Link)>,
    chosen: AtomicUsize,
}

enum Link {
    Static(Bearer),
    Credential(Arc<dyn TokenCredential>),
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sources: Vec<&str> = self.chain.iter().map(|(s, _)| s.describe()).collect();
        f.debug_struct("TokenSource").field("sources", &sources).finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(sources: &[Source], env: impl Fn(&str) -> Option<String>) -> Result<Self, CollectError> {
        let mut chain = Vec::new();
        for &source in sources {
            let built: Result<Link, azure_core::Error> = match source {
                Source::StaticToken => Ok(Link::Static(Bearer(env(STATIC_TOKEN_VAR).unwrap_or_default()))),
                Source::ClientSecret => ClientSecretCredential::new(
                    &env("AZURE_TENANT_ID").unwrap_or_default(),
                    env("AZURE_CLIENT_ID").unwrap_or_default(),
                    env("AZURE_CLIENT_SECRET").unwrap_or_default().into(),
                    None,
                )
                .map(|c| Link::Credential(c)),
                Source::WorkloadIdentity => WorkloadIdentityCredential::new(None).map(|c| Link::Credential(c)),
                Source::ManagedIdentity => ManagedIdentityCredential::new(None).map(|c| Link::Credential(c)),
                Source::DeveloperTools => DeveloperToolsCredential::new(None).map(|c| Link::Credential(c)),
            };
            match built {
                Ok(link) => chain.push((source, link)),
                // With one source the reason is the answer; in a chain the
                // next source may still work.
                Err(e) if sources.len() == 1 => {
                    return Err(credentials(format!("{}: {}", source.describe(), one_line(&e))));
                }
                Err(_) => {}
            }
        }
        Ok(TokenSource { chain, chosen: AtomicUsize::new(usize::MAX) })
    }

    /// A valid token, from the source that worked before or the first that
    /// works now.
    pub async fn bearer(&self) -> Result<Bearer, CollectError> {
        let chosen = self.chosen.load(Ordering::Relaxed);
        if let Some((source, link)) = self.chain.get(chosen) {
            return fetch(link).await.map_err(|e| credentials(format!("{}: {e}", source.describe())));
        }
        let mut tried = Vec::new();
        for (i, (source, link)) in self.chain.iter().enumerate() {
            match fetch(link).await {
                Ok(token) => {
                    self.chosen.store(i, Ordering::Relaxed);
                    return Ok(token);
                }
                Err(e) => tried.push(format!("{}: {e}", source.describe())),
            }
        }
        if tried.is_empty() {
            tried.push("no credential could be built from this environment".into());
        }
        Err(credentials(format!("no Azure credential worked ({})", tried.join("; "))))
    }
}

async fn fetch(link: &Link) -> Result<Bearer, String> {
    match link {
        Link::Static(token) => Ok(token.clone()),
        Link::Credential(credential) => {
            match tokio::time::timeout(SOURCE_TIMEOUT, credential.get_token(&[ARM_SCOPE], None)).await {
                Ok(Ok(token)) => Ok(Bearer(token.token.secret().to_owned())),
                Ok(Err(e)) => Err(one_line(&e)),
                Err(_) => Err(format!("no answer within {} s", SOURCE_TIMEOUT.as_secs())),
            }
        }
    }
}

/// azure_core errors can span lines (CLI output); one line reads better.
fn one_line(e: &azure_core::Error) -> String {
    let text = e.to_string();
    let joined: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    joined.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    const SECRET: &[(&str, &str)] = &[("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c"), ("AZURE_CLIENT_SECRET", "s")];

    #[test]
    fn auto_tries_the_environment_first_and_the_cli_last() {
        let chain = select_sources(CredentialChoice::Auto, false, env(SECRET)).unwrap();
        assert_eq!(chain, [Source::ClientSecret, Source::ManagedIdentity, Source::DeveloperTools]);
        let chain =
            select_sources(CredentialChoice::Auto, false, env(&[("AZURE_FEDERATED_TOKEN_FILE", "/t")])).unwrap();
        assert_eq!(chain, [Source::WorkloadIdentity, Source::ManagedIdentity, Source::DeveloperTools]);
        let chain = select_sources(CredentialChoice::Auto, false, env(&[])).unwrap();
        assert_eq!(chain, [Source::ManagedIdentity, Source::DeveloperTools]);
    }

    #[test]
    fn a_partial_secret_is_not_used_and_naming_it_explicitly_says_what_is_missing() {
        let partial = env(&[("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_SECRET", "")]);
        assert!(!select_sources(CredentialChoice::Auto, false, &partial).unwrap().contains(&Source::ClientSecret));
        let err = select_sources(CredentialChoice::Environment, false, &partial).unwrap_err().to_string();
        assert!(err.contains("AZURE_CLIENT_ID, AZURE_CLIENT_SECRET not set"), "{err}");
        assert!(err.contains("az login"), "{err}");
    }

    #[test]
    fn a_static_token_needs_a_test_endpoint() {
        let token = env(&[(STATIC_TOKEN_VAR, "tok")]);
        assert_eq!(select_sources(CredentialChoice::Auto, true, &token).unwrap(), [Source::StaticToken]);
        let err = select_sources(CredentialChoice::Auto, false, &token).unwrap_err().to_string();
        assert!(err.contains("only accepted with --azure-endpoint"), "{err}");
        assert!(!err.contains("tok\""));
    }

    #[test]
    fn an_explicit_choice_is_the_only_source() {
        assert_eq!(select_sources(CredentialChoice::Cli, false, env(SECRET)).unwrap(), [Source::DeveloperTools]);
        assert_eq!(
            select_sources(CredentialChoice::ManagedIdentity, false, env(&[])).unwrap(),
            [Source::ManagedIdentity]
        );
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let source = TokenSource::new(&[Source::StaticToken], env(&[(STATIC_TOKEN_VAR, "very-secret")])).unwrap();
        assert!(!format!("{source:?}").contains("very-secret"));
        assert_eq!(format!("{:?}", Bearer("very-secret".into())), "Bearer(<redacted>)");
    }
}
