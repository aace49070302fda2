//! The feeder: a background writer per queue handle and process, so that `put` on a
//! queue without `maxsize` never blocks (Python's `Queue._feed` thread).
//!
//! `put` writes straight into the ring when nothing of this handle is waiting and the
//! frame fits; otherwise it appends the frame here and a thread writes the frames in
//! order as readers make room. Before a child exits, and at the main program's exit,
//! every feeder is flushed (Python joins its feeder threads the same way), unless the
//! queue's owner called `cancel_join_thread`.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};

use super::ring::Ring;
use crate::hooks::{self, ExitStage, ForkLockRank};
use crate::sys::{self, Pid};

#[derive(Debug, Default)]
struct Pending {
    frames: VecDeque<Vec<u8>>,
    /// A writer thread is running (it exits when `frames` is empty).
    writing: bool,
    /// `cancel_join_thread`: do not wait for this feeder at exit.
    cancelled: bool,
}

/// One process's writer for one queue.
#[derive(Debug)]
pub(crate) struct Feeder {
    ring: Ring,
    pid: Pid,
    pending: Mutex<Pending>,
    drained: Condvar,
}

/// Every live feeder of this process, for the flush at exit.
static FEEDERS: Mutex<Vec<Weak<Feeder>>> = Mutex::new(Vec::new());

impl Feeder {
    pub(crate) fn new(ring: Ring) -> Arc<Self> {
        hooks::register_exit_hook(ExitStage::Flush, flush_all);
        let feeder = Arc::new(Feeder {
            ring,
            pid: sys::getpid(),
            pending: Mutex::new(Pending::default()),
            drained: Condvar::new(),
        });
        let mut all = feeders();
        all.retain(|f| f.strong_count() > 0);
        all.push(Arc::downgrade(&feeder));
        feeder
    }

    /// Whether this feeder belongs to the calling process (a fork child inherits its
    /// parent's, whose frames are the parent's to write).
    pub(crate) fn is_current(&self) -> bool {
        self.pid == sys::getpid()
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `frame` now if it fits and nothing is queued before it, else queues it for
    /// the writer thread. Never blocks on readers.
    pub(crate) fn put(self: &Arc<Self>, frame: Vec<u8>) {
        let mut pending = self.pending();
        if pending.frames.is_empty()
            && matches!(
                self.ring.write(&frame, Some(std::time::Instant::now())),
                Ok(true)
            )
        {
            return;
        }
        pending.frames.push_back(frame);
        if !pending.writing {
            pending.writing = true;
            drop(pending);
            let me = self.clone();
            // A conc-thread thread (a daemon, as Python's feeder threads are): its
            // start and end are kept out of the way of forks (see conc-thread's
            // `fork.rs`), and a feeder is started for each burst of puts.
            let spawned = conc_thread::Builder::new()
                .name("conc-process-queue-feeder")
                .daemon(true)
                .spawn(move || me.write_pending());
            if spawned.is_err() {
                // No thread: write on the caller's time, exactly as the thread would
                // (in order, popping each frame only once written), rather than lose it.
                self.write_pending();
            }
        }
    }

    /// The writer's body: write queued frames in order until none is left.
    fn write_pending(&self) {
        loop {
            let frame = {
                let mut pending = self.pending();
                match pending.frames.front() {
                    Some(f) => f.clone(),
                    None => {
                        pending.writing = false;
                        self.drained.notify_all();
                        return;
                    }
                }
            };
            // Waits as long as it takes for readers to make room.
            let written = self.ring.write(&frame, None);
            self.pending().frames.pop_front();
            if let Err(e) = written {
                // Give its place back, so qsize and JoinableQueue.join stay right.
                self.ring.unadmit();
                log::error!("a queue feeder dropped an item: {e}");
            }
        }
    }

    /// Waits until every queued frame is in the ring (Python's `join_thread`).
    pub(crate) fn flush(&self) {
        let mut pending = self.pending();
        while (pending.writing || !pending.frames.is_empty()) && !pending.cancelled {
            pending = self
                .drained
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Python's `cancel_join_thread`: exit without waiting for queued frames.
    pub(crate) fn cancel_join(&self) {
        self.pending().cancelled = true;
        self.drained.notify_all();
    }

    /// Frames still waiting to be written.
    pub(crate) fn backlog(&self) -> usize {
        self.pending().frames.len()
    }
}

/// The list of feeders, its lock registered to be held across the engine's forks.
fn feeders() -> MutexGuard<'static, Vec<Weak<Feeder>>> {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    hooks::register_fork_lock(&REGISTERED, ForkLockRank::Feeders, || -> Box<dyn Any> {
        Box::new(FEEDERS.lock().unwrap_or_else(|e| e.into_inner()))
    });
    FEEDERS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Flushes every feeder of this process: called before a child exits and from the main
/// program's `atexit` handler.
pub(crate) fn flush_all() {
    let feeders: Vec<Arc<Feeder>> = feeders()
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|f| f.is_current())
        .collect();
    for feeder in feeders {
        feeder.flush();
    }
}
