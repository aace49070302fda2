//! Green sockets: blocking-looking calls that park only the calling greenlet, on the
//! thread's hub (gevent's `gevent.socket` and `gevent.server`).
//!
//! They implement `std::io::Read` and `Write`, so code written against
//! `impl Read + Write` runs cooperatively unchanged when handed a green socket: this is
//! the Rust answer to gevent's `monkey.patch_all()`. It is explicit on purpose:
//! patching the standard library behind a program's back is what makes gevent code
//! hard to reason about (and `std` cannot be patched anyway); here the type says
//! which calls yield.

/// `Read` and `Write` (on the stream and on a shared reference to it, as `std`'s
/// sockets have), `AsRawFd` and `AsFd` for a green stream type with fields `io` (a
/// [`Registered`](registered::Registered) source), `read_timeout` and `write_timeout`;
/// `$what` names the operations in timeout errors ("a TCP read").
macro_rules! green_stream_io {
    ($stream:ty, $read:literal, $write:literal) => {
        impl std::io::Read for &$stream {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.io.io(
                    $crate::hub::Direction::Read,
                    self.read_timeout.get(),
                    $read,
                    |mut s| std::io::Read::read(&mut s, buf),
                )
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.io.io(
                    $crate::hub::Direction::Read,
                    self.read_timeout.get(),
                    $read,
                    |mut s| std::io::Read::read_vectored(&mut s, bufs),
                )
            }
        }

        impl std::io::Write for &$stream {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.io.io(
                    $crate::hub::Direction::Write,
                    self.write_timeout.get(),
                    $write,
                    |mut s| std::io::Write::write(&mut s, buf),
                )
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.io.io(
                    $crate::hub::Direction::Write,
                    self.write_timeout.get(),
                    $write,
                    |mut s| std::io::Write::write_vectored(&mut s, bufs),
                )
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $stream {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }
        }

        impl std::io::Write for $stream {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::os::fd::AsRawFd for $stream {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.io.raw_fd()
            }
        }

        impl std::os::fd::AsFd for $stream {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                // SAFETY: the descriptor is owned by `self.io` and lives as long as
                // `self`.
                unsafe { std::os::fd::BorrowedFd::borrow_raw(self.io.raw_fd()) }
            }
        }
    };
}

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

/// How a non-blocking connect stands, given the socket's pending error and a way to ask
/// for its peer: the connect's error, `WouldBlock` while it is under way (no peer yet),
/// `Ok` once it is connected.
fn connect_outcome<A>(
    pending: std::io::Result<Option<std::io::Error>>,
    peer: impl FnOnce() -> std::io::Result<A>,
) -> std::io::Result<()> {
    if let Some(e) = pending? {
        return Err(e);
    }
    match peer() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotConnected => {
            Err(std::io::ErrorKind::WouldBlock.into())
        }
        Err(e) => Err(e),
    }
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
