//! A local Azure Resource Manager test server. There is no Azure emulator,
//! so this serves Microsoft's own example payloads (tests/fixtures/azure/,
//! api-version 2024-03-02) for the two calls the collector makes, with what
//! real ARM adds: absolute `nextLink` paging, 401 without the bearer token,
//! 403 per subscription, 429 with `Retry-After`, 5xx bursts and cut bodies.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

/// The bearer token the server accepts.
pub const TOKEN: &str = "arm-test-token-8Fq2";
pub const SUB_A: &str = "00000000-0000-0000-0000-00000000000a";
pub const SUB_B: &str = "00000000-0000-0000-0000-00000000000b";

const SNAPSHOTS_API: &str = "2024-03-02";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/azure");

/// What goes wrong, and how; tests change it between scans.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Serve snapshot lists in pages of this many (absolute `nextLink`).
    pub page_size: Option<usize>,
    /// Generated snapshots keep the example's network access (the default,
    /// `AllowAll`): each is exposed, an `azure-network-exposure` finding.
    pub generate_exposed: bool,
    /// Subscriptions whose snapshot list answers 403 AuthorizationFailed.
    pub forbidden: BTreeSet<String>,
    /// The next N requests answer 429 with `Retry-After: 1`.
    pub throttle_next: u32,
    /// The next N requests answer 500 with `Retry-After: 0`.
    pub fail_next: u32,
    /// The next N requests answer 200 with a body cut in half.
    pub truncate_next: u32,
    /// Every request for these subscriptions answers 500 (`Retry-After: 0`).
    pub always_fail: BTreeSet<String>,
    /// Subscriptions where Microsoft.Compute is not registered: their
    /// snapshot list answers 409 `MissingSubscriptionRegistration`.
    pub not_registered: BTreeSet<String>,
    /// Subscriptions the identity no longer sees (role removed, moved to
    /// another tenant): left out of the subscription list, and their
    /// snapshot list answers 403 AuthorizationFailed.
    pub hidden: BTreeSet<String>,
}

#[derive(Default)]
pub struct ArmState {
    pub faults: Mutex<Faults>,
    /// Snapshots by subscription, as ARM JSON.
    snapshots: Mutex<BTreeMap<String, Vec<Value>>>,
    /// Subscriptions with this many generated copies of the Get example,
    /// built page by page (for scale tests; nothing is held).
    generated: Mutex<BTreeMap<String, usize>>,
    requests: Mutex<Vec<String>>,
    /// Requests with any method but GET (a collector must only read).
    non_get: Mutex<u64>,
    /// Requests answered 429, 500 or with a cut body.
    faulted: Mutex<u64>,
    /// Activity Log events by subscription, as the tests log them.
    activity: Mutex<BTreeMap<String, Vec<Value>>>,
}

impl ArmState {
    pub fn set(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.faults.lock().unwrap());
    }

    /// Every request path (with query) seen, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    pub fn non_get_requests(&self) -> u64 {
        *self.non_get.lock().unwrap()
    }

    /// The RBAC action each request needed, as the collector declares them.
    pub fn actions(&self) -> std::collections::BTreeSet<&'static str> {
        self.requests()
            .iter()
            .map(|r| match r.split('?').next().unwrap_or_default().trim_matches('/').split('/').count() {
                1 => "Microsoft.Resources/subscriptions/read",
                5 if r.contains("/providers/Microsoft.Compute/snapshots") => "Microsoft.Compute/snapshots/read",
                7 if r.contains("/providers/Microsoft.Insights/eventtypes/management/values") => {
                    "Microsoft.Insights/eventtypes/values/read"
                }
                _ => panic!("a request the collector does not declare: {r}"),
            })
            .collect()
    }

    pub fn faulted(&self) -> u64 {
        *self.faulted.lock().unwrap()
    }

    pub fn reset_counts(&self) {
        self.requests.lock().unwrap().clear();
        *self.faulted.lock().unwrap() = 0;
    }

    /// Microsoft's four example snapshots (two from the list example, the
    /// Get and incremental Get examples) in `subscription`.
    pub fn add_examples(&self, subscription: &str) {
        let list = example("Snapshot_ListBySubscription.json", subscription);
        let mut all: Vec<Value> = list["value"].as_array().unwrap().clone();
        all.push(example("Snapshot_Get.json", subscription));
        all.push(example("Snapshot_GetIncrementalSnapshot.json", subscription));
        self.snapshots.lock().unwrap().entry(subscription.to_owned()).or_default().extend(all);
    }

    /// `count` copies of the Get example named `{prefix}-{i}`.
    pub fn add_copies(&self, subscription: &str, prefix: &str, count: usize) {
        let template = example("Snapshot_Get.json", subscription);
        let mut snapshots = self.snapshots.lock().unwrap();
        let list = snapshots.entry(subscription.to_owned()).or_default();
        for i in 0..count {
            let mut s = template.clone();
            let name = format!("{prefix}-{i}");
            let id = s["id"].as_str().unwrap().replace("/mySnapshot", &format!("/{name}"));
            s["id"] = json!(id);
            s["name"] = json!(name);
            list.push(s);
        }
    }

    /// `count` copies of the Get example named `gen-{i}`, generated as pages
    /// are served, with their network stated private.
    pub fn generate(&self, subscription: &str, count: usize) {
        self.generated.lock().unwrap().insert(subscription.to_owned(), count);
    }

    /// Set (or with `None` remove) one property of the snapshot `name`.
    pub fn set_property(&self, subscription: &str, name: &str, key: &str, value: Option<&str>) {
        let mut snapshots = self.snapshots.lock().unwrap();
        let s = snapshots
            .get_mut(subscription)
            .and_then(|l| l.iter_mut().find(|s| s["name"] == name))
            .unwrap_or_else(|| panic!("no snapshot {name} in {subscription}"));
        let props = s["properties"].as_object_mut().unwrap();
        match value {
            Some(v) => props.insert(key.to_owned(), json!(v)),
            None => props.remove(key),
        };
    }

    /// Every snapshot of `subscription` that does not state its network
    /// access now states `DenyAll`: for tests about something else than the
    /// network (ARM omits `networkAccessPolicy` at its default, `AllowAll`,
    /// as Microsoft's examples do, and such a snapshot is exposed).
    pub fn private_network(&self, subscription: &str) {
        let mut snapshots = self.snapshots.lock().unwrap();
        for s in snapshots.get_mut(subscription).into_iter().flatten() {
            let props = s["properties"].as_object_mut().unwrap();
            props.entry("networkAccessPolicy").or_insert(json!("DenyAll"));
        }
    }

    /// Log a succeeded `operation` (e.g. `Microsoft.Compute/snapshots/delete`)
    /// on the example snapshot `name` by `caller`, now, as the Activity Log
    /// records it (Azure Monitor REST API, EventData).
    pub fn log_activity(&self, subscription: &str, operation: &str, name: &str, caller: &str) {
        let resource = format!(
            "/subscriptions/{subscription}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/snapshots/{name}"
        );
        let mut log = self.activity.lock().unwrap();
        let events = log.entry(subscription.to_owned()).or_default();
        let id = format!("event-{}", events.len() + 1);
        events.push(json!({
            "caller": caller,
            "claims": {"idtyp": "user"},
            "correlationId": id,
            "eventDataId": id,
            "eventTimestamp": jiff::Timestamp::now().round(jiff::Unit::Second).unwrap().to_string(),
            "httpRequest": {"clientIpAddress": "203.0.113.9", "method": "DELETE"},
            "operationName": {"value": operation, "localizedValue": operation},
            "resourceId": resource,
            "status": {"value": "Succeeded", "localizedValue": "Succeeded"},
            "subscriptionId": subscription,
        }));
    }

    pub fn remove(&self, subscription: &str, name: &str) {
        self.snapshots.lock().unwrap().get_mut(subscription).unwrap().retain(|s| s["name"] != name);
    }
}

/// The response body of a fixture, placeholders filled in.
fn example(file: &str, subscription: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{file}")).unwrap();
    let text = text.replace("{subscriptionId}", subscription).replace("{subscription-id}", subscription);
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["responses"]["200"]["body"].clone()
}

pub struct ArmServer {
    pub url: String,
    pub state: Arc<ArmState>,
    _runtime: tokio::runtime::Runtime,
}

impl ArmServer {
    /// `snapaudit COMMAND --azure` against this server, with its token, the
    /// baseline at `dir`'s default database, then `extra` and `env`.
    pub fn run(
        &self,
        dir: &super::TempDir,
        command: &[&str],
        extra: &[&str],
        env: &[(&str, Option<&str>)],
    ) -> super::Run {
        let db = dir.db();
        let mut args: Vec<&str> = command.to_vec();
        args.extend(["--azure", "--azure-endpoint", &self.url, "--db", db.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let mut all_env = vec![("SNAPAUDIT_AZURE_TOKEN", Some(TOKEN))];
        all_env.extend_from_slice(env);
        let run = super::snapaudit_with(dir.path(), None, &args, &all_env);
        assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN), "token leaked: {run:?}");
        run
    }

    pub fn start() -> ArmServer {
        let state = Arc::new(ArmState::default());
        let shared = state.clone();
        let base = std::sync::OnceLock::<String>::new();
        let base = Arc::new(base);
        let base_in = base.clone();
        let (url, runtime) = super::serve(move |req| handle(&shared, base_in.get().map_or("", String::as_str), req));
        base.set(url.clone()).ok();
        ArmServer { url, state, _runtime: runtime }
    }
}

fn handle(state: &ArmState, base: &str, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path_and_query = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    state.requests.lock().unwrap().push(path_and_query.clone());
    if req.method() != hyper::Method::GET {
        *state.non_get.lock().unwrap() += 1;
        return error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "The test server serves reads only.");
    }
    let authorized =
        req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"));
    if !authorized {
        return error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "The access token is invalid.");
    }
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let segments: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
    let subscription = segments.get(1).map(|s| (*s).to_owned()).unwrap_or_default();

    let mut faults = state.faults.lock().unwrap();
    let fault = |state: &ArmState| *state.faulted.lock().unwrap() += 1;
    if faults.throttle_next > 0 {
        faults.throttle_next -= 1;
        fault(state);
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "Too many requests; retry later.");
        r.headers_mut().insert("retry-after", "1".parse().unwrap());
        return r;
    }
    if faults.fail_next > 0 || faults.always_fail.contains(&subscription) {
        faults.fail_next = faults.fail_next.saturating_sub(1);
        fault(state);
        let mut r = error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "Something went wrong.");
        r.headers_mut().insert("retry-after", "0".parse().unwrap());
        return r;
    }
    let truncate = faults.truncate_next > 0;
    if truncate {
        faults.truncate_next -= 1;
        fault(state);
    }
    let faults = faults.clone();

    let body = match segments.as_slice() {
        ["subscriptions"] => {
            let mut subs = state.snapshots.lock().unwrap().keys().cloned().collect::<Vec<_>>();
            subs.extend(state.generated.lock().unwrap().keys().cloned());
            let value: Vec<Value> = subs
                .iter()
                .filter(|s| !faults.hidden.contains(*s))
                .map(|s| json!({"id": format!("/subscriptions/{s}"), "subscriptionId": s, "displayName": s, "state": "Enabled"}))
                .collect();
            json!({ "value": value })
        }
        ["subscriptions", _, "providers", "Microsoft.Insights", "eventtypes", "management", "values"] => {
            if faults.forbidden.contains(&subscription) {
                return error(StatusCode::FORBIDDEN, "AuthorizationFailed", "No access to the Activity Log.");
            }
            let value = state.activity.lock().unwrap().get(&subscription).cloned().unwrap_or_default();
            json!({ "value": value })
        }
        ["subscriptions", _, "providers", "Microsoft.Compute", "snapshots"] => {
            if query.get("api-version").map(String::as_str) != Some(SNAPSHOTS_API) {
                return error(StatusCode::BAD_REQUEST, "InvalidApiVersionParameter", "Unsupported api-version.");
            }
            if faults.not_registered.contains(&subscription) {
                return error(
                    StatusCode::CONFLICT,
                    "MissingSubscriptionRegistration",
                    "The subscription is not registered to use namespace 'Microsoft.Compute'. \
                     See https://aka.ms/rps-not-found for how to register subscriptions.",
                );
            }
            if faults.forbidden.contains(&subscription) || faults.hidden.contains(&subscription) {
                return error(
                    StatusCode::FORBIDDEN,
                    "AuthorizationFailed",
                    &format!(
                        "The client does not have authorization to perform action 'Microsoft.Compute/snapshots/read' \
                         over scope '/subscriptions/{subscription}'."
                    ),
                );
            }
            let start: usize = query.get("$skiptoken").and_then(|t| t.parse().ok()).unwrap_or(0);
            let size = faults.page_size.unwrap_or(usize::MAX);
            let generated = state.generated.lock().unwrap().get(&subscription).copied();
            let (page, total): (Vec<Value>, usize) = match generated {
                Some(total) => {
                    // Private, so the scale test measures the listing and the
                    // baseline, not 100,000 exposure findings (issue 17 makes
                    // findings stream too).
                    let mut template = example("Snapshot_Get.json", &subscription);
                    if !faults.generate_exposed {
                        template["properties"]["networkAccessPolicy"] = json!("DenyAll");
                    }
                    let end = start.saturating_add(size).min(total);
                    let page = (start..end)
                        .map(|i| {
                            let mut s = template.clone();
                            let name = format!("gen-{i}");
                            s["id"] = json!(s["id"].as_str().unwrap().replace("/mySnapshot", &format!("/{name}")));
                            s["name"] = json!(name);
                            s
                        })
                        .collect();
                    (page, total)
                }
                None => {
                    let all = state.snapshots.lock().unwrap().get(&subscription).cloned().unwrap_or_default();
                    (all.iter().skip(start).take(size).cloned().collect(), all.len())
                }
            };
            let mut body = json!({ "value": page });
            if start.saturating_add(size) < total {
                body["nextLink"] = json!(format!(
                    "{base}/subscriptions/{subscription}/providers/Microsoft.Compute/snapshots?api-version={SNAPSHOTS_API}&$skiptoken={}",
                    start + size
                ));
            }
            body
        }
        _ => return error(StatusCode::NOT_FOUND, "NotFound", "No such route in the test server."),
    };
    let mut text = body.to_string();
    if truncate {
        text.truncate(text.len() / 2);
    }
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(text)))
        .unwrap()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({ "error": { "code": code, "message": message } }).to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}
