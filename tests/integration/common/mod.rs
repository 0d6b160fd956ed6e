//! Test harness shared by the end-to-end tests: the moto emulator, our proxy
//! in front of it, seeding through the real AWS SDK, and running the binary.
// Each test crate uses a different part of this module.
#![allow(dead_code)]

pub mod arm;
pub mod gcp;
pub mod proxy;
pub mod receiver;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use serde_json::Value;

pub const ACCOUNT: &str = "123456789012";
/// Planted so tests can check it never reaches output or the database.
pub const TEST_SECRET: &str = "snapaudit-test-secret-Zq8xV3";

/// A moto server on a free loopback port, stopped on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

fn moto_binary() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    assert!(
        path.exists(),
        "moto_server not found at {}: run scripts/setup-emulator (or set MOTO_SERVER)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new(moto_binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
            // moto caps manual RDS snapshots at 1,000 per region (AWS's quota is
            // adjustable); the RDS-bound bench needs more.
            .env("MOTO_RDS_SNAPSHOT_LIMIT", "100000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let moto = Moto { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "snapaudit-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn db(&self) -> PathBuf {
        self.0.join("state/snapaudit.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Wait into the next whole second: a scan judges only audit events stamped
/// (in whole seconds) before the second it started in, so a test that made
/// a change and scans at once would see it judged by the next scan.
pub fn next_second() {
    let now = jiff::Timestamp::now();
    let into = now.subsec_nanosecond().max(0) as u64;
    std::thread::sleep(std::time::Duration::from_nanos(1_000_000_000 - into + 20_000_000));
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

/// An EC2 client of the real SDK, for seeding the emulator.
pub fn ec2(endpoint: &str, region: &str) -> aws_sdk_ec2::Client {
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(test_credentials())
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

fn test_credentials() -> Credentials {
    Credentials::new("AKIDTESTING", TEST_SECRET, None, None, "test")
}

/// An RDS client of the real SDK, for seeding the emulator.
pub fn rds(endpoint: &str, region: &str) -> aws_sdk_rds::Client {
    let conf = aws_sdk_rds::Config::builder()
        .behavior_version(aws_sdk_rds::config::BehaviorVersion::latest())
        .region(aws_sdk_rds::config::Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(test_credentials())
        .build();
    aws_sdk_rds::Client::from_conf(conf)
}

/// Credentials for `account`, through STS AssumeRole (moto switches
/// accounts this way).
pub async fn credentials_in(endpoint: &str, account: &str) -> Credentials {
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(test_credentials())
        .build();
    let out = aws_sdk_sts::Client::from_conf(conf)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole"))
        .role_session_name("seed")
        .send()
        .await
        .expect("AssumeRole");
    let c = out.credentials.unwrap();
    Credentials::new(c.access_key_id, c.secret_access_key, Some(c.session_token), None, "assumed")
}

/// An organization (the caller is its management account) with these members.
pub fn organization(moto: &Moto, names: &[&str]) -> (aws_sdk_organizations::Client, Vec<String>) {
    let conf = aws_sdk_organizations::Config::builder()
        .behavior_version(aws_sdk_organizations::config::BehaviorVersion::latest())
        .region(aws_sdk_organizations::config::Region::new("us-east-1"))
        .endpoint_url(&moto.url)
        .credentials_provider(aws_sdk_ec2::config::Credentials::new("AKIDTESTING", "x", None, None, "t"))
        .build();
    let org = aws_sdk_organizations::Client::from_conf(conf);
    let ids = runtime().block_on(async {
        org.create_organization().send().await.expect("CreateOrganization");
        let mut ids = Vec::new();
        for name in names {
            let created = org
                .create_account()
                .account_name(*name)
                .email(format!("{name}@example.com"))
                .send()
                .await
                .expect("CreateAccount");
            ids.push(created.create_account_status.unwrap().account_id.unwrap());
        }
        ids
    });
    (org, ids)
}

/// An EC2 client acting as another account.
pub fn ec2_as(endpoint: &str, region: &str, credentials: Credentials) -> aws_sdk_ec2::Client {
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

/// A PostgreSQL DB instance in moto (which gives it an automated snapshot).
pub async fn create_db_instance(client: &aws_sdk_rds::Client, id: &str) {
    client
        .create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .allocated_storage(20)
        .master_username("admin")
        .master_user_password("not-a-secret-1")
        .send()
        .await
        .expect("CreateDBInstance");
}

/// An Aurora PostgreSQL cluster in moto (which gives it an automated snapshot).
pub async fn create_db_cluster(client: &aws_sdk_rds::Client, id: &str) {
    client
        .create_db_cluster()
        .db_cluster_identifier(id)
        .engine("aurora-postgresql")
        .master_username("admin")
        .master_user_password("not-a-secret-1")
        .send()
        .await
        .expect("CreateDBCluster");
}

/// Create `count` snapshots of one new volume; returns their ids in order.
pub async fn seed_snapshots(client: &aws_sdk_ec2::Client, count: usize, description: &str) -> Vec<String> {
    use futures_util::StreamExt;
    let region = client.config().region().unwrap().to_string();
    let volume = client
        .create_volume()
        .size(8)
        .availability_zone(format!("{region}a"))
        .send()
        .await
        .expect("CreateVolume")
        .volume_id
        .unwrap();
    let volume = &volume;
    let mut ids: Vec<(usize, String)> = futures_util::stream::iter(0..count)
        .map(|i| async move {
            let out = client
                .create_snapshot()
                .volume_id(volume)
                .description(format!("{description} {i}"))
                .send()
                .await
                .expect("CreateSnapshot");
            (i, out.snapshot_id.unwrap())
        })
        .buffer_unordered(8)
        .collect()
        .await;
    ids.sort();
    ids.into_iter().map(|(_, id)| id).collect()
}

pub async fn share(client: &aws_sdk_ec2::Client, snapshot: &str, account: Option<&str>) {
    let req = client
        .modify_snapshot_attribute()
        .snapshot_id(snapshot)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .operation_type(aws_sdk_ec2::types::OperationType::Add);
    let req = match account {
        Some(a) => req.user_ids(a),
        None => req.group_names("all"),
    };
    req.send().await.expect("ModifySnapshotAttribute");
}

pub async fn unshare_public(client: &aws_sdk_ec2::Client, snapshot: &str) {
    client
        .modify_snapshot_attribute()
        .snapshot_id(snapshot)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .operation_type(aws_sdk_ec2::types::OperationType::Remove)
        .group_names("all")
        .send()
        .await
        .expect("ModifySnapshotAttribute remove");
}

pub async fn delete(client: &aws_sdk_ec2::Client, snapshot: &str) {
    client.delete_snapshot().snapshot_id(snapshot).send().await.expect("DeleteSnapshot");
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The JSON lines of the given `type`, as their `data` objects.
    pub fn records(&self, kind: &str) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .filter(|v| v["type"] == kind)
            .map(|v| v["data"].clone())
            .collect()
    }

    pub fn summary(&self) -> Value {
        self.records("summary").pop().unwrap_or_else(|| panic!("no summary in:\n{}\n{}", self.stdout, self.stderr))
    }

    /// (kind, snapshot id) of every change, sorted.
    pub fn changes(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .records("change")
            .iter()
            .map(|c| (c["kind"].as_str().unwrap().to_owned(), c["snapshot_id"].as_str().unwrap().to_owned()))
            .collect();
        out.sort();
        out
    }

    /// (rule, subject) of every new or open exposure finding (`public-share`,
    /// `external-share`), sorted: what the collectors' tests check. The
    /// detection tests look at every rule with [`Run::all_findings`].
    pub fn findings(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .all_findings()
            .into_iter()
            .filter(|(rule, _, status)| {
                (rule == "public-share" || rule == "external-share") && (status == "new" || status == "open")
            })
            .map(|(rule, subject, _)| (rule, subject))
            .collect();
        out.sort();
        out
    }

    /// (rule, subject, status) of every finding listed, sorted.
    pub fn all_findings(&self) -> Vec<(String, String, String)> {
        let text = |v: &Value| v.as_str().unwrap_or_else(|| panic!("not a string: {v}")).to_owned();
        let mut out: Vec<(String, String, String)> = self
            .records("finding")
            .iter()
            .map(|f| (text(&f["rule"]), text(&f["subject"]), text(&f["status"])))
            .collect();
        out.sort();
        out
    }
}

/// Run the real binary in `dir` with test credentials against `endpoint`.
pub fn snapaudit(dir: &Path, endpoint: Option<&str>, args: &[&str]) -> Run {
    snapaudit_with(dir, endpoint, args, &[])
}

/// The real binary with `args`, run in `dir` with test credentials only
/// (nothing from the developer's environment) against `endpoint`.
pub fn command(dir: &Path, endpoint: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_snapaudit"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTING")
        .env("AWS_SECRET_ACCESS_KEY", TEST_SECRET)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-aws-credentials"));
    if let Some(url) = endpoint {
        cmd.env("AWS_ENDPOINT_URL", url);
    }
    cmd
}

/// As [`snapaudit`], with environment variables set (`Some`) or removed (`None`).
pub fn snapaudit_with(dir: &Path, endpoint: Option<&str>, args: &[&str], env: &[(&str, Option<&str>)]) -> Run {
    let mut cmd = command(dir, endpoint, args);
    for (key, value) in env {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let out = cmd.output().expect("running snapaudit");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.stdout.contains(TEST_SECRET) && !run.stderr.contains(TEST_SECRET), "secret leaked: {run:?}");
    run
}

/// A local HTTP/1 server on a port of its own, answering each request with
/// `handle` (the ARM and Google Cloud test servers): its URL, and the
/// runtime that serves it while kept.
pub fn serve(
    handle: impl Fn(&hyper::Request<hyper::body::Incoming>) -> hyper::Response<http_body_util::Full<bytes::Bytes>>
    + Send
    + Sync
    + 'static,
) -> (String, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::sync::Arc::new(handle);
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let answer = handle(&req);
                    async move { Ok::<_, std::convert::Infallible>(answer) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    (url, runtime)
}

/// Take `account` off a snapshot's share list.
pub async fn unshare(client: &aws_sdk_ec2::Client, snapshot: &str, account: &str) {
    client
        .modify_snapshot_attribute()
        .snapshot_id(snapshot)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .operation_type(aws_sdk_ec2::types::OperationType::Remove)
        .user_ids(account)
        .send()
        .await
        .expect("unshare");
}
