//! End-to-end of the real binary against a real Kafka-protocol broker (Tansu, sqlite storage, loopback port),
//! read back with an independent consumer (Python `confluent-kafka`, tools/scripts/kafka/consume.py, which also
//! validates every payload against detect/schema/alert.schema.json, publish/schema/snapshot.schema.json and
//! publish/schema/feature.schema.json).
//!
//! A small labelled capture is made with `tickwatch gen` (with episodes, so there are alerts); the reference is
//! `tickwatch replay` of it to JSON lines with no broker (`--alerts-out`, `--snapshots-out`, `--features-out`).
//!
//! - [`replay_to_broker_is_identical_to_jsonl_across_a_broker_restart`]:
//!   1. `replay --brokers` at full speed: what the consumer reads equals the reference, per topic and per key
//!      (= symbol) in order, payload bytes equal; `tickwatch tail` reads the same envelopes;
//!   2. `replay --speed` with the broker stopped and restarted while the replay runs: still identical, nothing
//!      lost, nothing duplicated (`record_id` headers unique).
//! - [`sigterm_during_paced_replay_flushes_or_spools_everything`]: SIGTERM during `replay --speed --brokers`
//!   1. with the broker up: exits cleanly, spool empty, everything it produced is on the broker;
//!   2. with the broker down: exits cleanly within the flush timeout, the rest is in the spool; after a restart
//!      `tickwatch drain` delivers it; broker == everything the run produced, no duplicates.
//!
//!   "Everything the run produced" is the run's own JSON lines (written by the same process next to Kafka); it
//!   is checked to be a per-key prefix of the uninterrupted reference, strictly shorter (the run was cut).
//! - [`sigterm_during_a_long_pacing_gap_exits_promptly`] (no broker): SIGTERM while `--speed 1` sleeps through
//!   the capture's one-hour pre-market gap ends the replay within seconds.
//!
//! Book snapshots requested by an alert are taken when the book shard serves the request (see
//! `tools/src/runtime/wiring.rs`, `SnapshotOut`), so their book content and their place among the symbol's
//! periodic snapshots depend on thread timing: against the separate no-broker replay they are compared as their
//! own per-symbol sequence of (symbol, reason, trigger); every other record byte for byte, in order per key.
//! Against the run's own JSON lines everything is compared byte for byte.
//!
//! Gating: Tansu comes from tools/scripts/kafka/install-tansu.sh, Python from python-env.sh. Under CI
//! (`CI=true`) a missing broker is installed (~23 min cold) and any failure to install or start it panics;
//! elsewhere a missing broker or Python environment prints `SKIPPED` with the reason.

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use publish::consume::EnvelopeJson;
use publish::RecordKind;

const TW: &str = env!("CARGO_BIN_EXE_tickwatch");
const PARTITIONS: u32 = 3;
/// Pacing of the replays that are interrupted: the gen day (03:00–20:00 feed time, records 09:30–16:00) takes
/// about 15 s, records flow from ~6 s to ~12 s.
const SPEED: &str = "4000";

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ---------------------------------------------------------------------------------------------------------------
// Environment: broker binary and Python consumer.

/// The Python interpreter with confluent-kafka, once Tansu is known to be usable; `None` (test skipped, reason
/// printed) outside CI when either is missing. Panics under CI=true if either cannot be provided.
fn kit(test: &str) -> Option<String> {
    let check = Command::new(scripts().join("install-tansu.sh"))
        .arg("--check")
        .output()
        .expect("running install-tansu.sh");
    if !check.status.success() {
        if !feed::testdata::in_ci() {
            eprintln!(
                "SKIPPED {test}: the Tansu broker is not installed. Run tools/scripts/kafka/install-tansu.sh (cargo \
                 install, ~23 min on 2 cores, cached in ~/.cargo/bin) or set CI=true to have the test install it."
            );
            return None;
        }
        eprintln!("{test}: Tansu absent; installing it (CI=true)");
        let t = Instant::now();
        let out = Command::new(scripts().join("install-tansu.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("running install-tansu.sh");
        assert!(
            out.status.success(),
            "CI=true and the Tansu broker could not be installed (tools/scripts/kafka/install-tansu.sh: {})",
            out.status
        );
        eprintln!(
            "{test}: Tansu installed in {:.0} s",
            t.elapsed().as_secs_f64()
        );
    }
    let out = Command::new(scripts().join("python-env.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("running python-env.sh");
    if !out.status.success() {
        let why = format!(
            "the Python environment with confluent-kafka (the independent consumer) could not be created by \
             tools/scripts/kafka/python-env.sh ({}; needs python3 -m venv and pip access)",
            out.status
        );
        assert!(!feed::testdata::in_ci(), "CI=true and {why}");
        eprintln!("SKIPPED {test}: {why}");
        return None;
    }
    Some(String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

/// Output of a script that must succeed.
fn run_script(name: &str, args: &[&str]) -> String {
    let out = Command::new(scripts().join(name))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        out.status
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A Tansu broker on a free loopback port with sqlite storage in its own directory (survives restarts).
struct Broker {
    dir: tempfile::TempDir,
    port: u16,
}

impl Broker {
    fn start_new() -> Broker {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let b = Broker {
            dir: tempfile::tempdir().unwrap(),
            port,
        };
        b.start();
        b
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn start(&self) {
        let t = Instant::now();
        let dir = self.dir.path().to_str().unwrap();
        run_script("tansu.sh", &["start", dir, &self.port.to_string()]);
        eprintln!(
            "kafka_e2e: broker up on {} in {:?}",
            self.addr(),
            t.elapsed()
        );
    }

    fn stop(&self) {
        let t = Instant::now();
        run_script("tansu.sh", &["stop", self.dir.path().to_str().unwrap()]);
        eprintln!(
            "kafka_e2e: broker {} stopped in {:?}",
            self.addr(),
            t.elapsed()
        );
    }

    fn create_topics(&self, prefix: &str) {
        let mut args = vec![self.port.to_string(), PARTITIONS.to_string()];
        args.extend(topics(prefix));
        let mut all = vec!["topics"];
        all.extend(args.iter().map(String::as_str));
        run_script("tansu.sh", &all);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new(scripts().join("tansu.sh"))
            .args(["stop", self.dir.path().to_str().unwrap()])
            .status();
    }
}

fn topics(prefix: &str) -> Vec<String> {
    RecordKind::ALL
        .iter()
        .map(|k| format!("{prefix}{}", k.topic_suffix()))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// The capture and the replays.

/// A gen capture (~180k messages, 20 symbols, two episodes per detector) and a detector config with 10-minute
/// tumbling feature windows.
fn capture(work: &Path) -> (PathBuf, PathBuf) {
    let cap = work.join("day.pcap");
    let out = Command::new(TW)
        .args([
            "gen",
            "--seed",
            "7",
            "--symbols",
            "20",
            "--messages",
            "200000",
            "--episodes",
            "2",
            "--decoys",
            "1",
            "--out",
        ])
        .arg(&cap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tickwatch gen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let det = work.join("detectors.toml");
    std::fs::write(&det, "[features]\ntumbling_ms = 600000\n").unwrap();
    (cap, det)
}

/// `tickwatch replay CAP` with snapshots (periodic every 10 min of feed time, depth 5, and one per alert) and
/// features, writing the three JSON-lines outputs into `out` (also when a broker is configured: then they are
/// the same run's records, teed next to Kafka).
fn replay(cap: &Path, det: &Path, out: &Path) -> Command {
    std::fs::create_dir_all(out).unwrap();
    let mut cmd = Command::new(TW);
    cmd.arg("replay")
        .arg(cap)
        .args(["--snapshot-interval-ms", "600000", "--snapshot-depth", "5"])
        .arg("--detectors")
        .arg(det)
        .arg("--alerts-out")
        .arg(out.join("alert.jsonl"))
        .arg("--snapshots-out")
        .arg(out.join("snapshot.jsonl"))
        .arg("--features-out")
        .arg(out.join("feature.jsonl"));
    cmd
}

fn with_broker(cmd: &mut Command, brokers: &str, prefix: &str, spool: &Path) {
    cmd.args(["--brokers", brokers, "--topic-prefix", prefix])
        .arg("--spool-dir")
        .arg(spool);
}

/// Runs `cmd` to completion; returns its stderr after checking the exit status.
fn run_ok(mut cmd: Command, what: &str) -> String {
    let t = Instant::now();
    let out = cmd.stdout(Stdio::null()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("kafka_e2e: {what} took {:?}", t.elapsed());
    assert!(out.status.success(), "{what}: {}\n{err}", out.status);
    err
}

/// A running replay whose stderr goes to a file (read on failure and at the end).
struct Running {
    child: Child,
    stderr: PathBuf,
    out: PathBuf,
}

impl Running {
    fn spawn(mut cmd: Command, out: &Path) -> Running {
        let stderr = out.join("stderr.txt");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Running {
            child,
            stderr,
            out: out.to_path_buf(),
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits until the run's JSON lines hold at least `n` records; panics if it ends first.
    fn wait_records(&mut self, n: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let have = count_lines(&self.out);
            if have >= n {
                return have;
            }
            assert!(
                self.running(),
                "the replay ended with {have} records, before reaching {n}:\n{}",
                self.stderr()
            );
            assert!(Instant::now() < deadline, "no progress to {n} records");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -TERM failed");
    }

    /// Waits for the exit (at most `limit`; the process is killed and the test fails after that).
    fn wait(&mut self, limit: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let err = self.stderr();
                eprintln!("--- replay stderr ({}) ---\n{err}", self.out.display());
                return (st, err);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the replay did not exit within {limit:?}:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn count_lines(dir: &Path) -> usize {
    RecordKind::ALL
        .iter()
        .map(|k| {
            std::fs::read(dir.join(format!("{k}.jsonl")))
                .map(|b| b.iter().filter(|&&c| c == b'\n').count())
                .unwrap_or(0)
        })
        .sum()
}

fn spooled(spool: &Path) -> u64 {
    publish::spool::summarize(spool).unwrap().records
}

// ---------------------------------------------------------------------------------------------------------------
// Records: (record type, key) -> payloads in order.

type Streams = BTreeMap<(RecordKind, String), Vec<String>>;

fn total(s: &Streams) -> usize {
    s.values().map(Vec::len).sum()
}

fn json(payload: &str) -> serde_json::Value {
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("not JSON ({e}): {payload}"))
}

/// The JSON-lines outputs in `dir`, keyed like Kafka (key = the record's symbol).
fn read_jsonl(dir: &Path) -> Streams {
    let mut s = Streams::new();
    for kind in RecordKind::ALL {
        let path = dir.join(format!("{kind}.jsonl"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for line in text.lines() {
            let key = json(line)["symbol"].as_str().expect("symbol").to_owned();
            s.entry((kind, key)).or_default().push(line.to_owned());
        }
    }
    s
}

/// The records read from the broker, per key in offset order; checks the documented envelope: key in one
/// partition, `record_type` header, `feed_ts_ns` header = the payload's `event_ts_ns`, `record_id` unique (a
/// re-sent duplicate would carry the same id).
fn from_broker(envs: &[EnvelopeJson], prefix: &str) -> Streams {
    let mut ids = HashSet::new();
    let mut partition_of: BTreeMap<(String, String), i32> = BTreeMap::new();
    let mut sorted: Vec<&EnvelopeJson> = envs.iter().collect();
    sorted
        .sort_by(|x, y| (&x.topic, x.partition, x.offset).cmp(&(&y.topic, y.partition, y.offset)));
    let mut s = Streams::new();
    for e in sorted {
        let header = |name: &str| e.headers.get(name).cloned().flatten();
        let at = format!("{}[{}]@{}", e.topic, e.partition, e.offset);
        let id = header("record_id").unwrap_or_else(|| panic!("{at}: no record_id header"));
        assert!(ids.insert(id.clone()), "{at}: duplicate record {id}");
        let kind = RecordKind::ALL
            .into_iter()
            .find(|k| e.topic == format!("{prefix}{}", k.topic_suffix()))
            .unwrap_or_else(|| panic!("{at}: unexpected topic"));
        assert_eq!(
            header("record_type").as_deref(),
            Some(kind.as_str()),
            "{at}"
        );
        let key = e.key.clone().unwrap_or_else(|| panic!("{at}: no key"));
        let value = e.value.clone().unwrap_or_else(|| panic!("{at}: no value"));
        let v = json(&value);
        assert_eq!(
            v["symbol"].as_str(),
            Some(key.as_str()),
            "{at}: key != symbol"
        );
        assert_eq!(
            header("feed_ts_ns").and_then(|t| t.parse::<u64>().ok()),
            v["event_ts_ns"].as_u64(),
            "{at}: feed_ts_ns header != event_ts_ns"
        );
        let p = *partition_of
            .entry((e.topic.clone(), key.clone()))
            .or_insert(e.partition);
        assert_eq!(p, e.partition, "{at}: key {key} in two partitions");
        s.entry((kind, key)).or_default().push(value);
    }
    s
}

/// Alert-triggered snapshots show the book when the shard served the request, and they are interleaved with the
/// symbol's periodic snapshots by thread timing: for comparisons across runs keep what is deterministic about
/// them — their own sequence per symbol of (symbol, reason, trigger) — in a separate stream (key `SYMBOL
/// [on alert]`); periodic snapshots, alerts and features stay byte for byte.
fn normalized(s: &Streams) -> Streams {
    let mut out = Streams::new();
    for ((kind, key), v) in s {
        for p in v {
            if *kind == RecordKind::Snapshot {
                let j = json(p);
                if j["reason"] == "alert" {
                    let short = serde_json::json!({
                        "symbol": j["symbol"], "reason": "alert", "trigger": j["trigger"]
                    });
                    out.entry((*kind, format!("{key} [on alert]")))
                        .or_default()
                        .push(short.to_string());
                    continue;
                }
            }
            out.entry((*kind, key.clone())).or_default().push(p.clone());
        }
    }
    out
}

fn first_difference(a: &[String], b: &[String]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!("#{i} differs:\n  got  {}\n  want {}", a[i], b[i]),
        None => format!("{} records vs {}", a.len(), b.len()),
    }
}

/// Same records per (type, key), in order, bytes equal.
fn assert_same(what: &str, got: &Streams, want: &Streams) {
    for kind in RecordKind::ALL {
        let n = |s: &Streams| {
            s.iter()
                .filter(|(k, _)| k.0 == kind)
                .map(|(_, v)| v.len())
                .sum::<usize>()
        };
        eprintln!("kafka_e2e: {what}: {kind}: {} vs {}", n(got), n(want));
    }
    let keys = |s: &Streams| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(got), keys(want), "{what}: (type, key) sets differ");
    for (k, w) in want {
        let g = &got[k];
        assert!(g == w, "{what}: {k:?}: {}", first_difference(g, w));
    }
}

/// Every (type, key) sequence of `got` is a prefix of `want`'s; `got` is shorter (the run was cut).
fn assert_prefix(what: &str, got: &Streams, want: &Streams) {
    for (k, g) in got {
        let w = want.get(k).map_or(&[][..], Vec::as_slice);
        assert!(
            g.len() <= w.len() && g[..] == w[..g.len()],
            "{what}: {k:?} is not a prefix of the uninterrupted replay: {}",
            first_difference(g, w)
        );
    }
    assert!(
        total(got) < total(want),
        "{what}: the interrupted run produced everything ({})",
        total(got)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the broker back.

/// Every record of the prefix's topics, read by the independent Python consumer, which validates each payload
/// against its JSON Schema (exit status 3 on a violation).
fn python_consume(python: &str, brokers: &str, prefix: &str) -> Vec<EnvelopeJson> {
    let mut cmd = Command::new(python);
    cmd.arg(scripts().join("consume.py"))
        .args(["--brokers", brokers, "--timeout", "60"]);
    for t in topics(prefix) {
        cmd.args(["--topic", &t]);
    }
    for (kind, path) in [
        ("alert", "detect/schema/alert.schema.json"),
        ("snapshot", "publish/schema/snapshot.schema.json"),
        ("feature", "publish/schema/feature.schema.json"),
    ] {
        let path = repo().join(path);
        assert!(path.exists(), "{} missing", path.display());
        cmd.args(["--schema", &format!("{kind}={}", path.display())]);
    }
    let t = Instant::now();
    let out = cmd.stderr(Stdio::inherit()).output().expect("consume.py");
    eprintln!("kafka_e2e: consume.py {prefix}* took {:?}", t.elapsed());
    assert!(
        out.status.success(),
        "consume.py failed ({}; 3 = a payload violates its JSON Schema)",
        out.status
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad envelope {l}: {e}")))
        .collect()
}

/// `tickwatch tail --format envelope` of the prefix's topics, sorted by (topic, partition, offset).
fn tail_envelopes(brokers: &str, prefix: &str) -> Vec<EnvelopeJson> {
    let mut cmd = Command::new(TW);
    cmd.args([
        "tail",
        "--brokers",
        brokers,
        "--from-beginning",
        "--exit-at-end",
        "--timeout",
        "30",
        "--format",
        "envelope",
    ]);
    for t in topics(prefix) {
        cmd.args(["--topic", &t]);
    }
    let out = cmd.stderr(Stdio::inherit()).output().unwrap();
    assert!(out.status.success(), "tickwatch tail: {}", out.status);
    let mut v: Vec<EnvelopeJson> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    v.sort_by(|x, y| (&x.topic, x.partition, x.offset).cmp(&(&y.topic, y.partition, y.offset)));
    v
}

/// The uninterrupted no-broker replay, with sanity checks that the capture exercises every record type.
fn reference(cap: &Path, det: &Path, work: &Path) -> Streams {
    let dir = work.join("reference");
    run_ok(replay(cap, det, &dir), "replay to JSON lines (reference)");
    let s = read_jsonl(&dir);
    let n = |kind| {
        s.iter()
            .filter(|(k, _)| k.0 == kind)
            .map(|(_, v)| v.len())
            .sum::<usize>()
    };
    let alert_snaps = std::fs::read_to_string(dir.join("snapshot.jsonl"))
        .unwrap()
        .matches("\"reason\":\"alert\"")
        .count();
    eprintln!(
        "kafka_e2e: reference: {} alerts, {} snapshots ({alert_snaps} on alerts), {} features",
        n(RecordKind::Alert),
        n(RecordKind::Snapshot),
        n(RecordKind::Feature)
    );
    assert!(n(RecordKind::Alert) >= 5, "too few alerts to be a test");
    assert!(alert_snaps >= 5 && n(RecordKind::Snapshot) > alert_snaps + 100);
    assert!(n(RecordKind::Feature) > 100);
    s
}

// ---------------------------------------------------------------------------------------------------------------

#[test]
fn replay_to_broker_is_identical_to_jsonl_across_a_broker_restart() {
    let name = "kafka_e2e::replay_to_broker_is_identical_to_jsonl_across_a_broker_restart";
    let Some(python) = kit(name) else { return };
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (cap, det) = capture(work);
    let want = reference(&cap, &det, work);
    let broker = Broker::start_new();
    let brokers = broker.addr();
    broker.create_topics("a.");
    broker.create_topics("b.");

    // 1. Full speed, broker up.
    let out = work.join("a");
    let spool = out.join("spool");
    let mut cmd = replay(&cap, &det, &out);
    with_broker(&mut cmd, &brokers, "a.", &spool);
    let err = run_ok(cmd, "replay --brokers (steady)");
    assert!(!err.contains("NOT delivered"), "{err}");
    assert_eq!(spooled(&spool), 0);
    let envs = python_consume(&python, &brokers, "a.");
    let got = from_broker(&envs, "a.");
    assert_same(
        "steady: broker vs the run's JSON lines",
        &got,
        &read_jsonl(&out),
    );
    assert_same(
        "steady: broker vs the no-broker replay",
        &normalized(&got),
        &normalized(&want),
    );
    let mut py = envs;
    py.sort_by(|x, y| (&x.topic, x.partition, x.offset).cmp(&(&y.topic, y.partition, y.offset)));
    assert!(
        tail_envelopes(&brokers, "a.") == py,
        "tickwatch tail and confluent-kafka read different envelopes"
    );

    // 2. Paced replay; the broker is stopped while records flow and restarted (sqlite storage keeps the topics).
    let out = work.join("b");
    let spool = out.join("spool");
    let mut cmd = replay(&cap, &det, &out);
    cmd.args(["--speed", SPEED, "--flush-timeout", "60"]);
    with_broker(&mut cmd, &brokers, "b.", &spool);
    let mut run = Running::spawn(cmd, &out);
    let at_stop = run.wait_records(total(&want) * 2 / 10);
    broker.stop();
    std::thread::sleep(Duration::from_millis(800));
    let at_restart = count_lines(&out);
    broker.start();
    assert!(run.running(), "the replay ended while the broker was down");
    eprintln!("kafka_e2e: broker down from record {at_stop} to {at_restart}");
    assert!(
        at_restart > at_stop,
        "no record was produced while the broker was down"
    );
    let (status, err) = run.wait(Duration::from_secs(150));
    assert!(status.success(), "replay: {status}");
    assert!(
        !err.contains("NOT delivered") && !err.contains("FAILED"),
        "{err}"
    );
    assert!(
        count_lines(&out) > at_restart,
        "no record was produced after the restart"
    );
    assert_eq!(spooled(&spool), 0);
    let got = from_broker(&python_consume(&python, &brokers, "b."), "b.");
    assert_same(
        "restart: broker vs the run's JSON lines",
        &got,
        &read_jsonl(&out),
    );
    assert_same(
        "restart: broker vs the no-broker replay",
        &normalized(&got),
        &normalized(&want),
    );
    eprintln!("kafka_e2e: {name}: {:?}", started.elapsed());
}

#[test]
fn sigterm_during_paced_replay_flushes_or_spools_everything() {
    let name = "kafka_e2e::sigterm_during_paced_replay_flushes_or_spools_everything";
    let Some(python) = kit(name) else { return };
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (cap, det) = capture(work);
    let want = normalized(&reference(&cap, &det, work));
    let broker = Broker::start_new();
    let brokers = broker.addr();
    broker.create_topics("s1.");
    broker.create_topics("s2.");

    // 1. Broker up: SIGTERM stops the source; the publish thread flushes; nothing is left in the spool.
    let out = work.join("s1");
    let spool = out.join("spool");
    let mut cmd = replay(&cap, &det, &out);
    cmd.args(["--speed", SPEED, "--flush-timeout", "60"]);
    with_broker(&mut cmd, &brokers, "s1.", &spool);
    let mut run = Running::spawn(cmd, &out);
    run.wait_records(total(&want) * 4 / 10);
    run.sigterm();
    let (status, err) = run.wait(Duration::from_secs(90));
    assert!(status.success(), "replay after SIGTERM: {status}");
    assert!(err.contains("replay (interrupted)"), "{err}");
    assert!(!err.contains("NOT delivered"), "{err}");
    assert_eq!(spooled(&spool), 0);
    let mine = read_jsonl(&out);
    let got = from_broker(&python_consume(&python, &brokers, "s1."), "s1.");
    assert_same(
        "SIGTERM, broker up: broker vs the run's JSON lines",
        &got,
        &mine,
    );
    assert_prefix("SIGTERM, broker up", &normalized(&mine), &want);

    // 2. Broker down at SIGTERM: the flush times out, everything unconfirmed goes to the spool; `tickwatch
    //    drain` delivers it once the broker is back.
    let out = work.join("s2");
    let spool = out.join("spool");
    let mut cmd = replay(&cap, &det, &out);
    cmd.args(["--speed", SPEED, "--flush-timeout", "3"]);
    with_broker(&mut cmd, &brokers, "s2.", &spool);
    let mut run = Running::spawn(cmd, &out);
    let at_stop = run.wait_records(total(&want) * 3 / 10);
    broker.stop();
    let at_term = run.wait_records(at_stop + 50);
    run.sigterm();
    let t = Instant::now();
    let (status, err) = run.wait(Duration::from_secs(60));
    eprintln!(
        "kafka_e2e: broker stopped at record {at_stop}, SIGTERM at {at_term}; exit {:?} after SIGTERM",
        t.elapsed()
    );
    assert!(status.success(), "replay after SIGTERM: {status}");
    assert!(err.contains("replay (interrupted)"), "{err}");
    assert!(
        err.contains("NOT delivered") && !err.contains("FAILED"),
        "{err}"
    );
    let left = spooled(&spool);
    assert!(left > 0, "nothing was spooled");
    broker.start();
    let mut drain = Command::new(TW);
    drain
        .args([
            "drain",
            "--brokers",
            &brokers,
            "--topic-prefix",
            "s2.",
            "--flush-timeout",
            "60",
        ])
        .arg("--spool-dir")
        .arg(&spool);
    run_ok(drain, &format!("tickwatch drain ({left} records)"));
    assert_eq!(spooled(&spool), 0);
    let mine = read_jsonl(&out);
    let got = from_broker(&python_consume(&python, &brokers, "s2."), "s2.");
    assert_same(
        "SIGTERM, broker down: broker after drain vs the run's JSON lines",
        &got,
        &mine,
    );
    assert_prefix("SIGTERM, broker down", &normalized(&mine), &want);
    eprintln!("kafka_e2e: {name}: {:?}", started.elapsed());
}

#[test]
fn sigterm_during_a_long_pacing_gap_exits_promptly() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let (cap, det) = capture(work);
    let out = work.join("gap");
    let mut cmd = replay(&cap, &det, &out);
    // Real time: after the 03:00 system event the next packet is an hour of feed time later.
    cmd.args(["--speed", "1"]);
    let mut run = Running::spawn(cmd, &out);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(run.running(), "{}", run.stderr());
    run.sigterm();
    let t = Instant::now();
    let (status, err) = run.wait(Duration::from_secs(20));
    eprintln!("kafka_e2e: exit {:?} after SIGTERM", t.elapsed());
    assert!(status.success(), "replay after SIGTERM: {status}");
    assert!(err.contains("replay (interrupted)"), "{err}");
}
