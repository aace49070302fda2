//! Python's `multiprocessing.connection` framing on a TCP or Unix stream: each message
//! is a 4-byte big-endian signed length and the bytes; a length of -1 is followed by an
//! 8-byte big-endian unsigned length (messages over 2 GiB - 1).
//!
//! Reads never trust the length: it is checked against the caller's limit before any
//! byte of the body is read, and the buffer grows with what actually arrives rather
//! than being allocated at the announced size.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::{ProcessError, sys};

/// How much of a message is allocated ahead of its bytes arriving.
const GROW_STEP: u64 = 1 << 20;

/// A connected stream of either family.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    fn shutdown(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).read(buf),
            Stream::Unix(s) => (&*s).read(buf),
        }
    }

    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => (&*s).write_all(buf),
            Stream::Unix(s) => (&*s).write_all(buf),
        }
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

/// A stream speaking Python's framing.
#[derive(Debug)]
pub(crate) struct PyStream {
    stream: Stream,
}

fn io_error(context: &'static str, e: io::Error) -> ProcessError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ProcessError::timed_out(),
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::NotConnected => ProcessError::BrokenPipe,
        _ => ProcessError::os(context, e),
    }
}

impl PyStream {
    pub(crate) fn new(stream: Stream) -> Self {
        PyStream { stream }
    }

    /// Bounds every later read (`None`: no bound), for the handshake.
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), ProcessError> {
        self.stream
            .set_read_timeout(timeout)
            .map_err(|e| ProcessError::os("cannot set a socket timeout", e))
    }

    /// Shuts the stream down both ways (the peer reads end of file).
    pub(crate) fn shutdown(&self) {
        self.stream.shutdown();
    }

    /// Sends one message.
    ///
    /// # Errors
    ///
    /// [`ProcessError::BrokenPipe`] if the peer is gone.
    pub(crate) fn send_bytes(&self, buf: &[u8]) -> Result<(), ProcessError> {
        let mut frame = Vec::with_capacity(buf.len() + 12);
        match i32::try_from(buf.len()) {
            Ok(n) => frame.extend_from_slice(&n.to_be_bytes()),
            Err(_) => {
                frame.extend_from_slice(&(-1i32).to_be_bytes());
                frame.extend_from_slice(&(buf.len() as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(buf);
        self.stream
            .write_all(&frame)
            .map_err(|e| io_error("cannot send a message", e))
    }

    /// Reads exactly `buf.len()` bytes; `Ok(false)` at end of file before the first.
    fn read_exact(&self, buf: &mut [u8]) -> Result<bool, ProcessError> {
        let mut got = 0;
        while got < buf.len() {
            match self.stream.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => return Err(self.bad("the other end closed in the middle of it")),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error("cannot receive a message", e)),
            }
        }
        Ok(true)
    }

    /// The stream cannot be trusted after a bad frame: it is shut down.
    fn bad(&self, why: &str) -> ProcessError {
        self.shutdown();
        ProcessError::BadMessage(format!("a malformed message arrived: {why}"))
    }

    /// Receives one message of at most `max` bytes.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Eof`] at end of file between messages;
    /// [`ProcessError::BadMessage`] for a length over `max` or a negative one, or a
    /// message cut short (the stream is shut down after it); [`ProcessError::Timeout`]
    /// when a read timeout is set and passes.
    pub(crate) fn recv_bytes_max(&self, max: usize) -> Result<Vec<u8>, ProcessError> {
        let mut header = [0u8; 4];
        if !self.read_exact(&mut header)? {
            return Err(ProcessError::Eof);
        }
        let len = match i32::from_be_bytes(header) {
            -1 => {
                let mut long = [0u8; 8];
                if !self.read_exact(&mut long)? {
                    return Err(self.bad("the other end closed in the middle of it"));
                }
                u64::from_be_bytes(long)
            }
            n if n < 0 => return Err(self.bad(&format!("a negative length ({n})"))),
            n => n as u64,
        };
        if len > max as u64 {
            return Err(self.bad(&format!(
                "it announces {len} bytes, over the limit of {max}"
            )));
        }
        let mut body = Vec::new();
        let mut left = len;
        while left > 0 {
            let step = left.min(GROW_STEP) as usize;
            let start = body.len();
            body.resize(start + step, 0);
            if !self.read_exact(&mut body[start..])? {
                return Err(self.bad("the other end closed in the middle of it"));
            }
            left -= step as u64;
        }
        Ok(body)
    }

    /// Whether a message (or end of file) can be read within `timeout` (`None`: wait
    /// as long as it takes).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if `poll` fails.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> Result<bool, ProcessError> {
        let deadline = timeout.and_then(crate::sync::deadline_after);
        sys::wait_readable(self.stream.as_fd().as_raw_fd(), deadline)
            .map_err(|e| ProcessError::os("cannot poll a connection", e))
    }

    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}
