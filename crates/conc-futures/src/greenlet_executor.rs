//! `GreenletExecutor` (feature `coro`): an executor whose workers are greenlets on a
//! hub thread of its own.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conc_coro::HubHandle;

use crate::{Executor, FutureError, Job};

/// What the executor and its hub thread share.
#[derive(Default)]
struct Shared {
    open: AtomicBool,
    /// `shutdown(cancel_futures)`: jobs not yet started are cancelled.
    cancel_pending: AtomicBool,
    /// Set by `shutdown`: the hub thread ends once no job is left.
    stopping: AtomicBool,
    /// Jobs queued or running.
    outstanding: AtomicUsize,
}

/// An executor running each task as a greenlet on one hub thread of its own (the
/// greenlet flavour of Python's executors): tasks that wait on anything green (sleeps,
/// green sockets, other futures through the `coro` feature) overlap on that one
/// thread, as gevent's greenlets do. Futures complete like any other executor's.
///
/// Tasks are `Send` closures (they cross to the hub thread), run in the order
/// submitted; a task that blocks its thread without waiting greenly stalls the others
/// (the hub logs such a turn).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conc_futures::{Executor, GreenletExecutor, wait, ReturnWhen};
///
/// let executor = GreenletExecutor::new().unwrap();
/// // 100 tasks sleeping 20 ms each take about 20 ms together, on one thread.
/// let futures: Vec<_> = (0..100)
///     .map(|i| {
///         executor
///             .submit(move || {
///                 conc_coro::sleep(Duration::from_millis(20)).unwrap();
///                 i
///             })
///             .unwrap()
///     })
///     .collect();
/// assert_eq!(wait(&futures, None, ReturnWhen::AllCompleted).done.len(), 100);
/// assert_eq!(futures[99].result(), Ok(99));
/// ```
pub struct GreenletExecutor {
    hub: HubHandle,
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    thread_id: std::thread::ThreadId,
}

impl std::fmt::Debug for GreenletExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GreenletExecutor")
            .field("open", &self.shared.open.load(Ordering::SeqCst))
            .field(
                "outstanding",
                &self.shared.outstanding.load(Ordering::SeqCst),
            )
            .finish()
    }
}

/// How often the hub thread looks whether the last job is done once shutting down.
const DRAIN_CHECK: Duration = Duration::from_millis(1);

thread_local! {
    /// Set (on the hub thread, by a greenlet `shutdown` posts) when the executor stops.
    static STOP: conc_coro::Event = conc_coro::Event::new();
}

impl GreenletExecutor {
    /// Starts the hub thread.
    ///
    /// # Errors
    ///
    /// [`FutureError::BrokenExecutor`] if the thread or its hub cannot be created.
    pub fn new() -> Result<GreenletExecutor, FutureError> {
        let shared = Arc::new(Shared::default());
        shared.open.store(true, Ordering::SeqCst);
        let (tx, rx) = std::sync::mpsc::channel();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("conc-futures-hub".into())
            .spawn(move || hub_thread(&s, &tx))
            .map_err(|e| {
                FutureError::BrokenExecutor(format!("cannot start the hub thread: {e}"))
            })?;
        let thread_id = thread.thread().id();
        let hub = rx
            .recv()
            .map_err(|_| FutureError::BrokenExecutor("the hub thread ended at once".into()))?
            .map_err(|e| FutureError::BrokenExecutor(format!("cannot create the hub: {e}")))?;
        Ok(GreenletExecutor {
            hub,
            shared,
            thread: Mutex::new(Some(thread)),
            thread_id,
        })
    }
}

/// The hub thread: serves greenlets until shut down and drained.
fn hub_thread(
    shared: &Shared,
    tx: &std::sync::mpsc::Sender<Result<HubHandle, conc_coro::HubError>>,
) {
    let handle = HubHandle::current();
    let failed = handle.is_err();
    if tx.send(handle).is_err() || failed {
        return;
    }
    // Sleeps in the hub (its greenlets run meanwhile) until shutdown, then until the
    // last job is done.
    if STOP.with(|stop| stop.wait(None)).is_err() {
        return;
    }
    while shared.outstanding.load(Ordering::SeqCst) > 0 {
        if conc_coro::sleep(DRAIN_CHECK).is_err() {
            return;
        }
    }
}

/// Counts a job done, however it ends.
struct Done(Arc<Shared>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Executor for GreenletExecutor {
    fn execute(&self, job: Job) -> Result<(), FutureError> {
        if !self.shared.open.load(Ordering::SeqCst) {
            job.refuse(FutureError::ShutDown);
            return Err(FutureError::ShutDown);
        }
        self.shared.outstanding.fetch_add(1, Ordering::SeqCst);
        let done = Done(self.shared.clone());
        let posted = self.hub.spawn(move || {
            let done = done;
            if done.0.cancel_pending.load(Ordering::SeqCst) {
                job.cancel();
            } else {
                job.run();
            }
        });
        posted.map_err(|e| FutureError::BrokenExecutor(e.to_string()))
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.open.store(false, Ordering::SeqCst);
        if cancel_futures {
            self.shared.cancel_pending.store(true, Ordering::SeqCst);
        }
        if !self.shared.stopping.swap(true, Ordering::SeqCst) {
            let _ = self.hub.spawn(|| STOP.with(conc_coro::Event::set));
        }
        // A task of this executor shutting it down does not wait for itself.
        if !wait || std::thread::current().id() == self.thread_id {
            return;
        }
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for GreenletExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}
