//! conc-process's transport: typed messages with file descriptors over Unix stream
//! sockets.
//!
//! Every byte between the processes of a program goes through here: `Connection`s, a
//! process's arguments and result, the spawn handshake and the fork server's traffic.
//! A message is a value encoded by [`crate::wire`] (postcard bytes plus the descriptors
//! of the connections, queues, locks and shared memory inside it), sent as one
//! [`frame`]. Owning the transport (rather than using a general IPC crate) is what lets
//! every read be bounded by its caller's deadline and checked before it is trusted,
//! every send notice at once that its peer is gone (`EPIPE`: one socket per direction
//! pair, no side channel kept open by the sender), and a send time out.

mod frame;
mod rendezvous;

pub use frame::MAX_MESSAGE_BYTES;
pub(crate) use frame::{Frame, FrameReader, OutgoingFrame, send_frame, shut_down, socket_pair};
pub(crate) use rendezvous::{accept_from, connect_abstract, listen_abstract};

use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ProcessError;
use crate::wire;

/// Encodes `value` and sends it as one frame on `socket`, waiting for room until
/// `deadline`.
///
/// # Errors
///
/// As [`send_frame`], and [`ProcessError::Serialization`] if the value cannot be
/// encoded (nothing is sent then).
pub(crate) fn send_value<T: Serialize + ?Sized>(
    socket: BorrowedFd<'_>,
    value: &T,
    deadline: Option<Instant>,
) -> Result<(), ProcessError> {
    let (bytes, fds) = wire::encode_message(value)?;
    let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
    send_frame(socket, &bytes, &borrowed, deadline)
}

/// Encodes `value` as a frame to be written later, in one go or several.
///
/// # Errors
///
/// [`ProcessError::Serialization`] if the value cannot be encoded;
/// [`ProcessError::InvalidArgument`] if it encodes to more than [`MAX_MESSAGE_BYTES`].
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<OutgoingFrame, ProcessError> {
    let (bytes, fds) = wire::encode_message(value)?;
    OutgoingFrame::new(bytes, fds)
}

/// Decodes a frame's payload as `T`.
///
/// # Errors
///
/// [`ProcessError::Serialization`] if the payload is not a `T`.
pub(crate) fn decode<T: DeserializeOwned>(mut frame: Frame) -> Result<T, ProcessError> {
    let fds = std::mem::take(&mut frame.fds);
    wire::decode_message(frame.payload(), fds)
}

/// The sending end of a one-way typed channel to another process.
#[derive(Debug)]
pub(crate) struct Sender<T> {
    socket: OwnedFd,
    _marker: PhantomData<fn(T)>,
}

/// The receiving end of a one-way typed channel.
#[derive(Debug)]
pub(crate) struct Receiver<T> {
    socket: OwnedFd,
    reader: FrameReader,
    _marker: PhantomData<fn() -> T>,
}

/// A new channel: a socket pair, one end for each side.
///
/// # Errors
///
/// [`ProcessError::Os`] if the sockets cannot be created.
pub(crate) fn channel<T>() -> Result<(Sender<T>, Receiver<T>), ProcessError> {
    let (a, b) = socket_pair()?;
    Ok((Sender::from_fd(a), Receiver::from_fd(b)))
}

impl<T> Sender<T> {
    /// The sender on this socket (one end of a channel, received as a descriptor).
    pub(crate) fn from_fd(socket: OwnedFd) -> Self {
        Sender {
            socket,
            _marker: PhantomData,
        }
    }

    /// The socket, to carry the end to another process untyped.
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.socket
    }
}

impl<T> AsFd for Sender<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl<T: Serialize> Sender<T> {
    /// Sends `value`, waiting for room as long as it takes.
    ///
    /// # Errors
    ///
    /// [`ProcessError::BrokenPipe`] if the receiver is gone;
    /// [`ProcessError::Serialization`] if `value` cannot be encoded.
    pub(crate) fn send(&self, value: T) -> Result<(), ProcessError> {
        send_value(self.socket.as_fd(), &value, None)
    }
}

impl<T> Receiver<T> {
    /// The receiver on this socket.
    pub(crate) fn from_fd(socket: OwnedFd) -> Self {
        Receiver {
            socket,
            reader: FrameReader::default(),
            _marker: PhantomData,
        }
    }

    /// The socket, to carry the end to another process untyped (nothing may have been
    /// read from it yet).
    pub(crate) fn into_fd(self) -> OwnedFd {
        debug_assert!(!self.reader.has_partial());
        self.socket
    }

    /// Whether a whole message is already buffered: `recv` would not wait, and the
    /// socket may not say readable for it.
    pub(crate) fn has_buffered(&self) -> bool {
        self.reader.has_frame()
    }
}

impl<T> AsFd for Receiver<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl<T: DeserializeOwned> Receiver<T> {
    /// Receives the next value, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Eof`] once every sender is gone; [`ProcessError::BadMessage`] for
    /// a malformed frame; [`ProcessError::Serialization`] if it is not a `T`.
    pub(crate) fn recv(&mut self) -> Result<T, ProcessError> {
        self.recv_until(None)
    }

    /// Receives the next value, waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Timeout`] at the deadline; otherwise as [`recv`](Self::recv).
    pub(crate) fn recv_until(&mut self, deadline: Option<Instant>) -> Result<T, ProcessError> {
        let frame = self.reader.read(self.socket.as_fd(), deadline)?;
        decode(frame)
    }
}
