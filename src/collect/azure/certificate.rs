//! A service principal's client certificate, as a signed client assertion.
//!
//! azure_identity's own `ClientCertificateCredential` needs OpenSSL, which
//! this build keeps out (one TLS stack: rustls with aws-lc-rs). Entra ID's
//! certificate credential is only a JWT signed with the certificate's key
//! (RS256, `x5t` = SHA-1 thumbprint of the certificate), handed to
//! azure_identity's `ClientAssertionCredential`; aws-lc-rs, already built for
//! TLS, signs it.
//!
//! Accepted: a PEM file holding the private key (PKCS#8 or PKCS#1, not
//! encrypted) and the certificate, as `az ad sp create-for-rbac --create-cert`
//! writes it. Not accepted, with the conversion to run: PKCS#12 (`.pfx`) and
//! encrypted keys.

use std::fmt;
use std::path::Path;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair};
use aws_lc_rs::{digest, error::KeyRejected};
use azure_core::base64;
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;

/// Entra ID accepts assertions valid for at most ten minutes.
const ASSERTION_LIFETIME_SECS: i64 = 600;
const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// What a file that is not PEM most likely is, and what to do about it.
const NOT_PEM: &str = "a .pfx? convert it: `openssl pkcs12 -in cert.pfx -out cert.pem -nodes`";

/// The key and certificate of one service principal.
pub struct ClientCertificate {
    key: RsaKeyPair,
    /// Base64url SHA-1 of the certificate's DER, as the `x5t` header.
    thumbprint: String,
    /// Base64 DER of each certificate in the file, leaf first (`x5c`, sent
    /// only with AZURE_CLIENT_SEND_CERTIFICATE_CHAIN, for subject-name/issuer
    /// authentication).
    chain: Vec<String>,
    send_chain: bool,
    client_id: String,
    /// The token endpoint, which is the assertion's audience.
    audience: String,
    random: SystemRandom,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Reads `path`; every problem names the file and what to do. The
    /// message never includes the file's contents.
    pub fn load(
        path: &Path,
        tenant_id: &str,
        client_id: &str,
        authority_host: Option<&str>,
        send_chain: bool,
    ) -> Result<Self, String> {
        let shown = path.display();
        let bytes = std::fs::read(path).map_err(|e| format!("reading {shown}: {e}"))?;
        Self::from_pem(&bytes, tenant_id, client_id, authority_host, send_chain).map_err(|e| format!("{shown}: {e}"))
    }

    pub fn from_pem(
        bytes: &[u8],
        tenant_id: &str,
        client_id: &str,
        authority_host: Option<&str>,
        send_chain: bool,
    ) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| format!("not a PEM file ({NOT_PEM})"))?;
        let blocks = pem_blocks(text)?;
        let key_of = |label: &str| blocks.iter().find(|(l, _)| l == label).map(|(_, der)| der);
        if key_of("ENCRYPTED PRIVATE KEY").is_some() {
            return Err("the private key is encrypted; decrypt it: `openssl pkcs8 -in cert.pem -out plain.pem` \
                 and keep the result owner-only"
                .into());
        }
        let key = match (key_of("PRIVATE KEY"), key_of("RSA PRIVATE KEY")) {
            (Some(der), _) => RsaKeyPair::from_pkcs8(der),
            (None, Some(der)) => RsaKeyPair::from_der(der),
            (None, None) => return Err("no private key (PRIVATE KEY or RSA PRIVATE KEY block) in the file".into()),
        }
        .map_err(|e: KeyRejected| format!("the private key is not a usable RSA key ({e})"))?;
        let mut certificates: Vec<&Vec<u8>> =
            blocks.iter().filter(|(l, _)| l == "CERTIFICATE").map(|(_, d)| d).collect();
        // The leaf is the certificate holding this key's public half: its
        // RSAPublicKey DER appears verbatim in the certificate's key info.
        let public = key.public_key().as_ref();
        let leaf = certificates
            .iter()
            .position(|der| der.windows(public.len()).any(|w| w == public))
            .ok_or("no CERTIFICATE block in the file matches its private key")?;
        certificates.swap(0, leaf);
        let thumbprint =
            base64::encode_url_safe(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, certificates[0]).as_ref());
        let host = authority_host.filter(|h| !h.is_empty()).unwrap_or(DEFAULT_AUTHORITY_HOST).trim_end_matches('/');
        Ok(ClientCertificate {
            key,
            thumbprint,
            chain: certificates.iter().map(base64::encode).collect(),
            send_chain,
            client_id: client_id.to_owned(),
            audience: format!("{host}/{tenant_id}/oauth2/v2.0/token"),
            random: SystemRandom::new(),
        })
    }

    /// A signed assertion valid from `now` (Unix seconds).
    pub fn assertion(&self, now: i64) -> Result<String, String> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.thumbprint});
        if self.send_chain {
            header["x5c"] = serde_json::json!(self.chain);
        }
        let mut jti = [0u8; 16];
        self.random.fill(&mut jti).map_err(|_| "no random bytes for the assertion id")?;
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signed =
            format!("{}.{}", base64::encode_url_safe(header.to_string()), base64::encode_url_safe(claims.to_string()));
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&signature::RSA_PKCS1_SHA256, &self.random, signed.as_bytes(), &mut signature)
            .map_err(|_| "signing the client assertion failed")?;
        Ok(format!("{signed}.{}", base64::encode_url_safe(signature)))
    }
}

#[async_trait::async_trait]
impl ClientAssertion for ClientCertificate {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let now = jiff::Timestamp::now().as_second();
        self.assertion(now).map_err(|e| azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e))
    }
}

/// (label, DER) of every PEM block, in order.
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        loop {
            match lines.next() {
                Some(l) if l == end => break,
                Some(l) => body.push_str(l),
                None => return Err(format!("the {label} block has no END line")),
            }
        }
        let der = base64::decode(&body).map_err(|_| format!("the {label} block is not valid base64"))?;
        blocks.push((label.to_owned(), der));
    }
    if blocks.is_empty() {
        return Err(format!("no PEM blocks ({NOT_PEM})"));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS8: &str = include_str!("../../../tests/fixtures/azure-certificate/service-principal.pem");
    const PKCS1: &str = include_str!("../../../tests/fixtures/azure-certificate/service-principal-pkcs1.pem");
    const MISMATCHED: &str = include_str!("../../../tests/fixtures/azure-certificate/mismatched.pem");
    /// `openssl x509 -noout -fingerprint -sha1` of the fixture, base64url
    /// without padding (as JWT parts are).
    const THUMBPRINT: &str = "nslnKx7a_Jj41SmxgaZV_3CT1NY";

    fn part(jwt: &str, i: usize) -> serde_json::Value {
        let raw = base64::decode_url_safe(jwt.split('.').nth(i).unwrap()).unwrap();
        serde_json::from_slice(&raw).unwrap()
    }

    #[test]
    fn the_assertion_is_signed_by_the_key_and_names_the_certificate() {
        for pem in [PKCS8, PKCS1] {
            let cert = ClientCertificate::from_pem(pem.as_bytes(), "tenant-1", "client-1", None, false).unwrap();
            let jwt = cert.assertion(1_800_000_000).unwrap();
            let header = part(&jwt, 0);
            assert_eq!(header["alg"], "RS256");
            assert_eq!(header["x5t"], THUMBPRINT, "the SHA-1 thumbprint openssl computed");
            assert!(header.get("x5c").is_none());
            let claims = part(&jwt, 1);
            assert_eq!(claims["aud"], "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token");
            assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some("client-1"), Some("client-1")));
            assert_eq!(claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap(), 600);
            let (signed, signature) = jwt.rsplit_once('.').unwrap();
            let public = signature::UnparsedPublicKey::new(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                cert.key.public_key().as_ref().to_vec(),
            );
            let signature = base64::decode_url_safe(signature).unwrap();
            assert!(public.verify(signed.as_bytes(), &signature).is_ok(), "RS256 over header.claims");
            let mut tampered = signed.to_owned();
            tampered.push('x');
            assert!(public.verify(tampered.as_bytes(), &signature).is_err());
        }
    }

    #[test]
    fn each_assertion_has_its_own_id_and_the_chain_is_sent_on_request() {
        let host = Some("https://login.microsoftonline.us/");
        let cert = ClientCertificate::from_pem(PKCS8.as_bytes(), "t", "c", host, true).unwrap();
        let (a, b) = (cert.assertion(0).unwrap(), cert.assertion(0).unwrap());
        assert_ne!(part(&a, 1)["jti"], part(&b, 1)["jti"]);
        assert_eq!(part(&a, 1)["aud"], "https://login.microsoftonline.us/t/oauth2/v2.0/token");
        let x5c = part(&a, 0)["x5c"].as_array().unwrap().clone();
        assert_eq!(x5c.len(), 1);
        let der = base64::decode(x5c[0].as_str().unwrap()).unwrap();
        let thumbprint = base64::encode_url_safe(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der).as_ref());
        assert_eq!(thumbprint, THUMBPRINT);
    }

    #[test]
    fn unusable_files_say_what_to_do_and_never_echo_the_key() {
        let key_only: String = PKCS8.split("-----BEGIN CERTIFICATE-----").next().unwrap().to_owned();
        let cert_only =
            format!("-----BEGIN CERTIFICATE-----{}", PKCS8.split("-----BEGIN CERTIFICATE-----").nth(1).unwrap());
        let broken_key = PKCS1.split("-----BEGIN CERTIFICATE-----").next().unwrap().replace("MII", "MIJ");
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let cases: &[(&[u8], &str)] = &[
            (&[0x30, 0x82, 0xff, 0xfe], "openssl pkcs12"),
            (b"hello", "openssl pkcs12"),
            (key_only.as_bytes(), "no CERTIFICATE block in the file matches"),
            (cert_only.as_bytes(), "no private key"),
            (encrypted.as_bytes(), "openssl pkcs8"),
            (MISMATCHED.as_bytes(), "no CERTIFICATE block in the file matches its private key"),
            (broken_key.as_bytes(), "not a usable RSA key"),
            (b"-----BEGIN CERTIFICATE-----\nMIIB", "no END line"),
        ];
        for (bytes, expected) in cases {
            let err = ClientCertificate::from_pem(bytes, "t", "c", None, false).unwrap_err();
            assert!(err.contains(expected), "{expected:?} in {err}");
            assert!(!err.contains("MII"), "key material in {err}");
        }
        let err = ClientCertificate::load(Path::new("/no/such/cert.pem"), "t", "c", None, false).unwrap_err();
        assert!(err.starts_with("reading /no/such/cert.pem"), "{err}");
    }

    #[test]
    fn debug_output_shows_the_thumbprint_but_not_the_key() {
        let cert = ClientCertificate::from_pem(PKCS8.as_bytes(), "t", "c", None, false).unwrap();
        let shown = format!("{cert:?}");
        assert!(shown.contains(THUMBPRINT) && !shown.contains("MII"), "{shown}");
    }
}
