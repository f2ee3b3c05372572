//! Live UDP receive backends behind one interface ([`RxBackend`](super::receive::RxBackend)):
//! - [`MioBackend`]: epoll through mio (edge-triggered readiness) and non-blocking `recvmmsg` batches straight into
//!   pool slots;
//! - [`UringBackend`]: io_uring multishot `recv` with a provided-buffer ring whose buffers are the pool slots (buffer
//!   id = slot index), so the kernel picks the slot and the receive thread only reaps completions.
//!
//! Both are exercised by the loopback tests (`tools/tests/live_*.rs`). All `unsafe` system calls live in [`sys`].
//! Socket set-up (bind, multicast join, receive buffer) is shared: [`open_socket`].

pub mod sys;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::pool::{PacketPool, SlotLedger};
use super::receive::{RxBackend, RxDgram};

/// What [`open_socket`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    /// Bound address (with the actual port when 0 was requested).
    pub local: SocketAddr,
    /// Multicast group joined, if any.
    pub group: Option<Ipv4Addr>,
    /// Effective receive buffer in bytes as reported by the kernel (which doubles the request for bookkeeping).
    pub rcvbuf: usize,
    /// Whether `SO_RCVBUFFORCE` was needed and accepted.
    pub forced: bool,
}

/// Opens a non-blocking UDP socket on `listen`: a unicast address is bound as is; a multicast group is bound on its
/// port and joined on `interface` (default: any). The receive buffer is raised to `rcvbuf` (with `SO_RCVBUFFORCE`
/// when `net.core.rmem_max` is lower and the process may).
pub fn open_socket(
    listen: SocketAddr,
    interface: Option<Ipv4Addr>,
    rcvbuf: usize,
) -> io::Result<(UdpSocket, SocketInfo)> {
    let domain = if listen.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    let group = match listen.ip() {
        IpAddr::V4(a) if a.is_multicast() => Some(a),
        IpAddr::V6(a) if a.is_multicast() => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "IPv6 multicast is not supported",
            ))
        }
        _ => None,
    };
    if group.is_some() {
        sock.set_reuse_address(true)?;
    }
    let mut forced = false;
    if rcvbuf > 0 {
        sock.set_recv_buffer_size(rcvbuf)?;
        // Linux reports twice the usable size; compare against the request.
        if sock.recv_buffer_size()? < rcvbuf
            && sys::set_rcvbuf_force(sock.as_raw_fd(), rcvbuf).is_ok()
        {
            forced = true;
        }
    }
    sock.bind(&listen.into())?;
    if let Some(g) = group {
        sock.join_multicast_v4(&g, &interface.unwrap_or(Ipv4Addr::UNSPECIFIED))?;
    }
    sock.set_nonblocking(true)?;
    let info = SocketInfo {
        local: sock
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("socket has no inet address"))?,
        group,
        rcvbuf: sock.recv_buffer_size()?,
        forced,
    };
    Ok((sock.into(), info))
}

/// epoll (mio) + `recvmmsg` backend.
#[derive(Debug)]
pub struct MioBackend<'p> {
    poll: mio::Poll,
    events: mio::Events,
    sock: mio::net::UdpSocket,
    pool: &'p PacketPool,
    free: SlotLedger,
    batch: sys::MmsgBatch,
    taken: Vec<u32>,
}

impl<'p> MioBackend<'p> {
    /// Wraps `sock` (non-blocking), receiving up to `batch` datagrams per call into `pool`.
    pub fn new(sock: UdpSocket, pool: &'p PacketPool, batch: usize) -> io::Result<Self> {
        let poll = mio::Poll::new()?;
        let mut sock = mio::net::UdpSocket::from_std(sock);
        poll.registry()
            .register(&mut sock, mio::Token(0), mio::Interest::READABLE)?;
        let batch = sys::MmsgBatch::new(batch.clamp(1, 1024));
        Ok(MioBackend {
            poll,
            events: mio::Events::with_capacity(4),
            sock,
            pool,
            free: SlotLedger::new(pool.slots(), true),
            taken: Vec::with_capacity(batch.capacity()),
            batch,
        })
    }

    fn try_recv(&mut self, out: &mut Vec<RxDgram>) -> io::Result<usize> {
        let room = (out.capacity() - out.len()).min(self.batch.capacity());
        self.taken.clear();
        while self.taken.len() < room {
            match self.free.take() {
                Some(s) => self.taken.push(s),
                None => break,
            }
        }
        if self.taken.is_empty() {
            return Ok(0);
        }
        // SAFETY: every slot in `taken` just came off this backend's free list: free and owned by this thread.
        let r = unsafe {
            self.batch
                .recv(self.sock.as_raw_fd(), self.pool, &self.taken)
        };
        let n = match r {
            Ok(n) => n,
            Err(e) => {
                for &s in &self.taken {
                    self.free.put(s);
                }
                return Err(e);
            }
        };
        let cap = self.pool.slot_size();
        for (i, &slot) in self.taken.iter().enumerate() {
            if i < n {
                let (len, trunc) = self.batch.result(i);
                out.push(RxDgram {
                    slot,
                    len: len.min(cap) as u32,
                    truncated: trunc || len > cap,
                });
            } else {
                self.free.put(slot);
            }
        }
        Ok(n)
    }
}

impl RxBackend for MioBackend<'_> {
    fn recv_batch(&mut self, out: &mut Vec<RxDgram>, wait: Option<Duration>) -> io::Result<usize> {
        let n = self.try_recv(out)?;
        if n > 0 || wait.is_none() || self.free.free_len() == 0 {
            return Ok(n);
        }
        // Nothing queued (recvmmsg saw EAGAIN): block in epoll until readable or timeout, then try once more.
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        self.try_recv(out)
    }

    fn recycle(&mut self, slot: u32) {
        self.free.put(slot);
    }

    fn name(&self) -> &'static str {
        "mio"
    }
}

/// io_uring multishot receive backend.
#[derive(Debug)]
pub struct UringBackend<'p> {
    ring: sys::UringRecv,
    // Declared after `ring` so the socket outlives the ring on drop.
    _sock: UdpSocket,
    pool: &'p PacketPool,
    armed: bool,
    in_kernel: u32,
    dirty: bool,
    /// Times the kernel ran out of provided buffers (the multishot receive stopped and was re-armed).
    pub enobufs: u64,
}

impl<'p> UringBackend<'p> {
    /// Sets up the ring, provides every pool slot to the kernel and arms the multishot receive. Fails with a clear
    /// error when the kernel refuses io_uring (disabled by sysctl, seccomp, too old).
    pub fn new(sock: UdpSocket, pool: &'p PacketPool) -> io::Result<Self> {
        let ring = sys::UringRecv::new(sock.as_raw_fd(), 64, pool.slots(), 0).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "io_uring is not available here ({e}); check /proc/sys/kernel/io_uring_disabled, seccomp \
                     profiles and the kernel version (multishot receive needs Linux 6.0+), or use --backend mio"
                ),
            )
        })?;
        let mut me = UringBackend {
            ring,
            _sock: sock,
            pool,
            armed: false,
            in_kernel: 0,
            dirty: false,
            enobufs: 0,
        };
        for slot in 0..pool.slots() {
            me.provide(slot);
        }
        me.ring.publish();
        me.dirty = false;
        me.ring.arm()?;
        me.ring.submit(None)?;
        me.armed = true;
        Ok(me)
    }

    fn provide(&mut self, slot: u32) {
        let len = self.pool.slot_size() as u32;
        let ptr = self.pool.slot_ptr(slot);
        // SAFETY: `slot` is free (never handed out, or fully released by every reader); the pool outlives this
        // backend ('p), and the kernel owns the slot until it returns it in a completion.
        unsafe { self.ring.provide(ptr, len, slot as u16) };
        self.in_kernel += 1;
        self.dirty = true;
    }

    fn reap(&mut self, out: &mut Vec<RxDgram>) -> io::Result<usize> {
        let room = out.capacity() - out.len();
        let cap = self.pool.slot_size();
        let mut n = 0usize;
        let mut err = None;
        let mut disarmed = false;
        let mut enobufs = 0;
        let mut taken = 0u32;
        self.ring.reap(room, &mut |c| match c {
            sys::RecvCompletion::Data { bid, len, more } => {
                out.push(RxDgram {
                    slot: u32::from(bid),
                    len: len.min(cap) as u32,
                    truncated: len > cap,
                });
                n += 1;
                taken += 1;
                if !more {
                    disarmed = true;
                }
            }
            sys::RecvCompletion::Error { errno } if errno == libc::ENOBUFS => {
                enobufs += 1;
                disarmed = true;
            }
            sys::RecvCompletion::Error { errno } => {
                disarmed = true;
                err.get_or_insert(io::Error::from_raw_os_error(errno));
            }
            sys::RecvCompletion::Other => {}
        });
        self.in_kernel -= taken;
        self.enobufs += enobufs;
        if disarmed {
            self.armed = false;
        }
        match err {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }
}

impl RxBackend for UringBackend<'_> {
    fn recv_batch(&mut self, out: &mut Vec<RxDgram>, wait: Option<Duration>) -> io::Result<usize> {
        if self.dirty {
            self.ring.publish();
            self.dirty = false;
        }
        if !self.armed && self.in_kernel > 0 {
            self.ring.arm()?;
            self.ring.submit(None)?;
            self.armed = true;
        }
        let n = self.reap(out)?;
        if n > 0 {
            return Ok(n);
        }
        // Enter the kernel: runs pending task work (posting completions) and, with `wait`, sleeps until one
        // arrives or the timeout passes.
        self.ring.submit(wait.filter(|_| self.armed))?;
        self.reap(out)
    }

    fn recycle(&mut self, slot: u32) {
        self.provide(slot);
    }

    fn name(&self) -> &'static str {
        "io-uring"
    }
}

impl Drop for UringBackend<'_> {
    fn drop(&mut self) {
        // Stop the multishot receive and wait for its final completion, so the kernel writes no pool slot after
        // this backend (and possibly the pool) is gone.
        if !self.armed {
            return;
        }
        if self.ring.cancel().is_err() {
            return;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while self.armed && std::time::Instant::now() < deadline {
            let _ = self.ring.submit(Some(Duration::from_millis(10)));
            let mut armed = true;
            self.ring.reap(usize::MAX, &mut |c| match c {
                sys::RecvCompletion::Data { more: false, .. }
                | sys::RecvCompletion::Error { .. } => armed = false,
                _ => {}
            });
            self.armed = armed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<'p, B: RxBackend>(
        pool: &'p PacketPool,
        make: impl FnOnce(UdpSocket, &'p PacketPool) -> io::Result<B>,
    ) {
        const N: u32 = 3000;
        let (sock, info) = open_socket("127.0.0.1:0".parse().unwrap(), None, 8 << 20).unwrap();
        assert!(info.local.port() != 0);
        let mut be = make(sock, pool).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut out = Vec::with_capacity(32);
        let mut next = 0u32;
        let mut sent = 0u32;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while next < N {
            assert!(
                std::time::Instant::now() < deadline,
                "{}: received {next} of {N}",
                be.name()
            );
            // Keep at most 32 datagrams in flight so the socket buffer never overflows.
            while sent < N && sent < next + 32 {
                let mut d = vec![0u8; 40 + (sent % 700) as usize];
                d[..4].copy_from_slice(&sent.to_le_bytes());
                tx.send_to(&d, info.local).unwrap();
                sent += 1;
            }
            out.clear();
            be.recv_batch(&mut out, Some(Duration::from_millis(50)))
                .unwrap();
            for d in &out {
                // SAFETY: the backend filled this slot and handed it to us; recycled right after.
                let b = unsafe { pool.packet(d.slot, d.len as usize) };
                assert_eq!(
                    u32::from_le_bytes(b[..4].try_into().unwrap()),
                    next,
                    "{}",
                    be.name()
                );
                assert_eq!(b.len(), 40 + (next % 700) as usize);
                assert!(!d.truncated);
                next += 1;
            }
            for d in &out {
                be.recycle(d.slot);
            }
        }
        // A datagram longer than a slot is flagged as truncated, its first bytes kept.
        tx.send_to(&[7u8; 3000], info.local).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            out.clear();
            be.recv_batch(&mut out, Some(Duration::from_millis(50)))
                .unwrap();
            if let Some(d) = out.first() {
                assert!(d.truncated, "{}", be.name());
                assert_eq!(d.len, 2048);
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: long datagram not received",
                be.name()
            );
        }
    }

    #[test]
    fn mio_backend_receives_in_order() {
        let pool = PacketPool::new(64, 2048).unwrap();
        roundtrip(&pool, |s, p| MioBackend::new(s, p, 16));
    }

    #[test]
    fn io_uring_backend_receives_in_order() {
        let pool = PacketPool::new(64, 2048).unwrap();
        roundtrip(&pool, UringBackend::new);
    }

    #[test]
    fn io_uring_recovers_from_running_out_of_buffers() {
        // 4 slots, 40 datagrams queued before the first reap: the multishot receive stops with ENOBUFS and must be
        // re-armed as slots are recycled; everything the socket buffer held still arrives, in order.
        let pool = PacketPool::new(4, 256).unwrap();
        let (sock, info) = open_socket("127.0.0.1:0".parse().unwrap(), None, 1 << 20).unwrap();
        let mut be = UringBackend::new(sock, &pool).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0u32..40 {
            tx.send_to(&i.to_le_bytes(), info.local).unwrap();
        }
        let mut got = Vec::new();
        let mut out = Vec::with_capacity(8);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while got.len() < 40 && std::time::Instant::now() < deadline {
            out.clear();
            be.recv_batch(&mut out, Some(Duration::from_millis(20)))
                .unwrap();
            for d in &out {
                // SAFETY: filled slot handed to us by the backend.
                let b = unsafe { pool.packet(d.slot, d.len as usize) };
                got.push(u32::from_le_bytes(b[..4].try_into().unwrap()));
                be.recycle(d.slot);
            }
        }
        assert_eq!(got, (0..40).collect::<Vec<_>>());
        assert!(be.enobufs > 0, "the test did not exhaust the buffers");
    }

    #[test]
    fn multicast_group_is_joined_on_loopback() {
        // Joining needs a multicast-capable interface; loopback in containers often lacks the MULTICAST flag, in
        // which case the kernel refuses the join: that must be an error, not a silent unicast socket.
        match open_socket(
            "239.255.17.17:0".parse().unwrap(),
            Some(Ipv4Addr::LOCALHOST),
            0,
        ) {
            Ok((_s, info)) => assert_eq!(info.group, Some(Ipv4Addr::new(239, 255, 17, 17))),
            Err(e) => eprintln!("multicast join refused here: {e}"),
        }
    }
}
