//! Benchmark: a scan of 2 regions x (2,000 EBS + 200 RDS) snapshots, through
//! our proxy metering as AWS does (EC2: a bucket per (region, action), 100
//! tokens, 20 per second; RDS: one bucket per region for all its actions, 300
//! tokens, 12 per second) with 40 ms latency per request, against the
//! physical floor those buckets set. Run with `scripts/bench` (sizes per
//! region: SNAPAUDIT_BENCH_EBS, SNAPAUDIT_BENCH_RDS; SNAPAUDIT_BENCH_AMI
//! images, each with its own snapshot; or exactly SNAPAUDIT_BENCH_RDS_DB
//! manual DB and SNAPAUDIT_BENCH_RDS_CLUSTER manual cluster snapshots, for
//! the RDS-bound scenario).
//!
//! `SNAPAUDIT_BENCH_ORG=1000`: instead, an organization of that many member
//! accounts x 3 regions scanned with `--org` (the proxy answers the empty
//! members' roles, identities and listings, 50 ms each; with
//! `SNAPAUDIT_BENCH_ORG_MOTO_ROLES=1` moto assumes the roles), then a rescan
//! with its CloudTrail lookups: wall time against the listing floor, calls,
//! peak memory.
//!
//! `SNAPAUDIT_BENCH_SCALE=1000000`: instead, an Azure subscription of that
//! many snapshots, generated page by page by the ARM test server (pages of
//! 1,000), scanned twice: peak memory, where the time goes (the listing
//! against the local work: spool, diff, rules, save), and how much the
//! database grows on an unchanged rescan. `SNAPAUDIT_BENCH_EXPOSED=1`: every
//! generated snapshot is reachable from any network (Azure's default), so
//! each is a finding.
//!
//! `SNAPAUDIT_BENCH_CHURN=0.005`: then a rescan with `verification:
//! incremental` after that share of each region's EBS snapshots churned
//! through the proxy (so through its CloudTrail): 40% new snapshots, 40%
//! shares added, 20% shares removed. It reports the rescan's wall time and
//! calls against the full sweep's floor, and every churned share it missed.

#[path = "../tests/integration/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::{Moto, TempDir, command, create_db_cluster, create_db_instance};
use futures_util::StreamExt;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const BURST: f64 = 100.0;
const REFILL: f64 = 20.0;
const RDS_BURST: f64 = 300.0;
const RDS_REFILL: f64 = 12.0;
const LATENCY: Duration = Duration::from_millis(40);

fn size(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// RDS snapshots per region: one automated snapshot per instance and per
/// cluster (moto makes them), the rest manual.
struct RdsPlan {
    instances: usize,
    clusters: usize,
    manual_db: usize,
    manual_cluster: usize,
}

impl RdsPlan {
    /// Exactly `manual_db` and `manual_cluster` manual snapshots, on a few
    /// instances and clusters.
    fn manual(manual_db: usize, manual_cluster: usize) -> RdsPlan {
        RdsPlan { instances: 10, clusters: 5, manual_db, manual_cluster }
    }

    fn for_total(total: usize) -> RdsPlan {
        let instances = (total / 10).max(1);
        let clusters = (total / 40).max(1);
        let manual_cluster = clusters;
        let manual_db = total.saturating_sub(instances + clusters + manual_cluster);
        RdsPlan { instances, clusters, manual_db, manual_cluster }
    }

    fn automated(&self) -> usize {
        self.instances + self.clusters
    }
}

async fn seed_rds(client: &aws_sdk_rds::Client, plan: &RdsPlan) {
    for i in 0..plan.instances {
        create_db_instance(client, &format!("db{i}")).await;
    }
    let instances = plan.instances;
    futures_util::stream::iter(0..plan.manual_db)
        .map(|i| async move {
            client
                .create_db_snapshot()
                .db_instance_identifier(format!("db{}", i % instances))
                .db_snapshot_identifier(format!("manual-{i}"))
                .send()
                .await
                .expect("CreateDBSnapshot");
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for i in 0..plan.clusters {
        create_db_cluster(client, &format!("cluster{i}")).await;
    }
    for i in 0..plan.manual_cluster {
        client
            .create_db_cluster_snapshot()
            .db_cluster_identifier(format!("cluster{}", i % plan.clusters))
            .db_cluster_snapshot_identifier(format!("cluster-manual-{i}"))
            .send()
            .await
            .expect("CreateDBClusterSnapshot");
    }
}

/// Peak resident memory of a running process, polled from /proc.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// `count` AMIs, registered 8 at a time.
async fn seed_amis(client: &aws_sdk_ec2::Client, count: usize) {
    use futures_util::StreamExt;
    futures_util::stream::iter(0..count)
        .map(|i| async move {
            client.register_image().name(format!("bench-{i}")).send().await.expect("RegisterImage");
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

fn main() {
    // `cargo bench` passes --bench; nothing else is read from the arguments.
    if let Some(accounts) = std::env::var("SNAPAUDIT_BENCH_ORG").ok().and_then(|v| v.parse().ok()) {
        return organization_bench(accounts);
    }
    if let Some(snapshots) = std::env::var("SNAPAUDIT_BENCH_SCALE").ok().and_then(|v| v.parse().ok()) {
        return scale_bench(snapshots);
    }
    let ebs_per_region = size("SNAPAUDIT_BENCH_EBS", 2000);
    let rds_plan =
        match (std::env::var("SNAPAUDIT_BENCH_RDS_DB").is_ok(), std::env::var("SNAPAUDIT_BENCH_RDS_CLUSTER").is_ok()) {
            (false, false) => RdsPlan::for_total(size("SNAPAUDIT_BENCH_RDS", 200)),
            _ => RdsPlan::manual(size("SNAPAUDIT_BENCH_RDS_DB", 0), size("SNAPAUDIT_BENCH_RDS_CLUSTER", 0)),
        };
    let rds_per_region = rds_plan.automated() + rds_plan.manual_db + rds_plan.manual_cluster;
    // Each AMI moto registers comes with an EBS snapshot of its own.
    let amis_per_region = size("SNAPAUDIT_BENCH_AMI", 0);

    let moto = Moto::start();
    let rt = common::runtime();
    let churn: f64 = std::env::var("SNAPAUDIT_BENCH_CHURN").ok().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let seeding = Instant::now();
    let mut ebs_ids: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    rt.block_on(async {
        for region in REGIONS {
            let ids = common::seed_snapshots(&common::ec2(&moto.url, region), ebs_per_region, "bench").await;
            ebs_ids.insert(region, ids);
            seed_rds(&common::rds(&moto.url, region), &rds_plan).await;
            seed_amis(&common::ec2(&moto.url, region), amis_per_region).await;
        }
    });
    let per_region = ebs_per_region + rds_per_region + 2 * amis_per_region;
    eprintln!("seeded {} snapshots and AMIs in {:.0?}", REGIONS.len() * per_region, seeding.elapsed());

    let proxy = Proxy::start(&moto.url);
    proxy.state.set(|f| {
        f.bucket = Some((BURST, REFILL));
        f.rds_bucket = Some((RDS_BURST, RDS_REFILL));
        f.latency = LATENCY;
        // Answer as AWS does (moto lacks the action and would cost a retry).
        f.block_public_access = Some("unblocked".into());
        f.image_block_public_access = Some("unblocked".into());
    });
    let dir = TempDir::new();
    let churned = (churn > 0.0).then(|| prepare_churn(&rt, &moto.url, &ebs_ids, churn, &dir));
    let mut args = vec!["scan", "--format", "jsonl", "--fail-on", "none"];
    if churned.is_some() {
        args.extend(["--policy", "policy.yaml"]);
    }
    for region in REGIONS {
        args.extend(["--region", region]);
    }
    let started = Instant::now();
    let mut child = command(dir.path(), Some(&proxy.url), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running snapaudit");
    let mut peak = 0;
    while child.try_wait().expect("waiting").is_none() {
        peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = started.elapsed();
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .unwrap_or_else(|| panic!("no summary: {}", String::from_utf8_lossy(&out.stderr)))["data"]
        .clone();

    // The floor: every bucket drains in parallel, each (region, EC2 action)
    // and each region's RDS bucket; the slowest one bounds the scan. Calls
    // counted by the proxy, as sent.
    let mut calls: BTreeMap<(String, String), u64> = BTreeMap::new();
    for region in REGIONS {
        for action in [
            "DescribeSnapshots",
            "DescribeSnapshotAttribute",
            "GetSnapshotBlockPublicAccessState",
            "DescribeImages",
            "DescribeImageAttribute",
            "GetImageBlockPublicAccessState",
            "DescribeDBSnapshots",
            "DescribeDBSnapshotAttributes",
            "DescribeDBClusterSnapshots",
            "DescribeDBClusterSnapshotAttributes",
        ] {
            calls.insert((region.to_owned(), action.to_owned()), proxy.state.count_in(region, action));
        }
    }
    let ec2_floor = calls
        .iter()
        .filter(|((_, a), _)| !a.contains("DB"))
        .map(|(_, n)| ((*n as f64) - BURST).max(0.0) / REFILL)
        .fold(0.0, f64::max);
    let rds_floor = REGIONS
        .iter()
        .map(|r| {
            let n: u64 = calls.iter().filter(|((region, a), _)| region == r && a.contains("DB")).map(|(_, n)| n).sum();
            ((n as f64) - RDS_BURST).max(0.0) / RDS_REFILL
        })
        .fold(0.0, f64::max);
    let floor = ec2_floor.max(rds_floor);
    let ebs_total = (REGIONS.len() * (ebs_per_region + amis_per_region)) as f64;
    let ami_calls: u64 = calls
        .iter()
        .filter(|((_, a), _)| {
            ["DescribeImages", "DescribeImageAttribute", "GetImageBlockPublicAccessState"].contains(&a.as_str())
        })
        .map(|(_, n)| n)
        .sum();
    let ebs_calls: u64 = calls
        .iter()
        .filter(|((_, a), _)| {
            ["DescribeSnapshots", "DescribeSnapshotAttribute", "GetSnapshotBlockPublicAccessState"]
                .contains(&a.as_str())
        })
        .map(|(_, n)| n)
        .sum();
    let seen = summary["snapshots"].as_u64().unwrap_or(0);
    let expected = (REGIONS.len() * per_region) as u64;

    println!(
        "scan_floor: {} regions x ({ebs_per_region} EBS + {rds_per_region} RDS, {} automated, + {amis_per_region} AMIs each with its snapshot)",
        REGIONS.len(),
        rds_plan.automated()
    );
    println!(
        "  buckets: EC2 {BURST}/{REFILL} per second per (region, action); RDS {RDS_BURST}/{RDS_REFILL} per region; latency {LATENCY:?}"
    );
    println!("  wall time            {:.1} s", wall.as_secs_f64());
    println!("  floor                {floor:.1} s (EC2 {ec2_floor:.1} s, RDS {rds_floor:.1} s)");
    println!("  wall / floor         {:.3}", wall.as_secs_f64() / floor.max(f64::EPSILON));
    println!("  snapshots            {seen} of {expected} ({} missing)", expected.saturating_sub(seen));
    println!("  unknown exposure     {}", stdout.matches("\"unknown_exposure\":[\"").count());
    println!("  throttled requests   {}", proxy.state.throttled());
    println!("  API calls per EBS snapshot        {:.4}", ebs_calls as f64 / ebs_total.max(1.0));
    println!("  RDS attribute calls for automated {}", proxy.state.attribute_calls_for_prefix("rds:"));
    if amis_per_region > 0 {
        println!(
            "  API calls per AMI                 {:.4}",
            ami_calls as f64 / (REGIONS.len() * amis_per_region) as f64
        );
    }
    println!("  API calls (tool's count)          {}", summary["api_calls_total"]);
    println!("  peak RSS             {:.1} MiB", peak as f64 / 1024.0);
    assert_eq!(seen, expected, "snapshots missing");
    if let Some(plan) = churned {
        rescan_after_churn(&rt, &proxy, &dir, &args, plan, ebs_per_region);
    }
}

/// The shares the churn changes: removed ones are shared before the first scan.
struct Churn {
    removed: Vec<(String, String)>,
    added_to: Vec<(String, String)>,
    new_per_region: usize,
}

const OUTSIDER: &str = "999999999999";

/// Share the snapshots whose shares the churn will remove (at the emulator,
/// before the first scan), and write the incremental policy.
fn prepare_churn(
    rt: &tokio::runtime::Runtime,
    moto: &str,
    ids: &BTreeMap<&str, Vec<String>>,
    churn: f64,
    dir: &TempDir,
) -> Churn {
    std::fs::write(dir.path().join("policy.yaml"), "version: 1\nverification: incremental\n").unwrap();
    let per_region = ids.values().next().map_or(0, Vec::len);
    let changes = ((per_region as f64) * churn).round() as usize;
    let (removed, added) = (changes / 5, changes * 2 / 5);
    let mut plan = Churn { removed: Vec::new(), added_to: Vec::new(), new_per_region: changes - removed - added };
    rt.block_on(async {
        for (region, ids) in ids {
            let client = common::ec2(moto, region);
            for id in &ids[..removed] {
                common::share(&client, id, Some(OUTSIDER)).await;
                plan.removed.push((region.to_string(), id.clone()));
            }
            // Half to an account, half public, far from the removed ones.
            for id in &ids[ids.len() - added..] {
                plan.added_to.push((region.to_string(), id.clone()));
            }
        }
    });
    plan
}

/// Churn through the proxy (its CloudTrail records it), rescan incrementally,
/// and report against the full sweep's floor.
fn rescan_after_churn(
    rt: &tokio::runtime::Runtime,
    proxy: &Proxy,
    dir: &TempDir,
    args: &[&str],
    plan: Churn,
    ebs_per_region: usize,
) {
    let mut expected: Vec<(String, String, String)> = Vec::new();
    rt.block_on(async {
        for region in REGIONS {
            let client = common::ec2(&proxy.url, region);
            for (i, (_, id)) in plan.added_to.iter().filter(|(r, _)| r == region).enumerate() {
                let grantee = if i % 2 == 0 { Some(OUTSIDER) } else { None };
                common::share(&client, id, grantee).await;
                expected.push(("share-added".into(), id.clone(), grantee.unwrap_or("all").into()));
            }
            for (_, id) in plan.removed.iter().filter(|(r, _)| r == region) {
                common::unshare(&client, id, OUTSIDER).await;
                expected.push(("share-removed".into(), id.clone(), OUTSIDER.into()));
            }
            for id in common::seed_snapshots(&client, plan.new_per_region, "churn").await {
                expected.push(("added".into(), id, String::new()));
            }
        }
    });
    proxy.state.reset_counts();
    let started = Instant::now();
    let out = command(dir.path(), Some(&proxy.url), args).output().expect("rescan");
    let wall = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let found: std::collections::BTreeSet<(String, String, String)> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "change")
        .map(|v| {
            let text = |k: &str| v["data"][k].as_str().unwrap_or_default().to_owned();
            (text("kind"), text("snapshot_id"), text("grantee"))
        })
        .collect();
    let missed: Vec<_> = expected.iter().filter(|e| !found.contains(*e)).collect();
    let per_region = ebs_per_region + plan.new_per_region;
    let full_floor = ((per_region as f64) - BURST).max(0.0) / REFILL;
    let attribute = proxy.state.count("DescribeSnapshotAttribute");
    println!("incremental rescan after churn: {} changes over {} regions", expected.len(), REGIONS.len());
    println!("  wall time            {wall:.1} s");
    println!("  full sweep's floor   {full_floor:.1} s ({per_region} share lists per region at {REFILL}/s)");
    println!("  wall / full floor    {:.3}", wall / full_floor.max(f64::EPSILON));
    println!("  share lists read     {attribute} of {}", REGIONS.len() * per_region);
    println!("  LookupEvents         {}", proxy.state.count("LookupEvents"));
    println!("  API calls (proxy)    {}", proxy.state.requests());
    println!("  throttled requests   {}", proxy.state.throttled());
    println!("  churned shares missed {} of {}", missed.len(), expected.len());
    assert!(missed.is_empty(), "missed: {missed:?}\n{}", String::from_utf8_lossy(&out.stderr));
}

const ORG_REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const ORG_LATENCY: Duration = Duration::from_millis(50);
/// The scan's bounds (collect/aws: `max_concurrent_regions`, and the
/// accounts whose region lists are read at once).
const PLACES_AT_ONCE: f64 = 32.0;
const ACCOUNTS_AT_ONCE: f64 = 16.0;

/// CPU seconds (user + system) a running process has used, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Run a scan to its end: (wall seconds, peak RSS MiB, stdout); prints the
/// scan's own CPU time (the client's share of a CPU-bound run).
fn timed_scan(dir: &TempDir, proxy: &Proxy, args: &[&str]) -> (f64, f64, String) {
    let started = Instant::now();
    let mut child = command(dir.path(), Some(&proxy.url), args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running snapaudit");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let (mut peak, mut cpu) = (0, 0.0_f64);
    while child.try_wait().expect("waiting").is_none() {
        peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
        cpu = cpu.max(cpu_seconds(child.id()).unwrap_or(0.0));
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = started.elapsed().as_secs_f64();
    println!("  (scan CPU            {cpu:.1} s of {wall:.1} s wall)");
    (wall, peak as f64 / 1024.0, reader.join().unwrap_or_default())
}

fn organization_bench(accounts: usize) {
    let moto = Moto::start();
    let names: Vec<String> = (0..accounts).map(|i| format!("member{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let seeding = Instant::now();
    let (_org, _ids) = common::organization(&moto, &refs);
    // moto builds its EC2 state on the first EC2 call (1.5 s here), a cost
    // of the emulator, not of AWS: paid before the timed scan.
    let credentials = aws_sdk_ec2::config::Credentials::new("AKIDTESTING", "x", None, None, "bench");
    for region in ORG_REGIONS {
        let ec2 = common::ec2_as(&moto.url, region, credentials.clone());
        common::runtime().block_on(ec2.describe_regions().send()).expect("DescribeRegions");
    }
    eprintln!("created {accounts} accounts in {:.0?}", seeding.elapsed());
    let proxy = Proxy::start(&moto.url);
    proxy.state.set(|f| {
        f.latency = ORG_LATENCY;
        f.empty_members = true;
        f.emulate_member_roles = std::env::var("SNAPAUDIT_BENCH_ORG_MOTO_ROLES").is_err();
        f.block_public_access = Some("unblocked".into());
        f.image_block_public_access = Some("unblocked".into());
    });
    let dir = TempDir::new();
    // transient-snapshot's 14 creation and deletion lookups per place are
    // left out of the rescan here; its cost is stated from the 4 measured.
    std::fs::write(dir.path().join("policy.yaml"), "version: 1\nrules:\n  transient-snapshot: { enabled: false }\n")
        .unwrap();
    let mut args = vec!["scan", "--assume-role", "OrganizationAccountAccessRole", "--org", "--format", "jsonl"];
    args.extend(["--fail-on", "none", "--policy", "policy.yaml"]);
    for region in ORG_REGIONS {
        args.extend(["--region", region]);
    }
    let places = ((accounts + 1) * ORG_REGIONS.len()) as f64;
    let latency = ORG_LATENCY.as_secs_f64();
    // The latency chains, each after the caller's identity, region list and
    // first page of accounts (3 round trips): the rest of the account list,
    // 20 a page in a row (Organizations' largest page); each account opens
    // with its role, then its identity and region list side by side (2
    // round trips), 16 accounts at a time; each (account, region) is a
    // listing and a block-public-access read in a row per collector, 32
    // places at once, the first once an account is open (2 round trips).
    // In series (the list, the roles, then the listings, as before the scan
    // pipelined them) and overlapped (each account's places start once it
    // is open, each page's accounts once it is read).
    let pages = ((accounts + 1) as f64 / 20.0).ceil() - 1.0;
    let opens = ((accounts + 1) as f64 / ACCOUNTS_AT_ONCE).ceil() * 2.0 * latency;
    let listings = (places / PLACES_AT_ONCE).ceil() * 2.0 * latency;
    let serial = 3.0 * latency + pages * latency + opens + listings;
    let floor = 3.0 * latency + (pages * latency).max(opens).max(listings + 2.0 * latency);
    let (wall, rss, stdout) = timed_scan(&dir, &proxy, &args);
    let requests = proxy.state.requests();
    let summary = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .unwrap_or_else(|| panic!("no summary"))["data"]
        .clone();
    println!("organization: {accounts} member accounts + the management account x {} regions", ORG_REGIONS.len());
    println!("  first scan wall       {wall:.1} s");
    println!("  floor, pipelined      {floor:.1} s ({latency:.3} s latency; 16 accounts, 32 places at once)");
    println!(
        "  wall / floor          {:.3} (against the serial chain, {serial:.1} s: {:.3})",
        wall / floor,
        wall / serial
    );
    println!("  scopes                {} ({} failed)", summary["scopes"], summary["failed_scopes"]);
    println!("  requests (proxy)      {requests} ({:.2} per place)", requests as f64 / places);
    let mut by_action: Vec<(u64, String)> =
        proxy.state.actions().into_iter().map(|a| (proxy.state.count(&a), a)).collect();
    by_action.sort_by(|a, b| b.cmp(a));
    let top: Vec<String> = by_action.iter().take(8).map(|(n, a)| format!("{a} {n}")).collect();
    println!("  by action             {}", top.join(", "));
    println!("  peak RSS              {rss:.1} MiB");
    assert_eq!(summary["failed_scopes"], 0, "{summary}");

    proxy.state.reset_counts();
    let (wall, rss, _) = timed_scan(&dir, &proxy, &args);
    let lookups = proxy.state.count("LookupEvents");
    // CloudTrail allows 2 lookups a second per place (paced at 95%); the
    // 4 grant-event lookups of a place run in a row.
    let lookup_floor = (places / PLACES_AT_ONCE).ceil() * ((4.0 - 2.0) / 1.9_f64).max(4.0 * latency);
    println!("  rescan wall           {wall:.1} s ({lookups} LookupEvents; their floor {lookup_floor:.1} s)");
    println!("  rescan requests       {}", proxy.state.requests());
    println!("  rescan peak RSS       {rss:.1} MiB");
}

/// One subscription of `count` generated snapshots, scanned twice.
fn scale_bench(count: usize) {
    use common::arm::{ArmServer, SUB_A, TOKEN};
    let server = ArmServer::start();
    server.state.generate(SUB_A, count);
    let exposed = std::env::var("SNAPAUDIT_BENCH_EXPOSED").is_ok();
    server.state.set(|f| {
        f.page_size = Some(1000);
        f.generate_exposed = exposed;
    });
    let dir = TempDir::new();
    let db = dir.db();
    let args = [
        "scan",
        "--azure",
        "--azure-endpoint",
        &server.url,
        "--subscription",
        SUB_A,
        "--format",
        "jsonl",
        "--fail-on",
        "none",
        "--log-format",
        "json",
        "--db",
        db.to_str().unwrap(),
    ];
    let network = if exposed { "each exposed to any network" } else { "private" };
    println!("scale: one Azure subscription of {count} snapshots, {network} (ARM test server, pages of 1,000)");
    let mut sizes = Vec::new();
    for name in ["first scan", "rescan"] {
        let started = Instant::now();
        let mut child = command(dir.path(), None, &args)
            .env("SNAPAUDIT_AZURE_TOKEN", TOKEN)
            .env("RUST_LOG", "snapaudit::phases=info")
            .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running snapaudit");
        let stderr = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        let mut peak = 0;
        while child.try_wait().expect("waiting").is_none() {
            peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(20));
        }
        let wall = started.elapsed().as_secs_f64();
        let stderr = reader.join().unwrap_or_default();
        let phases = stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["fields"]["message"] == "scan phases")
            .unwrap_or_else(|| panic!("no phase timings in {stderr}"))["fields"]
            .clone();
        let seconds = |key: &str| phases[key].as_f64().unwrap_or(f64::NAN);
        let listing = seconds("listing_s");
        let local = seconds("diff_and_rules_s") + seconds("audit_logs_s") + seconds("save_s");
        let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
            + std::fs::metadata(db.with_extension("db-wal")).map(|m| m.len()).unwrap_or(0);
        sizes.push(size);
        println!("  {name:<11} wall {wall:.1} s, peak RSS {:.1} MiB", peak as f64 / 1024.0);
        println!(
            "              listing (test server and spool) {listing:.1} s; after it: diff and rules {:.1} s, \
             audit logs {:.1} s, save {:.1} s = {local:.1} s",
            seconds("diff_and_rules_s"),
            seconds("audit_logs_s"),
            seconds("save_s")
        );
        let conn = rusqlite::Connection::open(&db).expect("the database");
        let rows = |table: &str| -> i64 {
            conn.query_row(&["SELECT count(*) FROM ", table].concat(), [], |r| r.get(0)).unwrap_or(-1)
        };
        println!(
            "              database {:.1} MiB: {} snapshot versions, {} coverage rows, {} changes, {} findings",
            size as f64 / (1024.0 * 1024.0),
            rows("snapshot_versions"),
            rows("coverage"),
            rows("changes"),
            rows("findings")
        );
    }
    println!("  database growth on the unchanged rescan: {} KiB", (sizes[1] as i64 - sizes[0] as i64) / 1024);
}
