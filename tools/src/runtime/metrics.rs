//! Prometheus text-format metrics on loopback: a tiny `std::net` HTTP responder on its own thread, serving a
//! snapshot the reporter thread re-renders every 200 ms. Cold path: the hot threads only publish their counters with
//! their latency intervals (see [`super::latency`]).
//!
//! `GET /metrics` (any path works) returns, per stage instance (`recorder="thread/stage"`): packets, bytes, messages,
//! events, alerts, receive drops (packets, messages), truncated datagrams, sequence gaps (count and missing
//! messages), duplicates, full-ring waits, input ring depth (max over the last interval) and capacity; per latency
//! hop: p50, p90, p99, p99.9, p99.99 and max in nanoseconds (a `summary`), and the uptime.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::latency::{Counters, Metric};
use super::pipeline::Shared;
use super::topology::Stage;

/// The latest rendered exposition text.
#[derive(Debug, Default)]
pub struct MetricsState {
    text: Mutex<String>,
}

impl MetricsState {
    /// Re-renders the exposition text (reporter thread).
    pub fn update(
        &self,
        names: &[String],
        stages: &[Stage],
        counters: &[Counters],
        totals: &[Histogram<u64>],
        shared: &Shared,
        uptime: Duration,
    ) {
        let text = render(names, stages, counters, totals, shared, uptime);
        if let Ok(mut t) = self.text.lock() {
            *t = text;
        }
    }

    /// The current text.
    pub fn text(&self) -> String {
        self.text.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

fn render(
    names: &[String],
    stages: &[Stage],
    counters: &[Counters],
    totals: &[Histogram<u64>],
    shared: &Shared,
    uptime: Duration,
) -> String {
    let mut s = String::with_capacity(8192);
    type Pick = fn(&Counters) -> u64;
    let families: [(&str, &str, &str, Pick); 14] = [
        (
            "packets_total",
            "counter",
            "Packets handled by the stage instance.",
            |c| c.packets,
        ),
        (
            "bytes_total",
            "counter",
            "UDP payload bytes handled.",
            |c| c.bytes,
        ),
        ("messages_total", "counter", "Feed messages decoded.", |c| {
            c.messages
        }),
        (
            "events_total",
            "counter",
            "Book events produced (book) or consumed (detect).",
            |c| c.events,
        ),
        ("alerts_total", "counter", "Alerts emitted.", |c| c.alerts),
        (
            "rx_dropped_packets_total",
            "counter",
            "Datagrams dropped by the live backpressure policy.",
            |c| c.dropped_packets,
        ),
        (
            "rx_dropped_messages_total",
            "counter",
            "Feed messages in dropped datagrams.",
            |c| c.dropped_messages,
        ),
        (
            "rx_truncated_total",
            "counter",
            "Datagrams longer than a pool slot.",
            |c| c.truncated,
        ),
        (
            "seq_gaps_total",
            "counter",
            "Sequence gaps detected.",
            |c| c.gaps,
        ),
        (
            "seq_gap_messages_total",
            "counter",
            "Messages missing in sequence gaps.",
            |c| c.gap_messages,
        ),
        (
            "seq_duplicates_total",
            "counter",
            "Duplicate or old packets.",
            |c| c.duplicates,
        ),
        (
            "ring_full_waits_total",
            "counter",
            "Times an output ring was full.",
            |c| c.ring_full_waits,
        ),
        (
            "ring_depth_max",
            "gauge",
            "Highest input ring depth over the last interval.",
            |c| c.input_depth_max,
        ),
        (
            "ring_capacity",
            "gauge",
            "Input ring capacity (slots).",
            |c| c.input_capacity,
        ),
    ];
    for (name, kind, help, pick) in families {
        let _ = writeln!(
            s,
            "# HELP tickwatch_{name} {help}\n# TYPE tickwatch_{name} {kind}"
        );
        for ((n, st), c) in names.iter().zip(stages).zip(counters) {
            let _ = writeln!(
                s,
                "tickwatch_{name}{{recorder=\"{n}\",stage=\"{st}\"}} {}",
                pick(c)
            );
        }
    }
    let _ = writeln!(
        s,
        "# HELP tickwatch_latency_ns Latency per hop since start (ns).\n# TYPE tickwatch_latency_ns summary"
    );
    for (m, h) in Metric::ALL.iter().zip(totals) {
        if h.is_empty() {
            continue;
        }
        for q in [0.5, 0.9, 0.99, 0.999, 0.9999] {
            let _ = writeln!(
                s,
                "tickwatch_latency_ns{{hop=\"{}\",quantile=\"{q}\"}} {}",
                m.tag(),
                h.value_at_quantile(q)
            );
        }
        let _ = writeln!(
            s,
            "tickwatch_latency_ns{{hop=\"{}\",quantile=\"1\"}} {}",
            m.tag(),
            h.max()
        );
        let _ = writeln!(
            s,
            "tickwatch_latency_ns_count{{hop=\"{}\"}} {}",
            m.tag(),
            h.len()
        );
        let _ = writeln!(
            s,
            "tickwatch_latency_ns_sum{{hop=\"{}\"}} {}",
            m.tag(),
            (h.mean() * h.len() as f64) as u64
        );
    }
    let _ = writeln!(
        s,
        "# HELP tickwatch_source_packets_total Packets read by the source.\n# TYPE tickwatch_source_packets_total counter\ntickwatch_source_packets_total {}",
        shared.packets.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        s,
        "# HELP tickwatch_uptime_seconds Seconds since start.\n# TYPE tickwatch_uptime_seconds gauge\ntickwatch_uptime_seconds {:.3}",
        uptime.as_secs_f64()
    );
    s
}

/// A running metrics endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    /// Address it listens on (the actual port when 0 was requested).
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` and serves `state` on a new thread.
    pub fn start(addr: &str, state: Arc<MetricsState>) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("tw-metrics".into())
            .spawn(move || serve(listener, state, stop2))?;
        Ok(MetricsServer {
            addr: local,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, state: Arc<MetricsState>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = respond(stream, &state);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn respond(mut stream: TcpStream, state: &MetricsState) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    let mut buf = [0u8; 4096];
    let mut len = 0;
    while len < buf.len() {
        let n = stream.read(&mut buf[len..])?;
        if n == 0 {
            break;
        }
        len += n;
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let req = String::from_utf8_lossy(&buf[..len]);
    let (status, body) = if req.starts_with("GET ") {
        ("200 OK", state.text())
    } else {
        (
            "405 Method Not Allowed",
            "only GET is supported\n".to_string(),
        )
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// Fetches `http://addr/metrics` (used by tests and `run --self-check`).
pub fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::latency::new_histogram;

    #[test]
    fn serves_rendered_text() {
        let state = Arc::new(MetricsState::default());
        let mut h = new_histogram(1_000_000);
        h.record(1500).unwrap();
        let totals: Vec<_> = Metric::ALL
            .iter()
            .map(|m| {
                if *m == Metric::RxAlert {
                    h.clone()
                } else {
                    new_histogram(10)
                }
            })
            .collect();
        let c = Counters {
            packets: 7,
            gaps: 2,
            ..Counters::default()
        };
        state.update(
            &["feed/book".to_string()],
            &[Stage::Book],
            &[c],
            &totals,
            &Shared::default(),
            Duration::from_secs(3),
        );
        let server = MetricsServer::start("127.0.0.1:0", Arc::clone(&state)).unwrap();
        let body = scrape(server.addr).unwrap();
        assert!(
            body.contains("tickwatch_packets_total{recorder=\"feed/book\",stage=\"book\"} 7"),
            "{body}"
        );
        assert!(body.contains("tickwatch_seq_gaps_total{recorder=\"feed/book\",stage=\"book\"} 2"));
        assert!(body.contains("tickwatch_latency_ns{hop=\"rx_alert\",quantile=\"0.5\"} 1500"));
        assert!(!body.contains("hop=\"rx_decoded\""));
        drop(server);
    }
}
