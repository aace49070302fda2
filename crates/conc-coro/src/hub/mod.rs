//! The hub: one per thread, at the root of the thread (a root greenlet: its loop step
//! runs on the thread's own stack, so greenlet -> hub and hub -> greenlet are one stack
//! transfer each). It owns the ready queue (FIFO), the timers (`timers`), the
//! `mio::Poll` (`io`) and the waker with its inbox for other threads (`remote`).
//!
//! See `README.md` beside this file for the protocol: what wakes what, and why a stale
//! wake-up never wakes the wrong wait.

mod io;
mod remote;
mod timers;
mod waiters;

pub(crate) use io::Direction;
pub use remote::{HubHandle, wait_future};
pub(crate) use waiters::{Waiters, deadline, wait_until};

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::Token;

use crate::greenlet::handle::{in_root_step, new_root};
use crate::{Greenlet, HubError, Value, getcurrent, main_greenlet};

use io::Io;
use remote::{Inbox, Remote};
use timers::Timers;
pub(crate) use timers::{Action, TimerId};

/// How long one turn of the hub may take before it is reported (gevent's
/// `max_blocking_time`): a greenlet that long without waiting stalls every other
/// greenlet of its thread.
const BLOCKING_REPORT: Duration = Duration::from_millis(500);

/// Hashes the hub's keys, greenlet and guard ids: unique counters, so a multiplication
/// spreads them well enough, and SipHash's resistance to chosen keys buys nothing here
/// (the hub's maps are on every park and wake).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map keyed by ids.
type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// The hub trims surplus free stacks only before a sleep at least this long.
const IDLE_TRIM: Duration = Duration::from_millis(1);

/// How a parked greenlet was woken: the value the hub resumes it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// What it waited for may have happened: look again.
    Ready,
    /// Its own deadline passed.
    TimedOut,
    /// The [`Timeout`](crate::Timeout) guard with this id expired.
    Timeout(u64),
    /// Nothing can ever wake it (given to the main greenlet only).
    LoopExit,
}

/// One wait of one greenlet: its id and the wait's generation. A wake-up for an older
/// generation finds the greenlet no longer waiting on it and is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaitKey {
    greenlet: u64,
    generation: u64,
}

struct Parked {
    generation: u64,
    greenlet: Greenlet,
}

struct Runnable {
    greenlet: Greenlet,
    value: Value,
}

/// Counts forks, so that a hub created before a fork is never used by the child
/// (it shares the parent's epoll instance and waker).
static FORKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn forked_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

fn watch_forks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic counter, which is
        // async-signal-safe as the child side of `pthread_atfork` requires.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
        if rc != 0 {
            log::warn!("pthread_atfork failed ({rc}): a forked child may reuse its parent's hub");
        }
    });
}

thread_local! {
    static HUB: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// The state of one thread's hub.
pub(crate) struct Core {
    /// The root greenlet whose step is [`Core::step`].
    root: Greenlet,
    ready: RefCell<VecDeque<Runnable>>,
    /// How many entries of `ready` to run before looking at I/O and timers again, so
    /// that greenlets that keep yielding cannot starve I/O.
    batch: Cell<usize>,
    waiting: RefCell<IdMap<Parked>>,
    next_generation: Cell<u64>,
    /// Greenlets waiting for the loop to be idle (`idle`).
    idlers: RefCell<Vec<WaitKey>>,
    timers: RefCell<Timers>,
    io: RefCell<Io>,
    remote: Arc<Remote>,
    inbox: RefCell<Inbox>,
    /// Waits on futures whose wakers other threads may still call.
    external: Cell<usize>,
    /// Live [`Timeout`](crate::Timeout) guards: id -> their duration.
    guards: RefCell<IdMap<Duration>>,
    /// Guards that expired while their greenlet was not parked: greenlet -> guard,
    /// delivered at its next wait.
    pending: RefCell<IdMap<u64>>,
    next_guard: Cell<u64>,
    /// When the current turn began (`None` while the hub sleeps): a turn that lasts
    /// too long means a greenlet held the thread.
    turn_began: Cell<Option<Instant>>,
    forks: u64,
}

impl Core {
    /// This thread's hub, created on first use (and again in a forked child).
    ///
    /// # Errors
    ///
    /// [`HubError::Os`] if the poll instance cannot be created.
    pub(crate) fn current() -> Result<Rc<Core>, HubError> {
        // From a thread-local destructor at thread exit the hub may be gone already: an
        // error, not a panic (which would abort the process there).
        let gone = |_| HubError::HubGone;
        let existing = HUB.try_with(|hub| hub.borrow().clone()).map_err(gone)?;
        if let Some(core) = existing {
            if core.forks == FORKS.load(Ordering::Relaxed) {
                return Ok(core);
            }
            // A child of a fork: the parent's hub shares the parent's epoll instance;
            // it is left alone (leaked), and so are the parent's greenlets it held.
            std::mem::forget(core);
            HUB.try_with(|hub| std::mem::forget(hub.borrow_mut().take()))
                .map_err(gone)?;
        }
        let core = Core::create()?;
        HUB.try_with(|hub| *hub.borrow_mut() = Some(core.clone()))
            .map_err(gone)?;
        Ok(core)
    }

    /// This thread's hub if it exists and may be used (not one inherited by a fork).
    pub(crate) fn existing() -> Option<Rc<Core>> {
        HUB.try_with(|hub| hub.borrow().clone())
            .ok()
            .flatten()
            .filter(|core| core.forks == FORKS.load(Ordering::Relaxed))
    }

    fn create() -> Result<Rc<Core>, HubError> {
        watch_forks();
        crate::stack::defer_trimming();
        let io = Io::new().map_err(|e| HubError::os("cannot create the hub's poll", &e))?;
        let remote = Remote::new(io.poll_registry())
            .map_err(|e| HubError::os("cannot create the hub's waker", &e))?;
        Ok(Rc::new_cyclic(|weak: &std::rc::Weak<Core>| {
            let weak = weak.clone();
            let root = new_root(move || match weak.upgrade() {
                Some(core) => core.step(),
                // The hub is being torn down: go home.
                None => (main_greenlet(), Value::new(Wake::LoopExit)),
            });
            Core {
                root,
                ready: RefCell::new(VecDeque::new()),
                batch: Cell::new(0),
                waiting: RefCell::new(IdMap::default()),
                next_generation: Cell::new(0),
                idlers: RefCell::new(Vec::new()),
                timers: RefCell::new(Timers::default()),
                io: RefCell::new(io),
                remote,
                inbox: RefCell::new(Inbox::default()),
                external: Cell::new(0),
                guards: RefCell::new(IdMap::default()),
                pending: RefCell::new(IdMap::default()),
                next_guard: Cell::new(0),
                turn_began: Cell::new(None),
                forks: FORKS.load(Ordering::Relaxed),
            }
        }))
    }

    /// The hub's root greenlet.
    pub(crate) fn root(&self) -> &Greenlet {
        &self.root
    }

    pub(crate) fn remote(&self) -> &Arc<Remote> {
        &self.remote
    }

    /// Queues `greenlet` to be resumed (or started) with `value`.
    pub(crate) fn schedule(&self, greenlet: Greenlet, value: Value) {
        self.ready
            .borrow_mut()
            .push_back(Runnable { greenlet, value });
    }

    /// Wakes the wait `key` with `how`, if the greenlet still waits on it; `false` for
    /// a stale key.
    pub(crate) fn wake(&self, key: WaitKey, how: Wake) -> bool {
        let parked = {
            let mut waiting = self.waiting.borrow_mut();
            match waiting.get(&key.greenlet) {
                Some(p) if p.generation == key.generation => waiting.remove(&key.greenlet),
                _ => None,
            }
        };
        match parked {
            Some(p) => {
                self.schedule(p.greenlet, Value::new(how));
                true
            }
            None => false,
        }
    }

    pub(crate) fn add_timer(&self, at: Instant, action: Action) -> TimerId {
        self.timers.borrow_mut().add(at, action)
    }

    pub(crate) fn cancel_timer(&self, id: TimerId) {
        // Dropped outside the borrow: an action may hold the last handle of a greenlet.
        let action = self.timers.borrow_mut().cancel(id);
        drop(action);
    }

    /// Parks the running greenlet until its wait is woken: `arm` is given the wait's key
    /// to hand to whoever will wake it. `deadline` arms a timer as well. Returns how it
    /// was woken; a wake-up is a hint, the caller looks at its condition again.
    ///
    /// # Errors
    ///
    /// [`HubError::InHub`] from the hub's own context; [`HubError::LoopExit`] when
    /// the main greenlet waits and nothing can ever wake it.
    pub(crate) fn park(
        self: &Rc<Self>,
        what: &'static str,
        deadline: Option<Instant>,
        arm: impl FnOnce(WaitKey),
    ) -> Result<Wake, HubError> {
        if in_root_step() {
            return Err(HubError::InHub { operation: what });
        }
        let me = getcurrent();
        let expired = self.pending.borrow_mut().remove(&me.id());
        if let Some(guard) = expired.and_then(|id| self.guard_error(id, what)) {
            return Err(guard);
        }
        let generation = self.next_generation.get() + 1;
        self.next_generation.set(generation);
        let key = WaitKey {
            greenlet: me.id(),
            generation,
        };
        self.waiting.borrow_mut().insert(
            key.greenlet,
            Parked {
                generation,
                greenlet: me,
            },
        );
        arm(key);
        let timer = deadline.map(|at| self.add_timer(at, Action::Wake(key, Wake::TimedOut)));
        // Leaves no trace of the wait however it ends: woken, or killed while parked
        // (the kill unwinds through here).
        let mut unpark = Unpark {
            core: self,
            key,
            timer,
        };
        let back = self.root.switch(());
        if let Ok(v) = &back
            && v.downcast_ref::<Wake>() == Some(&Wake::TimedOut)
        {
            // Its timer fired: it is no longer in the map.
            unpark.timer = None;
        }
        drop(unpark);
        match back.map(|v| v.downcast::<Wake>()) {
            Ok(Ok(Wake::LoopExit)) => Err(HubError::LoopExit { waiting_on: what }),
            Ok(Ok(Wake::Timeout(id))) => match self.guard_error(id, what) {
                Some(e) => Err(e),
                // Its guard was dropped meanwhile: only a wake-up.
                None => Ok(Wake::Ready),
            },
            Ok(Ok(wake)) => Ok(wake),
            // Somebody switched to this greenlet directly, not through the hub: treat
            // it as a wake-up; the caller looks again.
            Ok(Err(_)) => Ok(Wake::Ready),
            Err(e) => Err(HubError::Switch(e.to_string())),
        }
    }

    /// Puts the running greenlet at the back of the ready queue and lets the others
    /// run (gevent's `sleep(0)`).
    pub(crate) fn yield_now(self: &Rc<Self>) -> Result<(), HubError> {
        if in_root_step() {
            return Err(HubError::InHub {
                operation: "sleep(0)",
            });
        }
        self.schedule(getcurrent(), Value::new(Wake::Ready));
        match self.root.switch(()) {
            Ok(_) => Ok(()),
            Err(e) => Err(HubError::Switch(e.to_string())),
        }
    }

    /// Registers an idle waiter (woken when nothing else is ready).
    pub(crate) fn add_idler(&self, key: WaitKey) {
        self.idlers.borrow_mut().push(key);
    }

    /// Registers a mio source with this hub.
    pub(crate) fn register(&self, source: &mut impl mio::event::Source) -> std::io::Result<Token> {
        self.io.borrow_mut().register(source)
    }

    /// Deregisters a source of this hub; a hub inherited through a fork is left alone
    /// (its epoll instance is the parent's).
    pub(crate) fn deregister(&self, token: Token, source: &mut impl mio::event::Source) {
        if self.is_usable() {
            self.io.borrow_mut().deregister(token, source);
        }
    }

    /// Whether this hub belongs to this process (not inherited through a fork).
    pub(crate) fn is_usable(&self) -> bool {
        self.forks == FORKS.load(Ordering::Relaxed)
    }

    /// Waits until `token` is ready for `dir` (or readiness arrived since the last
    /// wait).
    ///
    /// # Errors
    ///
    /// As [`park`](Self::park), and [`HubError::Timeout`] at `deadline`.
    pub(crate) fn wait_io(
        self: &Rc<Self>,
        token: Token,
        dir: Direction,
        deadline: Option<(Instant, Duration)>,
        what: &'static str,
    ) -> Result<(), HubError> {
        if self.io.borrow_mut().take_pending(token, dir) {
            return Ok(());
        }
        let mut armed = None;
        let woke = self.park(what, deadline.map(|d| d.0), |key| {
            armed = Some(key);
            self.io.borrow_mut().arm(token, dir, key);
        });
        if let Some(key) = armed {
            self.io.borrow_mut().disarm(token, dir, key);
        }
        match woke? {
            Wake::TimedOut => Err(HubError::Timeout {
                after: deadline.map_or(Duration::ZERO, |d| d.1),
                waiting_on: what,
                guard: None,
            }),
            Wake::Ready | Wake::Timeout(_) | Wake::LoopExit => Ok(()),
        }
    }

    /// Starts a [`Timeout`](crate::Timeout) guard of `after` for greenlet `greenlet`;
    /// returns its id and timer.
    pub(crate) fn start_guard(&self, greenlet: u64, after: Duration) -> (u64, TimerId) {
        let id = self.next_guard.get() + 1;
        self.next_guard.set(id);
        self.guards.borrow_mut().insert(id, after);
        let timer = self.add_timer(
            Instant::now() + after,
            Action::Interrupt {
                greenlet,
                guard: id,
            },
        );
        (id, timer)
    }

    /// Ends a guard (dropped or cancelled).
    pub(crate) fn end_guard(&self, greenlet: u64, id: u64, timer: TimerId) {
        self.cancel_timer(timer);
        self.guards.borrow_mut().remove(&id);
        let mut pending = self.pending.borrow_mut();
        if pending.get(&greenlet) == Some(&id) {
            pending.remove(&greenlet);
        }
    }

    /// The error of guard `id` if it is still live.
    fn guard_error(&self, id: u64, what: &'static str) -> Option<HubError> {
        let after = *self.guards.borrow().get(&id)?;
        Some(HubError::Timeout {
            after,
            waiting_on: what,
            guard: Some(id),
        })
    }

    /// A guard expired: interrupts its greenlet's wait, or its next one.
    fn interrupt(&self, greenlet: u64, guard: u64) {
        let generation = self.waiting.borrow().get(&greenlet).map(|p| p.generation);
        match generation {
            Some(generation) => {
                let key = WaitKey {
                    greenlet,
                    generation,
                };
                self.wake(key, Wake::Timeout(guard));
            }
            None => {
                self.pending.borrow_mut().insert(greenlet, guard);
            }
        }
    }

    /// Counts a wait that another thread may end (a future's waker).
    pub(crate) fn external_begin(&self) {
        self.external.set(self.external.get() + 1);
    }

    pub(crate) fn external_end(&self) {
        self.external.set(self.external.get() - 1);
    }

    /// The hub's turn: picks the next greenlet to run, sleeping in `poll` while none
    /// is ready. Runs on the root loop, on the thread's own stack.
    fn step(&self) -> (Greenlet, Value) {
        loop {
            if self.batch.get() == 0 {
                // A turn: I/O and timers first, then everything ready now.
                let now = self.poll(Some(Duration::ZERO));
                self.check_turn(now);
                self.batch.set(self.ready.borrow().len());
            }
            let next = self.ready.borrow_mut().pop_front();
            if let Some(Runnable { greenlet, value }) = next {
                self.batch.set(self.batch.get().saturating_sub(1));
                if greenlet.dead() {
                    continue;
                }
                return (greenlet, value);
            }
            self.batch.set(0);
            let idlers = std::mem::take(&mut *self.idlers.borrow_mut());
            if !idlers.is_empty() {
                for key in idlers {
                    self.wake(key, Wake::Ready);
                }
                continue;
            }
            if self.nothing_can_wake() {
                return (main_greenlet(), Value::new(Wake::LoopExit));
            }
            let timeout = self
                .timers
                .borrow()
                .next_deadline()
                .map(|at| at.saturating_duration_since(Instant::now()));
            // About to sleep: a good moment to give surplus stack pages back (a batch,
            // then look at the world again).
            if timeout.is_none_or(|t| t >= IDLE_TRIM) && crate::stack::trim_idle() {
                let _ = self.poll(Some(Duration::ZERO));
                continue;
            }
            // The sleep is not a greenlet's doing.
            self.turn_began.set(None);
            let timeout = if self.remote.going_to_sleep() {
                timeout
            } else {
                Some(Duration::ZERO)
            };
            let now = self.poll(timeout);
            self.remote.awake();
            self.turn_began.set(Some(now));
            // What that poll woke is the next turn: no second, empty poll first.
            self.batch.set(self.ready.borrow().len());
        }
    }

    /// Whether no greenlet can ever be woken: nothing ready, no timer, no I/O wait, no
    /// future pending, no handle from another thread.
    fn nothing_can_wake(&self) -> bool {
        self.ready.borrow().is_empty()
            && self.timers.borrow().is_empty()
            && self.io.borrow().armed() == 0
            && self.external.get() == 0
            && !self.remote.has_handles()
            && self.inbox.borrow().is_empty()
    }

    /// Reports a turn that took longer than [`BLOCKING_REPORT`] (gevent's
    /// `max_blocking_time`), and starts the next one. One clock read per turn, not per
    /// greenlet.
    fn check_turn(&self, now: Instant) {
        if let Some(began) = self.turn_began.get() {
            let took = now.saturating_duration_since(began);
            if took > BLOCKING_REPORT {
                log::warn!(
                    "the hub's last turn took {took:?}: a greenlet ran that long without \
                     waiting on anything green, and every other greenlet of this thread \
                     waited (blocking I/O or a long computation? use green I/O, or \
                     sleep(Duration::ZERO) in long loops)"
                );
            }
        }
        self.turn_began.set(Some(now));
    }

    /// Polls I/O (up to `timeout`), then fires due timers and takes the inbox; returns
    /// the time after the poll.
    fn poll(&self, timeout: Option<Duration>) -> Instant {
        let mut woken = Vec::new();
        let waker = self.io.borrow_mut().poll(timeout, &mut woken);
        for key in woken {
            self.wake(key, Wake::Ready);
        }
        if waker || self.remote.has_mail() {
            self.remote.collect(&mut self.inbox.borrow_mut());
        }
        let inbox = std::mem::take(&mut *self.inbox.borrow_mut());
        inbox.deliver(self);
        let now = Instant::now();
        loop {
            let action = self.timers.borrow_mut().pop_due(now);
            match action {
                Some(Action::Wake(key, how)) => {
                    self.wake(key, how);
                }
                Some(Action::Start(greenlet)) => self.schedule(greenlet, Value::new(())),
                Some(Action::Interrupt { greenlet, guard }) => self.interrupt(greenlet, guard),
                None => break,
            }
        }
        now
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // Other threads' handles fail from now on.
        self.remote.close();
    }
}

/// Clears a wait when `park` returns or unwinds.
struct Unpark<'a> {
    core: &'a Core,
    key: WaitKey,
    timer: Option<TimerId>,
}

impl Drop for Unpark<'_> {
    fn drop(&mut self) {
        if let Some(timer) = self.timer {
            self.core.cancel_timer(timer);
        }
        let parked = {
            let mut waiting = self.core.waiting.borrow_mut();
            match waiting.get(&self.key.greenlet) {
                Some(p) if p.generation == self.key.generation => {
                    waiting.remove(&self.key.greenlet)
                }
                _ => None,
            }
        };
        // The greenlet's own handle: dropped after the borrow ends.
        drop(parked);
    }
}

/// The current hub, for the public functions.
pub(crate) fn hub() -> Result<Rc<Core>, HubError> {
    Core::current()
}

/// Whether a wait here should park the calling greenlet rather than block the thread:
/// this thread has a hub (made by an earlier green call) and the caller is a greenlet,
/// not the hub's own context. Libraries that block (conc-futures' `Future::result`)
/// ask this to cooperate with greenlets; see [`wait_future`].
///
/// # Examples
///
/// ```
/// std::thread::spawn(|| {
///     assert!(!conc_coro::hub_running()); // no green call on this thread yet
///     conc_coro::sleep(std::time::Duration::ZERO).unwrap();
///     assert!(conc_coro::hub_running());
/// })
/// .join()
/// .unwrap();
/// ```
pub fn hub_running() -> bool {
    Core::existing().is_some() && !in_root_step()
}
