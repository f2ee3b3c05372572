//! Topology configuration (TOML): which thread runs which stages, on which core, with which wait strategy; ring and
//! pool sizes; the number of book shards; live receive settings.
//!
//! The hot pipeline is a fixed chain of three stages, `receive → book → detect`, followed by `publish`:
//! - `receive` reads packets (the capture reader in `replay`, the socket backend in `run`),
//! - `book` decodes them in place, sequences them and applies them to the books (sharded by symbol when
//!   `book_shards > 1`),
//! - `detect` runs the detectors and the CEP engine on the book events and emits alerts,
//! - `publish` always runs on its own unpinned thread, owned by the `publish` crate (JSON serialisation, JSON-lines
//!   files, Kafka); the detect stage hands it alerts through an SPSC ring. It is not configured here.
//!
//! Each `[[threads]]` entry runs a contiguous run of the chain; adjacent stages on one thread are *fused* (a direct
//! call, no ring); a thread boundary is an SPSC ring. With `book_shards = N > 1` the thread holding `book` must hold
//! only `book`: it is started N times (`book-0` …), each shard on `cores[i]` if given.
//!
//! When `threads` is omitted the defaults depend on the cores available ([`default_threads`]):
//!
//! | cores | threads |
//! |---|---|
//! | 1 | `all = [receive, book, detect]`, unpinned, spin-then-yield |
//! | 2-3 | `feed = [receive, book]` on core 1 (spin-then-yield), `detect = [detect]` on core 0 (park) |
//! | ≥ 4 | `receive` on 1, `book` on 2 (spin-then-yield), `detect` on 3 (park) |
//!
//! See `example.toml` next to this file (it is parsed by a test, so it stays valid).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::clock::ClockChoice;
use super::wait::WaitStrategy;

/// The example configuration shipped with the sources.
pub const EXAMPLE_TOML: &str = include_str!("example.toml");

/// A pipeline stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Packet source: capture reader or socket backend.
    Receive,
    /// Decode + sequence + book apply.
    Book,
    /// Detectors and CEP; hands alerts to the publish thread.
    Detect,
}

impl Stage {
    /// All stages in pipeline order.
    pub const ALL: [Stage; 3] = [Stage::Receive, Stage::Book, Stage::Detect];

    /// Position in the chain.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Name as written in the config.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Receive => "receive",
            Stage::Book => "book",
            Stage::Detect => "detect",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `[[threads]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadConfig {
    /// Thread name (shown in `top -H`, warnings and metrics).
    pub name: String,
    /// A contiguous run of stages, in pipeline order.
    pub stages: Vec<Stage>,
    /// Core to pin to (OS CPU id); none = unpinned.
    #[serde(default)]
    pub core: Option<usize>,
    /// For the sharded book thread: core of each shard (shard i → `cores[i]`, falling back to `core`).
    #[serde(default)]
    pub cores: Vec<usize>,
    /// What the thread does when its input is empty.
    #[serde(default = "default_wait")]
    pub wait: WaitStrategy,
}

fn default_wait() -> WaitStrategy {
    WaitStrategy::spin_then_yield()
}

/// Ring capacities (slots). Allocated at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RingSizes {
    /// receive → book (packet handles), per shard.
    pub packets: usize,
    /// book → detect (book events), per shard.
    pub events: usize,
    /// detect → publish thread (alerts).
    pub alerts: usize,
}

impl Default for RingSizes {
    fn default() -> Self {
        RingSizes {
            packets: 4096,
            events: 8192,
            alerts: 4096,
        }
    }
}

/// Receive backend of `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// epoll through mio, non-blocking `recvmmsg` batches.
    #[default]
    Mio,
    /// io_uring multishot receive with a provided-buffer ring.
    IoUring,
}

impl Backend {
    /// Parses `mio` / `io-uring` (also `io_uring`, `uring`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mio" | "epoll" => Some(Backend::Mio),
            "io-uring" | "io_uring" | "uring" => Some(Backend::IoUring),
            _ => None,
        }
    }

    /// Config name.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Mio => "mio",
            Backend::IoUring => "io-uring",
        }
    }
}

/// Which feed protocol the live packets carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    /// Detect from the first packets (IEX-TP header vs MoldUDP64).
    #[default]
    Auto,
    /// NASDAQ ITCH 5.0 in MoldUDP64.
    Itch,
    /// IEX-TP (TOPS, DEEP, DEEP+).
    Iex,
}

/// Live receive settings (`run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// `ADDR:PORT` to listen on: a unicast address (e.g. `127.0.0.1:26477`, port 0 = pick one) or a multicast group
    /// (joined on `interface`).
    pub listen: Option<String>,
    /// Interface address for multicast joins (default: any).
    pub interface: Option<Ipv4Addr>,
    /// Receive backend.
    pub backend: Backend,
    /// Feed protocol.
    pub feed: FeedKind,
    /// Requested socket receive buffer in bytes (`SO_RCVBUF`, then `SO_RCVBUFFORCE` when permitted). The effective
    /// size is reported at start-up.
    pub rcvbuf: usize,
    /// Packet buffer pool: number of slots.
    pub pool_slots: u32,
    /// Packet buffer pool: bytes per slot (largest datagram; longer ones are counted as truncated).
    pub slot_size: usize,
    /// Datagrams per `recvmmsg` call (mio backend).
    pub batch: usize,
    /// Backpressure policy: how long the receive thread waits for room in a full packet ring (or for a free pool
    /// slot) before it drops the datagram, counts it and records its sequence range as dropped.
    pub drop_after_us: u64,
    /// Prometheus metrics endpoint (`127.0.0.1:PORT`; port 0 = pick one; empty = off).
    pub metrics: Option<String>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            listen: None,
            interface: None,
            backend: Backend::Mio,
            feed: FeedKind::Auto,
            rcvbuf: 32 << 20,
            pool_slots: 8192,
            slot_size: 2048,
            batch: 32,
            drop_after_us: 2_000,
            metrics: Some("127.0.0.1:9464".to_string()),
        }
    }
}

/// What besides alerts goes to the publish thread (records reach Kafka with `--brokers`, JSON lines with
/// `--snapshots-out` / `--features-out`; without a destination nothing is produced).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Levels per side in a book snapshot (1..=10).
    pub snapshot_depth: u16,
    /// Periodic per-symbol snapshots every this many ms of feed time (taken on the symbol's next event; 0 = off).
    pub snapshot_interval_ms: u64,
    /// A snapshot of the alerted symbol with every alert.
    pub snapshot_on_alert: bool,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            snapshot_depth: 5,
            snapshot_interval_ms: 0,
            snapshot_on_alert: true,
        }
    }
}

/// The whole runtime configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Latency clock.
    pub clock: ClockChoice,
    /// Number of book shards (symbols partitioned by stock locate / IEX symbol). 1..=16.
    pub book_shards: u8,
    /// Histogram interval: how often threads hand their histograms to the reporter (and the interval log gets a
    /// line per stage), milliseconds.
    pub histogram_interval_ms: u64,
    /// Highest latency the histograms track, nanoseconds (larger values saturate).
    pub histogram_max_ns: u64,
    /// Ring capacities.
    pub rings: RingSizes,
    /// Threads; empty = defaults for the cores available.
    pub threads: Vec<ThreadConfig>,
    /// Live settings (`run`).
    pub live: LiveConfig,
    /// CEP rules, reference data and models (`--rules`, `--ref-data`, `--model` add to it).
    pub cep: detect::cep::CepConfig,
    /// Snapshots published besides alerts.
    pub publish: PublishConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            clock: ClockChoice::Auto,
            book_shards: 1,
            histogram_interval_ms: 1000,
            histogram_max_ns: 60_000_000_000,
            rings: RingSizes::default(),
            threads: Vec::new(),
            live: LiveConfig::default(),
            cep: detect::cep::CepConfig::default(),
            publish: PublishConfig::default(),
        }
    }
}

/// A configuration error (names the offending field).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// TOML syntax or schema error.
    #[error("config {file}: {source}")]
    Parse {
        /// File name.
        file: String,
        /// Parser error.
        #[source]
        source: toml::de::Error,
    },
    /// I/O error reading the file.
    #[error("config {file}: {source}")]
    Io {
        /// File name.
        file: String,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A semantic error.
    #[error("config: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads and parses a TOML file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses TOML text (`file` names it in errors).
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            file: file.to_string(),
            source,
        })
    }

    /// Resolves and validates the thread layout.
    pub fn plan(&self, cores: usize) -> Result<Plan, ConfigError> {
        let threads = if self.threads.is_empty() {
            default_threads(cores)
        } else {
            self.threads.clone()
        };
        Plan::new(threads, self, cores)
    }
}

/// Default threads for `cores` available cores (see the module docs).
pub fn default_threads(cores: usize) -> Vec<ThreadConfig> {
    let t = |name: &str, stages: &[Stage], core: Option<usize>, wait: WaitStrategy| ThreadConfig {
        name: name.to_string(),
        stages: stages.to_vec(),
        core,
        cores: Vec::new(),
        wait,
    };
    let hot = WaitStrategy::spin_then_yield();
    let cold = WaitStrategy::park();
    match cores {
        0 | 1 => vec![t("all", &Stage::ALL, None, hot)],
        2 | 3 => vec![
            t("feed", &[Stage::Receive, Stage::Book], Some(1), hot),
            t("detect", &[Stage::Detect], Some(0), cold),
        ],
        _ => vec![
            t("receive", &[Stage::Receive], Some(1), hot),
            t("book", &[Stage::Book], Some(2), hot),
            t("detect", &[Stage::Detect], Some(3), cold),
        ],
    }
}

/// One resolved thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadPlan {
    /// Thread name (with `-N` for book shards).
    pub name: String,
    /// First stage it runs.
    pub first: Stage,
    /// Last stage it runs (inclusive).
    pub last: Stage,
    /// Core to pin to.
    pub core: Option<usize>,
    /// Wait strategy.
    pub wait: WaitStrategy,
    /// Book shard index when this is one of several shard threads.
    pub shard: Option<u8>,
}

impl ThreadPlan {
    /// Whether this thread runs `s`.
    pub fn runs(&self, s: Stage) -> bool {
        (self.first..=self.last).contains(&s)
    }
}

/// The validated thread layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Threads in pipeline order (book shards consecutive).
    pub threads: Vec<ThreadPlan>,
    /// Book shards.
    pub shards: u8,
}

impl Plan {
    fn new(threads: Vec<ThreadConfig>, cfg: &Config, _cores: usize) -> Result<Plan, ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let shards = cfg.book_shards;
        if !(1..=16).contains(&shards) {
            return bad(format!("book_shards = {shards}: must be 1..=16"));
        }
        if cfg.rings.packets < 2 || cfg.rings.events < 2 || cfg.rings.alerts < 2 {
            return bad("ring capacities must be at least 2".into());
        }
        let mut next = 0usize;
        let mut out = Vec::new();
        for t in &threads {
            if t.stages.is_empty() {
                return bad(format!("thread {:?} runs no stage", t.name));
            }
            for (i, s) in t.stages.iter().enumerate() {
                if s.index() != next {
                    let expected = Stage::ALL.get(next).map_or("nothing more", |s| s.name());
                    return bad(format!(
                        "thread {:?}: stage {s} out of order (threads must list the stages receive, book, detect \
                         once each, in that order; expected {expected} {})",
                        t.name,
                        if i == 0 { "first" } else { "next" }
                    ));
                }
                next += 1;
            }
            let first = t.stages[0];
            let last = *t.stages.last().unwrap_or(&first);
            let has_book = (first..=last).contains(&Stage::Book);
            if has_book && shards > 1 {
                if first != Stage::Book || last != Stage::Book {
                    return bad(format!(
                        "thread {:?}: with book_shards = {shards} the book stage must run on a thread of its own",
                        t.name
                    ));
                }
                for i in 0..shards {
                    out.push(ThreadPlan {
                        name: format!("{}-{i}", t.name),
                        first,
                        last,
                        core: t.cores.get(usize::from(i)).copied().or(t.core),
                        wait: t.wait,
                        shard: Some(i),
                    });
                }
            } else {
                out.push(ThreadPlan {
                    name: t.name.clone(),
                    first,
                    last,
                    core: t.core,
                    wait: t.wait,
                    shard: None,
                });
            }
        }
        if next != Stage::ALL.len() {
            return bad(format!(
                "threads do not run every stage: {} missing",
                Stage::ALL[next..]
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut names: Vec<&str> = out.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return bad("thread names must be unique".into());
        }
        Ok(Plan {
            threads: out,
            shards,
        })
    }

    /// The thread running `stage` (the first shard for `book`).
    pub fn thread_of(&self, stage: Stage) -> &ThreadPlan {
        self.threads
            .iter()
            .find(|t| t.runs(stage))
            .expect("a validated plan runs every stage")
    }

    /// Whether a ring separates `stage` from the next one.
    pub fn ring_after(&self, stage: Stage) -> bool {
        self.thread_of(stage).last == stage && stage != Stage::Detect
    }

    /// One-line description, e.g. `feed[receive+book]@1 detect[detect]@0`; a core that does not exist or is not
    /// allowed shows as `@-` with a note (the thread runs unpinned).
    pub fn describe(&self) -> String {
        self.threads
            .iter()
            .map(|t| {
                let stages: Vec<&str> = Stage::ALL
                    .iter()
                    .filter(|s| t.runs(**s))
                    .map(|s| s.name())
                    .collect();
                match t.core {
                    Some(c) if !super::affinity::core_allowed(c) => format!(
                        "{}[{}]@- ({}; core {c} unavailable, unpinned)",
                        t.name,
                        stages.join("+"),
                        t.wait.name()
                    ),
                    core => format!(
                        "{}[{}]@{} ({})",
                        t.name,
                        stages.join("+"),
                        core.map_or("-".to_string(), |c| c.to_string()),
                        t.wait.name()
                    ),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Parses `ADDR:PORT` of the `listen` setting.
pub fn parse_listen(s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse::<SocketAddr>().map_err(|e| {
        ConfigError::Invalid(format!("listen address {s:?}: {e} (expected ADDR:PORT)"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_for_any_core_count() {
        for cores in 1..=8 {
            let p = Config::default().plan(cores).unwrap();
            assert_eq!(p.thread_of(Stage::Receive).first, Stage::Receive);
            assert!(p
                .threads
                .iter()
                .all(|t| t.core.is_none_or(|c| c < cores.max(2))));
        }
        let p = Config::default().plan(2).unwrap();
        assert_eq!(p.threads.len(), 2);
        assert!(!p.ring_after(Stage::Receive));
        assert!(p.ring_after(Stage::Book));
    }

    #[test]
    fn example_file_parses_and_plans() {
        let cfg = Config::parse(EXAMPLE_TOML, "example.toml").unwrap();
        let plan = cfg.plan(2).unwrap();
        assert!(!plan.threads.is_empty());
        assert_eq!(cfg.live.backend, Backend::Mio);
    }

    #[test]
    fn rejects_bad_layouts() {
        let cases = [
            ("[[threads]]\nname=\"a\"\nstages=[\"book\",\"receive\",\"detect\"]", "out of order"),
            ("[[threads]]\nname=\"a\"\nstages=[\"receive\",\"book\"]", "missing"),
            (
                "book_shards = 2\n[[threads]]\nname=\"a\"\nstages=[\"receive\",\"book\",\"detect\"]",
                "own",
            ),
            ("book_shards = 0", "1..=16"),
            ("[[threads]]\nname=\"a\"\nstages=[\"receive\",\"book\"]\nbogus=1", "unknown field"),
        ];
        for (text, want) in cases {
            let err = Config::parse(text, "t.toml").and_then(|c| c.plan(2).map(|_| ()));
            let msg = err.unwrap_err().to_string();
            assert!(msg.contains(want), "{text:?}: {msg}");
        }
    }

    #[test]
    fn shards_expand_with_their_cores() {
        let text = "book_shards = 3
[[threads]]
name = \"rx\"
stages = [\"receive\"]
[[threads]]
name = \"book\"
stages = [\"book\"]
core = 1
cores = [2, 3]
[[threads]]
name = \"tail\"
stages = [\"detect\"]
wait = \"park\"
";
        let plan = Config::parse(text, "t").unwrap().plan(4).unwrap();
        let books: Vec<_> = plan
            .threads
            .iter()
            .filter(|t| t.first == Stage::Book)
            .collect();
        assert_eq!(books.len(), 3);
        assert_eq!(books[0].core, Some(2));
        assert_eq!(books[1].core, Some(3));
        assert_eq!(books[2].core, Some(1));
        assert_eq!(books[2].name, "book-2");
        assert_eq!(plan.threads.last().unwrap().wait, WaitStrategy::park());
    }
}
