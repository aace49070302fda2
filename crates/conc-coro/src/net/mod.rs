//! Green sockets: blocking-looking calls that park only the calling greenlet, on the
//! thread's hub (gevent's `gevent.socket` and `gevent.server`).
//!
//! They implement `std::io::Read` and `Write`, so code written against
//! `impl Read + Write` runs cooperatively unchanged when handed a green socket: this is
//! the Rust answer to gevent's `monkey.patch_all()`. It is explicit on purpose:
//! patching the standard library behind a program's back is what makes gevent code
//! hard to reason about (and `std` cannot be patched anyway); here the type says
//! which calls yield.

mod registered;
mod resolve;
mod server;
mod tcp;
mod udp;
mod unix;

pub use server::StreamServer;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use mio::unix::SourceFd;

use crate::HubError;
use crate::hub::{Direction, deadline, hub};

/// Waits until `fd` is readable, parking only the calling greenlet (gevent's
/// `wait_read`): any descriptor, such as a pipe to a child process.
///
/// # Errors
///
/// [`HubError::Timeout`]; [`HubError::Os`] if the descriptor cannot be watched (it is
/// not pollable, or it is already a green socket of this thread: use that socket's
/// own calls); the hub's errors.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
/// use std::time::Duration;
///
/// let (reader, mut writer) = UnixStream::pair().unwrap();
/// let task = conc_coro::spawn(move || conc_coro::wait_readable(&reader, None));
/// conc_coro::sleep(Duration::from_millis(5)).unwrap();
/// assert!(!task.ready(), "nothing written yet");
/// writer.write_all(b"x").unwrap();
/// assert_eq!(task.get(None), Ok(Ok(())));
/// ```
pub fn wait_readable(fd: impl AsFd, timeout: Option<Duration>) -> Result<(), HubError> {
    wait_fd(fd, Direction::Read, timeout, "a readable descriptor")
}

/// Waits until `fd` is writable (gevent's `wait_write`); see [`wait_readable`].
///
/// # Errors
///
/// As [`wait_readable`].
pub fn wait_writable(fd: impl AsFd, timeout: Option<Duration>) -> Result<(), HubError> {
    wait_fd(fd, Direction::Write, timeout, "a writable descriptor")
}

fn wait_fd(
    fd: impl AsFd,
    dir: Direction,
    timeout: Option<Duration>,
    what: &'static str,
) -> Result<(), HubError> {
    let core = hub()?;
    let raw = fd.as_fd().as_raw_fd();
    let mut source = SourceFd(&raw);
    let token = core
        .register(&mut source)
        .map_err(|e| HubError::os("cannot watch the descriptor", &e))?;
    let result = core.wait_io(token, dir, deadline(timeout), what);
    core.deregister(token, &mut source);
    result
}
