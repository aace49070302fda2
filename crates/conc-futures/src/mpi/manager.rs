//! The manager rank's thread: queues the executor's tasks, hands each to an idle
//! worker rank, and completes futures from the replies, polling with a backoff
//! instead of blocking in MPI (see `backoff`).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator, Rank};

use super::backoff::Backoff;
use super::wire::{self, MAX_MESSAGE, Reply, TAG_RESULT, TAG_STOP, TAG_TASK, Task};
use crate::FutureError;
use crate::call::Settle;

/// What the executor asks of its manager.
pub(crate) enum Order {
    /// Run task `id` (or fail its future with the error it could not be built with).
    Run {
        id: u64,
        task: Result<Task, FutureError>,
        settle: Box<dyn Settle>,
    },
    /// Take no more orders; finish what is queued (or cancel it) and what runs, then end.
    Shutdown { cancel: bool },
}

/// Tasks handed to one worker at a time: the one it runs and the next, already in its
/// MPI queue when it finishes, so that it never idles while the manager, which polls
/// with a backoff, has yet to see its reply.
const SLOTS_PER_WORKER: usize = 2;

/// Where the manager's workers are and what it owes them at the end.
pub(crate) struct Workers<C> {
    pub(crate) comm: C,
    pub(crate) ranks: Vec<Rank>,
    /// Whether to send them [`TAG_STOP`] when done (workers spawned for this executor
    /// alone); the workers of `mpiexec` serve the next executor instead.
    pub(crate) stop_at_end: bool,
}

/// The manager's state between turns.
struct Manager<C> {
    workers: Workers<C>,
    /// Free task slots, a worker's rank for each (see [`SLOTS_PER_WORKER`]).
    idle: Vec<Rank>,
    queue: VecDeque<(u64, Vec<u8>, Box<dyn Settle>)>,
    running: HashMap<u64, (Rank, Box<dyn Settle>)>,
    closing: bool,
}

/// Runs the manager until shutdown (or the executor is dropped) and every task is done.
pub(crate) fn manage<C: Communicator>(
    workers: Workers<C>,
    orders: Receiver<Order>,
    ceiling: Duration,
) {
    let mut m = Manager {
        // One slot per task a worker may hold; the first round gives each worker one.
        idle: (0..SLOTS_PER_WORKER)
            .flat_map(|_| workers.ranks.iter().rev().copied())
            .collect(),
        workers,
        queue: VecDeque::new(),
        running: HashMap::new(),
        closing: false,
    };
    let mut backoff = Backoff::new(ceiling);
    let mut next: Option<Order> = None;
    loop {
        let order = next.take().or_else(|| m.take_order(&orders));
        let mut progressed = order.is_some();
        if let Some(order) = order {
            m.accept(order);
        }
        progressed |= m.dispatch();
        progressed |= m.collect();
        if m.closing && m.queue.is_empty() && m.running.is_empty() {
            break;
        }
        if progressed {
            backoff.reset();
        } else {
            // Replies are awaited: poll again after a pause, unless an order comes first.
            match backoff.next_pause() {
                Duration::ZERO => std::thread::yield_now(),
                pause => match orders.recv_timeout(pause) {
                    Ok(order) => next = Some(order),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => m.closing = true,
                },
            }
        }
    }
    if m.workers.stop_at_end {
        for &rank in &m.workers.ranks {
            m.workers
                .comm
                .process_at_rank(rank)
                .send_with_tag(&[0u8; 0][..], TAG_STOP);
        }
    }
}

impl<C: Communicator> Manager<C> {
    /// The next order: waits for one when nothing is in flight (no reply to poll for).
    fn take_order(&mut self, orders: &Receiver<Order>) -> Option<Order> {
        if self.running.is_empty() && self.queue.is_empty() && !self.closing {
            return match orders.recv() {
                Ok(order) => Some(order),
                Err(_) => {
                    self.closing = true;
                    None
                }
            };
        }
        match orders.try_recv() {
            Ok(order) => Some(order),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.closing = true;
                None
            }
        }
    }

    fn accept(&mut self, order: Order) {
        match order {
            Order::Run { id, task, settle } => match task.and_then(|t| message(&t)) {
                Ok(bytes) => self.queue.push_back((id, bytes, settle)),
                Err(error) => settle.finish(Err(error)),
            },
            Order::Shutdown { cancel } => {
                self.closing = true;
                if cancel {
                    for (_, _, settle) in self.queue.drain(..) {
                        settle.finish(Err(FutureError::Cancelled));
                    }
                }
            }
        }
    }

    /// Hands queued tasks to idle workers; whether any left.
    fn dispatch(&mut self) -> bool {
        let mut sent = false;
        while !self.idle.is_empty() {
            let Some((id, bytes, settle)) = self.queue.pop_front() else {
                break;
            };
            // Cancelled while queued: its future says so already.
            if !settle.start() {
                continue;
            }
            let rank = self.idle.pop().expect("checked above");
            self.workers
                .comm
                .process_at_rank(rank)
                .send_with_tag(&bytes[..], TAG_TASK);
            self.running.insert(id, (rank, settle));
            sent = true;
        }
        sent
    }

    /// Completes the futures of every reply waiting; whether there was any.
    fn collect(&mut self) -> bool {
        let mut any = false;
        while let Some(status) = self
            .workers
            .comm
            .any_process()
            .immediate_probe_with_tag(TAG_RESULT)
        {
            any = true;
            let rank = status.source_rank();
            let (bytes, _) = self
                .workers
                .comm
                .process_at_rank(rank)
                .receive_vec_with_tag::<u8>(TAG_RESULT);
            let (id, reply) = match wire::decode::<(u64, Reply)>(&bytes) {
                Ok(decoded) => decoded,
                Err(why) => {
                    // Whose it was: the oldest task this worker holds (it runs them
                    // in order).
                    let Some(id) = self
                        .running
                        .iter()
                        .filter(|(_, (r, _))| *r == rank)
                        .map(|(id, _)| *id)
                        .min()
                    else {
                        continue;
                    };
                    (id, Err(why))
                }
            };
            if let Some((rank, settle)) = self.running.remove(&id) {
                self.idle.push(rank);
                settle.finish(reply.map_err(FutureError::from));
            }
        }
        any
    }
}

/// A task's bytes, or why it cannot travel.
fn message(task: &Task) -> Result<Vec<u8>, FutureError> {
    let bytes = wire::encode(task).map_err(FutureError::from)?;
    if bytes.len() > MAX_MESSAGE {
        return Err(FutureError::Transport(format!(
            "the task is {} bytes; one MPI message carries at most {MAX_MESSAGE}",
            bytes.len()
        )));
    }
    Ok(bytes)
}
