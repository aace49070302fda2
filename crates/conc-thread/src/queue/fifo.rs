//! The FIFO queue's core, on `crossbeam-channel`.
//!
//! The queue owns both ends of one channel, so the channel never disconnects. Blocking
//! calls try the channel first and only on the slow path `select` between it and a
//! second, never-used channel whose sender is dropped at shutdown: disconnection is
//! how a shutdown wakes every blocked `put` and `get` at once.

use std::convert::Infallible;

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError, TrySendError};
use parking_lot::Mutex;

use super::shutdown::ShutdownFlag;
use super::tasks::TaskTracker;
use super::{QueueCore, Wait};
use crate::{GetError, PutError};

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
    /// Discards every queued item, counting each as done (immediate shutdown).
    fn discard_all(&self) {
        let mut discarded = 0;
        while self.rx.try_recv().is_ok() {
            discarded += 1;
        }
        self.tasks.discard(discarded);
    }

    /// Blocks in `select` until the channel or the shutdown signal is ready.
    fn put_slow(&self, item: T, wait: Wait) -> Result<(), PutError<T>> {
        loop {
            if self.flag.is_shut() {
                return Err(PutError::ShutDown(item));
            }
            let mut select = Select::new();
            let send_index = select.send(&self.tx);
            select.recv(&self.shutdown_rx);
            let operation = match wait {
                Wait::No => unreachable!("non-blocking puts never reach the slow path"),
                Wait::Forever => select.select(),
                Wait::Until(deadline) => match select.select_deadline(deadline) {
                    Ok(operation) => operation,
                    Err(_) => return Err(PutError::Full(item)),
                },
            };
            if operation.index() == send_index {
                return match operation.send(&self.tx, item) {
                    Ok(()) => Ok(()),
                    Err(_) => unreachable!("the queue holds a receiver"),
                };
            }
            // The shutdown channel disconnected: the loop reports the shutdown.
            let _ = operation.recv(&self.shutdown_rx);
        }
    }

    fn get_slow(&self, wait: Wait) -> Result<T, GetError> {
        loop {
            let mut select = Select::new();
            let recv_index = select.recv(&self.rx);
            select.recv(&self.shutdown_rx);
            let operation = match wait {
                Wait::No => unreachable!("non-blocking gets never reach the slow path"),
                Wait::Forever => select.select(),
                Wait::Until(deadline) => match select.select_deadline(deadline) {
                    Ok(operation) => operation,
                    Err(_) => return Err(GetError::Empty),
                },
            };
            if operation.index() == recv_index {
                if let Ok(item) = operation.recv(&self.rx) {
                    return Ok(item);
                }
                continue;
            }
            let _ = operation.recv(&self.shutdown_rx);
            return self.get_after_shutdown();
        }
    }

    fn get_after_shutdown(&self) -> Result<T, GetError> {
        if self.flag.is_immediate() {
            return Err(GetError::ShutDown);
        }
        self.rx.try_recv().map_err(|_| GetError::ShutDown)
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
        // Count the task before the item becomes visible, so a fast consumer's
        // `task_done` never finds the count at zero.
        self.tasks.add();
        let outcome = match self.tx.try_send(item) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(item)) => match wait {
                Wait::No => Err(PutError::Full(item)),
                _ => self.put_slow(item, wait),
            },
            Err(TrySendError::Disconnected(_)) => unreachable!("the queue holds a receiver"),
        };
        if outcome.is_err() {
            self.tasks.discard(1);
        } else if self.flag.is_immediate() {
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
        match self.rx.try_recv() {
            Ok(item) => Ok(item),
            Err(TryRecvError::Empty) if self.flag.is_shut() => Err(GetError::ShutDown),
            Err(TryRecvError::Empty) => match wait {
                Wait::No => Err(GetError::Empty),
                _ => self.get_slow(wait),
            },
            Err(TryRecvError::Disconnected) => unreachable!("the queue holds a sender"),
        }
    }

    fn qsize(&self) -> usize {
        self.rx.len()
    }

    fn shutdown(&self, immediate: bool) {
        self.flag.shut(immediate);
        if immediate {
            self.discard_all();
        }
        self.shutdown_tx.lock().take();
    }

    fn is_shutdown(&self) -> bool {
        self.flag.is_shut()
    }

    fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }
}
