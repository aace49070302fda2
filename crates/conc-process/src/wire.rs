//! Which encodings may carry file descriptors.
//!
//! Connections, queues, locks and shared values cross to another process by passing
//! file descriptors beside the bytes, which only ipc-channel messages can do (process
//! arguments and results, values on a `Connection`). A queue item is plain postcard in
//! shared memory: a descriptor serialized into it would be silently lost. Queues encode
//! through [`encode_plain`], and the descriptor-carrying types refuse, through
//! [`refuse_in_plain`], to be serialized inside it.

use std::cell::Cell;

use serde::Serialize;

use crate::ProcessError;

thread_local! {
    /// Depth of `encode_plain` calls on this thread.
    static PLAIN: Cell<u32> = const { Cell::new(0) };
}

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
    Ok(postcard::to_stdvec(value)?)
}

/// An error for `what` if it is being encoded into a queue item.
pub(crate) fn refuse_in_plain<E: serde::ser::Error>(what: &str) -> Result<(), E> {
    if PLAIN.with(Cell::get) > 0 {
        Err(E::custom(format!(
            "{what} cannot travel inside a queue item (it needs file descriptors); \
             send it through a Connection or as a process argument"
        )))
    } else {
        Ok(())
    }
}
