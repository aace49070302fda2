//! `Pipe()` and `Connection`: typed two-way channels between processes, and `wait`
//! for several of them (Python's `multiprocessing.connection`).

mod wait;

pub use wait::{Readiness, Waitable, wait};

use std::fmt;
use std::time::Duration;

use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ProcessError;

/// The receiving half and a message `poll` already took off the channel.
struct Inbox<T> {
    rx: IpcReceiver<T>,
    peeked: Option<T>,
    /// The channel reported end of file once; later reads report it again at once.
    eof: bool,
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
    tx: Option<IpcSender<T>>,
    inbox: conc_thread::sync::Mutex<Option<Inbox<T>>>,
    readable: bool,
    writable: bool,
    closed: std::sync::atomic::AtomicBool,
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
/// [`ProcessError::Os`] if the operating system refuses to create the channels.
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
    let channel = || ipc::channel::<T>().map_err(|e| ProcessError::os("cannot create a pipe", e));
    let (to_first, first_rx) = channel()?;
    if duplex {
        let (to_second, second_rx) = channel()?;
        Ok((
            Connection::new(Some(to_second), Some(first_rx)),
            Connection::new(Some(to_first), Some(second_rx)),
        ))
    } else {
        Ok((
            Connection::new(None, Some(first_rx)),
            Connection::new(Some(to_first), None),
        ))
    }
}

impl<T> Connection<T>
where
    T: Serialize + DeserializeOwned,
{
    fn new(tx: Option<IpcSender<T>>, rx: Option<IpcReceiver<T>>) -> Self {
        Connection {
            readable: rx.is_some(),
            writable: tx.is_some(),
            tx,
            inbox: conc_thread::sync::Mutex::new(rx.map(|rx| Inbox {
                rx,
                peeked: None,
                eof: false,
            })),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Sends `value` to the other end. It does not wait for the other end to read it
    /// unless the operating system's buffer is full (then it waits for room).
    ///
    /// # Errors
    ///
    /// - [`ProcessError::Eof`] if the other end is closed (Python: `BrokenPipeError`).
    /// - [`ProcessError::Closed`] after [`close`](Self::close).
    /// - [`ProcessError::InvalidState`] on the receive-only end of a one-way pipe.
    /// - [`ProcessError::Serialization`] if `value` cannot be encoded.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = conc_process::pipe::<Vec<u8>>(true).unwrap();
    /// drop(b);
    /// assert_eq!(a.send(vec![1]), Err(conc_process::ProcessError::Eof));
    /// ```
    pub fn send(&self, value: T) -> Result<(), ProcessError> {
        self.check_open()?;
        let tx = self
            .tx
            .as_ref()
            .ok_or(ProcessError::InvalidState("connection is read-only"))?;
        tx.send(value).map_err(|e| match ProcessError::from(e) {
            ProcessError::Os { .. } => ProcessError::Eof,
            other => other,
        })
    }

    /// Receives the next value, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// - [`ProcessError::Eof`] when nothing is left and every sender of the other end is
    ///   gone (closed, dropped, or its process died) — never a hang (Python: `EOFError`).
    /// - [`ProcessError::Closed`] after [`close`](Self::close).
    /// - [`ProcessError::InvalidState`] on the send-only end of a one-way pipe.
    /// - [`ProcessError::Serialization`] if the message cannot be decoded as `T`.
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
        self.recv_inner(None)?.ok_or(ProcessError::Timeout)
    }

    /// Receives the next value, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Timeout`] if nothing arrived in time; otherwise those of
    /// [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (a, _b) = conc_process::pipe::<i32>(true).unwrap();
    /// assert_eq!(
    ///     a.recv_timeout(Duration::from_millis(10)),
    ///     Err(conc_process::ProcessError::Timeout)
    /// );
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, ProcessError> {
        self.recv_inner(Some(timeout))?.ok_or(ProcessError::Timeout)
    }

    fn recv_inner(&self, timeout: Option<Duration>) -> Result<Option<T>, ProcessError> {
        self.check_open()?;
        let mut guard = self.inbox.lock();
        let inbox = guard
            .as_mut()
            .ok_or(ProcessError::InvalidState("connection is write-only"))?;
        if let Some(value) = inbox.peeked.take() {
            return Ok(Some(value));
        }
        if inbox.eof {
            return Err(ProcessError::Eof);
        }
        let received = match timeout {
            None => inbox.rx.recv().map(Some).map_err(ProcessError::from),
            Some(t) => match inbox.rx.try_recv_timeout(t) {
                Ok(value) => Ok(Some(value)),
                Err(ipc_channel::TryRecvError::Empty) => Ok(None),
                Err(ipc_channel::TryRecvError::IpcError(e)) => Err(e.into()),
            },
        };
        if matches!(received, Err(ProcessError::Eof)) {
            inbox.eof = true;
        }
        if self.is_closed() {
            // `close` ran while we waited: finish closing now.
            *guard = None;
        }
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
    /// if the waiting message cannot be decoded.
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
        self.check_open()?;
        let mut guard = self.inbox.lock();
        let inbox = guard
            .as_mut()
            .ok_or(ProcessError::InvalidState("connection is write-only"))?;
        if inbox.peeked.is_some() || inbox.eof {
            return Ok(true);
        }
        let received = match timeout {
            None => inbox.rx.recv().map_err(ipc_channel::TryRecvError::IpcError),
            Some(t) => inbox.rx.try_recv_timeout(t),
        };
        match received {
            Ok(value) => {
                inbox.peeked = Some(value);
                Ok(true)
            }
            Err(ipc_channel::TryRecvError::Empty) => Ok(false),
            Err(ipc_channel::TryRecvError::IpcError(ipc_channel::IpcError::Disconnected)) => {
                inbox.eof = true;
                Ok(true)
            }
            Err(ipc_channel::TryRecvError::IpcError(e)) => Err(e.into()),
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
        self.send(buf.to_vec())
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

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Closes the receiving side of this end at once; the sending side closes when the
    /// `Connection` is dropped (Python's `close()`, which also happens on drop). Later
    /// calls fail with [`ProcessError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = conc_process::pipe::<u8>(true).unwrap();
    /// a.close();
    /// assert_eq!(a.send(1), Err(conc_process::ProcessError::Closed("connection")));
    /// ```
    pub fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        // Another thread may be blocked in `recv` holding the inbox: then it is closed
        // when that thread comes back (it checks the flag), not waited for here.
        if let Some(mut inbox) = self.inbox.try_lock() {
            inbox.take();
        }
    }

    fn check_open(&self) -> Result<(), ProcessError> {
        if self.is_closed() {
            Err(ProcessError::Closed("connection"))
        } else {
            Ok(())
        }
    }
}

/// What crosses when a `Connection` is sent to another process.
#[derive(Serialize, Deserialize)]
#[serde(bound = "T: Serialize + DeserializeOwned")]
struct Wire<T> {
    tx: Option<IpcSender<T>>,
    rx: Option<IpcReceiver<T>>,
    peeked: Option<T>,
    eof: bool,
}

impl<T> Serialize for Connection<T>
where
    T: Serialize + DeserializeOwned,
{
    /// Works only inside an ipc-channel message (how conc-process sends arguments,
    /// results, and values on pipes): the file descriptors travel beside the bytes.
    /// The receiving side moves with the message; use the `Connection` you sent no more.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        crate::wire::refuse_in_plain::<S::Error>("a Connection")?;
        if self.is_closed() {
            return Err(S::Error::custom("a closed Connection cannot be sent"));
        }
        let mut guard = self.inbox.lock();
        let inbox = guard.take();
        let (rx, peeked, eof) = match inbox {
            Some(i) => (Some(i.rx), i.peeked, i.eof),
            None => (None, None, false),
        };
        let wire = Wire {
            tx: self.tx.clone(),
            rx,
            peeked,
            eof,
        };
        let result = wire.serialize(serializer);
        // Serializing moved the receiver's descriptor into the message: keep the
        // emptied shell so that this end now reports itself closed.
        drop(wire);
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        result
    }
}

impl<'de, T> Deserialize<'de> for Connection<T>
where
    T: Serialize + DeserializeOwned,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::<T>::deserialize(deserializer)?;
        let mut conn = Connection::new(wire.tx, wire.rx);
        if let Some(inbox) = conn.inbox.get_mut().as_mut() {
            inbox.peeked = wire.peeked;
            inbox.eof = wire.eof;
        }
        Ok(conn)
    }
}
