//! An HTTP proxy of our own between snapaudit and moto: it counts requests by
//! (region, action), denies regions or role assumption, pages
//! `DescribeSnapshots` (moto serves one page only), answers the
//! block-public-access call moto lacks, adds latency, and throttles like AWS:
//! a token bucket per (region, action), 503 `RequestLimitExceeded` for EC2
//! and 400 `Throttling` for RDS when it is empty.
//!
//! It also knows which account each request is for (the access keys of the
//! `AssumeRole` answers it relays; other keys are the caller's account) and
//! enables opt-in regions per account as AWS does: moto serves every region
//! to everyone and ignores `AllRegions`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// `ListAccounts` pages after this many answer `AccessDeniedException`.
    pub deny_list_accounts_after: Option<u64>,
    /// Regions whose every EC2 call answers 403 `UnauthorizedOperation`.
    pub deny_regions: BTreeSet<String>,
    /// Actions an IAM policy or SCP denies everywhere (e.g.
    /// `DescribeSnapshotAttribute`): 403 `UnauthorizedOperation` for EC2,
    /// `AccessDenied` for RDS.
    pub deny_actions: BTreeSet<String>,
    /// Serve `DescribeSnapshots` and `DescribeImages` in pages of this
    /// many, with `nextToken`.
    pub page_size: Option<usize>,
    /// Answer `GetSnapshotBlockPublicAccessState` with this state.
    pub block_public_access: Option<String>,
    /// Answer `GetImageBlockPublicAccessState` with this state (moto lacks it).
    pub image_block_public_access: Option<String>,
    /// Accounts in which `AssumeRole` answers 403 `AccessDenied`.
    pub deny_assume_accounts: BTreeSet<String>,
    /// Added before every answer, like a real network round trip.
    pub latency: Duration,
    /// EC2's bucket per (region, action): (size, refill per second); RDS
    /// too when `rds_bucket` is not set.
    pub bucket: Option<(f64, f64)>,
    /// RDS's one bucket per region for every RDS action (AWS: 300, 12/s).
    pub rds_bucket: Option<(f64, f64)>,
    /// Until then, every call but STS answers 503 `RequestLimitExceeded`
    /// (EC2) or 400 `Throttling` (RDS): a throttling storm.
    pub storm_until: Option<Instant>,
    /// The next N calls (not STS) answer 500 `InternalError`.
    pub fail_next: u32,
    /// The next N calls of one action answer 503 `RequestLimitExceeded`.
    pub throttle_next_of: Option<(String, u32)>,
    /// The next N calls (not STS) have their connection closed unanswered.
    pub reset_next: u32,
    /// The next N `DescribeSnapshots` answers are cut in half.
    pub truncate_next: u32,
    /// After this many more calls (not STS), every call answers 400
    /// `ExpiredToken`: credentials that expire mid-scan.
    pub expire_after: Option<u64>,
    /// CloudTrail delivers an event this long after the call (0: at once).
    pub trail_delay: Duration,
    /// Events are recorded with an `eventTime` this long before the call:
    /// with the scans' own times moved back as far, an event delivered that
    /// late (CloudTrail gives no bound on delivery).
    pub trail_backdate: Duration,
    /// Share events are recorded in the legacy flat request form
    /// (`operationType` beside `userIds` / `groupNames` items), as the
    /// `OperationType` / `UserId.N` request is recorded.
    pub legacy_trail_form: bool,
    /// When the share list of this snapshot is read (`DescribeSnapshotAttribute`),
    /// the proxy shares it with this account right after answering, as
    /// someone would during a long sweep: the list read misses the share,
    /// the event history has it.
    pub share_after_read: Option<(String, String)>,
    /// CloudTrail's answers carry a `Date` this far behind this machine's
    /// clock: the scanner's clock is ahead of AWS's.
    pub clock_behind: Duration,
    /// Write calls of these actions leave no event (one CloudTrail lost, or
    /// delivered past any overlap).
    pub unrecorded: BTreeSet<String>,
    /// Role sessions last this long (AWS: 1 hour by default): `AssumeRole`
    /// answers say so in `Expiration`, and a call signed with the session's
    /// key after that answers 400 `ExpiredToken`.
    pub session_ttl: Option<Duration>,
    /// Member accounts (every account but the caller's) hold nothing, and
    /// the proxy answers their listings itself, as AWS answers an empty
    /// account, without moto (which, one process, would otherwise bound an
    /// organization's scan). Role assumption still goes to moto.
    pub empty_members: bool,
    /// The proxy also answers member roles' `AssumeRole` and their
    /// `GetCallerIdentity` itself (STS API Reference: AssumeRole,
    /// GetCallerIdentity responses), so an organization's scan measures the
    /// client, not moto assuming 1,000 roles in one process.
    pub emulate_member_roles: bool,
    /// Opt-in regions ([`OPT_IN_REGIONS`]) each account has enabled; every
    /// other opt-in region answers EC2 401 `AuthFailure` and RDS 403
    /// `OptInRequired`, and `DescribeRegions` says `not-opted-in`.
    pub opted_in: BTreeMap<String, BTreeSet<String>>,
}

/// Regions AWS enables per account ("Specify which AWS Regions your account
/// can use", AWS Account Management Reference Guide). moto's own list is
/// older and calls some of them opt-in-not-required.
pub const OPT_IN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

/// The account of credentials the proxy did not see issued: moto's default.
const CALLER_ACCOUNT: &str = "123456789012";

#[derive(Default)]
pub struct ProxyState {
    pub faults: Mutex<Faults>,
    counts: Mutex<BTreeMap<(String, String), u64>>,
    /// Every action, in the order the requests arrived.
    sequence: Mutex<Vec<String>>,
    /// Attribute calls by snapshot identifier (RDS and EBS).
    per_snapshot: Mutex<BTreeMap<String, u64>>,
    buckets: Mutex<BTreeMap<(String, String), (f64, Instant)>>,
    throttled: Mutex<u64>,
    /// Access key id -> account, from the `AssumeRole` answers relayed.
    accounts_by_key: Mutex<BTreeMap<String, String>>,
    /// Access key id -> when its session expires (with `session_ttl`).
    expiry_by_key: Mutex<BTreeMap<String, Instant>>,
    /// Calls refused because their session had expired.
    expired_calls: Mutex<u64>,
    /// Requests by (account, region), STS excluded.
    by_account: Mutex<BTreeMap<(String, String), u64>>,
    /// The write calls forwarded, as CloudTrail records them (moto keeps no
    /// event history): `LookupEvents` is answered from these.
    trail: Mutex<Vec<TrailEvent>>,
    /// EBS snapshots made public through the proxy: moto ignores
    /// `RestorableByUserIds`, so the proxy answers `RestorableBy=all` from
    /// these (changes must go through the proxy, as AWS sees every call).
    public_snapshots: Mutex<BTreeSet<String>>,
    /// AMIs stored to S3 through the proxy (`CreateStoreImageTask`, which
    /// moto lacks).
    store_tasks: Mutex<Vec<StoreTask>>,
    /// RDS DB and cluster snapshots made public through the proxy: moto
    /// answers `SnapshotType=public` with nothing, so the proxy answers it
    /// from these, as RDS does (every account's public snapshots of the
    /// region: the proxy adds one of another account).
    public_rds: Mutex<BTreeSet<String>>,
    /// moto's `DescribeRegions` answer, kept to answer member accounts'.
    regions_answer: Mutex<Option<String>>,
}

/// (account, region, image, bucket, object key) of one AMI store task.
type StoreTask = (String, String, String, String, String);

/// Who sent a request: the account and region it was signed for, its
/// access key and user agent.
struct Caller<'a> {
    account: &'a str,
    region: &'a str,
    key: &'a str,
    user_agent: String,
}

/// One forwarded write call, as CloudTrail's event history holds it.
#[derive(Debug, Clone)]
struct TrailEvent {
    id: String,
    name: String,
    account: String,
    region: String,
    principal: String,
    user_agent: String,
    at: jiff::Timestamp,
    recorded: Instant,
    /// The request's parameters and the ids the response named.
    request: Vec<(String, String)>,
    response: Vec<(String, String)>,
    /// A refused call's `errorCode` and `errorMessage` (CloudTrail records
    /// refused calls too).
    error: Option<(String, String)>,
}

/// Actions CloudTrail records that snapaudit attributes (management write
/// events of EC2 and RDS snapshots and images).
const RECORDED: &[&str] = &[
    "CreateSnapshot",
    "CreateSnapshots",
    "CopySnapshot",
    "DeleteSnapshot",
    "ModifySnapshotAttribute",
    "ResetSnapshotAttribute",
    "CreateDBSnapshot",
    "CopyDBSnapshot",
    "DeleteDBSnapshot",
    "ModifyDBSnapshotAttribute",
    "StartExportTask",
    "CreateDBClusterSnapshot",
    "CopyDBClusterSnapshot",
    "DeleteDBClusterSnapshot",
    "ModifyDBClusterSnapshotAttribute",
    "RegisterImage",
    "CreateImage",
    "CopyImage",
    "DeregisterImage",
    "ModifyImageAttribute",
    "CreateStoreImageTask",
];

impl ProxyState {
    /// Requests seen for `action`, in all regions.
    pub fn count(&self, action: &str) -> u64 {
        self.counts.lock().unwrap().iter().filter(|((_, a), _)| a == action).map(|(_, n)| n).sum()
    }

    /// Every action, in the order the requests arrived.
    pub fn sequence(&self) -> Vec<String> {
        self.sequence.lock().unwrap().clone()
    }

    /// Every request seen, all actions and regions.
    pub fn requests(&self) -> u64 {
        self.counts.lock().unwrap().values().sum()
    }

    /// The actions seen, e.g. `DescribeSnapshots`.
    pub fn actions(&self) -> std::collections::BTreeSet<String> {
        self.counts.lock().unwrap().keys().map(|(_, a)| a.clone()).collect()
    }

    pub fn count_in(&self, region: &str, action: &str) -> u64 {
        self.counts.lock().unwrap().get(&(region.to_owned(), action.to_owned())).copied().unwrap_or(0)
    }

    pub fn reset_counts(&self) {
        self.counts.lock().unwrap().clear();
        self.sequence.lock().unwrap().clear();
        self.per_snapshot.lock().unwrap().clear();
        self.by_account.lock().unwrap().clear();
        *self.throttled.lock().unwrap() = 0;
    }

    /// Attribute calls made for one snapshot id.
    pub fn attribute_calls_for(&self, snapshot_id: &str) -> u64 {
        self.per_snapshot.lock().unwrap().get(snapshot_id).copied().unwrap_or(0)
    }

    /// Attribute calls made for snapshot ids starting with `prefix`
    /// (RDS automated snapshots are named `rds:...`).
    pub fn attribute_calls_for_prefix(&self, prefix: &str) -> u64 {
        self.per_snapshot.lock().unwrap().iter().filter(|(id, _)| id.starts_with(prefix)).map(|(_, n)| n).sum()
    }

    /// Requests seen for RDS actions, in all regions.
    pub fn rds_requests(&self) -> u64 {
        self.counts.lock().unwrap().iter().filter(|((_, a), _)| a.contains("DB")).map(|(_, n)| n).sum()
    }

    /// Calls refused because their role session had expired.
    pub fn expired_calls(&self) -> u64 {
        *self.expired_calls.lock().unwrap()
    }

    /// Requests (not STS) made with `account`'s credentials in `region`.
    pub fn count_for(&self, account: &str, region: &str) -> u64 {
        self.by_account.lock().unwrap().get(&(account.to_owned(), region.to_owned())).copied().unwrap_or(0)
    }

    /// Whether `account` may use `region`.
    fn enabled(&self, account: &str, region: &str) -> bool {
        !OPT_IN_REGIONS.contains(&region)
            || self.faults.lock().unwrap().opted_in.get(account).is_some_and(|r| r.contains(region))
    }

    fn account_of(&self, access_key: &str) -> String {
        self.accounts_by_key.lock().unwrap().get(access_key).cloned().unwrap_or_else(|| CALLER_ACCOUNT.to_owned())
    }

    /// Requests refused with a throttling error.
    pub fn throttled(&self) -> u64 {
        *self.throttled.lock().unwrap()
    }

    /// Take a token from (region, action)'s bucket; false when it is empty.
    fn take_token(&self, region: &str, action: &str, (size, rate): (f64, f64)) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap();
        let (tokens, at) = buckets.entry((region.to_owned(), action.to_owned())).or_insert((size, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(size);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// The next injected fault for a call of `action` to `service`, consuming it.
    fn injected_fault(&self, service: &str, action: &str) -> Option<Result<Response<Full<Bytes>>, std::io::Error>> {
        let mut f = self.faults.lock().unwrap();
        let throttled = || {
            if service == "rds" {
                xml(StatusCode::BAD_REQUEST, rds_error("Throttling", "Rate exceeded"))
            } else {
                xml(StatusCode::SERVICE_UNAVAILABLE, ec2_error("RequestLimitExceeded", "Request limit exceeded."))
            }
        };
        if f.storm_until.is_some_and(|until| Instant::now() < until) {
            *self.throttled.lock().unwrap() += 1;
            return Some(Ok(throttled()));
        }
        if let Some((throttled_action, left)) = f.throttle_next_of.as_mut()
            && throttled_action == action
            && *left > 0
        {
            *left -= 1;
            *self.throttled.lock().unwrap() += 1;
            return Some(Ok(throttled()));
        }
        if let Some(left) = f.expire_after.as_mut() {
            if *left == 0 {
                let message = "The security token included in the request is expired";
                let body = if service == "rds" {
                    rds_error("ExpiredToken", message)
                } else {
                    ec2_error("ExpiredToken", message)
                };
                return Some(Ok(xml(StatusCode::BAD_REQUEST, body)));
            }
            *left -= 1;
        }
        if f.fail_next > 0 {
            f.fail_next -= 1;
            return Some(Ok(xml(
                StatusCode::INTERNAL_SERVER_ERROR,
                ec2_error("InternalError", "An internal error has occurred"),
            )));
        }
        if f.reset_next > 0 {
            f.reset_next -= 1;
            return Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected reset")));
        }
        None
    }

    /// Cut `body` in half if a truncation is pending.
    fn maybe_truncate(&self, mut body: String) -> String {
        let mut f = self.faults.lock().unwrap();
        if f.truncate_next > 0 {
            f.truncate_next -= 1;
            let mut cut = body.len() / 2;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
        }
        body
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
                    // A handler error makes hyper drop the connection: a reset.
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
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let form = String::from_utf8_lossy(&body).into_owned();
    // Query protocol (EC2, RDS, STS) names the action in the form; JSON
    // protocol (Organizations) in `X-Amz-Target: Service.Action`.
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let action = form_value(&form, "Action")
        .or_else(|| target.and_then(|t| t.rsplit('.').next()).map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    let region = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(region_of_signature)
        .unwrap_or_else(|| "?".into());
    *state.counts.lock().unwrap().entry((region.clone(), action.clone())).or_default() += 1;
    state.sequence.lock().unwrap().push(action.clone());
    for key in ["SnapshotId", "DBSnapshotIdentifier", "DBClusterSnapshotIdentifier"] {
        if action.contains("SnapshotAttribute")
            && let Some(id) = form_value(&form, key)
        {
            *state.per_snapshot.lock().unwrap().entry(percent_decode(&id)).or_default() += 1;
        }
    }
    let faults = state.faults.lock().unwrap().clone();
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let credential = |field: usize| {
        parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.split("Credential=").nth(1)?.split('/').nth(field).map(str::to_owned))
            .unwrap_or_default()
    };
    let service = credential(3);
    let account = state.account_of(&credential(0));
    if service != "sts" {
        *state.by_account.lock().unwrap().entry((account.clone(), region.clone())).or_default() += 1;
    }
    if service != "sts"
        && let Some(answer) = state.injected_fault(&service, &action)
    {
        return answer;
    }
    // RDS meters all its actions of a region together; EC2 each action.
    let metered = match (service.as_str(), faults.rds_bucket) {
        ("sts", _) => None,
        ("rds", Some(rds)) => Some(("rds:*", rds)),
        (_, _) => faults.bucket.map(|b| (action.as_str(), b)),
    };
    if let Some((key, bucket)) = metered
        && !state.take_token(&region, key, bucket)
    {
        *state.throttled.lock().unwrap() += 1;
        return Ok(if service == "rds" {
            xml(StatusCode::BAD_REQUEST, rds_error("Throttling", "Rate exceeded"))
        } else {
            xml(StatusCode::SERVICE_UNAVAILABLE, ec2_error("RequestLimitExceeded", "Request limit exceeded."))
        });
    }
    if action == "AssumeRole"
        && let Some(arn) = form_value(&form, "RoleArn").map(|a| percent_decode(&a))
        && faults.deny_assume_accounts.iter().any(|a| arn.contains(&format!(":{a}:")))
    {
        return Ok(xml(
            StatusCode::FORBIDDEN,
            sts_error("AccessDenied", &format!("not authorized to perform sts:AssumeRole on {arn}")),
        ));
    }

    if service != "sts"
        && let Some(expires) = state.expiry_by_key.lock().unwrap().get(&credential(0)).copied()
        && Instant::now() >= expires
    {
        *state.expired_calls.lock().unwrap() += 1;
        let message = "The security token included in the request is expired";
        return Ok(xml(
            StatusCode::BAD_REQUEST,
            if service == "rds" { rds_error("ExpiredToken", message) } else { ec2_error("ExpiredToken", message) },
        ));
    }
    if action == "ListAccounts"
        && faults.deny_list_accounts_after.is_some_and(|pages| state.count("ListAccounts") > pages)
    {
        let message = "You don't have permissions to access this resource.";
        return Ok(json_answer(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"__type": "AccessDeniedException", "Message": message}),
        ));
    }
    // CloudTrail speaks JSON 1.1, errors included.
    if action == "LookupEvents" {
        return Ok(if faults.deny_actions.contains("LookupEvents") {
            json_answer(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"__type": "AccessDeniedException", "message": "User is not authorized to perform: cloudtrail:LookupEvents"}),
            )
        } else {
            let mut answer = json_answer(StatusCode::OK, state.lookup_events(&account, &region, &form, &faults));
            if !faults.clock_behind.is_zero() {
                let aws_now = jiff::Timestamp::now() - jiff::SignedDuration::try_from(faults.clock_behind).unwrap();
                let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&aws_now).unwrap();
                answer.headers_mut().insert("date", date.parse().unwrap());
            }
            answer
        });
    }
    if (faults.deny_regions.contains(&region) || faults.deny_actions.contains(&action)) && service != "sts" {
        // CloudTrail records a refused write call too, with its error code.
        if RECORDED.contains(&action.as_str()) {
            let user_agent =
                parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let caller = Caller { account: &account, region: &region, key: &credential(0), user_agent };
            let code = if service == "rds" { "AccessDenied" } else { "Client.UnauthorizedOperation" };
            let error = Some((code.to_owned(), "You are not authorized to perform this operation.".to_owned()));
            state.record(&action, caller, &form, "", error, faults.trail_backdate);
        }
        // Each service denies in its own error format and code.
        return Ok(if service == "rds" {
            xml(StatusCode::FORBIDDEN, rds_error("AccessDenied", "User is not authorized to perform this action"))
        } else {
            xml(
                StatusCode::FORBIDDEN,
                ec2_error("UnauthorizedOperation", "You are not authorized to perform this operation."),
            )
        });
    }
    // A region the account has not enabled (EC2: AuthFailure; RDS:
    // OptInRequired). DescribeRegions itself is answered in the default region.
    if service != "sts" && !state.enabled(&account, &region) {
        return Ok(if service == "rds" {
            xml(
                StatusCode::FORBIDDEN,
                rds_error("OptInRequired", "The AWS Access Key Id needs a subscription for the service"),
            )
        } else {
            xml(
                StatusCode::UNAUTHORIZED,
                ec2_error("AuthFailure", "AWS was not able to validate the provided access credentials"),
            )
        });
    }
    // Block public access states moto lacks: (action, state element, state).
    let setting = match action.as_str() {
        "GetSnapshotBlockPublicAccessState" => faults.block_public_access.map(|s| ("state", s)),
        "GetImageBlockPublicAccessState" => {
            faults.image_block_public_access.map(|s| ("imageBlockPublicAccessState", s))
        }
        _ => None,
    };
    if let Some((element, s)) = setting {
        return Ok(xml(
            StatusCode::OK,
            format!(
                "<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>proxy</requestId><{element}>{s}</{element}><managedBy>account</managedBy></{action}Response>"
            ),
        ));
    }

    if faults.emulate_member_roles && service == "sts" {
        let role = form_value(&form, "RoleArn").map(|a| percent_decode(&a));
        let role_account = role.as_deref().and_then(|arn| arn.split(':').nth(4)).map(str::to_owned);
        match (action.as_str(), role_account) {
            ("AssumeRole", Some(member)) if member != CALLER_ACCOUNT => {
                let key = format!("ASIAPROXY{member}");
                state.accounts_by_key.lock().unwrap().insert(key.clone(), member.clone());
                let expiration = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
                return Ok(xml(
                    StatusCode::OK,
                    format!(
                        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
                         <Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>proxy-secret</SecretAccessKey>\
                         <SessionToken>proxy-token</SessionToken><Expiration>{expiration}</Expiration></Credentials>\
                         <AssumedRoleUser><AssumedRoleId>AROAPROXY:snapaudit</AssumedRoleId>\
                         <Arn>arn:aws:sts::{member}:assumed-role/member/snapaudit</Arn></AssumedRoleUser>\
                         </AssumeRoleResult><ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata>\
                         </AssumeRoleResponse>"
                    ),
                ));
            }
            ("GetCallerIdentity", _) if account != CALLER_ACCOUNT => {
                return Ok(xml(
                    StatusCode::OK,
                    format!(
                        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                         <GetCallerIdentityResult><Arn>arn:aws:sts::{account}:assumed-role/member/snapaudit</Arn>\
                         <UserId>AROAPROXY:snapaudit</UserId><Account>{account}</Account></GetCallerIdentityResult>\
                         <ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
                    ),
                ));
            }
            _ => {}
        }
    }
    if faults.empty_members && service != "sts" && account != CALLER_ACCOUNT {
        let regions = state.regions_answer.lock().unwrap().clone();
        let answer = match (action.as_str(), regions) {
            ("DescribeRegions", Some(cached)) => {
                let all = form_value(&form, "AllRegions").is_some_and(|v| v == "true");
                Some(state.regions_for(&account, &cached, all))
            }
            (action, _) => empty_listing(action),
        };
        if let Some(body) = answer {
            return Ok(xml(StatusCode::OK, body));
        }
    }

    // AMI stores to S3, which moto lacks (EC2 API Reference:
    // CreateStoreImageTask, DescribeStoreImageTasks).
    if action == "CreateStoreImageTask" {
        let image = form_value(&form, "ImageId").unwrap_or_default();
        let bucket = form_value(&form, "Bucket").unwrap_or_default();
        let key = format!("{image}.bin");
        let task = (account.clone(), region.clone(), image, bucket, key.clone());
        state.store_tasks.lock().unwrap().push(task);
        let answer = format!(
            "<CreateStoreImageTaskResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>proxy</requestId><objectKey>{key}</objectKey></CreateStoreImageTaskResponse>"
        );
        let user_agent = parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let caller = Caller { account: &account, region: &region, key: &credential(0), user_agent };
        state.record(&action, caller, &form, &answer, None, faults.trail_backdate);
        return Ok(xml(StatusCode::OK, answer));
    }
    if action == "DescribeStoreImageTasks" {
        let items: String = state
            .store_tasks
            .lock()
            .unwrap()
            .iter()
            .filter(|(a, r, ..)| *a == account && *r == region)
            .map(|(_, _, image, bucket, key)| {
                format!(
                    "<item><amiId>{image}</amiId><bucket>{bucket}</bucket><s3objectKey>{key}</s3objectKey><storeTaskState>Completed</storeTaskState><progressPercentage>100</progressPercentage></item>"
                )
            })
            .collect();
        return Ok(xml(
            StatusCode::OK,
            format!(
                "<DescribeStoreImageTasksResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>proxy</requestId><storeImageTaskResultSet>{items}</storeImageTaskResultSet></DescribeStoreImageTasksResponse>"
            ),
        ));
    }
    // Organizations API Reference, ListAccounts: `MaxResults` 1-20, so an
    // organization of 1,000 accounts is 50 pages in a row; moto's pages
    // hold 100.
    let public_rds_listing = matches!(action.as_str(), "DescribeDBSnapshots" | "DescribeDBClusterSnapshots")
        && form_value(&form, "SnapshotType").is_some_and(|t| t == "public");
    let body = match action.as_str() {
        _ if public_rds_listing => {
            let kept: Vec<&str> = form
                .split('&')
                .filter(|p| !p.starts_with("SnapshotType=") && !p.starts_with("IncludePublic="))
                .collect();
            Bytes::from(kept.join("&"))
        }
        "ListAccounts" => {
            let mut request: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or_else(|_| serde_json::json!({}));
            let asked = request["MaxResults"].as_u64().unwrap_or(20).min(20);
            request["MaxResults"] = asked.into();
            Bytes::from(request.to_string())
        }
        _ => body,
    };
    let uri = format!("{upstream}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let forward = with_headers(Request::builder().method(parts.method.clone()).uri(uri), &parts.headers);
    let response = match client.request(forward.body(Full::new(body)).unwrap()).await {
        Ok(r) => r,
        Err(e) => return Ok(xml(StatusCode::BAD_GATEWAY, format!("proxy: upstream failed: {e}"))),
    };
    let status = response.status();
    let bytes = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if RECORDED.contains(&action.as_str()) && status.is_success() {
        let user_agent = parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let caller = Caller { account: &account, region: &region, key: &credential(0), user_agent };
        state.record(&action, caller, &form, &text, None, faults.trail_backdate);
    }
    if action == "DescribeSnapshotAttribute"
        && let Some((snapshot, grantee)) = &faults.share_after_read
        && form_value(&form, "SnapshotId").is_some_and(|id| percent_decode(&id) == *snapshot)
    {
        state.faults.lock().unwrap().share_after_read = None;
        let share = format!(
            "Action=ModifySnapshotAttribute&Version=2016-11-15&SnapshotId={snapshot}&Attribute=createVolumePermission&OperationType=add&UserId.1={grantee}"
        );
        let forward = with_headers(Request::builder().method("POST").uri(format!("{upstream}/")), &parts.headers);
        let shared = client.request(forward.body(Full::new(Bytes::from(share.clone()))).unwrap()).await;
        assert!(shared.is_ok_and(|r| r.status().is_success()), "share_after_read: moto refused the share");
        let caller = Caller { account: &account, region: &region, key: &credential(0), user_agent: "during".into() };
        state.record("ModifySnapshotAttribute", caller, &share, "", None, Duration::ZERO);
    }
    if action == "AssumeRole"
        && status.is_success()
        && let (Some(arn), Some(key)) =
            (form_value(&form, "RoleArn").map(|a| percent_decode(&a)), element(&text, "AccessKeyId"))
        && let Some(role_account) = arn.split(':').nth(4)
    {
        state.accounts_by_key.lock().unwrap().insert(key.to_owned(), role_account.to_owned());
        if let (Some(ttl), Some(expiration)) = (faults.session_ttl, element(&text, "Expiration")) {
            state.expiry_by_key.lock().unwrap().insert(key.to_owned(), Instant::now() + ttl);
            let until = (jiff::Timestamp::now() + jiff::SignedDuration::try_from(ttl).unwrap()).to_string();
            let shortened = text.replace(
                &format!("<Expiration>{expiration}</Expiration>"),
                &format!("<Expiration>{until}</Expiration>"),
            );
            return Ok(xml(status, shortened));
        }
    }
    if action == "DescribeRegions" && status.is_success() {
        state.regions_answer.lock().unwrap().get_or_insert_with(|| text.clone());
        let all = form_value(&form, "AllRegions").is_some_and(|v| v == "true");
        return Ok(xml(status, state.regions_for(&account, &text, all)));
    }
    if public_rds_listing && status.is_success() {
        return Ok(xml(status, state.only_public_rds(&action, &region, &text)));
    }
    // EC2 pages its listings with `nextToken`; moto serves one page.
    let listed_set = match action.as_str() {
        "DescribeSnapshots" => Some("snapshotSet"),
        "DescribeImages" => Some("imagesSet"),
        _ => None,
    };
    // moto ignores `RestorableByUserIds` (`RestorableBy.N` on the wire).
    let restorable_by_all = form.split('&').any(|p| p.starts_with("RestorableBy.") && p.ends_with("=all"));
    let text = if action == "DescribeSnapshots" && restorable_by_all && status.is_success() {
        state.only_public(&text)
    } else {
        text
    };
    let text = match (listed_set, faults.page_size) {
        (Some(set), Some(size)) if status.is_success() => {
            let offset = form_value(&form, "NextToken").and_then(|t| t.parse().ok()).unwrap_or(0);
            page(&text, set, offset, size)
        }
        _ => text,
    };
    // Only snapshot listings are cut (`truncate_next`).
    if action == "DescribeSnapshots" {
        return Ok(xml(status, state.maybe_truncate(text)));
    }
    Ok(xml(status, text))
}

impl ProxyState {
    /// moto's region list as AWS answers it for `account`: this partition
    /// only, each opt-in region `opted-in` or `not-opted-in` for the account,
    /// and without `AllRegions=true` only the regions it can use.
    fn regions_for(&self, account: &str, xml: &str, all: bool) -> String {
        let (open, close) = ("<regionInfo>", "</regionInfo>");
        let (Some(start), Some(end)) = (xml.find(open), xml.rfind(close)) else { return xml.to_owned() };
        let inner = &xml[start + open.len()..end];
        let items: String = top_level_items(inner)
            .into_iter()
            .filter_map(|item| {
                let name = element(item, "regionName")?;
                if name.starts_with("cn-") || name.starts_with("us-gov-") {
                    return None;
                }
                let enabled = self.enabled(account, name);
                let status = match (OPT_IN_REGIONS.contains(&name), enabled) {
                    (false, _) => "opt-in-not-required",
                    (true, true) => "opted-in",
                    (true, false) => "not-opted-in",
                };
                (all || enabled).then(|| {
                    format!(
                        "<item><regionName>{name}</regionName><regionEndpoint>ec2.{name}.amazonaws.com</regionEndpoint><optInStatus>{status}</optInStatus></item>"
                    )
                })
            })
            .collect();
        format!("{}{open}{items}{close}{}", &xml[..start], &xml[end + close.len()..])
    }
}

/// What AWS answers a listing of an account that holds nothing.
fn empty_listing(action: &str) -> Option<String> {
    const EC2: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
    const RDS: &str = "http://rds.amazonaws.com/doc/2014-10-31/";
    let (namespace, inner) = match action {
        "DescribeSnapshots" => (EC2, "<requestId>proxy</requestId><snapshotSet/>".to_owned()),
        "DescribeImages" => (EC2, "<requestId>proxy</requestId><imagesSet/>".to_owned()),
        "DescribeDBSnapshots" | "DescribeDBClusterSnapshots" => {
            let list = if action == "DescribeDBSnapshots" { "DBSnapshots" } else { "DBClusterSnapshots" };
            (
                RDS,
                format!(
                    "<{action}Result><{list}/></{action}Result><ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata>"
                ),
            )
        }
        "DescribeExportTasks" => (
            RDS,
            "<DescribeExportTasksResult><ExportTasks/></DescribeExportTasksResult><ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata>"
                .to_owned(),
        ),
        _ => return None,
    };
    Some(format!("<{action}Response xmlns=\"{namespace}\">{inner}</{action}Response>"))
}

/// The text of the first `<name>...</name>` in `xml`.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(&xml[start..end])
}

impl ProxyState {
    fn record(
        &self,
        name: &str,
        caller: Caller<'_>,
        form: &str,
        answer: &str,
        error: Option<(String, String)>,
        backdate: Duration,
    ) {
        let Caller { account, region, key, user_agent } = caller;
        let request: Vec<(String, String)> = form
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .filter(|(k, _)| *k != "Action" && *k != "Version")
            .map(|(k, v)| (k.to_owned(), percent_decode(v)))
            .collect();
        let response = ["snapshotId", "imageId", "DBSnapshotIdentifier", "DBClusterSnapshotIdentifier"]
            .iter()
            .filter_map(|tag| element(answer, tag).map(|v| (tag.to_string(), v.to_owned())))
            .collect();
        if error.is_none() {
            self.track_public(name, &request);
        }
        if self.faults.lock().unwrap().unrecorded.contains(name) {
            return;
        }
        let mut trail = self.trail.lock().unwrap();
        let id = format!("proxy-event-{}", trail.len() + 1);
        trail.push(TrailEvent {
            id,
            name: name.to_owned(),
            account: account.to_owned(),
            region: region.to_owned(),
            principal: format!("arn:aws:iam::{account}:user/{key}"),
            user_agent,
            at: jiff::Timestamp::now() - jiff::SignedDuration::try_from(backdate).unwrap(),
            recorded: Instant::now(),
            request,
            response,
            error,
        });
    }

    /// CloudTrail's `LookupEvents` (JSON 1.1) for the caller's account and
    /// region: one `EventName` attribute, `StartTime`, pages of at most 50
    /// (`NextToken`), newest first, events visible after the delivery delay.
    fn lookup_events(&self, account: &str, region: &str, body: &str, faults: &Faults) -> serde_json::Value {
        let delay = faults.trail_delay;
        let request: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let name = request["LookupAttributes"][0]["AttributeValue"].as_str().map(str::to_owned);
        let start = request["StartTime"].as_f64().unwrap_or(0.0);
        let size = request["MaxResults"].as_u64().unwrap_or(50).min(50) as usize;
        let offset: usize = request["NextToken"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
        let trail = self.trail.lock().unwrap();
        let matching: Vec<&TrailEvent> = trail
            .iter()
            .rev()
            .filter(|e| e.account == account && e.region == region && e.recorded.elapsed() >= delay)
            .filter(|e| name.as_deref().is_none_or(|n| n == e.name))
            .filter(|e| e.at.as_second() as f64 >= start)
            .collect();
        let page: Vec<serde_json::Value> = matching
            .iter()
            .skip(offset)
            .take(size)
            .map(|e| {
                let parameters = if faults.legacy_trail_form {
                    legacy_parameters(&e.name, &e.request)
                } else {
                    cloudtrail_parameters(&e.name, &e.request)
                };
                let mut record = serde_json::json!({
                    "eventVersion": "1.09",
                    "userIdentity": {"type": "IAMUser", "arn": e.principal, "accountId": e.account},
                    "eventTime": common_second(e.at).to_string(),
                    "eventName": e.name,
                    "awsRegion": e.region,
                    "sourceIPAddress": "127.0.0.1",
                    "userAgent": e.user_agent,
                    "requestParameters": parameters,
                    "responseElements": as_object(&e.response),
                    "eventID": e.id,
                });
                // "CloudTrail record contents": a refused call has
                // `errorCode` and `errorMessage`, and no response elements.
                if let Some((code, message)) = &e.error {
                    record["errorCode"] = code.clone().into();
                    record["errorMessage"] = message.clone().into();
                    record["responseElements"] = serde_json::Value::Null;
                }
                serde_json::json!({
                    "EventId": e.id,
                    "EventName": e.name,
                    "EventTime": e.at.as_second(),
                    "Username": e.principal,
                    "Resources": [],
                    "CloudTrailEvent": record.to_string(),
                })
            })
            .collect();
        let mut answer = serde_json::json!({ "Events": page });
        if offset + size < matching.len() {
            answer["NextToken"] = serde_json::Value::String((offset + size).to_string());
        }
        answer
    }

    /// Keep [`ProxyState::public_snapshots`] and [`ProxyState::public_rds`]
    /// as the forwarded calls leave them.
    fn track_public(&self, name: &str, request: &[(String, String)]) {
        let rds_id = request.iter().find(|(k, _)| k == "DBSnapshotIdentifier" || k == "DBClusterSnapshotIdentifier");
        if let Some((_, id)) = rds_id {
            let names_all = |prefix: &str| request.iter().any(|(k, v)| k.starts_with(prefix) && v == "all");
            let mut public = self.public_rds.lock().unwrap();
            match name {
                "ModifyDBSnapshotAttribute" | "ModifyDBClusterSnapshotAttribute" if names_all("ValuesToAdd.") => {
                    public.insert(id.clone());
                }
                "ModifyDBSnapshotAttribute" | "ModifyDBClusterSnapshotAttribute" if names_all("ValuesToRemove.") => {
                    public.remove(id);
                }
                "DeleteDBSnapshot" | "DeleteDBClusterSnapshot" => {
                    public.remove(id);
                }
                _ => {}
            }
            return;
        }
        let Some(id) = request.iter().find(|(k, _)| k == "SnapshotId").map(|(_, v)| v.clone()) else { return };
        let mut public = self.public_snapshots.lock().unwrap();
        match name {
            "ModifySnapshotAttribute" => {
                let shape = cloudtrail_parameters(name, request);
                let names_all = |op: &str| {
                    shape["createVolumePermission"][op]["items"]
                        .as_array()
                        .is_some_and(|items| items.iter().any(|i| i["group"] == "all"))
                };
                if names_all("add") {
                    public.insert(id);
                } else if names_all("remove") {
                    public.remove(&id);
                }
            }
            "ResetSnapshotAttribute" | "DeleteSnapshot" => {
                public.remove(&id);
            }
            _ => {}
        }
    }

    /// Only the items of a `DescribeSnapshots` answer made public through
    /// the proxy.
    fn only_public(&self, xml: &str) -> String {
        let (open, close) = ("<snapshotSet>", "</snapshotSet>");
        let (Some(start), Some(end)) = (xml.find(open), xml.rfind(close)) else { return xml.to_owned() };
        let public = self.public_snapshots.lock().unwrap();
        let kept: String = top_level_items(&xml[start + open.len()..end])
            .into_iter()
            .filter(|item| element(item, "snapshotId").is_some_and(|id| public.contains(id)))
            .collect();
        format!("{}{open}{kept}{close}{}", &xml[..start], &xml[end + close.len()..])
    }

    /// An RDS listing as `SnapshotType=public` answers it: the snapshots
    /// made public, and one public snapshot of another account.
    fn only_public_rds(&self, action: &str, region: &str, xml: &str) -> String {
        let (set, item, id_tag, kind) = if action == "DescribeDBSnapshots" {
            ("DBSnapshots", "DBSnapshot", "DBSnapshotIdentifier", "snapshot")
        } else {
            ("DBClusterSnapshots", "DBClusterSnapshot", "DBClusterSnapshotIdentifier", "cluster-snapshot")
        };
        let (open, close) = (format!("<{set}>"), format!("</{set}>"));
        let (Some(start), Some(end)) = (xml.find(&open), xml.rfind(&close)) else { return xml.to_owned() };
        let public = self.public_rds.lock().unwrap();
        let (item_open, item_close) = (format!("<{item}>"), format!("</{item}>"));
        let mut kept = String::new();
        let mut rest = &xml[start + open.len()..end];
        while let (Some(a), Some(b)) = (rest.find(&item_open), rest.find(&item_close)) {
            let whole = &rest[a..b + item_close.len()];
            if element(whole, id_tag).is_some_and(|id| public.contains(id)) {
                kept.push_str(whole);
            }
            rest = &rest[b + item_close.len()..];
        }
        let foreign = format!("arn:aws:rds:{region}:210987654321:{kind}:someone-elses-public");
        let arn_tag = if kind == "snapshot" { "DBSnapshotArn" } else { "DBClusterSnapshotArn" };
        kept.push_str(&format!(
            "{item_open}<{id_tag}>{foreign}</{id_tag}><{arn_tag}>{foreign}</{arn_tag}><SnapshotType>public</SnapshotType><Engine>postgres</Engine>{item_close}"
        ));
        format!("{}{open}{kept}{close}{}", &xml[..start], &xml[end + close.len()..])
    }

    /// Events recorded so far (tests check what the scan could look up).
    pub fn trail_len(&self) -> usize {
        self.trail.lock().unwrap().len()
    }
}

/// A request's parameters as CloudTrail records them: for the share
/// modifications, its documented nested shape (EC2 `createVolumePermission` /
/// `launchPermission` `{add|remove: {items: [{userId|group|...}]}}`, RDS
/// `valuesToAdd` / `valuesToRemove`); otherwise the query parameters as given.
fn cloudtrail_parameters(action: &str, request: &[(String, String)]) -> serde_json::Value {
    let get = |key: &str| request.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let numbered = |prefix: &str| -> Vec<String> {
        request.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v.clone()).collect()
    };
    let items = |operation: &str| -> Vec<serde_json::Value> {
        let mut items = Vec::new();
        let chosen = get("OperationType").is_some_and(|o| o.eq_ignore_ascii_case(operation));
        for (field, prefix) in [
            ("userId", "UserId."),
            ("group", "UserGroup."),
            ("organizationArn", "OrganizationArn."),
            ("organizationalUnitArn", "OrganizationalUnitArn."),
        ] {
            if chosen {
                items.extend(numbered(prefix).into_iter().map(|v| serde_json::json!({ field: v })));
            }
        }
        let capital = if operation == "add" { "Add" } else { "Remove" };
        for (k, v) in request {
            for (field, suffix) in [
                ("userId", ".UserId"),
                ("group", ".Group"),
                ("organizationArn", ".OrganizationArn"),
                ("organizationalUnitArn", ".OrganizationalUnitArn"),
            ] {
                if k.contains(&format!(".{capital}.")) && k.ends_with(suffix) {
                    items.push(serde_json::json!({ field: v }));
                }
            }
        }
        items
    };
    match action {
        "ModifySnapshotAttribute" | "ModifyImageAttribute" => {
            let (id_key, id_field, permission) = if action == "ModifySnapshotAttribute" {
                ("SnapshotId", "snapshotId", "createVolumePermission")
            } else {
                ("ImageId", "imageId", "launchPermission")
            };
            serde_json::json!({
                id_field: get(id_key),
                permission: { "add": { "items": items("add") }, "remove": { "items": items("remove") } },
            })
        }
        "ModifyDBSnapshotAttribute" | "ModifyDBClusterSnapshotAttribute" => serde_json::json!({
            "dBSnapshotIdentifier": get("DBSnapshotIdentifier"),
            "dBClusterSnapshotIdentifier": get("DBClusterSnapshotIdentifier"),
            "attributeName": get("AttributeName"),
            "valuesToAdd": numbered("ValuesToAdd."),
            "valuesToRemove": numbered("ValuesToRemove."),
        }),
        _ => serde_json::Value::Object(as_object(request)),
    }
}

/// A share modification as the legacy flat request form is recorded:
/// `operationType` beside `userIds` / `groupNames` items (the
/// `OperationType` / `UserId.N` / `UserGroup.N` query parameters).
fn legacy_parameters(action: &str, request: &[(String, String)]) -> serde_json::Value {
    let get = |key: &str| request.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let items = |prefix: &str, field: &str| -> Vec<serde_json::Value> {
        request.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| serde_json::json!({ field: v })).collect()
    };
    match (action, get("OperationType")) {
        ("ModifySnapshotAttribute" | "ModifyImageAttribute", Some(operation)) => serde_json::json!({
            "snapshotId": get("SnapshotId"),
            "imageId": get("ImageId"),
            "operationType": operation,
            "userIds": { "items": items("UserId.", "userId") },
            "groupNames": { "items": items("UserGroup.", "groupName") },
        }),
        _ => cloudtrail_parameters(action, request),
    }
}

fn as_object(pairs: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    pairs.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect()
}

/// The client's headers on a request to moto, but its length: the body
/// may have changed, and hyper sets it.
fn with_headers(
    mut forward: hyper::http::request::Builder,
    headers: &hyper::HeaderMap,
) -> hyper::http::request::Builder {
    for (name, value) in headers {
        if name != hyper::header::CONTENT_LENGTH {
            forward = forward.header(name, value);
        }
    }
    forward
}

fn json_answer(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn xml(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder().status(status).header("content-type", "text/xml").body(Full::new(Bytes::from(body))).unwrap()
}

fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>proxy</RequestID></Response>"
    )
}

fn rds_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
    )
}

fn sts_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>"
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
fn form_values_are_percent_decoded() {
    assert_eq!(percent_decode("arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx+y"), "arn:aws:iam::1:role/x y");
    assert_eq!(percent_decode("100%"), "100%");
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

/// CloudTrail's `eventTime`: whole seconds, the fraction dropped.
fn common_second(at: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(at.as_second()).unwrap()
}
