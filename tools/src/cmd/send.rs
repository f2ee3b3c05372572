//! `tickwatch send CAPTURE --to ADDR [--speed X|max] [--skip N]...`: sends a capture's UDP payloads to an address
//! (the test driver for `tickwatch run`).
//!
//! pcap / pcapng: every UDP payload in capture order (frames without one are skipped and counted), paced by the
//! capture timestamps × `--speed` or at full speed (`max`, the default), optionally capped at `--pps` packets per
//! second. Raw ITCH files have no datagrams: their messages are packed into MoldUDP64 packets (session
//! `--session`, sequence from 1, up to 1400 bytes each).
//!
//! `--skip N` (repeatable) does not send the N-th *data* packet (1-based, counting only packets that carry
//! messages: not heartbeats or end-of-session), to inject a sequence gap; the sequence range it held is printed on
//! stderr as `send: skipped data packet N: seq FIRST..=LAST (COUNT messages)`.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use feed::capture::{net, Capture, Format};
use feed::encode::MoldPacketizer;

use crate::cmd::replay::Speed;
use crate::runtime::receive::{detect_transport, seq_range, Transport};

/// Arguments of `tickwatch send`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Capture file (pcap, pcapng or raw ITCH; gzip inflated).
    #[arg(value_name = "CAPTURE")]
    pub capture: PathBuf,
    /// Destination `ADDR:PORT` (unicast, e.g. 127.0.0.1:26477, or a multicast group).
    #[arg(long, value_name = "ADDR:PORT")]
    pub to: SocketAddr,
    /// `max` (default) or a factor applied to the capture's own pacing.
    #[arg(long, default_value = "max")]
    pub speed: Speed,
    /// At most this many packets per second (0 = no cap).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub pps: u64,
    /// Do not send the N-th data packet (1-based; repeatable) — injects a sequence gap.
    #[arg(long, value_name = "N")]
    pub skip: Vec<u64>,
    /// Force the capture format.
    #[arg(long, value_name = "pcap|pcapng|raw-itch")]
    pub format: Option<Format>,
    /// MoldUDP64 session used when sending a raw ITCH file.
    #[arg(long, default_value = "RAWITCH001")]
    pub session: String,
    /// Interface address for multicast sends.
    #[arg(long, value_name = "ADDR")]
    pub interface: Option<Ipv4Addr>,
    /// No summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

struct Sender {
    sock: UdpSocket,
    to: SocketAddr,
    skip: Vec<u64>,
    data_packets: u64,
    sent: u64,
    bytes: u64,
    skipped: u64,
    pps: u64,
    start: Instant,
    pacing: Option<(f64, Option<(u64, Instant)>)>,
    quiet: bool,
}

impl Sender {
    fn send(&mut self, payload: &[u8], ts_ns: u64) -> anyhow::Result<()> {
        let t = detect_transport(payload);
        let range = seq_range(payload, t);
        let is_data = match (t, range) {
            (Transport::Mold, Some((_, c))) => c > 0,
            (Transport::IexTp, Some((_, c))) => c > 0,
            _ => false,
        };
        if is_data {
            self.data_packets += 1;
            if self.skip.contains(&self.data_packets) {
                self.skipped += 1;
                let (seq, count) = range.unwrap_or((0, 0));
                eprintln!(
                    "send: skipped data packet {}: seq {}..={} ({} messages)",
                    self.data_packets,
                    seq,
                    seq + u64::from(count).saturating_sub(1),
                    count
                );
                return Ok(());
            }
        }
        if let Some((speed, origin)) = &mut self.pacing {
            if ts_ns != 0 {
                let (ts0, t0) = *origin.get_or_insert((ts_ns, Instant::now()));
                let due =
                    t0 + Duration::from_secs_f64(ts_ns.saturating_sub(ts0) as f64 / 1e9 / *speed);
                sleep_until(due);
            }
        }
        if self.pps > 0 {
            let due = self.start + Duration::from_secs_f64(self.sent as f64 / self.pps as f64);
            sleep_until(due);
        }
        loop {
            match self.sock.send_to(payload, self.to) {
                Ok(_) => break,
                // The local send buffer is full (only with huge bursts): wait and retry, never drop.
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::ENOBUFS) =>
                {
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(e) => return Err(e).with_context(|| format!("sending to {}", self.to)),
            }
        }
        self.sent += 1;
        self.bytes += payload.len() as u64;
        Ok(())
    }
}

fn sleep_until(due: Instant) {
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let left = due - now;
        if left > Duration::from_micros(300) {
            std::thread::sleep(left - Duration::from_micros(200));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Runs `tickwatch send`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cap = Capture::open_as(&args.capture, args.format)?;
    let bind: SocketAddr = if args.to.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let sock = UdpSocket::bind(bind).context("binding the sending socket")?;
    if let (SocketAddr::V4(to), Some(ifa)) = (args.to, args.interface) {
        if to.ip().is_multicast() {
            socket2::SockRef::from(&sock).set_multicast_if_v4(&ifa)?;
        }
    }
    let _ = socket2::SockRef::from(&sock).set_send_buffer_size(8 << 20);
    let mut s = Sender {
        sock,
        to: args.to,
        skip: args.skip.clone(),
        data_packets: 0,
        sent: 0,
        bytes: 0,
        skipped: 0,
        pps: args.pps,
        start: Instant::now(),
        pacing: args.speed.factor().map(|f| (f, None)),
        quiet: args.quiet,
    };
    let mut not_udp = 0u64;
    match cap.frames() {
        Some(frames) => {
            for frame in frames {
                match net::udp_payload(frame.link_type, frame.data) {
                    Ok(udp) => s.send(udp.payload, frame.ts_ns)?,
                    Err(_) => not_udp += 1,
                }
            }
        }
        None => {
            if s.pacing.is_some() {
                eprintln!(
                    "send: warning: raw ITCH files carry no capture timestamps; use --pps to pace"
                );
                s.pacing = None;
            }
            let mut session = [b' '; 10];
            for (d, b) in session.iter_mut().zip(args.session.bytes()) {
                *d = b;
            }
            let mut pk = MoldPacketizer::new(session, 1, 1400, u16::MAX - 1);
            let mut packets: Vec<Vec<u8>> = Vec::new();
            for (_, msg) in cap.raw_messages() {
                pk.push(msg, &mut |p| packets.push(p.to_vec()))
                    .map_err(|e| anyhow::anyhow!("packing a raw ITCH message: {e:?}"))?;
            }
            pk.flush(&mut |p| packets.push(p.to_vec()));
            for p in &packets {
                s.send(p, 0)?;
            }
        }
    }
    let secs = s.start.elapsed().as_secs_f64();
    if !s.quiet {
        eprintln!(
            "send: {} packets ({} bytes) to {} in {:.3} s ({:.0} packets/s); {} data packets seen, {} skipped{}",
            s.sent,
            s.bytes,
            s.to,
            secs,
            s.sent as f64 / secs.max(1e-9),
            s.data_packets,
            s.skipped,
            if not_udp > 0 { format!("; {not_udp} frames without a UDP payload") } else { String::new() }
        );
    }
    for n in &args.skip {
        if *n > s.data_packets {
            eprintln!(
                "send: warning: --skip {n}: the capture has only {} data packets",
                s.data_packets
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
