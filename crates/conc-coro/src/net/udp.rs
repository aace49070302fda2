//! Green UDP.

use std::cell::Cell;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use super::registered::Registered;
use super::resolve::{first_success, resolve};
use crate::hub::Direction;

/// A UDP socket whose sends and receives park only the calling greenlet.
///
/// # Examples
///
/// ```
/// use conc_coro::{UdpSocket, spawn};
///
/// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let to = b.local_addr().unwrap();
/// let receiver = spawn(move || {
///     let mut buf = [0; 16];
///     let (n, _) = b.recv_from(&mut buf).unwrap();
///     buf[..n].to_vec()
/// });
/// a.send_to(b"ping", to).unwrap();
/// assert_eq!(receiver.get(None).unwrap(), b"ping");
/// ```
pub struct UdpSocket {
    io: Registered<mio::net::UdpSocket>,
    read_timeout: Cell<Option<Duration>>,
    write_timeout: Cell<Option<Duration>>,
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local", &self.local_addr().ok())
            .finish()
    }
}

impl UdpSocket {
    /// Binds a socket to `addr`.
    ///
    /// # Errors
    ///
    /// The bind's or the resolution's error.
    pub fn bind<A: ToSocketAddrs + Send + 'static>(addr: A) -> io::Result<UdpSocket> {
        first_success(resolve(addr)?, |a| {
            Ok(UdpSocket {
                io: Registered::new(mio::net::UdpSocket::bind(a)?)?,
                read_timeout: Cell::new(None),
                write_timeout: Cell::new(None),
            })
        })
    }

    /// Sends `buf` to `target`.
    ///
    /// # Errors
    ///
    /// As `std::net::UdpSocket::send_to`; `TimedOut` past the write timeout.
    pub fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.io.io(
            Direction::Write,
            self.write_timeout.get(),
            "a UDP send",
            |s| s.send_to(buf, target),
        )
    }

    /// Receives one datagram and its sender.
    ///
    /// # Errors
    ///
    /// As `std::net::UdpSocket::recv_from`; `TimedOut` past the read timeout.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.io(
            Direction::Read,
            self.read_timeout.get(),
            "a UDP receive",
            |s| s.recv_from(buf),
        )
    }

    /// Sets the default peer for [`send`](UdpSocket::send) and [`recv`](UdpSocket::recv).
    ///
    /// # Errors
    ///
    /// As `std::net::UdpSocket::connect`.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.io.get().connect(addr)
    }

    /// Sends to the connected peer.
    ///
    /// # Errors
    ///
    /// As `std::net::UdpSocket::send`.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.io(
            Direction::Write,
            self.write_timeout.get(),
            "a UDP send",
            |s| s.send(buf),
        )
    }

    /// Receives from the connected peer.
    ///
    /// # Errors
    ///
    /// As `std::net::UdpSocket::recv`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(
            Direction::Read,
            self.read_timeout.get(),
            "a UDP receive",
            |s| s.recv(buf),
        )
    }

    /// The bound address.
    ///
    /// # Errors
    ///
    /// As `std::net::UdpSocket::local_addr`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// Bounds every later receive (`None`: no bound).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        self.read_timeout.set(timeout);
    }

    /// Bounds every later send (`None`: no bound).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) {
        self.write_timeout.set(timeout);
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.raw_fd()
    }
}
