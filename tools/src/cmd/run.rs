//! `tickwatch run --config FILE` (or one-line flags): the colocated daemon. Receives a UDP feed (unicast, or a
//! multicast group it joins) with the mio or io_uring backend, runs the full pipeline, publishes alerts, serves
//! Prometheus metrics on loopback, and on SIGINT/SIGTERM drains the socket and the rings, flushes every output and
//! exits.
//!
//! Start-up prints `tickwatch run: listening on ADDR (...)` on stderr once the socket is bound (with the actual
//! port when `--listen` used port 0): a script can wait for that line before sending.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use feed::analyze::AnalyzerConfig;

use crate::cmd::replay::PipelineArgs;
use crate::runtime::affinity;
use crate::runtime::net::{open_socket, MioBackend, UringBackend};
use crate::runtime::pipeline::{Shared, Source};
use crate::runtime::pool::PacketPool;
use crate::runtime::receive::{LiveSource, RxBackend, Transport};
use crate::runtime::session::{
    install_signals, run_session, stats_document, SessionOptions, SessionResult,
};
use crate::runtime::topology::{parse_listen, Backend, FeedKind, Stage};

/// Arguments of `tickwatch run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `ADDR:PORT` to receive on: unicast (e.g. 127.0.0.1:26477; port 0 picks a free one) or a multicast group.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Receive backend: mio (epoll + recvmmsg) or io-uring (multishot receive, provided buffers).
    #[arg(long, value_name = "mio|io-uring", value_parser = parse_backend)]
    pub backend: Option<Backend>,
    /// Feed protocol: itch (MoldUDP64), iex (IEX-TP), or auto (detected per datagram; the default).
    #[arg(long, value_name = "itch|iex|auto", value_parser = parse_feed)]
    pub feed: Option<FeedKind>,
    /// Interface address for the multicast join.
    #[arg(long, value_name = "ADDR")]
    pub interface: Option<Ipv4Addr>,
    /// Socket receive buffer to request, bytes.
    #[arg(long, value_name = "BYTES")]
    pub rcvbuf: Option<usize>,
    /// Prometheus endpoint `ADDR:PORT` on loopback (port 0 picks one; `off` disables it).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<String>,
    /// Stop by itself after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Pipeline options.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    Backend::parse(s).ok_or_else(|| format!("{s:?}: expected mio or io-uring"))
}

fn parse_feed(s: &str) -> Result<FeedKind, String> {
    match s {
        "itch" | "moldudp64" => Ok(FeedKind::Itch),
        "iex" | "iex-tp" => Ok(FeedKind::Iex),
        "auto" => Ok(FeedKind::Auto),
        _ => Err(format!("{s:?}: expected itch, iex or auto")),
    }
}

/// Runs `tickwatch run`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut cfg = args.pipeline.load_config()?;
    if let Some(l) = &args.listen {
        cfg.live.listen = Some(l.clone());
    }
    if let Some(b) = args.backend {
        cfg.live.backend = b;
    }
    if let Some(f) = args.feed {
        cfg.live.feed = f;
    }
    if let Some(i) = args.interface {
        cfg.live.interface = Some(i);
    }
    if let Some(r) = args.rcvbuf {
        cfg.live.rcvbuf = r;
    }
    if let Some(m) = &args.metrics {
        cfg.live.metrics = Some(m.clone());
    }
    let listen = cfg.live.listen.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "nothing to listen on: give --listen ADDR:PORT or [live] listen in --config"
        )
    })?;
    let listen = parse_listen(listen)?;
    let plan = cfg.plan(affinity::available_cores())?;
    let rx_wait = plan.thread_of(Stage::Receive).wait;

    let pool = PacketPool::new(cfg.live.pool_slots, cfg.live.slot_size)?;
    let (sock, info) = open_socket(listen, cfg.live.interface, cfg.live.rcvbuf)
        .with_context(|| format!("opening a UDP socket on {listen}"))?;
    let metrics = cfg
        .live
        .metrics
        .clone()
        .filter(|m| !m.is_empty() && m != "off");

    let mut opts =
        args.pipeline
            .session(cfg.clone(), true, cfg.live.feed, AnalyzerConfig::default());
    opts.metrics = metrics;
    let shared = Shared::default();
    install_signals(&shared.stop)?;
    if let Some(secs) = args.duration {
        let stop = std::sync::Arc::clone(&shared.stop);
        std::thread::Builder::new()
            .name("tw-timer".into())
            .spawn(move || {
                std::thread::sleep(Duration::from_secs_f64(secs.max(0.0)));
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            })
            .context("starting the timer thread")?;
    }
    let forced = match cfg.live.feed {
        FeedKind::Itch => Some(Transport::Mold),
        FeedKind::Iex => Some(Transport::IexTp),
        FeedKind::Auto => None,
    };
    let announce = |backend: &str| {
        eprintln!(
            "tickwatch run: listening on {}{} ({backend} backend, receive buffer {} bytes{}, pool {} x {} bytes, threads {})",
            info.local,
            info.group.map_or(String::new(), |g| format!(" (joined {g})")),
            info.rcvbuf,
            if info.forced { ", forced" } else { "" },
            pool.slots(),
            pool.slot_size(),
            plan.describe()
        );
    };
    let batch = cfg.live.batch;
    let drop_after = Duration::from_micros(cfg.live.drop_after_us);
    let (res, drops) = match cfg.live.backend {
        Backend::Mio => {
            let be = MioBackend::new(sock, &pool, batch).context("mio backend")?;
            announce(be.name());
            let mut src = LiveSource::new(be, &pool, batch, rx_wait, drop_after, forced);
            go(&opts, &pool, &mut src, &shared)?
        }
        Backend::IoUring => {
            let be = UringBackend::new(sock, &pool).context("io-uring backend")?;
            announce(be.name());
            let mut src = LiveSource::new(be, &pool, batch, rx_wait, drop_after, forced);
            go(&opts, &pool, &mut src, &shared)?
        }
    };
    let mut res = res;
    if !drops.is_empty() {
        eprintln!(
            "tickwatch run: {} datagrams dropped by the receive backpressure policy:",
            drops.len()
        );
        for d in drops.iter().take(50) {
            if d.count == 0 {
                eprintln!("  packet #{}: heartbeat (next seq {})", d.index, d.seq);
            } else {
                eprintln!(
                    "  packet #{}: seq {}..={} ({} messages)",
                    d.index,
                    d.seq,
                    d.seq + u64::from(d.count) - 1,
                    d.count
                );
            }
        }
    }
    if let Some(log) = res.books.first().and_then(|b| b.gap_log()) {
        for g in log.gaps().iter().take(100) {
            eprintln!("tickwatch run: sequence gap: {g}");
        }
        if log.total > 100 {
            eprintln!("tickwatch run: … {} sequence gaps in all", log.total);
        }
    }
    if let Some(path) = &args.pipeline.stats_out {
        let (stats, elapsed) = res
            .feed_stats()
            .ok_or_else(|| anyhow::anyhow!("statistics were not collected"))?;
        std::fs::write(
            path,
            stats_document(
                &stats,
                &format!("udp://{}", info.local),
                "live",
                elapsed,
                crate::runtime::clock::process_cpu_ns().unwrap_or(0),
            )?,
        )
        .with_context(|| format!("writing {}", path.display()))?;
    }
    args.pipeline.write_books(&res)?;
    Ok(args.pipeline.finish(&res, "run"))
}

fn go<B: RxBackend>(
    opts: &SessionOptions,
    pool: &PacketPool,
    src: &mut LiveSource<'_, B>,
    shared: &Shared,
) -> anyhow::Result<(SessionResult, Vec<crate::runtime::receive::DropRecord>)>
where
    for<'p> LiveSource<'p, B>: Source,
{
    let res = run_session(opts, Some(pool), src, shared)?;
    Ok((res, src.drops.records().to_vec()))
}
