//! Where the ARM bearer token comes from: azure_identity 1.x credentials in
//! the usual order, or, against a test server only, a static token.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_identity::{
    ClientAssertionCredential, ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential,
    WorkloadIdentityCredential,
};

use super::certificate::ClientCertificate;
use crate::collect::CollectError;

/// The token scope of Azure Resource Manager.
const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// The environment variable holding a static token for `--azure-endpoint`.
pub const STATIC_TOKEN_VAR: &str = "SNAPAUDIT_AZURE_TOKEN";
/// A PEM file with the service principal's key and certificate (the name
/// azure_identity and the Azure CLI use).
const CERTIFICATE_PATH_VAR: &str = "AZURE_CLIENT_CERTIFICATE_PATH";

/// A credential that does not answer within this time is skipped in the
/// chain (managed identity probes an address that only exists on Azure).
const SOURCE_TIMEOUT: Duration = Duration::from_secs(15);

/// `--azure-credential`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CredentialChoice {
    /// Environment client secret or certificate, then workload identity,
    /// managed identity, and the Azure CLI / Azure Developer CLI, first that
    /// works.
    Auto,
    /// AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or
    /// AZURE_CLIENT_CERTIFICATE_PATH (a PEM file with key and certificate).
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
    ClientCertificate,
    WorkloadIdentity,
    ManagedIdentity,
    DeveloperTools,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Source::StaticToken => STATIC_TOKEN_VAR,
            Source::ClientSecret => "environment client secret",
            Source::ClientCertificate => "environment client certificate",
            Source::WorkloadIdentity => "workload identity",
            Source::ManagedIdentity => "managed identity",
            Source::DeveloperTools => "Azure CLI / Azure Developer CLI",
        }
    }
}

pub const WHAT_TO_DO: &str = "run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET \
     (or AZURE_CLIENT_CERTIFICATE_PATH), or choose a credential with --azure-credential";

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
    let identity_vars = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID"];
    let has_identity = identity_vars.iter().all(|v| set(v));
    // As azure_identity's EnvironmentCredential: a secret wins over a
    // certificate when both are set.
    let environment = if !has_identity {
        None
    } else if set("AZURE_CLIENT_SECRET") {
        Some(Source::ClientSecret)
    } else if set(CERTIFICATE_PATH_VAR) {
        Some(Source::ClientCertificate)
    } else {
        None
    };
    let has_workload = set("AZURE_FEDERATED_TOKEN_FILE");
    Ok(match choice {
        CredentialChoice::Auto => {
            let mut chain = Vec::new();
            chain.extend(environment);
            if has_workload {
                chain.push(Source::WorkloadIdentity);
            }
            chain.extend([Source::ManagedIdentity, Source::DeveloperTools]);
            chain
        }
        CredentialChoice::Environment => match environment {
            Some(source) => vec![source],
            None => {
                let mut missing: Vec<&str> = identity_vars.into_iter().filter(|v| !set(v)).collect();
                if !set("AZURE_CLIENT_SECRET") && !set(CERTIFICATE_PATH_VAR) {
                    missing.push("AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH)");
                }
                return Err(credentials(format!("--azure-credential environment: {} not set", missing.join(", "))));
            }
        },
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
    /// Sources of the chain that could not even be built, and why: named
    /// when no source works (a typo in a certificate path is not silent).
    unbuilt: Vec<String>,
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
        let mut unbuilt = Vec::new();
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
                Source::ClientCertificate => client_certificate(&env).map(|c| Link::Credential(c)),
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
                Err(e) => unbuilt.push(format!("{}: {}", source.describe(), one_line(&e))),
            }
        }
        Ok(TokenSource { chain, unbuilt, chosen: AtomicUsize::new(usize::MAX) })
    }

    /// A valid token, from the source that worked before or the first that
    /// works now.
    pub async fn bearer(&self) -> Result<Bearer, CollectError> {
        let chosen = self.chosen.load(Ordering::Relaxed);
        if let Some((source, link)) = self.chain.get(chosen) {
            return fetch(link).await.map_err(|e| credentials(format!("{}: {e}", source.describe())));
        }
        let mut tried = self.unbuilt.clone();
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

/// The certificate credential: our signed assertion through azure_identity's
/// ClientAssertionCredential (which caches and renews the token).
fn client_certificate(
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Arc<ClientAssertionCredential<ClientCertificate>>, azure_core::Error> {
    let var = |name: &str| env(name).unwrap_or_default();
    let send_chain = matches!(var("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN").as_str(), "1" | "true" | "True");
    let tenant = var("AZURE_TENANT_ID");
    let client = var("AZURE_CLIENT_ID");
    let authority = env("AZURE_AUTHORITY_HOST");
    let path = std::path::PathBuf::from(var(CERTIFICATE_PATH_VAR));
    let certificate = ClientCertificate::load(&path, &tenant, &client, authority.as_deref(), send_chain)
        .map_err(|e| azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e))?;
    ClientAssertionCredential::new(tenant, client, certificate, None)
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

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
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
        assert!(
            err.contains("AZURE_CLIENT_ID, AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) not set"),
            "{err}"
        );
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

    const CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/azure-certificate/service-principal.pem");

    #[test]
    fn a_certificate_is_used_when_no_secret_is_set_and_a_secret_wins_over_it() {
        let ids = [("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")];
        let cert = env(&[ids[0], ids[1], ("AZURE_CLIENT_CERTIFICATE_PATH", CERT)]);
        assert_eq!(
            select_sources(CredentialChoice::Auto, false, &cert).unwrap(),
            [Source::ClientCertificate, Source::ManagedIdentity, Source::DeveloperTools]
        );
        assert_eq!(select_sources(CredentialChoice::Environment, false, &cert).unwrap(), [Source::ClientCertificate]);
        let both = env(&[ids[0], ids[1], ("AZURE_CLIENT_SECRET", "s"), ("AZURE_CLIENT_CERTIFICATE_PATH", CERT)]);
        assert_eq!(select_sources(CredentialChoice::Environment, false, &both).unwrap(), [Source::ClientSecret]);
        let err = select_sources(CredentialChoice::Environment, false, env(&ids)).unwrap_err().to_string();
        assert!(err.contains("AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) not set"), "{err}");
    }

    #[test]
    fn a_certificate_credential_is_built_from_the_file_or_names_it() {
        let vars = |path: &str| {
            env(&[
                ("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_CLIENT_CERTIFICATE_PATH", path),
            ])
        };
        let built = TokenSource::new(&[Source::ClientCertificate], vars(CERT)).unwrap();
        assert_eq!(built.chain.len(), 1);
        let err = TokenSource::new(&[Source::ClientCertificate], vars("/no/such.pem")).unwrap_err().to_string();
        assert!(err.contains("environment client certificate") && err.contains("/no/such.pem"), "{err}");
        // In a chain the next source may work, but the reason is kept for
        // the error that names every source tried.
        let chain = [Source::ClientCertificate, Source::StaticToken];
        let source = TokenSource::new(&chain, vars("/no/such.pem")).unwrap();
        assert_eq!(source.chain.len(), 1);
        assert!(source.unbuilt[0].contains("/no/such.pem"), "{:?}", source.unbuilt);
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let source = TokenSource::new(&[Source::StaticToken], env(&[(STATIC_TOKEN_VAR, "very-secret")])).unwrap();
        assert!(!format!("{source:?}").contains("very-secret"));
        assert_eq!(format!("{:?}", Bearer("very-secret".into())), "Bearer(<redacted>)");
    }
}
