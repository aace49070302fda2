//! How values become bytes, and which encodings may carry file descriptors.
//!
//! Connections, queues, locks and shared values cross to another process as file
//! descriptors beside the bytes. A *message* (a value on a `Connection`, a process's
//! arguments and result, the start methods' own traffic) is encoded by
//! [`encode_message`]: while it runs, every [`Descriptor`] inside the value is
//! duplicated into a list and written as its index in that list; the transport
//! ([`crate::ipc`]) sends the list with `SCM_RIGHTS`, and [`decode_message`] hands the
//! received descriptors back to the `Descriptor`s by index.
//!
//! A queue item is plain postcard in shared memory, where a descriptor would be
//! silently lost: queues encode through [`encode_plain`], and a `Descriptor` (or a type
//! that names itself through [`refuse_in_plain`]) refuses to be serialized there, or
//! anywhere outside a message.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ProcessError;

thread_local! {
    /// Depth of `encode_plain` calls on this thread.
    static PLAIN: Cell<u32> = const { Cell::new(0) };
    /// The descriptors of the message being encoded on this thread, if one is.
    static OUTGOING: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    /// The descriptors of the message being decoded on this thread, if one is; each
    /// is taken at most once.
    static INCOMING: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
    /// The message of the last error this crate's `Serialize`/`Deserialize` impls
    /// raised on this thread: postcard keeps none (its custom errors carry no text).
    static LAST_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A serialization error saying `msg` (remembered for [`take_message`]).
pub(crate) fn ser_error<E: serde::ser::Error>(msg: impl std::fmt::Display) -> E {
    let msg = msg.to_string();
    LAST_MESSAGE.with(|m| *m.borrow_mut() = Some(msg.clone()));
    E::custom(msg)
}

/// A deserialization error saying `msg` (remembered for [`take_message`]).
pub(crate) fn de_error<E: serde::de::Error>(msg: impl std::fmt::Display) -> E {
    let msg = msg.to_string();
    LAST_MESSAGE.with(|m| *m.borrow_mut() = Some(msg.clone()));
    E::custom(msg)
}

/// The message of the error this crate last raised while encoding or decoding on this
/// thread, if any since [`forget_message`].
pub(crate) fn take_message() -> Option<String> {
    LAST_MESSAGE.with(|m| m.borrow_mut().take())
}

/// Forgets a remembered message, before an encoding or decoding starts.
pub(crate) fn forget_message() {
    LAST_MESSAGE.with(|m| m.borrow_mut().take());
}

/// The most descriptors one message may carry (the kernel's `SCM_MAX_FD`).
pub(crate) const MAX_DESCRIPTORS: usize = 253;

/// Encodes `value` with postcard for a queue item.
pub(crate) fn encode_plain<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ProcessError> {
    /// Lowers the depth again even if a `Serialize` impl panics.
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            PLAIN.with(|p| p.set(p.get() - 1));
        }
    }
    PLAIN.with(|p| p.set(p.get() + 1));
    let _depth = Depth;
    forget_message();
    Ok(postcard::to_stdvec(value)?)
}

/// Decodes bytes made by [`encode_plain`], all of them.
///
/// # Errors
///
/// [`ProcessError::Serialization`] if the bytes are not a `T` or have bytes left over.
pub(crate) fn decode_plain<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProcessError> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes)?;
    if !rest.is_empty() {
        return Err(ProcessError::Serialization(format!(
            "{} bytes left over after the value",
            rest.len()
        )));
    }
    Ok(value)
}

/// An error for `what` if it is being encoded into a queue item.
pub(crate) fn refuse_in_plain<E: serde::ser::Error>(what: &str) -> Result<(), E> {
    if PLAIN.with(Cell::get) > 0 {
        Err(ser_error(format!(
            "{what} cannot travel inside a queue item (it needs file descriptors); \
             send it through a Connection or as a process argument"
        )))
    } else {
        Ok(())
    }
}

/// Encodes `value` as a message: its bytes, and the descriptors they refer to.
///
/// # Errors
///
/// [`ProcessError::Serialization`] if the value cannot be encoded, holds more than
/// [`MAX_DESCRIPTORS`] descriptors, or a descriptor cannot be duplicated.
pub(crate) fn encode_message<T: Serialize + ?Sized>(
    value: &T,
) -> Result<(Vec<u8>, Vec<OwnedFd>), ProcessError> {
    /// Ends the message's descriptor list even if a `Serialize` impl panics, and gives
    /// back the list of an outer message (a `Serialize` impl may send a message).
    struct Scope(Option<Vec<OwnedFd>>);
    impl Drop for Scope {
        fn drop(&mut self) {
            OUTGOING.with(|o| *o.borrow_mut() = self.0.take());
        }
    }
    forget_message();
    let outer = OUTGOING.with(|o| o.borrow_mut().replace(Vec::new()));
    let scope = Scope(outer);
    let bytes = postcard::to_stdvec(value);
    let fds = OUTGOING.with(|o| o.borrow_mut().take()).unwrap_or_default();
    drop(scope);
    let bytes = bytes?;
    if fds.len() > MAX_DESCRIPTORS {
        return Err(ProcessError::Serialization(format!(
            "one message can carry at most {MAX_DESCRIPTORS} connections, queues, locks \
             and shared values; this one holds {}",
            fds.len()
        )));
    }
    Ok((bytes, fds))
}

/// Decodes a message's bytes as `T`, giving it the descriptors that came with them.
/// Descriptors the value did not claim are closed.
///
/// # Errors
///
/// [`ProcessError::Serialization`] if the bytes are not a `T` (or have bytes left
/// over), or refer to descriptors that did not come.
pub(crate) fn decode_message<T: DeserializeOwned>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
) -> Result<T, ProcessError> {
    struct Scope(Option<Vec<Option<OwnedFd>>>);
    impl Drop for Scope {
        fn drop(&mut self) {
            INCOMING.with(|i| *i.borrow_mut() = self.0.take());
        }
    }
    forget_message();
    let outer = INCOMING.with(|i| i.borrow_mut().replace(fds.into_iter().map(Some).collect()));
    let _scope = Scope(outer);
    let (value, rest) = postcard::take_from_bytes::<T>(bytes)?;
    if !rest.is_empty() {
        return Err(ProcessError::Serialization(format!(
            "{} bytes left over after the value",
            rest.len()
        )));
    }
    Ok(value)
}

/// A file descriptor inside a value: serialized only within a message (as an index
/// into the message's descriptor list), never into plain bytes.
#[derive(Debug)]
pub(crate) struct Descriptor(pub(crate) OwnedFd);

impl AsFd for Descriptor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Serializes `fd` (duplicated) into the message being encoded, for the `Serialize`
/// impls of types that hold a descriptor.
pub(crate) fn serialize_fd<S: Serializer>(
    fd: BorrowedFd<'_>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    refuse_in_plain::<S::Error>("a connection, queue, lock or shared value")?;
    let index = OUTGOING.with(|o| -> Result<u32, S::Error> {
        let mut outgoing = o.borrow_mut();
        let list = outgoing.as_mut().ok_or_else(|| {
            ser_error::<S::Error>(
                "a connection, queue, lock or shared value can only be serialized by \
                 conc-process itself (sent on a Connection or as a process argument)",
            )
        })?;
        let dup = fd
            .try_clone_to_owned()
            .map_err(|e| ser_error::<S::Error>(format!("cannot duplicate a descriptor: {e}")))?;
        list.push(dup);
        u32::try_from(list.len() - 1).map_err(|_| ser_error::<S::Error>("too many descriptors"))
    })?;
    serializer.serialize_u32(index)
}

/// A borrowed file descriptor inside a value being sent: serialized like a
/// [`Descriptor`] (duplicated into the message), received as one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DescriptorRef<'a>(pub(crate) BorrowedFd<'a>);

impl Serialize for DescriptorRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_fd(self.0, serializer)
    }
}

impl Serialize for Descriptor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_fd(self.0.as_fd(), serializer)
    }
}

impl<'de> Deserialize<'de> for Descriptor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let index = u32::deserialize(deserializer)? as usize;
        INCOMING.with(|i| {
            let mut incoming = i.borrow_mut();
            let list = incoming.as_mut().ok_or_else(|| {
                de_error::<D::Error>("a file descriptor can only arrive in a conc-process message")
            })?;
            list.get_mut(index)
                .and_then(Option::take)
                .map(Descriptor)
                .ok_or_else(|| {
                    de_error::<D::Error>(format!(
                        "the message refers to descriptor {index}, which it did not carry"
                    ))
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn some_fd() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    #[test]
    fn descriptors_travel_by_index_and_are_claimed_once() {
        let value = (7u8, Descriptor(some_fd()), Descriptor(some_fd()));
        let (bytes, fds) = encode_message(&value).unwrap();
        assert_eq!(fds.len(), 2);
        let (n, a, b): (u8, Descriptor, Descriptor) = decode_message(&bytes, fds).unwrap();
        assert_eq!(n, 7);
        assert_ne!(a.0.as_raw_fd(), b.0.as_raw_fd());
        // Claiming the same index twice is an error, not a double close.
        let (bytes, fds) = encode_message(&Descriptor(some_fd())).unwrap();
        let twice = [bytes.clone(), bytes].concat();
        let err = decode_message::<(Descriptor, Descriptor)>(&twice, fds).unwrap_err();
        assert!(err.to_string().contains("did not carry"), "{err}");
    }

    #[test]
    fn descriptors_refuse_plain_encodings_and_missing_context() {
        let err = encode_plain(&Descriptor(some_fd())).unwrap_err();
        assert!(err.to_string().contains("queue item"), "{err}");
        let err = postcard::to_stdvec(&Descriptor(some_fd())).unwrap_err();
        assert!(!err.to_string().is_empty());
        let bytes = postcard::to_stdvec(&0u32).unwrap();
        assert!(postcard::from_bytes::<Descriptor>(&bytes).is_err());
    }

    #[test]
    fn leftover_bytes_are_an_error() {
        let (mut bytes, fds) = encode_message(&1u8).unwrap();
        bytes.push(0);
        assert!(decode_message::<u8>(&bytes, fds).is_err());
    }
}
