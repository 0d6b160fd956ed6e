//! Custom endpoints (`--endpoint-url`, `--azure-endpoint`): explicit, and
//! never plain http across a network unless asked for.

use super::CollectError;

/// Custom endpoints must be explicit and sane: an http(s) URL with a host;
/// plain http only to loopback unless `allow_insecure` (credentials would
/// cross the network unencrypted).
pub fn check_endpoint(url: &str, allow_insecure: bool) -> Result<(), CollectError> {
    let bad = |reason: &str| CollectError::Endpoint { url: url.to_owned(), reason: reason.to_owned() };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected http(s)://host[:port]"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !h.ends_with(']') || authority.starts_with('[') => {
            if !port.is_empty() && port.parse::<u16>().is_err() && !h.is_empty() && !authority.starts_with('[') {
                return Err(bad("the port is not a number"));
            }
            if authority.starts_with('[') && !h.ends_with(']') { authority } else { h }
        }
        _ => authority,
    };
    if host.is_empty() || host.contains('@') || host.chars().any(char::is_whitespace) {
        return Err(bad("no valid host"));
    }
    match scheme {
        "https" => Ok(()),
        "http" if allow_insecure || is_loopback(host) => Ok(()),
        "http" => Err(bad("plain http to a host other than loopback; use https, or pass --allow-insecure-endpoint")),
        _ => Err(bad("the scheme must be http or https")),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod endpoint_tests {
    use super::check_endpoint;

    #[test]
    fn endpoints_are_checked() {
        assert!(check_endpoint("https://ec2.example.com", false).is_ok());
        assert!(check_endpoint("http://127.0.0.1:5000", false).is_ok());
        assert!(check_endpoint("http://localhost:5000/", false).is_ok());
        assert!(check_endpoint("http://[::1]:5000", false).is_ok());
        assert!(check_endpoint("http://10.0.0.5:5000", false).is_err());
        assert!(check_endpoint("http://10.0.0.5:5000", true).is_ok());
        assert!(check_endpoint("not a url", false).is_err());
        assert!(check_endpoint("ftp://127.0.0.1", false).is_err());
        assert!(check_endpoint("http://127.0.0.1:notaport", false).is_err());
        assert!(check_endpoint("http://", false).is_err());
    }
}
