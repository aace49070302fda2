//! Reaching a hub from other threads: the `mio::Waker`, the mailbox it guards, the
//! `Send` [`HubHandle`] that spawns greenlets on a hub from anywhere, and
//! [`wait_future`], which parks a greenlet (not its thread) on any
//! `std::future::Future`.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake as StdWake, Waker};

use super::io::WAKER;
use super::{Core, WaitKey, Wake, hub};
use crate::HubError;

/// What other threads send a hub.
pub(crate) enum Mail {
    /// A future's waker fired for this wait.
    Wake(WaitKey),
    /// Run this in a new greenlet.
    Spawn(Box<dyn FnOnce() + Send>),
}

/// The hub's side of its mailbox.
pub(crate) struct Remote {
    waker: mio::Waker,
    mail: Mutex<Vec<Mail>>,
    posted: AtomicBool,
    /// Live [`HubHandle`]s: while any exists, another thread may still wake the hub.
    handles: AtomicUsize,
    /// Set when the hub's thread has dropped the hub.
    closed: AtomicBool,
    /// Set while the hub sleeps (or is about to) in `poll`: only then does a post need
    /// the waker's system call; a busy hub takes its mail at its next turn.
    sleeping: AtomicBool,
}

impl Remote {
    pub(crate) fn new(registry: &mio::Registry) -> std::io::Result<Arc<Remote>> {
        Ok(Arc::new(Remote {
            waker: mio::Waker::new(registry, WAKER)?,
            mail: Mutex::new(Vec::new()),
            posted: AtomicBool::new(false),
            handles: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
        }))
    }

    fn mail(&self) -> MutexGuard<'_, Vec<Mail>> {
        self.mail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Posts `mail` and wakes the hub; `false` if the hub is gone.
    fn post(&self, mail: Mail) -> bool {
        let mut box_ = self.mail();
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        box_.push(mail);
        drop(box_);
        // With `sleeping` (SeqCst both ways, see `going_to_sleep`): either the hub sees
        // this mail before it sleeps, or this sees it sleeping and wakes it.
        self.posted.store(true, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst)
            && let Err(e) = self.waker.wake()
        {
            log::error!("cannot wake a hub: {e}");
        }
        true
    }

    /// The hub is about to sleep in `poll`: `false` if mail came in meanwhile (then it
    /// must not sleep).
    pub(crate) fn going_to_sleep(&self) -> bool {
        self.sleeping.store(true, Ordering::SeqCst);
        if self.posted.load(Ordering::SeqCst) {
            self.sleeping.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// The hub is awake again.
    pub(crate) fn awake(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
    }

    pub(crate) fn has_mail(&self) -> bool {
        self.posted.load(Ordering::SeqCst)
    }

    pub(crate) fn has_handles(&self) -> bool {
        self.handles.load(Ordering::Acquire) != 0
    }

    /// Moves the posted mail into `inbox`.
    pub(crate) fn collect(&self, inbox: &mut Inbox) {
        self.posted.store(false, Ordering::Release);
        inbox.0.append(&mut self.mail());
    }

    /// Marks the hub gone: later posts fail; mail not yet taken is dropped.
    pub(crate) fn close(&self) {
        let mut box_ = self.mail();
        self.closed.store(true, Ordering::Release);
        let dropped = std::mem::take(&mut *box_);
        drop(box_);
        drop(dropped);
    }
}

/// Mail taken by the hub, not yet delivered.
#[derive(Default)]
pub(crate) struct Inbox(Vec<Mail>);

impl Inbox {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn deliver(self, core: &Core) {
        for mail in self.0 {
            match mail {
                Mail::Wake(key) => {
                    core.wake(key, Wake::Ready);
                }
                Mail::Spawn(f) => core.start_detached(f),
            }
        }
    }
}

/// A handle to a thread's hub that other threads can hold (it is `Send` and `Sync`):
/// it spawns greenlets on that hub, through the hub's waker.
///
/// While a `HubHandle` exists, the hub counts on it to bring work: a main greenlet
/// waiting on nothing else then sleeps instead of getting
/// [`LoopExit`](HubError::LoopExit). Drop handles you no longer need.
///
/// To use several cores, run one hub per thread (each thread's first green call creates
/// its hub) and hand work to each through its `HubHandle`; greenlets never move between
/// threads, so `thread_local!` values stay sound inside them.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
///
/// let handle = conc_coro::HubHandle::current().unwrap();
/// let (tx, rx) = mpsc::channel();
/// std::thread::spawn(move || {
///     handle.spawn(move || tx.send(conc_coro::getcurrent().id()).unwrap()).unwrap();
/// });
/// // The main greenlet sleeps in the hub; the spawned greenlet runs meanwhile.
/// let id = loop {
///     if let Ok(id) = rx.try_recv() {
///         break id;
///     }
///     conc_coro::sleep(std::time::Duration::from_millis(1)).unwrap();
/// };
/// assert_ne!(id, conc_coro::getcurrent().id());
/// ```
pub struct HubHandle {
    remote: Arc<Remote>,
}

impl HubHandle {
    /// A handle to the calling thread's hub (created if needed).
    ///
    /// # Errors
    ///
    /// [`HubError::Os`] if the hub cannot be created.
    pub fn current() -> Result<HubHandle, HubError> {
        Ok(HubHandle::new(hub()?.remote().clone()))
    }

    fn new(remote: Arc<Remote>) -> HubHandle {
        remote.handles.fetch_add(1, Ordering::AcqRel);
        HubHandle { remote }
    }

    /// Runs `f` in a new greenlet on the handle's hub, from any thread. A panic in it
    /// is reported as for an unjoined [`spawn`](crate::spawn).
    ///
    /// # Errors
    ///
    /// [`HubError::HubGone`] when the hub's thread has ended.
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) -> Result<(), HubError> {
        if self.remote.post(Mail::Spawn(Box::new(f))) {
            Ok(())
        } else {
            Err(HubError::HubGone)
        }
    }
}

impl Clone for HubHandle {
    fn clone(&self) -> Self {
        HubHandle::new(self.remote.clone())
    }
}

impl Drop for HubHandle {
    fn drop(&mut self) {
        if self.remote.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The hub may be sleeping on this handle alone: let it look again.
            let _ = self.remote.waker.wake();
        }
    }
}

impl std::fmt::Debug for HubHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubHandle")
            .field("closed", &self.remote.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// The waker `wait_future` gives its future: it posts the wait's key to the hub.
struct FutureWaker {
    remote: Arc<Remote>,
    state: Mutex<WakerState>,
}

#[derive(Default)]
struct WakerState {
    /// The armed wait, while the greenlet is parked.
    key: Option<WaitKey>,
    /// Woken since the last poll.
    woken: bool,
}

impl FutureWaker {
    fn state(&self) -> MutexGuard<'_, WakerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl StdWake for FutureWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.state();
        state.woken = true;
        if let Some(key) = state.key.take() {
            drop(state);
            self.remote.post(Mail::Wake(key));
        }
    }
}

/// Runs `future` to completion from inside a greenlet, parking the greenlet (not the
/// thread) while the future is pending: the other greenlets of the thread run
/// meanwhile. The future's waker may be called from any thread; it wakes the hub.
///
/// From the main greenlet with nothing else to run, the thread sleeps in the hub until
/// the future is woken. Any executor's futures work (a `conc_futures::Future`, a
/// channel's receive, a tokio `oneshot`), but a future that needs its own runtime to
/// make progress (a tokio socket) needs that runtime running on another thread.
///
/// # Errors
///
/// [`HubError::InHub`] from the hub's own context; [`HubError::Os`] if the hub cannot
/// be created.
///
/// # Examples
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// let future = std::future::poll_fn(move |cx| match rx.try_recv() {
///     Ok(v) => std::task::Poll::Ready(v),
///     Err(_) => {
///         let waker = cx.waker().clone();
///         // A thread that answers later and wakes the future.
///         let tx = tx.clone();
///         std::thread::spawn(move || {
///             tx.send(42).unwrap();
///             waker.wake();
///         });
///         std::task::Poll::Pending
///     }
/// });
/// assert_eq!(conc_coro::wait_future(future), Ok(42));
/// ```
pub fn wait_future<F: Future>(future: F) -> Result<F::Output, HubError> {
    let core = hub()?;
    let waker_state = Arc::new(FutureWaker {
        remote: core.remote().clone(),
        state: Mutex::new(WakerState::default()),
    });
    let waker = Waker::from(waker_state.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return Ok(value);
        }
        core.external_begin();
        let woke = core.park("a future", None, |key| {
            let mut state = waker_state.state();
            if state.woken {
                // Woken while it was polled: look again at once.
                state.woken = false;
                drop(state);
                core.wake(key, Wake::Ready);
            } else {
                state.key = Some(key);
            }
        });
        core.external_end();
        {
            let mut state = waker_state.state();
            state.key = None;
            state.woken = false;
        }
        woke?;
    }
}
