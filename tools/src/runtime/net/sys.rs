//! Every `unsafe` system interface of the receive backends, in one place: `recvmmsg`, `SO_RCVBUFFORCE`, and the
//! io_uring provided-buffer ring and multishot receive.
//!
//! The callers (the mio and io_uring backends) are safe code. What the `unsafe` here relies on is always the same:
//! the buffers handed to the kernel are free slots of the [`PacketPool`](crate::runtime::pool::PacketPool), owned by
//! the receive thread until the kernel reports them filled, and the pool outlives every registration.

use std::alloc::Layout;
use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

use crate::runtime::pool::PacketPool;
use io_uring::{cqueue, opcode, squeue, types, IoUring};

/// Preallocated `mmsghdr`/`iovec` arrays for `recvmmsg`.
pub struct MmsgBatch {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
}

impl std::fmt::Debug for MmsgBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmsgBatch")
            .field("capacity", &self.hdrs.len())
            .finish()
    }
}

// SAFETY: the arrays hold raw pointers only during `recv`, on the calling thread; between calls they are stale plain
// values that are never dereferenced, so the struct may move between threads.
unsafe impl Send for MmsgBatch {}

impl MmsgBatch {
    /// Arrays for up to `n` datagrams per call.
    pub fn new(n: usize) -> Self {
        let n = n.max(1);
        // SAFETY: mmsghdr and iovec are plain C structs for which all-zero is a valid (empty) value.
        let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        let zero_iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        MmsgBatch {
            hdrs: vec![zero_hdr; n],
            iovs: vec![zero_iov; n],
        }
    }

    /// Capacity (datagrams per call).
    pub fn capacity(&self) -> usize {
        self.hdrs.len()
    }

    /// Receives up to `slots.len()` (≤ capacity) datagrams into those pool slots without blocking
    /// (`MSG_DONTWAIT`). Returns how many were received (0 when none is queued); [`result`](Self::result) gives each
    /// one's length and truncation.
    ///
    /// # Safety
    /// Every slot in `slots` must be *free* and owned by the caller (see the pool's protocol): nothing else reads or
    /// writes it until this call returns.
    pub unsafe fn recv(
        &mut self,
        fd: RawFd,
        pool: &PacketPool,
        slots: &[u32],
    ) -> io::Result<usize> {
        let n = slots.len().min(self.hdrs.len());
        if n == 0 {
            return Ok(0);
        }
        for (i, &slot) in slots[..n].iter().enumerate() {
            self.iovs[i] = libc::iovec {
                iov_base: pool.slot_ptr(slot).cast(),
                iov_len: pool.slot_size(),
            };
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_name = std::ptr::null_mut();
            h.msg_hdr.msg_namelen = 0;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: `hdrs[..n]` point at `iovs[..n]`, which point at caller-owned writable buffers (contract above);
        // a null timeout with MSG_DONTWAIT never blocks.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(r as usize)
    }

    /// Length and truncation flag of datagram `i` of the last [`recv`](Self::recv).
    pub fn result(&self, i: usize) -> (usize, bool) {
        let h = &self.hdrs[i];
        (
            h.msg_len as usize,
            h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        )
    }
}

/// `SO_RCVBUFFORCE` (needs `CAP_NET_ADMIN`; exceeds `net.core.rmem_max`).
pub fn set_rcvbuf_force(fd: RawFd, bytes: usize) -> io::Result<()> {
    let v: libc::c_int = bytes.min(i32::MAX as usize / 2) as libc::c_int;
    // SAFETY: `v` is a valid c_int that outlives the call; the size argument matches it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `user_data` of the multishot receive.
pub const RECV_TOKEN: u64 = 1;
/// `user_data` of the cancel request.
pub const CANCEL_TOKEN: u64 = 2;

/// An io_uring instance with a provided-buffer ring over pool slots and a multishot `recv` on one socket.
pub struct UringRecv {
    ring: IoUring,
    bufs: NonNull<BufRingEntry>,
    layout: Layout,
    entries: u16,
    tail: u16,
    bgid: u16,
    fd: RawFd,
    registered: bool,
}

impl std::fmt::Debug for UringRecv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringRecv")
            .field("entries", &self.entries)
            .field("fd", &self.fd)
            .finish()
    }
}

// SAFETY: the ring, the buffer-ring memory and the socket are used by one thread at a time; the raw pointer is to
// memory owned by this struct.
unsafe impl Send for UringRecv {}

/// One completion of the multishot receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvCompletion {
    /// A datagram landed in buffer (slot) `bid`; `len` is its real length (may exceed the slot: truncated).
    Data {
        /// Buffer id = pool slot.
        bid: u16,
        /// Datagram length.
        len: usize,
        /// The multishot request is still armed.
        more: bool,
    },
    /// The request ended with an error (`-ENOBUFS`: out of buffers; re-arm after recycling).
    Error {
        /// Negative errno.
        errno: i32,
    },
    /// The cancel request completed (or the multishot ended without data).
    Other,
}

impl UringRecv {
    /// Creates the ring (`sq_entries` submission entries) and a provided-buffer ring with room for `slots` buffers
    /// (group `bgid`). Fails with the kernel's error when io_uring or buffer rings are unavailable.
    pub fn new(fd: RawFd, sq_entries: u32, slots: u32, bgid: u16) -> io::Result<UringRecv> {
        let ring = IoUring::builder().build(sq_entries)?;
        if !ring.params().is_feature_ext_arg() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "kernel lacks IORING_FEAT_EXT_ARG (needs Linux 5.11+)",
            ));
        }
        let entries = slots.next_power_of_two().clamp(1, 32_768) as u16;
        let bytes = usize::from(entries) * std::mem::size_of::<BufRingEntry>();
        let layout = Layout::from_size_align(bytes.max(4096), 4096).map_err(io::Error::other)?;
        // SAFETY: non-zero size; zeroed entries are valid (empty) buffer descriptors.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let bufs = NonNull::new(ptr.cast::<BufRingEntry>())
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "buffer ring"))?;
        let mut me = UringRecv {
            ring,
            bufs,
            layout,
            entries,
            tail: 0,
            bgid,
            fd,
            registered: false,
        };
        // SAFETY: `bufs` is a page-aligned block of `entries` descriptors owned by `me`; it is unregistered in
        // `Drop` before being freed.
        unsafe {
            me.ring.submitter().register_buf_ring_with_flags(
                me.bufs.as_ptr() as u64,
                entries,
                bgid,
                0,
            )?;
        }
        me.registered = true;
        Ok(me)
    }

    /// Hands buffer `bid` (`len` bytes at `addr`) to the kernel. Call [`publish`](Self::publish) after a batch.
    ///
    /// # Safety
    /// `addr..addr+len` must be writable memory that nothing else touches until the kernel returns `bid` in a
    /// completion, and must outlive this ring (pool slots; the pool outlives the backend).
    pub unsafe fn provide(&mut self, addr: *mut u8, len: u32, bid: u16) {
        let idx = usize::from(self.tail & (self.entries - 1));
        // SAFETY: `idx < entries`, inside the allocation; the kernel reads only entries between head and the
        // published tail, and this one is beyond the published tail until `publish`.
        let e = unsafe { &mut *self.bufs.as_ptr().add(idx) };
        e.set_addr(addr as u64);
        e.set_len(len);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes the buffers provided so far (release store of the ring tail).
    pub fn publish(&self) {
        // SAFETY: the tail field overlays entry 0's `resv`, a properly aligned u16 inside our allocation, which the
        // kernel reads with acquire semantics; we are its only writer.
        let tail = unsafe { &*(BufRingEntry::tail(self.bufs.as_ptr()) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }

    /// Queues the multishot receive (buffer group `bgid`, `MSG_TRUNC` so a long datagram reports its real length).
    pub fn arm(&mut self) -> io::Result<()> {
        let e = opcode::RecvMulti::new(types::Fd(self.fd), self.bgid)
            .flags(libc::MSG_TRUNC)
            .build()
            .user_data(RECV_TOKEN);
        self.push(e)
    }

    /// Queues a cancel of the multishot receive.
    pub fn cancel(&mut self) -> io::Result<()> {
        let e = opcode::AsyncCancel::new(RECV_TOKEN)
            .build()
            .user_data(CANCEL_TOKEN);
        self.push(e)
    }

    fn push(&mut self, e: squeue::Entry) -> io::Result<()> {
        // SAFETY: the entries reference no user memory except through the registered buffer group, whose buffers
        // satisfy `provide`'s contract, and the socket fd, which outlives the ring (owned by the backend).
        let pushed = unsafe { self.ring.submission().push(&e) };
        if pushed.is_err() {
            self.ring.submit()?;
            // SAFETY: as above.
            unsafe { self.ring.submission().push(&e) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        Ok(())
    }

    /// Submits queued entries and, with `wait`, blocks until a completion arrives or `wait` elapses.
    pub fn submit(&mut self, wait: Option<std::time::Duration>) -> io::Result<()> {
        match wait {
            None => {
                self.ring.submit()?;
            }
            Some(d) => {
                let ts = types::Timespec::new()
                    .sec(d.as_secs())
                    .nsec(d.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                match self.ring.submitter().submit_with_args(1, &args) {
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(libc::ETIME) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Pops completions, calling `f` for each, at most `max`. Returns how many were popped.
    pub fn reap(&mut self, max: usize, f: &mut dyn FnMut(RecvCompletion)) -> usize {
        let mut n = 0;
        let mut cq = self.ring.completion();
        while n < max {
            let Some(c) = cq.next() else { break };
            n += 1;
            f(classify(&c));
        }
        n
    }
}

fn classify(c: &cqueue::Entry) -> RecvCompletion {
    if c.user_data() != RECV_TOKEN {
        return RecvCompletion::Other;
    }
    let res = c.result();
    if res < 0 {
        return RecvCompletion::Error { errno: -res };
    }
    match cqueue::buffer_select(c.flags()) {
        Some(bid) => RecvCompletion::Data {
            bid,
            len: res as usize,
            more: cqueue::more(c.flags()),
        },
        None => RecvCompletion::Other,
    }
}

impl Drop for UringRecv {
    fn drop(&mut self) {
        if self.registered
            && self
                .ring
                .submitter()
                .unregister_buf_ring(self.bgid)
                .is_err()
        {
            // The kernel may still reference the descriptors: leak them (a few pages) rather than free them.
            return;
        }
        // SAFETY: allocated in `new` with this layout; the kernel no longer references it (unregistered above, and
        // the owning backend cancelled the receive before dropping us).
        unsafe { std::alloc::dealloc(self.bufs.as_ptr().cast(), self.layout) };
    }
}
