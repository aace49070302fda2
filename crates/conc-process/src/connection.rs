//! `Pipe()` and `Connection`: typed two-way channels between processes, and `wait`
//! for several of them (Python's `multiprocessing.connection`); `Listener` and
//! `client` for connections between programs, authenticated with a key and in
//! Python's own wire format.

mod wait;

pub use crate::listener::{AUTH_TIMEOUT, Address, Listener, SocketConnection, client};
pub use wait::{Readiness, Waitable, wait};

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ProcessError;
use crate::ipc::{self, FrameReader};
use crate::sync::deadline_after;
use crate::wire::{Descriptor, DescriptorRef};

/// What has been read off the socket and not yet returned.
struct Inbox<T> {
    reader: FrameReader,
    /// A message `poll` already decoded.
    peeked: Option<T>,
}

/// One end of a [`pipe`]: sends and receives values of type `T` to and from the other
/// end, which may live in another process (Python's `multiprocessing.connection.Connection`).
///
/// Values cross with serde; they may themselves contain `Connection`s and the other
/// shareable types of this crate. Pass a `Connection` to a child by moving it into the
/// child's argument (or, with `fork`, into its closure): it is then the child's, and the
/// parent keeps the other end.
///
/// A `Connection` is `Send` and `Sync`; `recv` and `poll` take an internal lock, so two
/// threads reading the same end each get whole messages.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let (a, b) = conc_process::pipe::<String>(true).unwrap();
/// a.send("ping".to_string()).unwrap();
/// assert_eq!(b.recv().unwrap(), "ping");
/// b.send("pong".to_string()).unwrap();
/// assert_eq!(a.recv().unwrap(), "pong");
/// // Nothing more to read: poll says so instead of blocking.
/// assert!(!a.poll(Some(Duration::from_millis(10))).unwrap());
/// ```
pub struct Connection<T> {
    /// The socket (one end of a Unix stream socket pair); `None` once closed. Calls
    /// in flight keep their own `Arc`, so `close` never pulls a descriptor from under
    /// them.
    socket: conc_thread::sync::Mutex<Option<Arc<OwnedFd>>>,
    inbox: conc_thread::sync::Mutex<Inbox<T>>,
    /// Held while a message is written, so that two threads' messages never interleave.
    send_lock: conc_thread::sync::Mutex<()>,
    readable: bool,
    writable: bool,
    closed: AtomicBool,
}

impl<T> fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A pair of connected [`Connection`]s (Python's `multiprocessing.Pipe(duplex)`).
///
/// With `duplex = true` both ends send and receive. With `duplex = false` the first end
/// only receives and the second only sends, as in Python (`r, w = Pipe(False)`).
///
/// # Errors
///
/// [`ProcessError::Os`] if the operating system refuses to create the sockets.
///
/// # Examples
///
/// ```
/// let (reader, writer) = conc_process::pipe::<u32>(false).unwrap();
/// writer.send(7).unwrap();
/// assert_eq!(reader.recv().unwrap(), 7);
/// assert!(reader.send(1).is_err()); // the reading end of a one-way pipe cannot send
/// ```
pub fn pipe<T>(duplex: bool) -> Result<(Connection<T>, Connection<T>), ProcessError>
where
    T: Serialize + DeserializeOwned,
{
    // A closed stdin would let a socket take fd 0, which a child then replaces.
    crate::sys::ensure_std_fds_open();
    let (first, second) = ipc::socket_pair()?;
    Ok((
        Connection::from_parts(first, true, duplex, Inbox::default()),
        Connection::from_parts(second, duplex, true, Inbox::default()),
    ))
}

impl<T> Default for Inbox<T> {
    fn default() -> Self {
        Inbox {
            reader: FrameReader::default(),
            peeked: None,
        }
    }
}

impl<T> Connection<T>
where
    T: Serialize + DeserializeOwned,
{
    /// Sends `value` to the other end. It does not wait for the other end to read it
    /// unless the operating system's buffer is full (then it waits for room, as long as
    /// it takes; see [`send_timeout`](Self::send_timeout)). A send never outlives the
    /// other end: once every process holding it has closed it or died, a waiting send
    /// fails at once.
    ///
    /// # Errors
    ///
    /// - [`ProcessError::BrokenPipe`] if the other end is closed (Python:
    ///   `BrokenPipeError`).
    /// - [`ProcessError::Closed`] after [`close`](Self::close).
    /// - [`ProcessError::InvalidState`] on the receive-only end of a one-way pipe.
    /// - [`ProcessError::Serialization`] if `value` cannot be encoded (nothing is sent).
    /// - [`ProcessError::InvalidArgument`] if it encodes to more than 4 GiB.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = conc_process::pipe::<Vec<u8>>(true).unwrap();
    /// drop(b);
    /// assert_eq!(a.send(vec![1]), Err(conc_process::ProcessError::BrokenPipe));
    /// ```
    pub fn send(&self, value: T) -> Result<(), ProcessError> {
        self.send_until(&value, None)
    }

    /// Sends `value`, waiting at most `timeout` for room in the operating system's
    /// buffer (no Python counterpart: its `send` can only block).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Timeout`] if the other end did not make room in time. A message
    /// too big to fit may be partly written by then: the connection is then shut down
    /// for sending in every process that shares it (the other end gets
    /// [`ProcessError::BadMessage`] for the cut message, and later sends fail with
    /// [`ProcessError::BrokenPipe`]), because a stream with half a message in it cannot
    /// carry another. Otherwise those of [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (a, _b) = conc_process::pipe::<Vec<u8>>(true).unwrap();
    /// // Nobody reads `_b`: small messages fill the buffer, then a send times out.
    /// let err = loop {
    ///     if let Err(e) = a.send_timeout(vec![0; 1024], Duration::from_millis(20)) {
    ///         break e;
    ///     }
    /// };
    /// assert!(matches!(err, conc_process::ProcessError::Timeout { .. }));
    /// ```
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), ProcessError> {
        self.send_until(&value, deadline_after(timeout))
            .map_err(|e| e.waited_for("the connection to take a message", timeout))
    }

    fn send_until<V: Serialize + ?Sized>(
        &self,
        value: &V,
        deadline: Option<Instant>,
    ) -> Result<(), ProcessError> {
        self.check_open()?;
        if !self.writable {
            return Err(ProcessError::InvalidState("connection is read-only"));
        }
        let socket = self.socket()?;
        let _one_at_a_time = self.send_lock.lock();
        ipc::send_value(socket.as_fd(), value, deadline)
    }

    /// Receives the next value, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// - [`ProcessError::Eof`] when nothing is left and every sender of the other end is
    ///   gone (closed, dropped, or its process died) — never a hang (Python: `EOFError`).
    /// - [`ProcessError::BadMessage`] if bytes arrive that are not a message (garbage,
    ///   a length prefix over the 4 GiB limit, a message cut short); the connection is
    ///   closed after it.
    /// - [`ProcessError::Closed`] after [`close`](Self::close).
    /// - [`ProcessError::InvalidState`] on the send-only end of a one-way pipe.
    /// - [`ProcessError::Serialization`] if the message cannot be decoded as `T` (it is
    ///   consumed; the connection stays usable).
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = conc_process::pipe::<i32>(true).unwrap();
    /// a.send(1).unwrap();
    /// drop(a);
    /// assert_eq!(b.recv().unwrap(), 1);
    /// assert_eq!(b.recv(), Err(conc_process::ProcessError::Eof));
    /// ```
    pub fn recv(&self) -> Result<T, ProcessError> {
        self.recv_until(None)
    }

    /// Receives the next value, waiting at most `timeout`, however the bytes arrive:
    /// a message that comes in pieces, or stops coming halfway, is waited for only
    /// until the deadline (what arrived is kept for the next call).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Timeout`] if no whole message arrived in time; otherwise those
    /// of [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (a, _b) = conc_process::pipe::<i32>(true).unwrap();
    /// let late = a.recv_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(late.to_string(), "timed out after 10ms waiting for a message on the connection");
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, ProcessError> {
        self.recv_until(deadline_after(timeout))
            .map_err(|e| e.waited_for("a message on the connection", timeout))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, ProcessError> {
        let socket = self.socket_for_reading()?;
        let mut inbox = match deadline {
            None => self.inbox.lock(),
            Some(d) => self
                .inbox
                .try_lock_until(d)
                .ok_or(ProcessError::timed_out())?,
        };
        if let Some(value) = inbox.peeked.take() {
            return Ok(value);
        }
        let received = inbox
            .reader
            .read(socket.as_fd(), deadline)
            .and_then(ipc::decode);
        self.after_read(&socket, &received);
        received
    }

    /// Whether there is something to read: a value, or the end of file (then
    /// [`recv`](Self::recv) reports [`ProcessError::Eof`]). Waits up to `timeout`;
    /// `Some(Duration::ZERO)` just checks (Python's `poll()`), `None` waits until one or
    /// the other happens (Python's `poll(None)`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] after [`close`](Self::close);
    /// [`ProcessError::InvalidState`] on a send-only end; [`ProcessError::Serialization`]
    /// if the waiting message cannot be decoded; [`ProcessError::BadMessage`] as for
    /// [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (a, b) = conc_process::pipe::<String>(true).unwrap();
    /// assert!(!b.poll(Some(Duration::ZERO)).unwrap());
    /// a.send("hi".to_string()).unwrap();
    /// assert!(b.poll(Some(Duration::from_secs(5))).unwrap());
    /// assert_eq!(b.recv().unwrap(), "hi");
    /// ```
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool, ProcessError> {
        let socket = self.socket_for_reading()?;
        let deadline = timeout.and_then(deadline_after);
        let mut inbox = match deadline {
            None => self.inbox.lock(),
            Some(d) => match self.inbox.try_lock_until(d) {
                Some(inbox) => inbox,
                // Another thread is reading: nothing for us to take yet.
                None => return Ok(false),
            },
        };
        if inbox.peeked.is_some() || inbox.reader.at_eof() {
            return Ok(true);
        }
        let received = inbox
            .reader
            .read(socket.as_fd(), deadline)
            .and_then(ipc::decode::<T>);
        self.after_read(&socket, &received);
        match received {
            Ok(value) => {
                inbox.peeked = Some(value);
                Ok(true)
            }
            Err(ProcessError::Timeout { .. }) => Ok(false),
            Err(ProcessError::Eof) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// After a read: a stream that delivered a malformed message cannot be trusted;
    /// it is shut down (for every process sharing it) and this end closed.
    fn after_read<V>(&self, socket: &OwnedFd, received: &Result<V, ProcessError>) {
        if matches!(received, Err(ProcessError::BadMessage(_))) {
            ipc::shut_down(socket);
            self.close();
        }
    }
}

impl Connection<Vec<u8>> {
    /// Sends the bytes of `buf` as one message (Python's `send_bytes(buf)`; slice the
    /// buffer for its `offset` and `size`). The other end gets them back whole from
    /// [`recv_bytes`](Self::recv_bytes) (or `recv`).
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = conc_process::pipe::<Vec<u8>>(true).unwrap();
    /// let data = b"header:payload";
    /// a.send_bytes(&data[7..]).unwrap(); // Python: send_bytes(data, 7)
    /// assert_eq!(b.recv_bytes().unwrap(), b"payload");
    /// ```
    pub fn send_bytes(&self, buf: &[u8]) -> Result<(), ProcessError> {
        // A slice encodes exactly as the `Vec<u8>` the other end decodes.
        self.send_until(buf, None)
    }

    /// Receives one whole message of bytes (Python's `recv_bytes()`).
    ///
    /// # Errors
    ///
    /// As for [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = conc_process::pipe::<Vec<u8>>(false).unwrap();
    /// b.send_bytes(&[1, 2, 3]).unwrap();
    /// assert_eq!(a.recv_bytes(), Ok(vec![1, 2, 3]));
    /// ```
    pub fn recv_bytes(&self) -> Result<Vec<u8>, ProcessError> {
        self.recv()
    }

    /// Receives one message of at most `maxlength` bytes (Python's
    /// `recv_bytes(maxlength)`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidArgument`] naming both lengths if the message is longer
    /// (Python: `OSError("bad message length")`); the message is consumed and the
    /// connection stays usable. Otherwise as for [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = conc_process::pipe::<Vec<u8>>(false).unwrap();
    /// b.send_bytes(&[0; 10]).unwrap();
    /// assert!(a.recv_bytes_max(4).is_err());
    /// b.send_bytes(&[7]).unwrap();
    /// assert_eq!(a.recv_bytes_max(4), Ok(vec![7]));
    /// ```
    pub fn recv_bytes_max(&self, maxlength: usize) -> Result<Vec<u8>, ProcessError> {
        let bytes = self.recv()?;
        if bytes.len() > maxlength {
            return Err(ProcessError::InvalidArgument(format!(
                "bad message length: {} bytes received, at most {maxlength} allowed",
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

impl<T> Connection<T> {
    fn from_parts(socket: OwnedFd, readable: bool, writable: bool, inbox: Inbox<T>) -> Self {
        Connection {
            socket: conc_thread::sync::Mutex::new(Some(Arc::new(socket))),
            inbox: conc_thread::sync::Mutex::new(inbox),
            send_lock: conc_thread::sync::Mutex::new(()),
            readable,
            writable,
            closed: AtomicBool::new(false),
        }
    }

    /// Whether this end can receive (false for the sending end of a one-way pipe).
    ///
    /// # Examples
    ///
    /// ```
    /// let (r, w) = conc_process::pipe::<u8>(false).unwrap();
    /// assert!(r.readable() && !r.writable());
    /// assert!(w.writable() && !w.readable());
    /// assert!(!r.is_closed());
    /// ```
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end can send (false for the receiving end of a one-way pipe).
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Whether [`close`](Self::close) was called (or a malformed message closed it).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The descriptor of this end's socket (Python's `fileno()`), for `poll`, `select`
    /// or an event loop; it stays valid until this end is closed or dropped. Only
    /// readiness should be asked of it: bytes read or written directly bypass the
    /// message framing (the next `recv` on either end would then report a
    /// [`ProcessError::BadMessage`] and close the connection).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Closed`] after [`close`](Self::close).
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = conc_process::pipe::<u8>(true).unwrap();
    /// assert!(a.fileno().unwrap() >= 0);
    /// a.close();
    /// assert!(a.fileno().is_err());
    /// ```
    pub fn fileno(&self) -> Result<RawFd, ProcessError> {
        self.check_open()?;
        Ok(self.socket()?.as_raw_fd())
    }

    /// Closes this end (Python's `close()`, which also happens on drop): once every
    /// process holding it has closed it, the other end's `recv` reports
    /// [`ProcessError::Eof`] and its `send` [`ProcessError::BrokenPipe`]. Later calls
    /// here fail with [`ProcessError::Closed`]. A call already waiting in another
    /// thread keeps the socket until it returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = conc_process::pipe::<u8>(true).unwrap();
    /// a.close();
    /// assert_eq!(a.send(1), Err(conc_process::ProcessError::Closed("connection")));
    /// assert_eq!(b.recv(), Err(conc_process::ProcessError::Eof));
    /// ```
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.socket.lock().take();
    }

    fn check_open(&self) -> Result<(), ProcessError> {
        if self.is_closed() {
            Err(ProcessError::Closed("connection"))
        } else {
            Ok(())
        }
    }

    fn socket(&self) -> Result<Arc<OwnedFd>, ProcessError> {
        self.socket
            .lock()
            .clone()
            .ok_or(ProcessError::Closed("connection"))
    }

    fn socket_for_reading(&self) -> Result<Arc<OwnedFd>, ProcessError> {
        self.check_open()?;
        if !self.readable {
            return Err(ProcessError::InvalidState("connection is write-only"));
        }
        self.socket()
    }
}

/// What crosses when a `Connection` is sent to another process: the socket, and what
/// this end had already read of it. `S` is the socket's form: borrowed when sent, owned
/// when received.
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, T: Serialize",
    deserialize = "S: Deserialize<'de>, T: DeserializeOwned"
))]
struct Wire<S, T> {
    socket: S,
    readable: bool,
    writable: bool,
    peeked: Option<T>,
    /// Bytes of the stream read but not yet returned, and descriptors with them.
    buffered: Vec<u8>,
    buffered_fds: Vec<Descriptor>,
    eof: bool,
}

impl<T> Serialize for Connection<T>
where
    T: Serialize + DeserializeOwned,
{
    /// Works only inside a conc-process message (a value on a `Connection`, a
    /// process's argument or result): the socket travels beside the bytes. The end
    /// moves with the message: the `Connection` you sent is closed.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::wire::refuse_in_plain::<S::Error>("a Connection")?;
        let socket = self.socket().map_err(|_| {
            crate::wire::ser_error::<S::Error>("a closed Connection cannot be sent")
        })?;
        let mut inbox = self.inbox.lock();
        let (buffered, buffered_fds, eof) = inbox.reader.take_buffered();
        let wire = Wire {
            socket: DescriptorRef(socket.as_fd()),
            readable: self.readable,
            writable: self.writable,
            peeked: inbox.peeked.take(),
            buffered,
            buffered_fds: buffered_fds.into_iter().map(Descriptor).collect(),
            eof,
        };
        drop(inbox);
        let result = wire.serialize(serializer);
        // The message holds its own copies of the descriptors: this end is now the
        // other process's, and closes here.
        self.close();
        result
    }
}

impl<'de, T> Deserialize<'de> for Connection<T>
where
    T: Serialize + DeserializeOwned,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::<Descriptor, T>::deserialize(deserializer)?;
        let reader = FrameReader::from_buffered(
            wire.buffered,
            wire.buffered_fds.into_iter().map(|d| d.0).collect(),
            wire.eof,
        );
        Ok(Connection::from_parts(
            wire.socket.0,
            wire.readable,
            wire.writable,
            Inbox {
                reader,
                peeked: wire.peeked,
            },
        ))
    }
}
