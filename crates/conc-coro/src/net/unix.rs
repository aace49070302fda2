//! Green Unix-domain streams.

use std::cell::Cell;
use std::io;
use std::net::Shutdown;
use std::path::Path;
use std::time::Duration;

use super::registered::Registered;
use crate::hub::Direction;

/// A Unix-domain stream whose reads and writes park only the calling greenlet; it
/// implements [`Read`](std::io::Read) and [`Write`](std::io::Write) (on `&UnixStream` too).
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use conc_coro::{UnixStream, spawn};
///
/// let (mut a, b) = UnixStream::pair().unwrap();
/// let echo = spawn(move || {
///     let mut buf = [0; 5];
///     (&b).read_exact(&mut buf).unwrap();
///     (&b).write_all(&buf).unwrap();
/// });
/// a.write_all(b"hello").unwrap();
/// let mut back = [0; 5];
/// a.read_exact(&mut back).unwrap();
/// assert_eq!(&back, b"hello");
/// echo.join(None).unwrap();
/// ```
pub struct UnixStream {
    io: Registered<mio::net::UnixStream>,
    read_timeout: Cell<Option<Duration>>,
    write_timeout: Cell<Option<Duration>>,
}

impl std::fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.io.raw_fd())
            .finish()
    }
}

impl UnixStream {
    fn wrap(stream: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: Registered::new(stream)?,
            read_timeout: Cell::new(None),
            write_timeout: Cell::new(None),
        })
    }

    /// Connects to the socket at `path`.
    ///
    /// # Errors
    ///
    /// The connect's error.
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let stream = UnixStream::wrap(mio::net::UnixStream::connect(path)?)?;
        stream
            .io
            .io(Direction::Write, None, "a Unix connect", |s| {
                super::connect_outcome(s.take_error(), || s.peer_addr())
            })?;
        Ok(stream)
    }

    /// A connected pair.
    ///
    /// # Errors
    ///
    /// If the system cannot make one.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream::wrap(a)?, UnixStream::wrap(b)?))
    }

    /// A green stream from a `std` one (made non-blocking here).
    ///
    /// # Errors
    ///
    /// If it cannot be made non-blocking or registered.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        UnixStream::wrap(mio::net::UnixStream::from_std(stream))
    }

    /// Shuts down reading, writing or both.
    ///
    /// # Errors
    ///
    /// As `std::os::unix::net::UnixStream::shutdown`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get().shutdown(how)
    }

    /// Bounds every later read (`None`: no bound).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        self.read_timeout.set(timeout);
    }

    /// Bounds every later write (`None`: no bound).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) {
        self.write_timeout.set(timeout);
    }
}

green_stream_io!(UnixStream, "a Unix read", "a Unix write");

/// A listening Unix-domain socket whose `accept` parks only the calling greenlet.
///
/// # Examples
///
/// ```
/// use conc_coro::{UnixListener, UnixStream, spawn};
///
/// let dir = std::env::temp_dir().join(format!("conc-coro-doc-{}", std::process::id()));
/// let _ = std::fs::remove_file(&dir);
/// let listener = UnixListener::bind(&dir).unwrap();
/// let path = dir.clone();
/// let client = spawn(move || UnixStream::connect(&path).is_ok());
/// let _conn = listener.accept().unwrap();
/// assert_eq!(client.get(None), Ok(true));
/// std::fs::remove_file(&dir).unwrap();
/// ```
pub struct UnixListener {
    io: Registered<mio::net::UnixListener>,
}

impl std::fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.io.raw_fd())
            .finish()
    }
}

impl UnixListener {
    /// Binds to `path` and listens.
    ///
    /// # Errors
    ///
    /// The bind's error (an existing file at `path` among them).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: Registered::new(mio::net::UnixListener::bind(path)?)?,
        })
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// As `std::os::unix::net::UnixListener::accept`.
    pub fn accept(&self) -> io::Result<UnixStream> {
        let (stream, _) = self.io.io(
            Direction::Read,
            None,
            "a Unix accept",
            mio::net::UnixListener::accept,
        )?;
        UnixStream::wrap(stream)
    }
}
