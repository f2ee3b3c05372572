//! `tickwatch dump CAPTURE [--format ...] [--port N] [--group ADDR]`: one JSON object per decoded message (JSON
//! lines on stdout).
//!
//! Keys follow the oracle CSV columns of `../shared/data/oracle` (README there): `frame` (1-based capture frame; for
//! raw ITCH files the 1-based message ordinal), `msg_index` (0-based index in the packet), `seq` (packet sequence
//! number + `msg_index`; the ordinal for raw files), `session` (MoldUDP64 session text, `""` when it is 10 NUL
//! bytes or absent; IEX-TP session id in decimal), `msg_type` (one character), `msg_len` (type byte included), then
//! every field of the message in wire order: `timestamp`, `stock_locate`, `tracking_number`, `order_ref`,
//! `new_order_ref`, `side`, `shares`, `symbol`, `mpid`, `match_number` where the message has them, and the other
//! fields under the Open-Markets-Initiative dissector names (`eventcode`, `marketcategory`, `crosstype`, ...).
//! Prices appear twice: `<name>_raw`, the integer on the wire (4 implied decimals; 8 for ITCH MWCB `level1..3`),
//! and `<name>`, that value as a decimal string without trailing zeros (`"80.52"`, `"0"`). Integers are JSON
//! numbers, character and alpha fields strings (alpha fields without their right padding).
//!
//! Exit status as for `stats`: non-zero only when the file cannot be read. A closed stdout (`| head`) ends quietly.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use feed::analyze::{Analyzer, FeedMessage, MessageMeta, Session};
use feed::itch::FieldValue;

use super::stats::CaptureArgs;

/// Arguments of `tickwatch dump`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The capture and input options.
    #[command(flatten)]
    pub input: CaptureArgs,
}

/// Minimal JSON object writer into a byte buffer (keys are static identifiers; string values are escaped).
struct Obj<'b> {
    out: &'b mut Vec<u8>,
    first: bool,
}

impl<'b> Obj<'b> {
    fn new(out: &'b mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }
    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }
    fn uint(&mut self, k: &str, v: u64) {
        self.key(k);
        let mut b = itoa_buf();
        self.out.extend_from_slice(fmt_u64(&mut b, v));
    }
    fn int(&mut self, k: &str, v: i64) {
        self.key(k);
        let _ = write!(Adapter(self.out), "{v}");
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        // serde_json escapes exactly as JSON requires; writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, v);
    }
    fn bytes(&mut self, k: &str, v: &[u8]) {
        self.str(k, &String::from_utf8_lossy(v));
    }
    fn key_suffixed(&mut self, k: &str, suffix: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(suffix.as_bytes());
        self.out.extend_from_slice(b"\":");
    }
    fn end(self) {
        self.out.extend_from_slice(b"}\n");
    }
}

struct Adapter<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for Adapter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

fn fmt_u64(buf: &mut [u8; 20], mut v: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// A wire price with `decimals` implied decimals as a decimal string without trailing zeros.
pub fn price_text(raw: u64, decimals: u32) -> String {
    let scale = 10u64.pow(decimals);
    let (int, mut frac) = (raw / scale, raw % scale);
    let mut s = int.to_string();
    if frac != 0 {
        let mut digits = decimals as usize;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        let _ = write!(s, ".{frac:0digits$}");
    }
    s
}

/// One-byte character field as text: NUL shows as `""`, non-ASCII as U+FFFD.
fn char_text(b: u8) -> String {
    match b {
        0 => String::new(),
        b if b.is_ascii() => (b as char).to_string(),
        _ => "\u{fffd}".to_string(),
    }
}

/// Alpha field text: trailing spaces (already trimmed by the decoder) and NULs removed.
fn alpha_bytes(v: &[u8]) -> &[u8] {
    let mut end = v.len();
    while end > 0 && (v[end - 1] == b' ' || v[end - 1] == 0) {
        end -= 1;
    }
    &v[..end]
}

fn session_text(s: Session<'_>) -> String {
    match s {
        Session::None => String::new(),
        Session::Mold(id) => String::from_utf8_lossy(alpha_bytes(id)).into_owned(),
        Session::Iex(id) => id.to_string(),
    }
}

/// Appends the JSON line of one message to `out`.
pub fn write_message(out: &mut Vec<u8>, meta: &MessageMeta<'_>, msg: &FeedMessage<'_>) {
    let mut o = Obj::new(out);
    o.uint("frame", meta.frame);
    o.uint("msg_index", meta.msg_index as u64);
    o.uint("seq", meta.seq);
    o.str("session", &session_text(meta.session));
    match msg {
        FeedMessage::Itch(m) => {
            o.str("msg_type", &char_text(m.msg_type()));
            o.uint("msg_len", meta.len as u64);
            m.for_each_field(|name, v| match v {
                FieldValue::UInt(n) => o.uint(name, n),
                FieldValue::Char(c) => o.str(name, &char_text(c)),
                FieldValue::Alpha(a) => o.bytes(name, alpha_bytes(a)),
                FieldValue::Price4(p) => {
                    o.key_suffixed(name, "_raw");
                    let mut b = itoa_buf();
                    o.out.extend_from_slice(fmt_u64(&mut b, p as u64));
                    o.str(name, &price_text(p as u64, 4));
                }
                FieldValue::Price8(p) => {
                    o.key_suffixed(name, "_raw");
                    let mut b = itoa_buf();
                    o.out.extend_from_slice(fmt_u64(&mut b, p));
                    o.str(name, &price_text(p, 8));
                }
            });
        }
        FeedMessage::Iex(m) => {
            use feed::iex::fields::{for_each_field, FieldValue as IexValue};
            o.str("msg_type", &char_text(m.message_type()));
            o.uint("msg_len", meta.len as u64);
            for_each_field(m, |name, v| match v {
                IexValue::Uint(n) => o.uint(name, n),
                IexValue::Int(n) => o.int(name, n),
                IexValue::Price(p) => {
                    o.key_suffixed(name, "_raw");
                    let _ = write!(Adapter(o.out), "{p}");
                    o.str(name, &v.to_string());
                }
                other => o.str(name, &other.to_string()),
            });
        }
        _ => {
            o.str("msg_type", "");
            o.uint("msg_len", meta.len as u64);
        }
    }
    o.end();
}

/// Runs `tickwatch dump`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cap = args.input.open()?;
    let mut an = Analyzer::new(args.input.analyzer_config());
    let stdout = io::stdout();
    let mut w = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = Vec::with_capacity(1024);
    let mut err: Option<io::Error> = None;
    an.run(&cap, &mut |meta, msg| {
        if err.is_some() {
            return;
        }
        line.clear();
        write_message(&mut line, meta, &msg);
        if let Err(e) = w.write_all(&line) {
            err = Some(e);
        }
    });
    let flushed = match err {
        Some(e) => Err(e),
        None => w.flush(),
    };
    match flushed {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(anyhow::Error::new(e).context("writing to stdout")),
    }
    if let Some(stop) = an.stopped() {
        eprintln!(
            "tickwatch: warning: {}: {stop}; the rest of the file was not read",
            cap.path().display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_text_matches_dissector_style() {
        assert_eq!(price_text(805_200, 4), "80.52");
        assert_eq!(price_text(0, 4), "0");
        assert_eq!(price_text(3147, 4), "0.3147");
        assert_eq!(price_text(1_000_000, 4), "100");
        assert_eq!(price_text(144_610, 4), "14.461");
        assert_eq!(price_text(123_456_789, 8), "1.23456789");
        let mut b = itoa_buf();
        assert_eq!(fmt_u64(&mut b, 0), b"0");
        assert_eq!(fmt_u64(&mut b, u64::MAX), b"18446744073709551615");
    }
}
