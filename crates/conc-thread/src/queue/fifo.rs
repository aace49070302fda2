//! The FIFO queue's core, on `crossbeam-channel`.
//!
//! The queue owns both ends of one channel, so the channel never disconnects. Blocking
//! calls try the channel first and only on the slow path `select` between it and a
//! second, never-used channel whose sender is dropped at shutdown: disconnection is
//! how a shutdown wakes every blocked `put` and `get` at once.

use std::convert::Infallible;

use crate::sync::Mutex;
use crate::sync::SpinWait;
use crossbeam_channel::{Receiver, Select, Sender, TrySendError};

use super::shutdown::ShutdownFlag;
use super::tasks::TaskTracker;
use super::{QueueCore, Wait};
use crate::{GetError, PutError};

/// Which side of the channel a blocked call waits for.
#[derive(Debug, Clone, Copy)]
enum Op {
    Send,
    Recv,
}

#[derive(Debug)]
pub(crate) struct FifoCore<T> {
    maxsize: usize,
    tx: Sender<T>,
    rx: Receiver<T>,
    flag: ShutdownFlag,
    tasks: TaskTracker,
    /// Dropped (set to `None`) at shutdown to disconnect `shutdown_rx`.
    shutdown_tx: Mutex<Option<Sender<Infallible>>>,
    shutdown_rx: Receiver<Infallible>,
}

impl<T> FifoCore<T> {
    /// Discards every queued item (immediate shutdown). Queued items are counted by the
    /// channel's length, so discarding them finishes their tasks by itself; joiners
    /// only need waking.
    fn discard_all(&self) {
        while self.rx.try_recv().is_ok() {}
        self.tasks.wake_if_done(|| self.rx.len());
    }

    /// One attempt to take an item, counted as a task in flight while it runs (see
    /// `tasks`): the item is never uncounted between leaving the channel and being
    /// held by the caller.
    #[inline]
    fn try_take(&self) -> Option<T> {
        self.tasks.add();
        match self.rx.try_recv() {
            Ok(item) => Some(item),
            Err(_) => {
                self.tasks.remove(1, || self.rx.len());
                None
            }
        }
    }

    /// Waits until the channel or the shutdown signal is ready, per `wait`; returns
    /// `false` on timeout. Readiness is only a hint: callers retry the `try_` operation,
    /// which keeps the shutdown check in front of every send.
    fn ready(&self, op: Op, wait: Wait) -> bool {
        let mut select = Select::new();
        match op {
            Op::Send => select.send(&self.tx),
            Op::Recv => select.recv(&self.rx),
        };
        select.recv(&self.shutdown_rx);
        match wait {
            Wait::No => false,
            Wait::Forever => {
                select.ready();
                true
            }
            Wait::Until(deadline) => select.ready_deadline(deadline).is_ok(),
        }
    }

    fn put_slow(&self, mut item: T, wait: Wait) -> Result<(), PutError<T>> {
        // A full queue usually drains within microseconds: spin and yield briefly, as
        // crossbeam's own blocking calls do, before paying for a `Select`.
        let mut spin = SpinWait::new();
        while spin.spin() {
            if self.flag.is_shut() {
                return Err(PutError::ShutDown(item));
            }
            item = match self.tx.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(item) | TrySendError::Disconnected(item)) => item,
            };
        }
        loop {
            if !self.ready(Op::Send, wait) {
                return Err(PutError::Full(item));
            }
            if self.flag.is_shut() {
                return Err(PutError::ShutDown(item));
            }
            item = match self.tx.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(item) | TrySendError::Disconnected(item)) => item,
            };
        }
    }

    fn get_slow(&self, wait: Wait) -> Result<T, GetError> {
        // An empty queue is usually refilled within microseconds by a busy producer:
        // spin and yield briefly before paying for a `Select`.
        let mut spin = SpinWait::new();
        while spin.spin() {
            if self.flag.is_shut() {
                return self.get_after_shutdown();
            }
            // Only look while it stays empty: a counted attempt writes the task
            // counter twice and reads the channel's length, lines the producer we
            // wait for is writing.
            if !self.rx.is_empty()
                && let Some(item) = self.try_take()
            {
                return Ok(item);
            }
        }
        loop {
            if !self.ready(Op::Recv, wait) {
                return Err(GetError::Empty);
            }
            if self.flag.is_shut() {
                return self.get_after_shutdown();
            }
            if let Some(item) = self.try_take() {
                return Ok(item);
            }
        }
    }

    fn get_after_shutdown(&self) -> Result<T, GetError> {
        if self.flag.is_immediate() {
            return Err(GetError::ShutDown);
        }
        self.try_take().ok_or(GetError::ShutDown)
    }
}

impl<T> QueueCore<T> for FifoCore<T> {
    fn with_maxsize(maxsize: usize) -> Self {
        let (tx, rx) = if maxsize == 0 {
            crossbeam_channel::unbounded()
        } else {
            crossbeam_channel::bounded(maxsize)
        };
        let (shutdown_tx, shutdown_rx) = crossbeam_channel::bounded(0);
        FifoCore {
            maxsize,
            tx,
            rx,
            flag: ShutdownFlag::default(),
            tasks: TaskTracker::default(),
            shutdown_tx: Mutex::new(Some(shutdown_tx)),
            shutdown_rx,
        }
    }

    fn maxsize(&self) -> usize {
        self.maxsize
    }

    #[inline]
    fn put(&self, item: T, wait: Wait) -> Result<(), PutError<T>> {
        if self.flag.is_shut() {
            return Err(PutError::ShutDown(item));
        }
        // No task counting here: a queued item is counted by the channel's length.
        let outcome = match self.tx.try_send(item) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(item)) => match wait {
                Wait::No => Err(PutError::Full(item)),
                _ => self.put_slow(item, wait),
            },
            Err(TrySendError::Disconnected(_)) => unreachable!("the queue holds a receiver"),
        };
        if outcome.is_ok() && self.flag.is_immediate() {
            // An immediate shutdown raced with this put and may have drained before
            // the item landed: drain again so no item outlives the shutdown.
            self.discard_all();
        }
        outcome
    }

    #[inline]
    fn get(&self, wait: Wait) -> Result<T, GetError> {
        if self.flag.is_immediate() {
            return Err(GetError::ShutDown);
        }
        if let Some(item) = self.try_take() {
            return Ok(item);
        }
        if self.flag.is_shut() {
            return self.get_after_shutdown();
        }
        match wait {
            Wait::No => Err(GetError::Empty),
            _ => self.get_slow(wait),
        }
    }

    fn qsize(&self) -> usize {
        self.rx.len()
    }

    fn shutdown(&self, immediate: bool) {
        self.flag.shut(immediate);
        // Wake blocked callers first: they see the flag before any room the discard
        // below makes, so a blocked put reports the shutdown instead of succeeding.
        self.shutdown_tx.lock().take();
        if immediate {
            self.discard_all();
        }
    }

    fn is_shutdown(&self) -> bool {
        self.flag.is_shut()
    }

    fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    fn task_base(&self) -> usize {
        self.rx.len()
    }
}
