//! The hub's timers: an ordered map from (deadline, sequence) to what to do, so adding,
//! cancelling and taking the next due timer are all O(log n), and a cancelled timer
//! leaves nothing behind (a server arming a read timeout per request and nearly never
//! hitting it does not grow a heap of dead entries).

use std::collections::BTreeMap;
use std::time::Instant;

use super::{WaitKey, Wake};
use crate::Greenlet;

/// What a timer does when it is due.
pub(crate) enum Action {
    /// Wakes a parked greenlet (if it still waits on that wait).
    Wake(WaitKey, Wake),
    /// Schedules a greenlet for its first run (`spawn_later`).
    Start(Greenlet),
    /// A [`Timeout`](crate::Timeout) guard expired for this greenlet.
    Interrupt { greenlet: u64, guard: u64 },
}

/// A timer's identity, for cancelling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerId(Instant, u64);

#[derive(Default)]
pub(crate) struct Timers {
    due: BTreeMap<TimerId, Action>,
    next: u64,
}

impl Timers {
    pub(crate) fn add(&mut self, at: Instant, action: Action) -> TimerId {
        self.next += 1;
        let id = TimerId(at, self.next);
        self.due.insert(id, action);
        id
    }

    pub(crate) fn cancel(&mut self, id: TimerId) -> Option<Action> {
        self.due.remove(&id)
    }

    /// The earliest deadline, if any timer is armed.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.due.first_key_value().map(|(id, _)| id.0)
    }

    /// Takes the earliest timer if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Action> {
        match self.due.first_key_value() {
            Some((id, _)) if id.0 <= now => self.due.pop_first().map(|(_, action)| action),
            _ => None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}
