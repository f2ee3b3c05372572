//! A bounded log of sequence gaps with their sequence numbers, for operators (`run` prints it at exit).
//!
//! The authoritative gap *counters* are the feed sequencers' (in the `--stats-out` document and the metrics); this
//! log only remembers *which* sequence numbers were missing, per transport session, from the packet headers:
//! MoldUDP64 (session, sequence, count; a heartbeat's sequence is the next expected one) and IEX-TP (session id,
//! first message sequence, count; a restart at sequence 1 starts a new stream). Unsequenced MoldUDP64 packets
//! (sequence 0) are ignored. Fixed memory: 16 sessions, the first [`GapLog::CAPACITY`] gaps.

use feed::analyze::{detect_datagram, DatagramKind};

/// One gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// Session: MoldUDP64 session bytes, or the IEX-TP session id as decimal digits (left-aligned).
    pub session: [u8; 10],
    /// First missing sequence number.
    pub first: u64,
    /// Missing messages.
    pub count: u64,
}

impl Gap {
    /// The session as text.
    pub fn session_text(&self) -> String {
        String::from_utf8_lossy(&self.session)
            .trim_end_matches(['\0', ' '])
            .to_string()
    }
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "session {:?}: seq {}..={} missing ({} messages)",
            self.session_text(),
            self.first,
            self.first + self.count.saturating_sub(1),
            self.count
        )
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct GapLog {
    sessions: [([u8; 10], u64); 16],
    n: usize,
    gaps: Vec<Gap>,
    /// Gaps seen (including those beyond the capacity).
    pub total: u64,
}

impl Default for GapLog {
    fn default() -> Self {
        GapLog {
            sessions: [([0; 10], 0); 16],
            n: 0,
            gaps: Vec::with_capacity(Self::CAPACITY),
            total: 0,
        }
    }
}

impl GapLog {
    /// Gaps kept.
    pub const CAPACITY: usize = 1024;

    /// The logged gaps.
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }

    /// Looks at one UDP payload.
    #[inline]
    pub fn on_datagram(&mut self, d: &[u8]) {
        let (session, seq, count, iex) = match detect_datagram(d) {
            DatagramKind::MoldUdp64 => {
                let mut s = [0u8; 10];
                s.copy_from_slice(&d[..10]);
                let seq = u64::from_be_bytes(d[10..18].try_into().unwrap_or([0; 8]));
                let count = u16::from_be_bytes([d[18], d[19]]);
                if seq == 0 || count == 0xFFFF {
                    return;
                }
                (s, seq, u64::from(count), false)
            }
            DatagramKind::IexTp => {
                let id = u32::from_le_bytes(d[8..12].try_into().unwrap_or([0; 4]));
                let mut s = [0u8; 10];
                let txt = id.to_string();
                s[..txt.len().min(10)].copy_from_slice(&txt.as_bytes()[..txt.len().min(10)]);
                let count = u16::from_le_bytes([d[14], d[15]]);
                let seq = u64::from_le_bytes(d[24..32].try_into().unwrap_or([0; 8]));
                (s, seq, u64::from(count), true)
            }
            DatagramKind::Unrecognized => return,
        };
        let end = seq + count;
        let slot = self.sessions[..self.n]
            .iter()
            .position(|(s, _)| *s == session);
        let Some(i) = slot else {
            if self.n < self.sessions.len() {
                self.sessions[self.n] = (session, end);
                self.n += 1;
            }
            return;
        };
        let next = &mut self.sessions[i].1;
        if seq > *next {
            self.total += 1;
            if self.gaps.len() < Self::CAPACITY {
                self.gaps.push(Gap {
                    session,
                    first: *next,
                    count: seq - *next,
                });
            }
            *next = end;
        } else if end > *next {
            *next = end;
        } else if iex && seq == 1 && count > 0 {
            // IEX-TP stream restart.
            *next = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mold(seq: u64, count: u16) -> Vec<u8> {
        let mut d = b"SESSION001".to_vec();
        d.extend_from_slice(&seq.to_be_bytes());
        d.extend_from_slice(&count.to_be_bytes());
        d
    }

    #[test]
    fn logs_mold_gaps_and_ignores_duplicates() {
        let mut g = GapLog::default();
        // 6..=8 missing; a duplicate; a heartbeat announcing 11 reveals 10 missing; then 12 missing.
        for (s, c) in [(1, 3), (4, 2), (9, 1), (4, 2), (11, 0), (11, 1), (13, 1)] {
            g.on_datagram(&mold(s, c));
        }
        let gaps: Vec<String> = g.gaps().iter().map(|x| x.to_string()).collect();
        assert_eq!(
            gaps,
            [
                "session \"SESSION001\": seq 6..=8 missing (3 messages)",
                "session \"SESSION001\": seq 10..=10 missing (1 messages)",
                "session \"SESSION001\": seq 12..=12 missing (1 messages)"
            ]
        );
        assert_eq!(g.total, 3);
    }
}
