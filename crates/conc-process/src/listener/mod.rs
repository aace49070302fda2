//! `multiprocessing.connection`'s `Listener` and `Client`: connections between
//! programs over TCP or Unix sockets, authenticated with a shared key, in Python's own
//! wire format, so that a Python program and a Rust one can talk.

mod auth;
mod frame;

use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{MAX_MESSAGE_BYTES, ProcessError};

use frame::{PyStream, Stream};

/// How long the authentication handshake may take before the connection is dropped: a
/// peer that connects and says nothing must not hold `accept` forever.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(20);

/// Where a [`Listener`] listens and a [`client`] connects: Python's `('host', port)`
/// (family `AF_INET`) or a path (`AF_UNIX`).
///
/// # Examples
///
/// ```
/// use conc_process::connection::Address;
///
/// let tcp: Address = "127.0.0.1:6000".parse().unwrap();
/// assert!(matches!(tcp, Address::Tcp(_)));
/// let unix: Address = "/tmp/conc-example.sock".parse().unwrap();
/// assert!(matches!(unix, Address::Unix(_)));
/// assert_eq!(unix.to_string(), "/tmp/conc-example.sock");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Address {
    /// A TCP address; port 0 picks a free port (see [`Listener::address`]).
    Tcp(SocketAddr),
    /// A Unix socket's path; a path that starts with a NUL byte names a socket in
    /// Linux's abstract namespace (no file; Python's convention too).
    Unix(PathBuf),
}

/// The abstract name of a Unix address whose path starts with a NUL byte.
fn abstract_name(path: &Path) -> Option<&[u8]> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().strip_prefix(b"\0")
}

fn unix_addr(path: &Path) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    match abstract_name(path) {
        Some(name) => std::os::unix::net::SocketAddr::from_abstract_name(name),
        None => std::os::unix::net::SocketAddr::from_pathname(path),
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(addr) => write!(f, "{addr}"),
            Address::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

impl std::str::FromStr for Address {
    type Err = ProcessError;

    /// A path when the text contains a `/`, else `host:port`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains('/') {
            return Ok(Address::Unix(PathBuf::from(s)));
        }
        s.to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .map(Address::Tcp)
            .ok_or_else(|| {
                ProcessError::InvalidArgument(format!(
                    "'{s}' is neither host:port nor a socket path"
                ))
            })
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Self {
        Address::Tcp(addr)
    }
}

impl From<&Path> for Address {
    fn from(path: &Path) -> Self {
        Address::Unix(path.to_path_buf())
    }
}

impl From<PathBuf> for Address {
    fn from(path: PathBuf) -> Self {
        Address::Unix(path)
    }
}

enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// A server socket that accepts authenticated connections (Python's
/// `multiprocessing.connection.Listener`).
///
/// With an `authkey`, every accepted connection first proves it knows the key, then
/// checks that the listener does, both with Python's HMAC challenge (the `{sha256}` form
/// of CPython 3.12+, and the HMAC-MD5 form of 3.11 and earlier): a Python
/// `Client(address, authkey=...)` connects to it, and a wrong key is refused with
/// [`ProcessError::AuthenticationError`]. A Unix socket's file is removed when the
/// listener is dropped.
///
/// # Examples
///
/// ```
/// use conc_process::connection::{Listener, client};
///
/// let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), Some(b"secret")).unwrap();
/// let address = listener.address().clone();
/// let peer = std::thread::spawn(move || {
///     let conn = client(&address, Some(b"secret")).unwrap();
///     conn.send_bytes(b"hello").unwrap();
///     conn.recv_bytes().unwrap()
/// });
/// let conn = listener.accept().unwrap();
/// assert_eq!(conn.recv_bytes().unwrap(), b"hello");
/// conn.send_bytes(b"world").unwrap();
/// assert_eq!(peer.join().unwrap(), b"world");
/// ```
pub struct Listener {
    socket: Socket,
    address: Address,
    authkey: Option<Vec<u8>>,
    /// The socket went to another owner, who removes its file.
    keep_file: bool,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .field("authenticated", &self.authkey.is_some())
            .finish()
    }
}

impl Listener {
    /// Listens on `address`, requiring `authkey` from every client when it is given.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] when the address cannot be bound (in use, no permission, a
    /// Unix path that exists).
    pub fn bind(address: Address, authkey: Option<&[u8]>) -> Result<Listener, ProcessError> {
        let (socket, address) = match address {
            Address::Tcp(addr) => {
                let listener = TcpListener::bind(addr)
                    .map_err(|e| ProcessError::os("cannot listen on the TCP address", e))?;
                let bound = listener
                    .local_addr()
                    .map_err(|e| ProcessError::os("cannot read the bound address", e))?;
                (Socket::Tcp(listener), Address::Tcp(bound))
            }
            Address::Unix(path) => {
                let listener = unix_addr(&path)
                    .and_then(|addr| UnixListener::bind_addr(&addr))
                    .map_err(|e| ProcessError::os("cannot listen on the Unix socket path", e))?;
                (Socket::Unix(listener), Address::Unix(path))
            }
        };
        Ok(Listener {
            socket,
            address,
            authkey: authkey.map(<[u8]>::to_vec),
            keep_file: false,
        })
    }

    /// The address clients connect to; for TCP port 0, the port chosen.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Waits for a client, and authenticates it when the listener has a key (Python's
    /// `accept`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::AuthenticationError`] when the client does not know the key or
    /// does not accept ours; [`ProcessError::Timeout`] when its handshake takes longer
    /// than [`AUTH_TIMEOUT`]; [`ProcessError::BadMessage`] for handshake messages that
    /// are malformed or over 256 bytes. The listener stays usable after each.
    pub fn accept(&self) -> Result<SocketConnection, ProcessError> {
        let conn = self.accept_unauthenticated()?;
        self.authenticate(&conn)?;
        Ok(conn)
    }

    /// Accepts a connection without its handshake, so that a server can run the
    /// handshake on the connection's own thread ([`authenticate`](Self::authenticate)).
    pub(crate) fn accept_unauthenticated(&self) -> Result<SocketConnection, ProcessError> {
        let stream = match &self.socket {
            Socket::Tcp(listener) => {
                let (stream, _) = listener
                    .accept()
                    .map_err(|e| ProcessError::os("cannot accept a connection", e))?;
                let _ = stream.set_nodelay(true);
                Stream::Tcp(stream)
            }
            Socket::Unix(listener) => {
                let (stream, _) = listener
                    .accept()
                    .map_err(|e| ProcessError::os("cannot accept a connection", e))?;
                Stream::Unix(stream)
            }
        };
        Ok(SocketConnection {
            stream: PyStream::new(stream),
        })
    }

    /// The server's side of the handshake, when the listener has a key.
    pub(crate) fn authenticate(&self, conn: &SocketConnection) -> Result<(), ProcessError> {
        match &self.authkey {
            Some(key) => authenticate(&conn.stream, |s| {
                auth::deliver_challenge(s, key)?;
                auth::answer_challenge(s, key)
            }),
            None => Ok(()),
        }
    }

    /// A listener on an inherited socket (a manager's server), which removes a Unix
    /// socket's file when dropped.
    pub(crate) fn from_fd(socket: OwnedFd, address: Address, authkey: Vec<u8>) -> Self {
        let socket = match address {
            Address::Tcp(_) => Socket::Tcp(TcpListener::from(socket)),
            Address::Unix(_) => Socket::Unix(UnixListener::from(socket)),
        };
        Listener {
            socket,
            address,
            authkey: Some(authkey),
            keep_file: false,
        }
    }

    /// The listening socket, handed on to another process: this listener no longer
    /// removes a Unix socket's file (the new owner does).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the descriptor cannot be duplicated.
    pub(crate) fn into_socket(mut self) -> Result<OwnedFd, ProcessError> {
        let fd = self
            .socket_fd()
            .try_clone_to_owned()
            .map_err(|e| ProcessError::os("cannot hand a listening socket on", e))?;
        self.keep_file = true;
        Ok(fd)
    }

    /// The listening socket's descriptor.
    pub(crate) fn socket_fd(&self) -> BorrowedFd<'_> {
        match &self.socket {
            Socket::Tcp(listener) => listener.as_fd(),
            Socket::Unix(listener) => listener.as_fd(),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let (Socket::Unix(_), Address::Unix(path)) = (&self.socket, &self.address)
            && abstract_name(path).is_none()
            && !self.keep_file
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Runs a handshake under [`AUTH_TIMEOUT`]; the connection is shut down if it fails.
fn authenticate(
    stream: &PyStream,
    handshake: impl FnOnce(&PyStream) -> Result<(), ProcessError>,
) -> Result<(), ProcessError> {
    stream.set_read_timeout(Some(AUTH_TIMEOUT))?;
    let result = handshake(stream).and_then(|()| stream.set_read_timeout(None));
    if result.is_err() {
        stream.shutdown();
    }
    result
}

/// Connects to a [`Listener`] (or a Python `multiprocessing.connection.Listener`) at
/// `address`, authenticating with `authkey` when given (Python's `Client`).
///
/// # Errors
///
/// [`ProcessError::Os`] when nothing listens there;
/// [`ProcessError::AuthenticationError`] when the keys differ;
/// [`ProcessError::Timeout`] when the handshake takes longer than [`AUTH_TIMEOUT`].
///
/// # Examples
///
/// See [`Listener`].
#[doc(alias = "Client")]
pub fn client(address: &Address, authkey: Option<&[u8]>) -> Result<SocketConnection, ProcessError> {
    let stream = match address {
        Address::Tcp(addr) => {
            let stream = TcpStream::connect(addr)
                .map_err(|e| ProcessError::os("cannot connect to the TCP address", e))?;
            let _ = stream.set_nodelay(true);
            Stream::Tcp(stream)
        }
        Address::Unix(path) => Stream::Unix(
            unix_addr(path)
                .and_then(|addr| UnixStream::connect_addr(&addr))
                .map_err(|e| ProcessError::os("cannot connect to the Unix socket", e))?,
        ),
    };
    let stream = PyStream::new(stream);
    if let Some(key) = authkey {
        authenticate(&stream, |s| {
            auth::answer_challenge(s, key)?;
            auth::deliver_challenge(s, key)
        })?;
    }
    Ok(SocketConnection { stream })
}

/// A connection made by [`Listener::accept`] or [`client`] (Python's `Connection` of
/// `multiprocessing.connection`).
///
/// Messages are Python's frames: [`send_bytes`](Self::send_bytes) and
/// [`recv_bytes`](Self::recv_bytes) exchange bytes with Python's methods of the same
/// names. [`send`](Self::send) and [`recv`](Self::recv) carry any serde value as
/// postcard bytes in such a frame (between Rust programs; Python's `send` would pickle,
/// which Rust does not speak). Connections to other programs cannot carry file
/// descriptors.
///
/// # Examples
///
/// See [`Listener`].
#[derive(Debug)]
pub struct SocketConnection {
    stream: PyStream,
}

impl SocketConnection {
    /// Sends `buf` as one message (Python's `send_bytes`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::BrokenPipe`] if the peer is gone.
    pub fn send_bytes(&self, buf: &[u8]) -> Result<(), ProcessError> {
        self.stream.send_bytes(buf)
    }

    /// Receives one message of at most [`MAX_MESSAGE_BYTES`] (Python's `recv_bytes`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Eof`] when the peer closed; [`ProcessError::BadMessage`] for a
    /// malformed frame, after which the connection is shut down.
    pub fn recv_bytes(&self) -> Result<Vec<u8>, ProcessError> {
        self.recv_bytes_max(usize::try_from(MAX_MESSAGE_BYTES).unwrap_or(usize::MAX))
    }

    /// Receives one message of at most `maxlength` bytes (Python's
    /// `recv_bytes(maxlength)`).
    ///
    /// # Errors
    ///
    /// As [`recv_bytes`](Self::recv_bytes); a longer message is
    /// [`ProcessError::BadMessage`] and shuts the connection down (Python raises
    /// `OSError("bad message length")` and the connection is unusable too).
    pub fn recv_bytes_max(&self, maxlength: usize) -> Result<Vec<u8>, ProcessError> {
        self.stream.recv_bytes_max(maxlength)
    }

    /// Sends a serde value, as postcard bytes in one message.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Serialization`] if it cannot be encoded (a value holding a
    /// [`Connection`](crate::Connection), a queue or a lock cannot leave the program);
    /// the errors of [`send_bytes`](Self::send_bytes).
    pub fn send<T: Serialize>(&self, value: &T) -> Result<(), ProcessError> {
        let bytes = crate::wire::encode_plain(value)?;
        self.send_bytes(&bytes)
    }

    /// Receives a message sent by [`send`](Self::send).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Serialization`] when the bytes are not a `T`; the errors of
    /// [`recv_bytes`](Self::recv_bytes).
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T, ProcessError> {
        crate::wire::decode_plain(&self.recv_bytes()?)
    }

    /// Whether a message (or end of file) is waiting, after waiting at most `timeout`
    /// (`None`: as long as it takes) (Python's `poll`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if `poll` fails.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool, ProcessError> {
        self.stream.poll(timeout)
    }

    /// Closes the connection for both sides now; the peer reads end of file.
    pub fn close(&self) {
        self.stream.shutdown();
    }
}

impl AsFd for SocketConnection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}
