//! Frames on a Unix stream socket: a 16-byte header, the payload, and the descriptors
//! the payload refers to (sent with `SCM_RIGHTS` beside the header's bytes).
//!
//! ```text
//! | magic "cnc\x01" | descriptor count: u32 LE | payload length: u64 LE | payload ... |
//! ```
//!
//! Every wait is bounded by the caller's deadline, and every read of a frame checks it
//! before trusting it: a wrong magic, a length over [`MAX_MESSAGE_BYTES`], too many
//! descriptors, or the peer closing in the middle of a frame is
//! [`ProcessError::BadMessage`]. Memory grows with the bytes that really arrive, never
//! with what a header claims. No socket is switched to non-blocking mode (a forked
//! child shares the open file, and its flags, with the parent): each call that must not
//! block says so with `MSG_DONTWAIT`.

use std::collections::VecDeque;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use crate::ProcessError;
use crate::wire::MAX_DESCRIPTORS;

const MAGIC: [u8; 4] = *b"cnc\x01";
const HEADER: usize = 16;

/// The largest message (encoded value) a [`Connection`](crate::Connection), a process
/// argument or a result may carry: 4 GiB. Sending more is
/// [`ProcessError::InvalidArgument`]; a longer length prefix arriving is taken as
/// garbage ([`ProcessError::BadMessage`]), not as a reason to wait for (and buffer)
/// that much.
///
/// # Examples
///
/// ```
/// assert_eq!(conc_process::MAX_MESSAGE_BYTES, 4 << 30);
/// ```
pub const MAX_MESSAGE_BYTES: u64 = 1 << 32;

/// Descriptors received but not yet claimed by a frame beyond which the peer is taken
/// to be misbehaving.
const MAX_PENDING_DESCRIPTORS: usize = 4 * MAX_DESCRIPTORS;

/// Bytes asked for per read when nothing says more are coming.
const READ_CHUNK: usize = 64 * 1024;

/// Waits until `fd` is ready for `flags` or `deadline` passes; `false` on timeout.
/// Hang-ups and errors count as ready (the next call reports them).
fn wait_ready(
    fd: BorrowedFd<'_>,
    flags: PollFlags,
    deadline: Option<Instant>,
) -> Result<bool, ProcessError> {
    loop {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up: a 0 ms poll for 300 µs left would spin until the deadline.
                let left = left.max(std::time::Duration::from_micros(
                    u64::from(!left.is_zero()) * 1000,
                ));
                Some(
                    rustix::event::Timespec::try_from(left).unwrap_or(rustix::event::Timespec {
                        tv_sec: i64::MAX / 2,
                        tv_nsec: 0,
                    }),
                )
            }
        };
        let mut fds = [PollFd::new(&fd, flags)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(0) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(false);
                }
            }
            Ok(_) => return Ok(true),
            Err(Errno::INTR) => {}
            Err(e) => return Err(ProcessError::os("cannot wait on a socket", e.into())),
        }
    }
}

/// Writes one frame: `payload` with `fds` beside it. Waits for room until `deadline`
/// (`None`: as long as it takes).
///
/// # Errors
///
/// - [`ProcessError::BrokenPipe`] if the other end is closed.
/// - [`ProcessError::Timeout`] at the deadline. If part of the frame was written by
///   then, the socket's sending direction is shut down, so that the reader gets
///   [`ProcessError::BadMessage`] for the cut frame rather than a stream out of step,
///   and later sends fail with `BrokenPipe`.
/// - [`ProcessError::InvalidArgument`] for a payload over [`MAX_MESSAGE_BYTES`].
pub(crate) fn send_frame(
    socket: BorrowedFd<'_>,
    payload: &[u8],
    fds: &[BorrowedFd<'_>],
    deadline: Option<Instant>,
) -> Result<(), ProcessError> {
    let header = header(payload, fds.len())?;
    let mut sent = 0;
    if write_some(socket, &header, payload, fds, &mut sent, deadline)? {
        return Ok(());
    }
    if sent > 0 {
        let _ = rustix::net::shutdown(socket, rustix::net::Shutdown::Write);
    }
    Err(ProcessError::timed_out())
}

/// A frame to be written in several goes: what fits now, the rest later (a process's
/// arguments go into its channel before the child exists, so that it finds them there
/// at once).
#[derive(Debug)]
pub(crate) struct OutgoingFrame {
    header: [u8; HEADER],
    payload: Vec<u8>,
    fds: Vec<OwnedFd>,
    sent: usize,
}

impl OutgoingFrame {
    /// A frame of `payload` and `fds`.
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidArgument`] for a payload over [`MAX_MESSAGE_BYTES`].
    pub(crate) fn new(payload: Vec<u8>, fds: Vec<OwnedFd>) -> Result<Self, ProcessError> {
        Ok(OutgoingFrame {
            header: header(&payload, fds.len())?,
            payload,
            fds,
            sent: 0,
        })
    }

    /// Starts the frame over, to send it whole on another socket (a pool task whose
    /// worker died before it had all of it).
    pub(crate) fn rewind(&mut self) {
        self.sent = 0;
    }

    /// Writes what `socket` takes until `deadline`: `true` once the whole frame is out.
    /// Nothing is shut down at the deadline: the rest can follow later.
    ///
    /// # Errors
    ///
    /// [`ProcessError::BrokenPipe`] if the other end is closed.
    pub(crate) fn write(
        &mut self,
        socket: BorrowedFd<'_>,
        deadline: Option<Instant>,
    ) -> Result<bool, ProcessError> {
        let fds: Vec<BorrowedFd<'_>> = self.fds.iter().map(AsFd::as_fd).collect();
        write_some(
            socket,
            &self.header,
            &self.payload,
            &fds,
            &mut self.sent,
            deadline,
        )
    }
}

/// The header of a frame of `payload` with `fds` descriptors.
fn header(payload: &[u8], fds: usize) -> Result<[u8; HEADER], ProcessError> {
    let len = payload.len() as u64;
    if len > MAX_MESSAGE_BYTES {
        return Err(ProcessError::InvalidArgument(format!(
            "a message of {len} bytes is over the limit of {MAX_MESSAGE_BYTES} bytes"
        )));
    }
    debug_assert!(fds <= MAX_DESCRIPTORS);
    let mut header = [0u8; HEADER];
    header[..4].copy_from_slice(&MAGIC);
    header[4..8].copy_from_slice(&(fds as u32).to_le_bytes());
    header[8..].copy_from_slice(&len.to_le_bytes());
    Ok(header)
}

/// Writes the frame from byte `sent` on (the descriptors go with its first byte) until
/// it is all out (`true`) or `deadline` passes (`false`), advancing `sent`.
fn write_some(
    socket: BorrowedFd<'_>,
    header: &[u8; HEADER],
    payload: &[u8],
    fds: &[BorrowedFd<'_>],
    sent: &mut usize,
    deadline: Option<Instant>,
) -> Result<bool, ProcessError> {
    let total = HEADER + payload.len();
    let mut space = vec![MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let flags = SendFlags::NOSIGNAL
        | if deadline.is_some() {
            SendFlags::DONTWAIT
        } else {
            SendFlags::empty()
        };
    while *sent < total {
        let iov: [IoSlice<'_>; 2] = if *sent < HEADER {
            [IoSlice::new(&header[*sent..]), IoSlice::new(payload)]
        } else {
            [IoSlice::new(&payload[*sent - HEADER..]), IoSlice::new(&[])]
        };
        let mut control = SendAncillaryBuffer::new(&mut space);
        if *sent == 0 && !fds.is_empty() {
            let pushed = control.push(SendAncillaryMessage::ScmRights(fds));
            debug_assert!(pushed);
        }
        match rustix::net::sendmsg(socket, &iov, &mut control, flags) {
            Ok(n) => *sent += n,
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                if !wait_ready(socket, PollFlags::OUT, deadline)? {
                    return Ok(false);
                }
            }
            Err(Errno::PIPE | Errno::CONNRESET | Errno::NOTCONN) => {
                return Err(ProcessError::BrokenPipe);
            }
            Err(e) => return Err(ProcessError::os("cannot send a message", e.into())),
        }
    }
    Ok(true)
}

/// One frame read off a socket.
#[derive(Debug)]
pub(crate) struct Frame {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The descriptors the frame announced, in order.
    pub(crate) fds: Vec<OwnedFd>,
}

impl Frame {
    /// The payload.
    pub(crate) fn payload(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

/// Reads frames off one socket, keeping what arrived of a frame across calls that
/// timed out.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    /// Storage; `buf[start..end]` is received and not yet returned.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Descriptors received in arrival order, for the frames they came with.
    fds: VecDeque<OwnedFd>,
    /// The peer closed (end of file seen).
    eof: bool,
}

/// What the bytes received so far hold.
enum Parsed {
    /// A whole frame of `len` payload bytes and `nfds` descriptors.
    Whole { len: usize, nfds: usize },
    /// Not yet a whole frame; at least this many bytes are needed in all.
    Partial(usize),
}

impl FrameReader {
    /// Whether some bytes of an unfinished frame are buffered.
    pub(crate) fn has_partial(&self) -> bool {
        self.end > self.start
    }

    /// Whether a whole frame is buffered (a read would not wait).
    pub(crate) fn has_frame(&self) -> bool {
        matches!(self.parse(), Ok(Parsed::Whole { .. }))
    }

    /// Whether the peer closed and everything before was read.
    pub(crate) fn at_eof(&self) -> bool {
        self.eof && !self.has_partial()
    }

    /// Takes what is buffered (bytes, descriptors, end of file seen), to hand the
    /// stream to another process; the reader is left empty.
    pub(crate) fn take_buffered(&mut self) -> (Vec<u8>, Vec<OwnedFd>, bool) {
        let bytes = self.buf[self.start..self.end].to_vec();
        let fds = self.fds.drain(..).collect();
        let eof = self.eof;
        *self = FrameReader::default();
        (bytes, fds, eof)
    }

    /// A reader that continues from what [`take_buffered`](Self::take_buffered) took.
    pub(crate) fn from_buffered(bytes: Vec<u8>, fds: Vec<OwnedFd>, eof: bool) -> Self {
        FrameReader {
            start: 0,
            end: bytes.len(),
            buf: bytes,
            fds: fds.into(),
            eof,
        }
    }

    fn parse(&self) -> Result<Parsed, ProcessError> {
        let have = &self.buf[self.start..self.end];
        if have.len() < HEADER {
            // A wrong magic is reported as soon as its bytes are in.
            let n = have.len().min(4);
            if have[..n] != MAGIC[..n] {
                return Err(bad("it does not start like a conc-process frame"));
            }
            return Ok(Parsed::Partial(HEADER));
        }
        if have[..4] != MAGIC {
            return Err(bad("it does not start like a conc-process frame"));
        }
        let nfds = u32::from_le_bytes(have[4..8].try_into().expect("4 bytes")) as usize;
        let len = u64::from_le_bytes(have[8..16].try_into().expect("8 bytes"));
        if nfds > MAX_DESCRIPTORS {
            return Err(bad(&format!(
                "it announces {nfds} descriptors (at most {MAX_DESCRIPTORS})"
            )));
        }
        if len > MAX_MESSAGE_BYTES {
            return Err(bad(&format!(
                "it announces {len} bytes (at most {MAX_MESSAGE_BYTES})"
            )));
        }
        let whole = HEADER + len as usize;
        if have.len() >= whole {
            Ok(Parsed::Whole {
                len: len as usize,
                nfds,
            })
        } else {
            Ok(Parsed::Partial(whole))
        }
    }

    /// Reads the next frame, waiting until `deadline` (`None`: as long as it takes).
    ///
    /// # Errors
    ///
    /// - [`ProcessError::Timeout`] at the deadline (what arrived is kept for the next
    ///   call).
    /// - [`ProcessError::Eof`] if the peer closed between frames.
    /// - [`ProcessError::BadMessage`] for a malformed, oversized or cut frame; the
    ///   stream cannot be trusted after it.
    pub(crate) fn read(
        &mut self,
        socket: BorrowedFd<'_>,
        deadline: Option<Instant>,
    ) -> Result<Frame, ProcessError> {
        loop {
            match self.parse()? {
                Parsed::Whole { len, nfds } => return self.take(len, nfds),
                Parsed::Partial(need) => {
                    if self.eof {
                        return Err(if self.has_partial() {
                            bad("the other end closed in the middle of it")
                        } else {
                            ProcessError::Eof
                        });
                    }
                    self.fill(socket, need, deadline)?;
                }
            }
        }
    }

    /// Hands out the frame at `start`: the buffer itself when nothing follows the frame
    /// (no copy of a big payload), a copy of a small frame otherwise.
    fn take(&mut self, len: usize, nfds: usize) -> Result<Frame, ProcessError> {
        if self.fds.len() < nfds {
            return Err(bad(&format!(
                "it announces {nfds} descriptors but {} came",
                self.fds.len()
            )));
        }
        let fds: Vec<OwnedFd> = self.fds.drain(..nfds).collect();
        let payload_start = self.start + HEADER;
        let frame_end = payload_start + len;
        let frame = if frame_end == self.end && len > READ_CHUNK {
            let buf = std::mem::take(&mut self.buf);
            self.start = 0;
            self.end = 0;
            Frame {
                buf,
                start: payload_start,
                end: frame_end,
                fds,
            }
        } else {
            let buf = self.buf[payload_start..frame_end].to_vec();
            self.start = frame_end;
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            }
            Frame {
                end: buf.len(),
                buf,
                start: 0,
                fds,
            }
        };
        Ok(frame)
    }

    /// Receives more bytes (and any descriptors) towards a frame of `need` bytes.
    fn fill(
        &mut self,
        socket: BorrowedFd<'_>,
        need: usize,
        deadline: Option<Instant>,
    ) -> Result<(), ProcessError> {
        self.make_room(need);
        let mut space =
            [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_DESCRIPTORS))];
        // Without a deadline, block in `recvmsg`; with one, try first (the bytes are
        // often there already) and wait for readability only when there are none.
        let blocking = deadline.is_none();
        loop {
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let mut iov = [IoSliceMut::new(&mut self.buf[self.end..])];
            let flags = RecvFlags::CMSG_CLOEXEC
                | if blocking {
                    RecvFlags::empty()
                } else {
                    RecvFlags::DONTWAIT
                };
            match rustix::net::recvmsg(socket, &mut iov, &mut control, flags) {
                Ok(msg) => {
                    for message in control.drain() {
                        if let RecvAncillaryMessage::ScmRights(fds) = message {
                            self.fds.extend(fds);
                        }
                    }
                    if msg.flags.contains(ReturnFlags::CTRUNC) {
                        return Err(bad("its descriptors did not fit (they were lost)"));
                    }
                    if self.fds.len() > MAX_PENDING_DESCRIPTORS {
                        return Err(bad("descriptors keep arriving that no frame announces"));
                    }
                    if msg.bytes == 0 {
                        self.eof = true;
                    }
                    self.end += msg.bytes;
                    return Ok(());
                }
                Err(Errno::INTR) => {}
                // Also reached without a deadline if someone made the socket
                // non-blocking (through `fileno`): then wait for it here.
                Err(Errno::AGAIN) => {
                    if !wait_ready(socket, PollFlags::IN, deadline)? {
                        return Err(ProcessError::timed_out());
                    }
                }
                Err(Errno::CONNRESET) => {
                    self.eof = true;
                    return Ok(());
                }
                Err(e) => return Err(ProcessError::os("cannot receive a message", e.into())),
            }
        }
    }

    /// Makes free space after `end`: moves the unread bytes to the front, and grows the
    /// buffer (doubling, so memory follows the bytes that arrive) if a frame of `need`
    /// bytes does not fit.
    fn make_room(&mut self, need: usize) {
        let missing = need.saturating_sub(self.end - self.start).max(1);
        let wanted = missing.min(READ_CHUNK);
        if self.buf.len() - self.end >= wanted {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() - self.end >= wanted {
                return;
            }
        }
        let grow = missing.min(self.buf.len()).max(READ_CHUNK);
        self.buf.resize(self.end + grow, 0);
    }
}

fn bad(why: &str) -> ProcessError {
    ProcessError::BadMessage(format!("a malformed message arrived: {why}"))
}

/// Whether `socket` has something to read (or hung up) within `deadline`.
pub(crate) fn readable(
    socket: BorrowedFd<'_>,
    deadline: Option<Instant>,
) -> Result<bool, ProcessError> {
    wait_ready(socket, PollFlags::IN, deadline)
}

/// A connected pair of Unix stream sockets (close-on-exec).
pub(crate) fn socket_pair() -> Result<(OwnedFd, OwnedFd), ProcessError> {
    rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| ProcessError::os("cannot create a socket pair", e.into()))
}

/// Shuts both directions of `socket` down, for every process that shares it: the
/// peer's reads end and its sends fail.
pub(crate) fn shut_down(socket: impl AsFd) {
    let _ = rustix::net::shutdown(socket.as_fd(), rustix::net::Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use super::*;

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().unwrap()
    }

    fn soon() -> Option<Instant> {
        Some(Instant::now() + Duration::from_millis(100))
    }

    #[test]
    fn frames_cross_whole_with_their_descriptors() {
        let (a, b) = pair();
        let devnull = std::fs::File::open("/dev/null").unwrap();
        send_frame(a.as_fd(), b"hello", &[devnull.as_fd()], None).unwrap();
        send_frame(a.as_fd(), b"", &[], None).unwrap();
        let big = vec![7u8; 3 * READ_CHUNK + 5];
        let writer = {
            let a = a.try_clone().unwrap();
            let big = big.clone();
            std::thread::spawn(move || send_frame(a.as_fd(), &big, &[], None).unwrap())
        };
        let mut reader = FrameReader::default();
        let first = reader.read(b.as_fd(), None).unwrap();
        assert_eq!(first.payload(), b"hello");
        assert_eq!(first.fds.len(), 1);
        assert_eq!(reader.read(b.as_fd(), None).unwrap().payload(), b"");
        assert_eq!(reader.read(b.as_fd(), None).unwrap().payload(), &big[..]);
        writer.join().unwrap();
        drop(a);
        assert_eq!(reader.read(b.as_fd(), None).unwrap_err(), ProcessError::Eof);
    }

    #[test]
    fn garbage_huge_lengths_and_cut_frames_are_errors_not_hangs() {
        let (mut a, b) = pair();
        a.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let err = FrameReader::default().read(b.as_fd(), soon()).unwrap_err();
        assert!(matches!(err, ProcessError::BadMessage(_)), "{err}");

        let (mut a, b) = pair();
        let mut header = MAGIC.to_vec();
        header.extend(0u32.to_le_bytes());
        header.extend(u64::MAX.to_le_bytes());
        a.write_all(&header).unwrap();
        let err = FrameReader::default().read(b.as_fd(), soon()).unwrap_err();
        assert!(err.to_string().contains("announces"), "{err}");

        let (mut a, b) = pair();
        let mut header = MAGIC.to_vec();
        header.extend(0u32.to_le_bytes());
        header.extend(1000u64.to_le_bytes());
        a.write_all(&header).unwrap();
        a.write_all(&[1; 10]).unwrap();
        let mut reader = FrameReader::default();
        // A stalled frame times out at the deadline and keeps its bytes...
        assert_eq!(
            reader.read(b.as_fd(), soon()).unwrap_err(),
            ProcessError::timed_out()
        );
        assert!(reader.has_partial());
        // ...and a peer that then goes away leaves a cut frame.
        drop(a);
        let err = reader.read(b.as_fd(), soon()).unwrap_err();
        assert!(err.to_string().contains("middle"), "{err}");
    }

    #[test]
    fn a_send_to_a_closed_peer_is_a_broken_pipe_and_a_full_one_times_out() {
        let (a, b) = pair();
        let big = vec![0u8; 8 << 20];
        assert_eq!(
            send_frame(a.as_fd(), &big, &[], soon()).unwrap_err(),
            ProcessError::timed_out()
        );
        drop(b);
        assert_eq!(
            send_frame(a.as_fd(), b"x", &[], None).unwrap_err(),
            ProcessError::BrokenPipe
        );
    }

    #[test]
    fn a_blocked_send_ends_when_the_peer_closes() {
        let (a, b) = pair();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(b);
        });
        let big = vec![0u8; 64 << 20];
        assert_eq!(
            send_frame(a.as_fd(), &big, &[], None).unwrap_err(),
            ProcessError::BrokenPipe
        );
        closer.join().unwrap();
    }
}
