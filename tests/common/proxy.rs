//! An HTTP proxy of our own between snapaudit and moto: it counts requests by
//! (region, action), denies regions, pages `DescribeSnapshots` (moto serves
//! one page only) and answers the block-public-access call moto lacks.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What the proxy does; tests change it between scans.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Regions whose every EC2 call answers 403 `UnauthorizedOperation`.
    pub deny_regions: BTreeSet<String>,
    /// Serve `DescribeSnapshots` in pages of this many, with `nextToken`.
    pub page_size: Option<usize>,
    /// Answer `GetSnapshotBlockPublicAccessState` with this state.
    pub block_public_access: Option<String>,
}

#[derive(Default)]
pub struct ProxyState {
    pub faults: Mutex<Faults>,
    counts: Mutex<BTreeMap<(String, String), u64>>,
}

impl ProxyState {
    /// Requests seen for `action`, in all regions.
    pub fn count(&self, action: &str) -> u64 {
        self.counts.lock().unwrap().iter().filter(|((_, a), _)| a == action).map(|(_, n)| n).sum()
    }

    pub fn count_in(&self, region: &str, action: &str) -> u64 {
        self.counts.lock().unwrap().get(&(region.to_owned(), action.to_owned())).copied().unwrap_or(0)
    }

    pub fn reset_counts(&self) {
        self.counts.lock().unwrap().clear();
    }

    pub fn set(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.faults.lock().unwrap());
    }
}

pub struct Proxy {
    pub url: String,
    pub state: Arc<ProxyState>,
    _runtime: tokio::runtime::Runtime,
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let state = Arc::new(ProxyState::default());
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let upstream = upstream.to_owned();
        let shared = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (state, client, upstream) = (shared.clone(), client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), client.clone(), upstream.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Proxy { url, state, _runtime: runtime }
    }
}

async fn handle(
    state: Arc<ProxyState>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: String,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let form = String::from_utf8_lossy(&body).into_owned();
    let action = form_value(&form, "Action").unwrap_or_else(|| "?".into());
    let region = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(region_of_signature)
        .unwrap_or_else(|| "?".into());
    *state.counts.lock().unwrap().entry((region.clone(), action.clone())).or_default() += 1;
    let faults = state.faults.lock().unwrap().clone();

    if faults.deny_regions.contains(&region) && action != "GetCallerIdentity" {
        return Ok(xml(
            StatusCode::FORBIDDEN,
            ec2_error("UnauthorizedOperation", "You are not authorized to perform this operation."),
        ));
    }
    if action == "GetSnapshotBlockPublicAccessState"
        && let Some(s) = faults.block_public_access
    {
        return Ok(xml(
            StatusCode::OK,
            format!(
                "<GetSnapshotBlockPublicAccessStateResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>proxy</requestId><state>{s}</state><managedBy>account</managedBy></GetSnapshotBlockPublicAccessStateResponse>"
            ),
        ));
    }

    let uri = format!("{upstream}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut forward = Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        forward = forward.header(name, value);
    }
    let response = match client.request(forward.body(Full::new(body)).unwrap()).await {
        Ok(r) => r,
        Err(e) => return Ok(xml(StatusCode::BAD_GATEWAY, format!("proxy: upstream failed: {e}"))),
    };
    let status = response.status();
    let bytes = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if action == "DescribeSnapshots"
        && status.is_success()
        && let Some(size) = faults.page_size
    {
        let offset = form_value(&form, "NextToken").and_then(|t| t.parse().ok()).unwrap_or(0);
        return Ok(xml(status, page(&text, "snapshotSet", offset, size)));
    }
    Ok(xml(status, text))
}

fn xml(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder().status(status).header("content-type", "text/xml").body(Full::new(Bytes::from(body))).unwrap()
}

fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>proxy</RequestID></Response>"
    )
}

/// A value of an `application/x-www-form-urlencoded` body (tokens we make
/// and action names need no decoding).
fn form_value(form: &str, key: &str) -> Option<String> {
    form.split('&').find_map(|pair| pair.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
}

/// `AWS4-HMAC-SHA256 Credential=AKID/20261124/us-east-1/ec2/aws4_request, ...`
fn region_of_signature(header: &str) -> Option<String> {
    let credential = header.split("Credential=").nth(1)?;
    credential.split('/').nth(2).map(str::to_owned)
}

/// Cut the items of `<set>` to `[offset, offset + size)` and add `nextToken`.
fn page(xml: &str, set: &str, offset: usize, size: usize) -> String {
    let (open, close) = (format!("<{set}>"), format!("</{set}>"));
    let (Some(start), Some(end)) = (xml.find(&open), xml.rfind(&close)) else { return xml.to_owned() };
    let inner = &xml[start + open.len()..end];
    let items = top_level_items(inner);
    let chosen: String = items.iter().skip(offset).take(size).copied().collect();
    let next =
        if offset + size < items.len() { format!("<nextToken>{}</nextToken>", offset + size) } else { String::new() };
    format!("{}{open}{chosen}{close}{next}{}", &xml[..start], &xml[end + close.len()..])
}

fn top_level_items(inner: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start, mut i) = (0usize, 0usize, 0usize);
    while i < inner.len() {
        let rest = &inner[i..];
        if rest.starts_with("<item>") {
            if depth == 0 {
                start = i;
            }
            depth += 1;
            i += "<item>".len();
        } else if rest.starts_with("</item>") {
            depth -= 1;
            i += "</item>".len();
            if depth == 0 {
                items.push(&inner[start..i]);
            }
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    items
}

#[test]
fn paging_keeps_nested_items_whole() {
    let xml = "<R><snapshotSet><item><id>a</id><tagSet><item>t</item></tagSet></item><item><id>b</id></item><item><id>c</id></item></snapshotSet></R>";
    let first = page(xml, "snapshotSet", 0, 2);
    assert!(first.contains("<id>a</id><tagSet><item>t</item></tagSet></item><item><id>b</id>"), "{first}");
    assert!(first.ends_with("</snapshotSet><nextToken>2</nextToken></R>"), "{first}");
    let second = page(xml, "snapshotSet", 2, 2);
    assert!(second.contains("<id>c</id>") && !second.contains("nextToken"), "{second}");
}
