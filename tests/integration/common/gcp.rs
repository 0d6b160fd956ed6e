//! A local Google Cloud test server. There is no Compute Engine emulator, so
//! this serves the calls the collector makes in the documented wire format
//! (Compute Engine API v1: `snapshots.list`, `images.list`,
//! `machineImages.list` with `maxResults` / `pageToken`, and each one's
//! `getIamPolicy`; Resource Manager v3 `projects.search` and v1
//! `projects.getAncestry`), with what the real service adds: 401 without the
//! bearer token, 403 `PERMISSION_DENIED` per project, 403 `SERVICE_DISABLED`
//! where the Compute Engine API is off, 403 `rateLimitExceeded` and 429 over
//! quota, and 5xx bursts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

/// The bearer token the server accepts.
pub const TOKEN: &str = "gcp-test-token-Zq81";
/// The collections the collector lists.
pub const COLLECTIONS: [&str; 3] = ["snapshots", "images", "machineImages"];

/// What goes wrong, and how; tests change it between scans.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Serve lists in pages of at most this many.
    pub page_size: Option<usize>,
    /// Projects whose Compute Engine calls answer 403 PERMISSION_DENIED.
    pub denied: BTreeSet<String>,
    /// Projects whose Compute Engine API is disabled (403 SERVICE_DISABLED).
    pub disabled: BTreeSet<String>,
    /// The next N Compute Engine requests answer 403 `rateLimitExceeded`,
    /// as Compute Engine answers a project over its per-minute quota.
    pub rate_limit_next: u32,
    /// The next N requests answer 429 RESOURCE_EXHAUSTED.
    pub too_many_next: u32,
    /// The next N requests answer 503.
    pub fail_next: u32,
}

#[derive(Clone)]
struct Project {
    number: String,
    organization: Option<String>,
    state: &'static str,
}

#[derive(Default)]
pub struct GcpState {
    pub faults: Mutex<Faults>,
    projects: Mutex<BTreeMap<String, Project>>,
    /// Resources by (project, collection), as Compute Engine JSON.
    resources: Mutex<BTreeMap<(String, String), Vec<Value>>>,
    /// IAM policies by (project, collection, name).
    policies: Mutex<BTreeMap<(String, String, String), Value>>,
    /// The IAM permission each request answered (not faulted) needed, in order.
    permissions: Mutex<Vec<&'static str>>,
    /// Requests answered with an injected fault.
    faulted: Mutex<u64>,
    /// Service accounts whose self-signed JWTs (AIP-4111, what Application
    /// Default Credentials make from a key file) the server accepts.
    service_accounts: Mutex<BTreeSet<String>>,
    /// Bearer tokens seen (tests check none of them reaches an output).
    bearers: Mutex<BTreeSet<String>>,
}

impl GcpState {
    pub fn set(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.faults.lock().unwrap());
    }

    pub fn add_project(&self, id: &str, number: &str, organization: Option<&str>) {
        let project = Project { number: number.into(), organization: organization.map(str::to_owned), state: "ACTIVE" };
        self.projects.lock().unwrap().insert(id.into(), project);
    }

    /// The project is being deleted: `projects.search` still lists it, not ACTIVE.
    pub fn delete_project(&self, id: &str) {
        if let Some(p) = self.projects.lock().unwrap().get_mut(id) {
            p.state = "DELETE_REQUESTED";
        }
    }

    /// A resource of `collection` in `project` (see [`snapshot`], [`image`],
    /// [`machine_image`]), with an empty policy.
    pub fn add(&self, project: &str, collection: &str, resource: Value) {
        let name = resource["name"].as_str().unwrap().to_owned();
        self.resources.lock().unwrap().entry((project.into(), collection.into())).or_default().push(resource);
        self.policies
            .lock()
            .unwrap()
            .insert((project.into(), collection.into(), name), json!({"version": 1, "etag": "BwYAAAAAAAA="}));
    }

    pub fn remove(&self, project: &str, collection: &str, name: &str) {
        if let Some(list) = self.resources.lock().unwrap().get_mut(&(project.into(), collection.into())) {
            list.retain(|r| r["name"] != name);
        }
        self.policies.lock().unwrap().remove(&(project.into(), collection.into(), name.into()));
    }

    /// Replace a resource's bindings (`[{"role", "members", "condition"?}]`).
    pub fn set_bindings(&self, project: &str, collection: &str, name: &str, bindings: Value) {
        let version =
            if bindings.as_array().is_some_and(|b| b.iter().any(|b| b.get("condition").is_some())) { 3 } else { 1 };
        self.policies.lock().unwrap().insert(
            (project.into(), collection.into(), name.into()),
            json!({"version": version, "etag": "BwYAAAAAAAE=", "bindings": bindings}),
        );
    }

    /// The permissions the requests so far needed.
    pub fn permissions(&self) -> BTreeSet<&'static str> {
        self.permissions.lock().unwrap().iter().copied().collect()
    }

    pub fn count(&self, permission: &str) -> usize {
        self.permissions.lock().unwrap().iter().filter(|p| **p == permission).count()
    }

    pub fn requests(&self) -> usize {
        self.permissions.lock().unwrap().len()
    }

    pub fn reset_counts(&self) {
        self.permissions.lock().unwrap().clear();
        *self.faulted.lock().unwrap() = 0;
    }

    pub fn faulted(&self) -> u64 {
        *self.faulted.lock().unwrap()
    }

    pub fn accept_service_account(&self, email: &str) {
        self.service_accounts.lock().unwrap().insert(email.into());
    }

    pub fn bearers(&self) -> BTreeSet<String> {
        self.bearers.lock().unwrap().clone()
    }

    /// The static test token, or a JWT issued by an accepted service account.
    fn authorized(&self, header: Option<&str>) -> bool {
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else { return false };
        self.bearers.lock().unwrap().insert(token.to_owned());
        if token == TOKEN {
            return true;
        }
        let claims = token.split('.').nth(1).and_then(base64url).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let issuer = claims.as_ref().and_then(|c| c["iss"].as_str()).unwrap_or_default();
        let scoped =
            claims.as_ref().is_some_and(|c| c["scope"] == "https://www.googleapis.com/auth/cloud-platform.read-only");
        scoped && self.service_accounts.lock().unwrap().contains(issuer)
    }
}

/// Unpadded base64url (RFC 4648 section 5), as JWTs are encoded.
fn base64url(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.bytes() {
        buffer = (buffer << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// A snapshot as `snapshots.list` returns it.
pub fn snapshot(project: &str, name: &str) -> Value {
    json!({
        "kind": "compute#snapshot",
        "id": "4611686018427387904",
        "creationTimestamp": "2026-11-30T09:15:00.000-08:00",
        "name": name,
        "description": "",
        "status": "READY",
        "sourceDisk": format!("https://www.googleapis.com/compute/v1/projects/{project}/zones/us-central1-a/disks/disk-1"),
        "sourceDiskId": "123",
        "diskSizeGb": "10",
        "storageBytes": "1048576",
        "storageBytesStatus": "UP_TO_DATE",
        "storageLocations": ["us"],
        "snapshotType": "STANDARD",
        "labelFingerprint": "42WmSpB8rSM=",
        "selfLink": format!("https://www.googleapis.com/compute/v1/projects/{project}/global/snapshots/{name}"),
    })
}

/// An image as `images.list` returns it.
pub fn image(project: &str, name: &str) -> Value {
    json!({
        "kind": "compute#image",
        "id": "5611686018427387904",
        "creationTimestamp": "2026-11-29T02:00:00.000-08:00",
        "name": name,
        "sourceType": "RAW",
        "status": "READY",
        "archiveSizeBytes": "3000000000",
        "diskSizeGb": "20",
        "sourceDisk": format!("https://www.googleapis.com/compute/v1/projects/{project}/zones/us-central1-a/disks/disk-2"),
        "storageLocations": ["us-central1"],
        "family": "app",
        "imageEncryptionKey": {"kmsKeyName": format!("projects/{project}/locations/us-central1/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1")},
        "labels": {"team": "platform"},
        "selfLink": format!("https://www.googleapis.com/compute/v1/projects/{project}/global/images/{name}"),
    })
}

/// A machine image as `machineImages.list` returns it.
pub fn machine_image(project: &str, name: &str) -> Value {
    json!({
        "kind": "compute#machineImage",
        "id": "6611686018427387904",
        "creationTimestamp": "2026-11-28T12:00:00.000-08:00",
        "name": name,
        "status": "READY",
        "sourceInstance": format!("https://www.googleapis.com/compute/v1/projects/{project}/zones/us-central1-a/instances/vm-1"),
        "storageLocations": ["us"],
        "totalStorageBytes": "21474836480",
        "guestFlush": false,
        "selfLink": format!("https://www.googleapis.com/compute/v1/projects/{project}/global/machineImages/{name}"),
    })
}

pub struct GcpServer {
    pub url: String,
    pub state: Arc<GcpState>,
    _runtime: tokio::runtime::Runtime,
}

impl GcpServer {
    /// Run the binary against this server with its token.
    pub fn run(&self, dir: &super::TempDir, command: &[&str], extra: &[&str]) -> super::Run {
        self.run_with(dir, command, extra, &[("SNAPAUDIT_GCP_TOKEN", Some(TOKEN))])
    }

    /// As [`GcpServer::run`], with this environment instead of the token.
    pub fn run_with(
        &self,
        dir: &super::TempDir,
        command: &[&str],
        extra: &[&str],
        env: &[(&str, Option<&str>)],
    ) -> super::Run {
        let db = dir.db();
        let mut args: Vec<&str> = command.to_vec();
        args.extend(["--gcp", "--gcp-endpoint", &self.url, "--db", db.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let run = super::snapaudit_with(dir.path(), None, &args, env);
        assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN), "token leaked: {run:?}");
        run
    }

    pub fn start() -> GcpServer {
        let state = Arc::new(GcpState::default());
        let shared = state.clone();
        let (url, runtime) = super::serve(move |req| handle(&shared, req));
        GcpServer { url, state, _runtime: runtime }
    }
}

fn handle(state: &GcpState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if !state.authorized(req.headers().get("authorization").and_then(|v| v.to_str().ok())) {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "authError",
            "Request had invalid authentication credentials.",
        );
    }
    let path = req.uri().path().to_owned();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3A", ":")))
        .collect();
    let faults = state.faults.lock().unwrap().clone();
    let permission = permission_of(req.method(), &path);
    {
        let mut f = state.faults.lock().unwrap();
        let injected = if f.fail_next > 0 {
            f.fail_next -= 1;
            Some(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "backendError",
                "The service is currently unavailable.",
            ))
        } else if f.too_many_next > 0 {
            f.too_many_next -= 1;
            Some(error(StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED", "Quota exceeded."))
        } else if f.rate_limit_next > 0 && path.starts_with("/compute/") {
            f.rate_limit_next -= 1;
            Some(classic_error(
                StatusCode::FORBIDDEN,
                "rateLimitExceeded",
                "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'compute.googleapis.com'",
            ))
        } else {
            None
        };
        if let Some(answer) = injected {
            *state.faulted.lock().unwrap() += 1;
            return answer;
        }
    }
    state.permissions.lock().unwrap().push(permission);

    if path == "/v3/projects:search" && req.method() == Method::GET {
        let projects: Vec<Value> = state
            .projects
            .lock()
            .unwrap()
            .iter()
            .map(|(id, p)| json!({"name": format!("projects/{}", p.number), "projectId": id, "state": p.state, "displayName": id}))
            .collect();
        return page(projects, "projects", &query, faults.page_size);
    }
    // Resource Manager v3 `projects.get`.
    if let Some(id) = path.strip_prefix("/v3/projects/").filter(|id| !id.contains(':') && !id.contains('/')) {
        let project = state.projects.lock().unwrap().get(id).cloned();
        return match project {
            Some(p) if !faults.denied.contains(id) => json_answer(
                StatusCode::OK,
                json!({"name": format!("projects/{}", p.number), "projectId": id, "state": p.state, "displayName": id}),
            ),
            _ => error(StatusCode::FORBIDDEN, "PERMISSION_DENIED", "forbidden", "The caller does not have permission"),
        };
    }
    if let Some(id) = path.strip_prefix("/v1/projects/").and_then(|p| p.strip_suffix(":getAncestry")) {
        let Some(project) = state.projects.lock().unwrap().get(id).cloned() else {
            return error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "forbidden",
                "The caller does not have permission",
            );
        };
        let mut ancestors = vec![json!({"resourceId": {"type": "project", "id": id}})];
        if let Some(org) = &project.organization {
            ancestors.push(json!({"resourceId": {"type": "folder", "id": "111"}}));
            ancestors.push(json!({"resourceId": {"type": "organization", "id": org}}));
        }
        return json_answer(StatusCode::OK, json!({"ancestor": ancestors}));
    }
    // /compute/v1/projects/{p}/global/{collection}[/{name}/getIamPolicy]
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["compute", "v1", "projects", project, "global", collection, rest @ ..] = parts.as_slice() else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "notFound", "no such path");
    };
    if faults.disabled.contains(*project) {
        return service_disabled(project);
    }
    if faults.denied.contains(*project) {
        let message = format!("Required '{permission}' permission for 'projects/{project}'");
        return classic_error(StatusCode::FORBIDDEN, "forbidden", &message);
    }
    let key = (project.to_string(), collection.to_string());
    match rest {
        [] => {
            let items = state.resources.lock().unwrap().get(&key).cloned().unwrap_or_default();
            let asked: usize = query.get("maxResults").and_then(|m| m.parse().ok()).unwrap_or(500);
            let size = faults.page_size.unwrap_or(asked).min(asked);
            let mut answer = page_value(items, "items", &query, Some(size));
            answer["kind"] = json!(format!("compute#{}List", collection.trim_end_matches('s')));
            json_answer(StatusCode::OK, answer)
        }
        [name, "getIamPolicy"] => {
            if query.get("optionsRequestedPolicyVersion").map(String::as_str) != Some("3") {
                return error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "invalid", "ask for policy version 3");
            }
            match state.policies.lock().unwrap().get(&(key.0, key.1, name.to_string())) {
                Some(policy) => json_answer(StatusCode::OK, policy.clone()),
                None => {
                    classic_error(StatusCode::NOT_FOUND, "notFound", &format!("The resource '{name}' was not found"))
                }
            }
        }
        _ => error(StatusCode::NOT_FOUND, "NOT_FOUND", "notFound", "no such path"),
    }
}

/// The IAM permission a request needs (Compute Engine and Resource Manager
/// IAM permissions reference).
fn permission_of(method: &Method, path: &str) -> &'static str {
    let last = path.rsplit('/').next().unwrap_or_default();
    if path == "/v3/projects:search" {
        return "resourcemanager.projects.list";
    }
    if path.ends_with(":getAncestry") || (path.starts_with("/v3/projects/") && !path.contains(':')) {
        return "resourcemanager.projects.get";
    }
    let collection = path.split('/').nth(6).unwrap_or_default();
    match (method.as_str(), collection, last == "getIamPolicy") {
        ("GET", "snapshots", false) => "compute.snapshots.list",
        ("GET", "snapshots", true) => "compute.snapshots.getIamPolicy",
        ("GET", "images", false) => "compute.images.list",
        ("GET", "images", true) => "compute.images.getIamPolicy",
        ("GET", "machineImages", false) => "compute.machineImages.list",
        ("GET", "machineImages", true) => "compute.machineImages.getIamPolicy",
        _ => "unexpected (not read-only)",
    }
}

fn page(items: Vec<Value>, key: &str, query: &BTreeMap<String, String>, size: Option<usize>) -> Response<Full<Bytes>> {
    json_answer(StatusCode::OK, page_value(items, key, query, size))
}

fn page_value(items: Vec<Value>, key: &str, query: &BTreeMap<String, String>, size: Option<usize>) -> Value {
    let start: usize = query.get("pageToken").and_then(|t| t.strip_prefix("tok-")?.parse().ok()).unwrap_or(0);
    let size = size.unwrap_or(usize::MAX).max(1);
    let end = start.saturating_add(size).min(items.len());
    let mut answer = json!({});
    // Compute Engine leaves `items` out of an empty list.
    if end > start {
        answer[key] = Value::Array(items[start..end].to_vec());
    }
    if end < items.len() {
        answer["nextPageToken"] = json!(format!("tok-{end}"));
    }
    answer
}

fn json_answer(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// AIP-193's error: `code`, `message`, `status`, and the reason in `errors`.
fn error(status: StatusCode, code: &str, reason: &str, message: &str) -> Response<Full<Bytes>> {
    json_answer(
        status,
        json!({"error": {"code": status.as_u16(), "message": message, "status": code,
                         "errors": [{"message": message, "domain": "global", "reason": reason}]}}),
    )
}

/// Compute Engine's own errors carry no `status`, only `errors[].reason`.
fn classic_error(status: StatusCode, reason: &str, message: &str) -> Response<Full<Bytes>> {
    json_answer(
        status,
        json!({"error": {"code": status.as_u16(), "message": message,
                         "errors": [{"message": message, "domain": "global", "reason": reason}]}}),
    )
}

/// What Google answers for an API that is not enabled in the project.
fn service_disabled(project: &str) -> Response<Full<Bytes>> {
    let message = format!(
        "Compute Engine API has not been used in project {project} before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project={project} then retry."
    );
    json_answer(
        StatusCode::FORBIDDEN,
        json!({"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED",
            "errors": [{"message": message, "domain": "usageLimits", "reason": "accessNotConfigured", "extendedHelp": "https://console.developers.google.com"}],
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED", "domain": "googleapis.com",
                         "metadata": {"service": "compute.googleapis.com", "consumer": format!("projects/{project}")}}]}}),
    )
}
