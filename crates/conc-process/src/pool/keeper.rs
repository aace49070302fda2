//! The parent's side of a pool: the task queue, and one keeper thread per worker that
//! starts the worker, hands it one task at a time, delivers the reply, and notices at
//! once when the worker dies (its sentinel becomes readable), failing exactly the task
//! it held and starting a replacement.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::ipc::{self, Frame, FrameReader, OutgoingFrame};
use crate::{ChildProcess, Process, ProcessError, sys};

use super::worker::Hello;

/// How many workers in a row may die before their initializer finished before the
/// pool gives up: one such death can be a kill from outside, three are the
/// initializer.
const EARLY_DEATHS_TO_BREAK: usize = 3;

/// How long a retiring worker gets to exit on its own before it is killed.
const RETIRE_GRACE: Duration = Duration::from_secs(5);

/// How often a send that the socket cannot take yet checks the worker is alive.
const SEND_CHECK: Duration = Duration::from_millis(50);

/// Delivers a task's reply (or why there is none) to whoever waits for its results;
/// the `&str` is the name of the worker, for panic errors.
pub(crate) type Deliver = Box<dyn FnOnce(Result<Frame, ProcessError>, &str) + Send>;

/// A task waiting for a worker.
pub(crate) struct Job {
    pub(crate) work: Work,
    pub(crate) deliver: Deliver,
}

/// What a task runs.
pub(crate) enum Work {
    /// An encoded task for the slot's worker.
    Task(OutgoingFrame),
    /// A closure (`fork` only): it cannot be sent to a worker, so a child is forked for
    /// it alone, which replies on its socket exactly as a worker would.
    Forked(StartOnce),
}

/// Starts a worker process on the given end of its socket pair (not yet started).
pub(crate) type StartWorker = Box<dyn Fn(OwnedFd) -> Process<()> + Send + Sync>;

/// Makes the one-shot child of a [`Work::Forked`] task (not yet started).
pub(crate) type StartOnce = Box<dyn FnOnce(OwnedFd) -> Process<()> + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    /// `close`: the queued tasks still run, no new ones are taken.
    Closed,
    /// `terminate`: queued and running tasks are cancelled, workers killed.
    Terminated,
}

struct State {
    jobs: VecDeque<Job>,
    phase: Phase,
    /// Why the pool cannot run tasks, once it cannot.
    broken: Option<String>,
    /// Workers that died before their initializer finished, since one last finished it.
    early_deaths: usize,
    /// Each keeper's current worker, for `terminate`.
    workers: Vec<Option<ChildProcess>>,
    /// Each keeper's one-shot child of a closure task, while it runs.
    one_shots: Vec<Option<ChildProcess>>,
}

/// What the pool and its keepers share.
pub(crate) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    start_worker: StartWorker,
    /// Python's `maxtasksperchild`.
    max_tasks: Option<usize>,
}

impl Shared {
    pub(crate) fn new(
        processes: usize,
        max_tasks: Option<usize>,
        start_worker: StartWorker,
    ) -> Self {
        Shared {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                phase: Phase::Running,
                broken: None,
                early_deaths: 0,
                workers: (0..processes).map(|_| None).collect(),
                one_shots: (0..processes).map(|_| None).collect(),
            }),
            changed: Condvar::new(),
            start_worker,
            max_tasks,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a job; a pool that does not run fails it at once with why.
    pub(crate) fn submit(&self, job: Job) {
        let mut state = self.lock();
        let refused = match (&state.broken, state.phase) {
            (Some(reason), _) => ProcessError::PoolBroken(reason.clone()),
            (None, Phase::Running) => {
                state.jobs.push_back(job);
                drop(state);
                self.changed.notify_one();
                return;
            }
            (None, _) => ProcessError::Closed("the pool"),
        };
        drop(state);
        (job.deliver)(Err(refused), "");
    }

    pub(crate) fn phase(&self) -> Phase {
        self.lock().phase
    }

    /// `close`: no new tasks; the keepers finish the queue, then stop their workers.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        if state.phase == Phase::Running {
            state.phase = Phase::Closed;
        }
        drop(state);
        self.changed.notify_all();
    }

    /// `terminate`: cancels the queue and kills every worker; the keepers then fail the
    /// tasks those held and end.
    pub(crate) fn terminate(&self) {
        let mut state = self.lock();
        state.phase = Phase::Terminated;
        let jobs = std::mem::take(&mut state.jobs);
        for worker in state.workers.iter().chain(&state.one_shots).flatten() {
            let _ = worker.kill();
        }
        drop(state);
        self.changed.notify_all();
        cancel(jobs);
    }

    /// Marks the pool broken and fails every queued task with `reason`.
    fn break_pool(&self, reason: String) {
        let mut state = self.lock();
        if state.broken.is_none() {
            log::error!("a process pool is broken: {reason}");
            state.broken = Some(reason);
        }
        let reason = state.broken.clone().unwrap_or_default();
        let jobs = std::mem::take(&mut state.jobs);
        drop(state);
        self.changed.notify_all();
        for job in jobs {
            (job.deliver)(Err(ProcessError::PoolBroken(reason.clone())), "");
        }
    }

    /// The next job for a keeper; `None` when the keeper should stop.
    fn next_job(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if state.phase == Phase::Terminated || state.broken.is_some() {
                return None;
            }
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.phase == Phase::Closed {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Puts back a job that no worker received.
    fn requeue(&self, mut job: Job) {
        if let Work::Task(frame) = &mut job.work {
            frame.rewind();
        }
        let mut state = self.lock();
        if state.phase == Phase::Terminated {
            drop(state);
            cancel([job]);
            return;
        }
        if let Some(reason) = state.broken.clone() {
            drop(state);
            (job.deliver)(Err(ProcessError::PoolBroken(reason)), "");
            return;
        }
        state.jobs.push_front(job);
        drop(state);
        self.changed.notify_one();
    }

    /// Counts a worker that ended before its initializer finished: `true` when that
    /// makes too many in a row.
    fn count_early_death(&self) -> bool {
        let mut state = self.lock();
        state.early_deaths += 1;
        state.early_deaths >= EARLY_DEATHS_TO_BREAK
    }

    /// Whether a keeper should stop instead of starting a worker.
    fn stopping(&self) -> bool {
        let state = self.lock();
        state.phase == Phase::Terminated
            || state.broken.is_some()
            || (state.phase == Phase::Closed && state.jobs.is_empty())
    }
}

/// The error of a task that `terminate` cancelled.
fn terminated() -> ProcessError {
    ProcessError::Cancelled("the pool was terminated")
}

fn cancel(jobs: impl IntoIterator<Item = Job>) {
    for job in jobs {
        (job.deliver)(Err(terminated()), "");
    }
}

/// A running worker, seen from its keeper.
struct Worker {
    process: Process<()>,
    socket: OwnedFd,
    reader: FrameReader,
    tasks: usize,
}

/// A worker that died (or misbehaved and was killed): how it ended.
struct Died(ProcessError);

impl Worker {
    /// Waits for the next frame from the worker, or its death.
    fn read(&mut self) -> Result<Frame, Died> {
        loop {
            match self.reader.read(self.socket.as_fd(), Some(Instant::now())) {
                Ok(frame) => return Ok(frame),
                Err(ProcessError::Timeout { .. }) => {}
                Err(_) => return Err(self.died()),
            }
            let sentinel = match self.process.sentinel() {
                Ok(fd) => fd,
                Err(_) => return Err(self.died()),
            };
            let mut fds = [
                libc::pollfd {
                    fd: std::os::fd::AsRawFd::as_raw_fd(&self.socket),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: std::os::fd::AsRawFd::as_raw_fd(&sentinel),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            if sys::poll_fds(&mut fds, -1).is_err() {
                continue;
            }
            if fds[0].revents != 0 {
                continue;
            }
            if fds[1].revents != 0 {
                // It ended: what it wrote before is in the socket already.
                return match self.reader.read(self.socket.as_fd(), Some(Instant::now())) {
                    Ok(frame) => Ok(frame),
                    Err(_) => Err(self.died()),
                };
            }
        }
    }

    /// Sends a task; `Err` if the worker died before it had all of it.
    fn send(&mut self, frame: &mut OutgoingFrame) -> Result<(), Died> {
        loop {
            match frame.write(self.socket.as_fd(), Some(Instant::now() + SEND_CHECK)) {
                Ok(true) => return Ok(()),
                Ok(false) if self.process.is_alive() => {}
                Ok(false) | Err(_) => return Err(self.died()),
            }
        }
    }

    /// Reaps the worker and says how it ended.
    fn died(&self) -> Died {
        let name = self.process.get_name().to_string();
        let _ = self.process.kill();
        let exitcode = match self.process.join() {
            Err(ProcessError::Died { exitcode, .. }) => exitcode,
            _ => self.process.exitcode().unwrap_or(0),
        };
        Died(ProcessError::Died { name, exitcode })
    }

    /// Lets a worker go: it reads the stop frame and exits; killed if it does not. (A
    /// `fork` sibling may hold a copy of the keeper's end of the socket, so the worker
    /// cannot count on end of file.)
    fn retire(self) {
        let _ = ipc::send_frame(
            self.socket.as_fd(),
            &[],
            &[],
            Some(Instant::now() + SEND_CHECK),
        );
        drop(self.socket);
        if matches!(
            self.process.join_timeout(RETIRE_GRACE),
            Err(ProcessError::Timeout { .. })
        ) {
            let _ = self.process.kill();
            let _ = self.process.join();
        }
    }
}

/// Why no worker could be started.
enum StartFailure {
    /// Try again (it may have been killed from outside), counting it.
    Early(String),
    /// The initializer panicked: it will panic again.
    Broken(String),
}

/// The keeper thread of worker slot `slot`.
pub(crate) fn keep(shared: &Shared, slot: usize) {
    let mut worker: Option<Worker> = None;
    loop {
        let mut w = match worker.take() {
            Some(w) => w,
            None => {
                if shared.stopping() {
                    break;
                }
                match start(shared, slot) {
                    Ok(Some(w)) => w,
                    Ok(None) => break,
                    Err(StartFailure::Broken(reason)) => {
                        shared.break_pool(reason);
                        break;
                    }
                    Err(StartFailure::Early(reason)) => {
                        if shared.count_early_death() {
                            shared.break_pool(format!(
                                "{EARLY_DEATHS_TO_BREAK} workers in a row ended before \
                                 their initializer finished; the last: {reason}"
                            ));
                            break;
                        }
                        continue;
                    }
                }
            }
        };
        let Some(Job { work, deliver }) = shared.next_job() else {
            worker = Some(w);
            break;
        };
        let mut frame = match work {
            Work::Task(frame) => frame,
            Work::Forked(start_once) => {
                // The slot's worker waits idle meanwhile: the slot runs one task.
                run_forked(shared, slot, start_once, deliver);
                worker = Some(w);
                continue;
            }
        };
        if !w.process.is_alive() {
            // It died while idle (killed from outside): the task goes to its
            // replacement, unharmed.
            let _ = w.died();
            forget(shared, slot);
            shared.requeue(Job {
                work: Work::Task(frame),
                deliver,
            });
            continue;
        }
        if w.send(&mut frame).is_err() {
            // It never had the whole task: another worker runs it.
            forget(shared, slot);
            shared.requeue(Job {
                work: Work::Task(frame),
                deliver,
            });
            continue;
        }
        let name = w.process.get_name().to_string();
        match w.read() {
            Ok(frame) => {
                deliver(Ok(frame), &name);
                w.tasks += 1;
                if shared.max_tasks.is_none_or(|max| w.tasks < max) {
                    worker = Some(w);
                } else {
                    // It reached its `maxtasksperchild` and exits by itself.
                    forget(shared, slot);
                    w.retire();
                }
            }
            Err(Died(e)) => {
                forget(shared, slot);
                let e = if shared.phase() == Phase::Terminated {
                    terminated()
                } else {
                    e
                };
                deliver(Err(e), &name);
            }
        }
    }
    forget(shared, slot);
    if let Some(w) = worker {
        if shared.phase() == Phase::Terminated {
            let _ = w.process.kill();
        }
        w.retire();
    }
}

/// Runs a closure task in a child forked for it, which replies as a worker would.
fn run_forked(shared: &Shared, slot: usize, start_once: StartOnce, deliver: Deliver) {
    let (ours, theirs) = match ipc::socket_pair() {
        Ok(pair) => pair,
        Err(e) => return deliver(Err(e), ""),
    };
    let process = start_once(theirs);
    if let Err(e) = process.start() {
        return deliver(Err(e), "");
    }
    {
        let mut state = shared.lock();
        if state.phase == Phase::Terminated {
            drop(state);
            let _ = process.kill();
            let _ = process.join();
            return deliver(Err(terminated()), "");
        }
        if let Some(entry) = state.one_shots.get_mut(slot) {
            *entry = process.handle();
        }
    }
    let mut child = Worker {
        process,
        socket: ours,
        reader: FrameReader::default(),
        tasks: 0,
    };
    let name = child.process.get_name().to_string();
    let reply = child.read();
    if let Some(entry) = shared.lock().one_shots.get_mut(slot) {
        *entry = None;
    }
    match reply {
        Ok(frame) => {
            deliver(Ok(frame), &name);
            // It exits once its reply is out; a hang there is not the task's concern.
            if matches!(
                child.process.join_timeout(RETIRE_GRACE),
                Err(ProcessError::Timeout { .. })
            ) {
                let _ = child.process.kill();
                let _ = child.process.join();
            }
        }
        Err(Died(_)) if shared.phase() == Phase::Terminated => {
            deliver(Err(terminated()), &name);
        }
        Err(Died(e)) => deliver(Err(e), &name),
    }
}

/// Clears slot `slot`'s worker handle.
fn forget(shared: &Shared, slot: usize) {
    if let Some(entry) = shared.lock().workers.get_mut(slot) {
        *entry = None;
    }
}

/// Starts a worker for `slot` and waits for its hello; `Ok(None)` if the pool was
/// terminated meanwhile.
fn start(shared: &Shared, slot: usize) -> Result<Option<Worker>, StartFailure> {
    let (ours, theirs) = ipc::socket_pair().map_err(|e| StartFailure::Early(e.to_string()))?;
    let process = (shared.start_worker)(theirs);
    if let Err(e) = process.start() {
        return Err(StartFailure::Early(e.to_string()));
    }
    {
        let mut state = shared.lock();
        if state.phase == Phase::Terminated {
            drop(state);
            let _ = process.kill();
            let _ = process.join();
            return Ok(None);
        }
        if let Some(entry) = state.workers.get_mut(slot) {
            *entry = process.handle();
        }
    }
    let mut worker = Worker {
        process,
        socket: ours,
        reader: FrameReader::default(),
        tasks: 0,
    };
    let name = worker.process.get_name().to_string();
    let hello = match worker.read() {
        Ok(frame) => ipc::decode::<Hello>(frame),
        Err(Died(e)) => {
            forget(shared, slot);
            return Err(StartFailure::Early(e.to_string()));
        }
    };
    match hello {
        Ok(Hello::Ready) => {
            shared.lock().early_deaths = 0;
            Ok(Some(worker))
        }
        Ok(Hello::InitFailed(message)) => {
            forget(shared, slot);
            let _ = worker.process.join();
            Err(StartFailure::Broken(format!(
                "the initializer panicked in {name}: {message}"
            )))
        }
        Err(e) => {
            forget(shared, slot);
            worker.retire();
            Err(StartFailure::Broken(format!(
                "{name} sent a malformed greeting: {e}"
            )))
        }
    }
}
