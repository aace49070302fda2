//! The hub's side of I/O readiness: the `mio::Poll`, and per registered source the
//! greenlet waiting to read, the one waiting to write, and readiness that arrived while
//! nobody waited.
//!
//! mio is edge-triggered: an event says "something changed", once. The protocol that
//! makes that safe (net/ follows it): a source is registered once, for both
//! directions, when it is created; an operation is tried first and only a
//! `WouldBlock` leads to a wait. The hub and the greenlets share one thread, so no event
//! is processed between the try and the wait; an event that came earlier, while
//! nobody waited, is remembered in the slot, and the wait then returns at once (one
//! more try, which may block again: harmless). Each wait is keyed by its generation
//! ([`WaitKey`]), so a stale event never wakes a later wait.

use std::io;
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::WaitKey;

/// The token of the hub's waker.
pub(crate) const WAKER: Token = Token(usize::MAX);

/// A direction of readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

#[derive(Default)]
struct Slot {
    read: Option<WaitKey>,
    write: Option<WaitKey>,
    /// Readiness that arrived while nobody waited.
    readable: bool,
    writable: bool,
}

impl Slot {
    fn waiter(&mut self, dir: Direction) -> &mut Option<WaitKey> {
        match dir {
            Direction::Read => &mut self.read,
            Direction::Write => &mut self.write,
        }
    }

    fn pending(&mut self, dir: Direction) -> &mut bool {
        match dir {
            Direction::Read => &mut self.readable,
            Direction::Write => &mut self.writable,
        }
    }
}

pub(crate) struct Io {
    poll: Poll,
    events: Events,
    slots: Slab<Slot>,
    /// How many waits are armed: while any is, I/O may still wake someone.
    armed: usize,
}

impl Io {
    pub(crate) fn new() -> io::Result<Io> {
        Ok(Io {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            slots: Slab::new(),
            armed: 0,
        })
    }

    pub(crate) fn poll_registry(&self) -> &mio::Registry {
        self.poll.registry()
    }

    /// Registers `source` for both directions; its token identifies it from now on.
    pub(crate) fn register(&mut self, source: &mut impl Source) -> io::Result<Token> {
        let entry = self.slots.vacant_entry();
        let token = Token(entry.key());
        self.poll
            .registry()
            .register(source, token, Interest::READABLE | Interest::WRITABLE)?;
        entry.insert(Slot::default());
        Ok(token)
    }

    /// Forgets `token`'s slot and deregisters `source`.
    pub(crate) fn deregister(&mut self, token: Token, source: &mut impl Source) {
        if let Some(slot) = self.slots.try_remove(token.0) {
            self.armed -= usize::from(slot.read.is_some()) + usize::from(slot.write.is_some());
        }
        let _ = self.poll.registry().deregister(source);
    }

    /// Takes readiness that arrived for `dir` while nobody waited.
    pub(crate) fn take_pending(&mut self, token: Token, dir: Direction) -> bool {
        self.slots
            .get_mut(token.0)
            .is_some_and(|slot| std::mem::take(slot.pending(dir)))
    }

    /// Arms the wait `key` for `dir` on `token`.
    pub(crate) fn arm(&mut self, token: Token, dir: Direction, key: WaitKey) {
        if let Some(slot) = self.slots.get_mut(token.0)
            && slot.waiter(dir).replace(key).is_none()
        {
            self.armed += 1;
        }
    }

    /// Disarms the wait `key` if it is still armed (it timed out or was killed).
    pub(crate) fn disarm(&mut self, token: Token, dir: Direction, key: WaitKey) {
        if let Some(slot) = self.slots.get_mut(token.0) {
            let waiter = slot.waiter(dir);
            if *waiter == Some(key) {
                *waiter = None;
                self.armed -= 1;
            }
        }
    }

    pub(crate) fn armed(&self) -> usize {
        self.armed
    }

    /// Waits for events up to `timeout` (`None`: until one comes); returns the waits
    /// to wake and whether the waker fired.
    pub(crate) fn poll(&mut self, timeout: Option<Duration>, woken: &mut Vec<WaitKey>) -> bool {
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                log::error!("the hub's poll failed: {e}");
            }
            return false;
        }
        let mut waker = false;
        for event in &self.events {
            if event.token() == WAKER {
                waker = true;
                continue;
            }
            let Some(slot) = self.slots.get_mut(event.token().0) else {
                continue;
            };
            // An error or a hang-up makes both directions "ready": the next try
            // reports it.
            let broken = event.is_error() || event.is_read_closed() || event.is_write_closed();
            for (dir, ready) in [
                (Direction::Read, event.is_readable() || broken),
                (Direction::Write, event.is_writable() || broken),
            ] {
                if !ready {
                    continue;
                }
                match slot.waiter(dir).take() {
                    Some(key) => {
                        self.armed -= 1;
                        woken.push(key);
                    }
                    None => *slot.pending(dir) = true,
                }
            }
        }
        waker
    }
}
