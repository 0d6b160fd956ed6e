//! Mutation fuzzing of the two parsers that read input we do not control:
//! the policy loader and the ARM snapshot parser. Bounded and deterministic
//! (a fixed seed; `SNAPAUDIT_FUZZ_ITERATIONS` per target, default 20,000) so
//! it runs in CI. An input that panics, or takes over a second, is saved
//! under tests/fuzz/regressions/<target>/ and fails the test; every saved
//! input is replayed first on every run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SLOW: Duration = Duration::from_secs(1);

/// Tokens that tend to reach parser corners.
const YAML_TOKENS: &[&str] = &[
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "\n",
    "\n  ",
    "&a ",
    "*a",
    "!!binary ",
    "~",
    "<<: *a",
    "---\n",
    "...",
    "#",
    "? ",
    "|\n",
    ">-\n",
    "\t",
    "\u{feff}",
    "\\",
    "0x",
    "1e999",
    "-.inf",
    ".nan",
    "2026-02-30",
    "99:99",
];
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "1e999",
    "-0",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "18446744073709551616",
    "\"properties\":",
    "\"diskState\":",
    "\"networkAccessPolicy\":",
    "\"id\":",
    "\"tags\":",
    "\"timeCreated\":",
];

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], tokens: &[&str]) -> Vec<u8> {
    let mut input = corpus[rng.below(corpus.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(6) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 => input.insert(at, rng.next() as u8),
            2 if at < input.len() => {
                let end = (at + 1 + rng.below(16)).min(input.len());
                input.drain(at..end);
            }
            3 => {
                let token = tokens[rng.below(tokens.len())].as_bytes();
                for _ in 0..=rng.below(3) {
                    input.splice(at..at, token.iter().copied());
                }
            }
            4 if at < input.len() => {
                let end = (at + 1 + rng.below(64)).min(input.len());
                let piece = input[at..end].to_vec();
                input.splice(end..end, piece);
            }
            _ => {
                // Splice the tail of another corpus entry.
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
        }
    }
    input
}

fn iterations() -> usize {
    std::env::var("SNAPAUDIT_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Run `target` on every saved regression input, then on mutations of
/// `corpus`; save and report anything that panics or is slow.
fn fuzz(name: &str, corpus: Vec<Vec<u8>>, tokens: &[&str], target: fn(&[u8])) {
    assert!(!corpus.is_empty(), "{name}: empty corpus");
    let regressions = Path::new(ROOT).join("tests/fuzz/regressions").join(name);
    let mut failures = Vec::new();
    let mut check = |input: &[u8], save: bool| {
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| target(input)));
        let elapsed = started.elapsed();
        if outcome.is_err() || elapsed > SLOW {
            let why = if outcome.is_err() { "panicked" } else { "slow" };
            let mut path = regressions.join(format!("{why}-{:016x}", hash(input)));
            if save {
                std::fs::create_dir_all(&regressions).unwrap();
                std::fs::write(&path, input).unwrap();
            } else {
                path = PathBuf::from(format!("(saved) {}", path.display()));
            }
            failures.push(format!("{why} after {elapsed:?}: {}", path.display()));
        }
    };
    for saved in files(&regressions) {
        check(&std::fs::read(&saved).unwrap(), false);
    }
    let mut rng = Rng(0x5eed_5a1d_0000_0001 ^ hash(name.as_bytes()));
    for _ in 0..iterations() {
        let input = mutate(&mut rng, &corpus, tokens);
        check(&input, true);
    }
    assert!(failures.is_empty(), "{name}: {} input(s) failed:\n{}", failures.len(), failures.join("\n"));
}

fn hash(bytes: &[u8]) -> u64 {
    // FNV-1a: stable across runs and platforms, unlike DefaultHasher.
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[test]
fn the_policy_loader_never_panics_or_hangs() {
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    for dir in ["policies", "policies/examples", "tests/policies/bad"] {
        corpus.extend(files(&Path::new(ROOT).join(dir)).into_iter().map(|p| std::fs::read(p).unwrap()));
    }
    fuzz("policy", corpus, YAML_TOKENS, |input| {
        if let Ok(text) = std::str::from_utf8(input) {
            // Errors are expected; each must say where, when YAML knows.
            if let Err(problems) = snapaudit::rules::Policy::parse(text) {
                assert!(!problems.is_empty());
            }
        }
    });
}

#[test]
fn the_arm_snapshot_parser_never_panics_or_hangs() {
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    for path in files(&Path::new(ROOT).join("tests/fixtures/azure"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let body = &doc["responses"]["200"]["body"];
        let items = body["value"].as_array().cloned().unwrap_or_else(|| vec![body.clone()]);
        corpus.extend(items.iter().map(|item| item.to_string().into_bytes()));
    }
    fuzz("arm-snapshot", corpus, JSON_TOKENS, |input| {
        if let Ok(text) = std::str::from_utf8(input)
            && let Ok(mapped) = snapaudit::collect::azure::parse_snapshot(text, "00000000-0000-0000-0000-000000000001")
        {
            // Whatever the values, the snapshot keeps its scope and a
            // lower-case id, and exposure is derived from its attributes.
            let s = &mapped.snapshot;
            assert_eq!(s.id, s.id.to_ascii_lowercase());
            assert_eq!(s.grantees, snapaudit::model::Grantee::azure_exposure(&s.attributes));
        }
    });
}
