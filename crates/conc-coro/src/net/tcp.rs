//! Green TCP: `TcpListener` and `TcpStream`.

use std::cell::Cell;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use super::registered::Registered;
use super::resolve::{first_success, resolve};
use crate::hub::Direction;

/// The listen backlog of [`TcpListener::bind`].
const BACKLOG: libc::c_int = 4096;

/// A TCP connection whose reads, writes and connect park only the calling greenlet
/// (gevent's `socket`); it implements [`Read`](std::io::Read) and [`Write`](std::io::Write) (on `&TcpStream` too),
/// so generic code runs cooperatively unchanged.
///
/// Timeouts are per call, as with `std` ([`set_read_timeout`](TcpStream::set_read_timeout)):
/// a read that outlasts one fails with `ErrorKind::TimedOut`. A greenlet killed while
/// it waits in a call unwinds out of it; the socket stays usable by others.
///
/// # Examples
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use conc_coro::{TcpListener, TcpStream, spawn};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = spawn(move || {
///     let (mut conn, _) = listener.accept().unwrap();
///     let mut line = String::new();
///     BufReader::new(&conn).read_line(&mut line).unwrap();
///     conn.write_all(line.to_uppercase().as_bytes()).unwrap();
/// });
/// let mut client = TcpStream::connect(addr).unwrap();
/// client.write_all(b"hello\n").unwrap();
/// let mut reply = String::new();
/// BufReader::new(&client).read_line(&mut reply).unwrap();
/// assert_eq!(reply, "HELLO\n");
/// server.join(None).unwrap();
/// ```
pub struct TcpStream {
    io: Registered<mio::net::TcpStream>,
    read_timeout: Cell<Option<Duration>>,
    write_timeout: Cell<Option<Duration>>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to (names are resolved
    /// off the hub's thread, so the other greenlets run meanwhile).
    ///
    /// # Errors
    ///
    /// The connect's or the resolution's error (the last address's).
    pub fn connect<A: ToSocketAddrs + Send + 'static>(addr: A) -> io::Result<TcpStream> {
        first_success(resolve(addr)?, |a| TcpStream::connect_addr(a, None))
    }

    /// Connects to `addr`, giving up after `timeout` (`ErrorKind::TimedOut`).
    ///
    /// # Errors
    ///
    /// As [`connect`](TcpStream::connect).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        TcpStream::connect_addr(*addr, Some(timeout))
    }

    fn connect_addr(addr: SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let stream = TcpStream::wrap(mio::net::TcpStream::connect(addr)?)?;
        // A non-blocking connect is done when the socket turns writable: then it
        // either has a peer or an error.
        stream
            .io
            .io(Direction::Write, timeout, "a TCP connect", |s| {
                super::connect_outcome(s.take_error(), || s.peer_addr())
            })?;
        Ok(stream)
    }

    fn wrap(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: Registered::new(stream)?,
            read_timeout: Cell::new(None),
            write_timeout: Cell::new(None),
        })
    }

    /// A green stream from a connected `std` one (made non-blocking here).
    ///
    /// # Errors
    ///
    /// If the socket cannot be made non-blocking or registered with the hub.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::wrap(mio::net::TcpStream::from_std(stream))
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// As `std::net::TcpStream::peer_addr`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `std::net::TcpStream::local_addr`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// Shuts down reading, writing or both.
    ///
    /// # Errors
    ///
    /// As `std::net::TcpStream::shutdown`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get().shutdown(how)
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// As `std::net::TcpStream::set_nodelay`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get().set_nodelay(nodelay)
    }

    /// Bounds every later read (`None`: no bound), as `std`'s does.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        self.read_timeout.set(timeout);
    }

    /// Bounds every later write (`None`: no bound).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) {
        self.write_timeout.set(timeout);
    }

    /// The read bound.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout.get()
    }

    /// The write bound.
    pub fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout.get()
    }

    /// Reads without taking the data out of the socket.
    ///
    /// # Errors
    ///
    /// As [`Read::read`](std::io::Read::read).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(
            Direction::Read,
            self.read_timeout.get(),
            "a TCP read",
            |s| s.peek(buf),
        )
    }
}

green_stream_io!(TcpStream, "a TCP read", "a TCP write");

/// A listening TCP socket whose `accept` parks only the calling greenlet.
///
/// # Examples
///
/// ```
/// use conc_coro::{TcpListener, TcpStream, spawn};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let client = spawn(move || TcpStream::connect(addr).map(|s| s.local_addr().unwrap()));
/// let (_conn, peer) = listener.accept().unwrap();
/// assert_eq!(client.take(None).unwrap().unwrap(), peer);
/// ```
pub struct TcpListener {
    io: Registered<mio::net::TcpListener>,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local_addr().ok())
            .finish()
    }
}

impl TcpListener {
    /// Binds to `addr` (with `SO_REUSEADDR`) and listens with a backlog of 4096 (the
    /// kernel caps it at `net.core.somaxconn`).
    ///
    /// # Errors
    ///
    /// The bind's or the resolution's error.
    pub fn bind<A: ToSocketAddrs + Send + 'static>(addr: A) -> io::Result<TcpListener> {
        first_success(resolve(addr)?, |a| {
            let listener = mio::net::TcpListener::bind(a)?;
            // mio (like std) listens with a backlog of 128: a burst of connections
            // larger than that (a load test, a reconnect storm) overflows the accept
            // queue, and with SYN cookies the peers see resets. Listening again only
            // raises the backlog (the kernel caps it at `net.core.somaxconn`).
            // SAFETY: `listen` on a descriptor this listener owns; no memory involved.
            if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(TcpListener {
                io: Registered::new(listener)?,
            })
        })
    }

    /// A green listener from a `std` one (made non-blocking here).
    ///
    /// # Errors
    ///
    /// If it cannot be made non-blocking or registered.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            io: Registered::new(mio::net::TcpListener::from_std(listener))?,
        })
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// As `std::net::TcpListener::accept`.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_timeout(None)
    }

    /// [`accept`](TcpListener::accept), at most `timeout` (`ErrorKind::TimedOut`).
    ///
    /// # Errors
    ///
    /// As [`accept`](TcpListener::accept).
    pub fn accept_timeout(&self, timeout: Option<Duration>) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.io.io(
            Direction::Read,
            timeout,
            "a TCP accept",
            mio::net::TcpListener::accept,
        )?;
        Ok((TcpStream::wrap(stream)?, peer))
    }

    /// The bound address.
    ///
    /// # Errors
    ///
    /// As `std::net::TcpListener::local_addr`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// The connections as they come (never ends; each item as [`accept`](TcpListener::accept)).
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<TcpStream>> + '_ {
        std::iter::repeat_with(|| self.accept().map(|(s, _)| s))
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.raw_fd()
    }
}
