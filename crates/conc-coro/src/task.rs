//! Greenlets on the hub, with gevent's API: [`spawn`], [`Task`] (gevent's `Greenlet`:
//! join, get, kill, links), [`sleep`], [`idle`], [`joinall`], [`killall`], [`wait`].

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::error::panic_message;
use crate::hub::{Core, Waiters, hub, wait_until};
use crate::{Greenlet, GreenletExit, HubError, Value};

/// Something a greenlet can wait for with [`wait`], [`iwait`] and [`joinall`]: a
/// [`Task`], an [`Event`](crate::Event), an [`AsyncResult`](crate::AsyncResult).
///
/// # Examples
///
/// ```
/// use conc_coro::{AsyncResult, Event, Waitable, spawn};
///
/// let task = spawn(|| ());
/// let event = Event::new();
/// let result = AsyncResult::<u8>::new();
/// let objects: [&dyn Waitable; 3] = [&task, &event, &result];
/// assert!(objects.iter().all(|o| !o.is_ready()));
/// event.set();
/// assert!(event.is_ready());
/// ```
pub trait Waitable: sealed::Sealed {
    /// Whether waiting on it would return at once.
    fn is_ready(&self) -> bool;
}

pub(crate) mod sealed {
    /// Registration of waits; not for implementing outside the crate.
    pub trait Sealed {
        #[doc(hidden)]
        #[allow(private_interfaces)]
        fn waiters(&self) -> &crate::hub::Waiters;
    }
}

/// How a task ended.
type Outcome<T> = Result<T, HubError>;

/// A link's callback.
type LinkFn<T> = Box<dyn FnOnce(&Task<T>)>;

struct Link<T: 'static> {
    id: u64,
    when: LinkWhen,
    callback: LinkFn<T>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LinkWhen {
    Always,
    Value,
    Failure,
}

struct TaskCell<T: 'static> {
    /// Set once, right after the cell is made (the greenlet's body holds the cell).
    greenlet: std::cell::OnceCell<Greenlet>,
    outcome: RefCell<Option<Outcome<T>>>,
    waiters: Waiters,
    links: RefCell<Vec<Link<T>>>,
    next_link: Cell<u64>,
    /// Whether anyone looked at the outcome (get, join, a link, exception): a panic
    /// nobody looked at is reported when the last handle goes.
    observed: Cell<bool>,
}

/// A greenlet running on its thread's hub, and its outcome (gevent's `Greenlet`):
/// made by [`spawn`] and [`spawn_later`].
///
/// A task runs to its end whether or not a `Task` handle is kept; the handle reads
/// its outcome: [`join`](Task::join), [`get`](Task::get), [`ready`](Task::ready),
/// [`successful`](Task::successful), [`value`](Task::value). A panic in the task comes
/// back as [`HubError::Panicked`] with its message; the hub and the other tasks carry
/// on. A panic nobody looked at (no `get`, `join`, `exception` or link) is reported
/// through the `log` facade when the last handle goes, as gevent prints the
/// traceback of a greenlet nobody joined.
///
/// `Task` is not `Send`: like every greenlet it stays on its thread. Handles are cheap
/// clones of one another.
///
/// # Differences from gevent
///
/// A killed task has no value: [`get`](Task::get) returns [`HubError::Killed`] and
/// [`successful`](Task::successful) is `false` (gevent hands back a `GreenletExit`
/// instance and calls that successful).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conc_coro::{joinall, sleep, spawn};
///
/// let tasks: Vec<_> = (1..=3u64)
///     .map(|n| spawn(move || {
///         sleep(Duration::from_millis(10 * (4 - n))).unwrap();
///         n * 10
///     }))
///     .collect();
/// joinall(&tasks, None).unwrap();
/// let values: Vec<u64> = tasks.iter().map(|t| t.get(None).unwrap()).collect();
/// assert_eq!(values, [10, 20, 30]);
/// ```
pub struct Task<T: 'static> {
    cell: Rc<TaskCell<T>>,
}

impl<T: 'static> Clone for Task<T> {
    fn clone(&self) -> Self {
        Task {
            cell: self.cell.clone(),
        }
    }
}

impl<T: 'static> std::fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("greenlet", &self.cell.greenlet().id())
            .field("ready", &self.ready())
            .finish()
    }
}

/// Starts `f` in a new greenlet on the thread's hub (gevent's `spawn`): it runs as
/// soon as the calling greenlet waits on anything (a [`sleep`], a join, green I/O).
///
/// # Panics
///
/// If the thread's hub cannot be created (the system refused an epoll instance or an
/// eventfd): there is nothing to run greenlets on.
///
/// # Examples
///
/// ```
/// let task = conc_coro::spawn(|| 6 * 7);
/// assert_eq!(task.get(None), Ok(42));
/// ```
pub fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> Task<T> {
    let core = hub().unwrap_or_else(|e| panic!("cannot start the hub: {e}"));
    let task = Task::create(&core, f);
    core.schedule(task.cell.greenlet().clone(), Value::new(()));
    task
}

/// [`spawn`], with the start delayed by `delay` (gevent's `spawn_later`).
///
/// # Panics
///
/// As [`spawn`].
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let started = Instant::now();
/// let task = conc_coro::spawn_later(Duration::from_millis(20), move || started.elapsed());
/// assert!(task.get(None).unwrap() >= Duration::from_millis(20));
/// ```
pub fn spawn_later<T: 'static>(delay: Duration, f: impl FnOnce() -> T + 'static) -> Task<T> {
    let core = hub().unwrap_or_else(|e| panic!("cannot start the hub: {e}"));
    let task = Task::create(&core, f);
    let at = Instant::now()
        .checked_add(delay)
        .unwrap_or_else(Instant::now);
    core.add_timer(at, crate::hub::Action::Start(task.cell.greenlet().clone()));
    task
}

impl Core {
    /// Runs a boxed function from another thread in a new greenlet; its handle is
    /// dropped, so an unlooked-at panic is reported.
    pub(crate) fn start_detached(&self, f: Box<dyn FnOnce() + Send>) {
        let task = Task::create(self, f);
        self.schedule(task.cell.greenlet().clone(), Value::new(()));
    }
}

impl<T: 'static> TaskCell<T> {
    fn greenlet(&self) -> &Greenlet {
        self.greenlet.get().expect("set when the task is made")
    }
}

impl<T: 'static> Task<T> {
    fn create(core: &Core, f: impl FnOnce() -> T + 'static) -> Task<T> {
        let cell = Rc::new(TaskCell {
            greenlet: std::cell::OnceCell::new(),
            outcome: RefCell::new(None),
            waiters: Waiters::default(),
            links: RefCell::new(Vec::new()),
            next_link: Cell::new(0),
            observed: Cell::new(false),
        });
        // The body holds the cell until it ends, so a task whose handles were all
        // dropped still records its outcome (and reports an unlooked-at panic).
        let body_cell = cell.clone();
        let greenlet = Greenlet::new(move |()| run(&body_cell, f));
        // Its outcome is the task's business: the greenlet hands control back to the
        // hub when it ends.
        let _ = greenlet.set_parent(core.root());
        let _ = cell.greenlet.set(greenlet);
        Task { cell }
    }

    /// Waits until the task has ended, at most `timeout` (gevent's `join`). A task
    /// that panicked or was killed has ended too: `join` does not say how.
    ///
    /// # Errors
    ///
    /// [`HubError::Timeout`]; [`HubError::LoopExit`] when the caller is the main
    /// greenlet and nothing can ever end the task; [`HubError::InHub`];
    /// [`HubError::WaitOnSelf`] when the task's own greenlet calls it.
    pub fn join(&self, timeout: Option<Duration>) -> Result<(), HubError> {
        self.cell.observed.set(true);
        if self.ready() {
            return Ok(());
        }
        if crate::getcurrent() == *self.cell.greenlet() {
            return Err(HubError::WaitOnSelf);
        }
        let core = hub()?;
        wait_until(
            &core,
            "a greenlet to end",
            timeout,
            &[&self.cell.waiters],
            || self.ready(),
        )
    }

    /// Waits for the task's value (gevent's `get`).
    ///
    /// # Errors
    ///
    /// [`HubError::Panicked`] with the task's panic message; [`HubError::Killed`];
    /// the errors of [`join`](Task::join).
    pub fn get(&self, timeout: Option<Duration>) -> Result<T, HubError>
    where
        T: Clone,
    {
        self.join(timeout)?;
        self.outcome().unwrap_or(Err(HubError::Killed))
    }

    fn outcome(&self) -> Option<Outcome<T>>
    where
        T: Clone,
    {
        self.cell.outcome.borrow().clone()
    }

    /// Waits for the value and moves it out of the task, for values that are not
    /// `Clone` (an `io::Result`, a socket). Later `take`s and [`get`](Task::get)s
    /// return [`HubError::Taken`].
    ///
    /// # Errors
    ///
    /// As [`get`](Task::get); [`HubError::Taken`] when the value was taken before.
    ///
    /// # Examples
    ///
    /// ```
    /// let task = conc_coro::spawn(|| std::fs::read("/nonexistent/file"));
    /// assert!(task.take(None).unwrap().is_err()); // an io::Result: not Clone
    /// assert!(matches!(task.take(None), Err(conc_coro::HubError::Taken)));
    /// ```
    pub fn take(&self, timeout: Option<Duration>) -> Result<T, HubError> {
        self.join(timeout)?;
        let mut outcome = self.cell.outcome.borrow_mut();
        match outcome.as_ref() {
            Some(Ok(_)) => match outcome.replace(Err(HubError::Taken)) {
                Some(Ok(value)) => Ok(value),
                _ => Err(HubError::Taken),
            },
            Some(Err(e)) => Err(e.clone()),
            None => Err(HubError::Killed),
        }
    }

    /// Whether the task has ended (gevent's `ready()`).
    pub fn ready(&self) -> bool {
        self.cell.outcome.borrow().is_some()
    }

    /// Whether it ended by returning a value.
    pub fn successful(&self) -> bool {
        matches!(*self.cell.outcome.borrow(), Some(Ok(_)))
    }

    /// Whether its greenlet has ended (gevent's `dead`): ended, or killed before it
    /// started.
    pub fn dead(&self) -> bool {
        self.ready() || self.cell.greenlet().dead()
    }

    /// The value, once it returned one (gevent's `value`).
    pub fn value(&self) -> Option<T>
    where
        T: Clone,
    {
        self.cell.outcome.borrow().as_ref()?.as_ref().ok().cloned()
    }

    /// Why it failed, once it did (gevent's `exception`): a panic or a kill.
    pub fn exception(&self) -> Option<HubError> {
        self.cell.observed.set(true);
        self.cell.outcome.borrow().as_ref()?.as_ref().err().cloned()
    }

    /// The greenlet that runs the task.
    pub fn greenlet(&self) -> &Greenlet {
        self.cell.greenlet()
    }

    /// Kills the task (gevent's `kill`): its pending wait unwinds with
    /// [`GreenletExit`], running the destructors on its stack; a task that has not
    /// started never runs. With `block`, waits (at most `timeout`) for it to be dead;
    /// a kill normally completes at once, so that only matters when the task is
    /// killed from where switching is impossible (a destructor), and the kill is done
    /// at the next chance.
    ///
    /// # Errors
    ///
    /// The errors of [`join`](Task::join) when `block`; [`HubError::Switch`] if the
    /// greenlet refused to die.
    pub fn kill(&self, block: bool, timeout: Option<Duration>) -> Result<(), HubError> {
        if self.ready() {
            return Ok(());
        }
        let started = self.cell.greenlet().started();
        self.cell
            .greenlet()
            .kill()
            .map_err(|e| HubError::Switch(e.to_string()))?;
        if !started && self.cell.greenlet().dead() {
            // It never ran, so its body never recorded the end.
            finish(&self.cell, Err(HubError::Killed));
        }
        if block {
            self.join(timeout)?;
        }
        Ok(())
    }

    /// Calls `callback` with the task when it ends, in a new greenlet (gevent's
    /// `link`); at once (scheduled) if it has ended. Returns an id for
    /// [`unlink`](Task::unlink).
    pub fn link(&self, callback: impl FnOnce(&Task<T>) + 'static) -> u64 {
        self.add_link(LinkWhen::Always, Box::new(callback))
    }

    /// [`link`](Task::link), called only if the task returned a value.
    pub fn link_value(&self, callback: impl FnOnce(&Task<T>) + 'static) -> u64 {
        self.add_link(LinkWhen::Value, Box::new(callback))
    }

    /// [`link`](Task::link), called only if the task panicked or was killed.
    pub fn link_exception(&self, callback: impl FnOnce(&Task<T>) + 'static) -> u64 {
        self.add_link(LinkWhen::Failure, Box::new(callback))
    }

    /// Removes a link that has not run yet; `false` if there is none with that id.
    pub fn unlink(&self, id: u64) -> bool {
        let mut links = self.cell.links.borrow_mut();
        let before = links.len();
        links.retain(|l| l.id != id);
        links.len() != before
    }

    fn add_link(&self, when: LinkWhen, callback: LinkFn<T>) -> u64 {
        self.cell.observed.set(true);
        let id = self.cell.next_link.get() + 1;
        self.cell.next_link.set(id);
        self.cell
            .links
            .borrow_mut()
            .push(Link { id, when, callback });
        if self.ready() {
            run_links(&self.cell);
        }
        id
    }
}

impl<T: 'static> Waitable for Task<T> {
    fn is_ready(&self) -> bool {
        self.ready()
    }
}

impl<T: 'static> sealed::Sealed for Task<T> {
    #[allow(private_interfaces)]
    fn waiters(&self) -> &Waiters {
        self.cell.observed.set(true);
        &self.cell.waiters
    }
}

impl<T: 'static> Drop for TaskCell<T> {
    fn drop(&mut self) {
        if let Some(Err(HubError::Panicked { message })) = self.outcome.get_mut()
            && !self.observed.get()
        {
            log::error!(
                "greenlet {} panicked and nobody looked at its outcome: {message}",
                self.greenlet.get().map_or(0, Greenlet::id)
            );
        }
    }
}

/// The task's body: runs `f`, records how it ended.
fn run<T: 'static>(cell: &Rc<TaskCell<T>>, f: impl FnOnce() -> T) {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => finish(cell, Ok(value)),
        Err(payload) if payload.is::<GreenletExit>() => {
            finish(cell, Err(HubError::Killed));
            resume_unwind(payload)
        }
        Err(payload) => finish(cell, Err(panicked(&*payload))),
    }
}

fn panicked(payload: &(dyn Any + Send)) -> HubError {
    HubError::Panicked {
        message: panic_message(payload),
    }
}

/// Records the outcome, wakes the joiners, runs the links.
fn finish<T: 'static>(cell: &Rc<TaskCell<T>>, outcome: Outcome<T>) {
    if cell.outcome.borrow().is_some() {
        return;
    }
    *cell.outcome.borrow_mut() = Some(outcome);
    cell.waiters.wake_all();
    run_links(cell);
}

/// Starts a greenlet for each link that applies (gevent's `SpawnedLink`), so a
/// callback may wait.
fn run_links<T: 'static>(cell: &Rc<TaskCell<T>>) {
    let links = std::mem::take(&mut *cell.links.borrow_mut());
    let succeeded = matches!(*cell.outcome.borrow(), Some(Ok(_)));
    for link in links {
        let applies = match link.when {
            LinkWhen::Always => true,
            LinkWhen::Value => succeeded,
            LinkWhen::Failure => !succeeded,
        };
        if applies {
            let task = Task { cell: cell.clone() };
            let callback = link.callback;
            drop(spawn(move || callback(&task)));
        }
    }
}

/// Suspends the calling greenlet for `duration` while the others run (gevent's
/// `sleep`); `sleep(Duration::ZERO)` lets every other ready greenlet run once and
/// comes back (gevent's `sleep(0)`), without starving I/O: the hub polls between
/// turns.
///
/// From the main greenlet with no other greenlet, the thread simply sleeps.
///
/// # Errors
///
/// [`HubError::Timeout`] when a [`Timeout`](crate::Timeout) guard expires meanwhile;
/// [`HubError::InHub`].
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let order = Rc::new(RefCell::new(Vec::new()));
/// let o = order.clone();
/// let task = conc_coro::spawn(move || o.borrow_mut().push("spawned"));
/// order.borrow_mut().push("main");
/// conc_coro::sleep(Duration::ZERO).unwrap(); // the spawned greenlet runs here
/// assert_eq!(*order.borrow(), ["main", "spawned"]);
/// assert!(task.ready());
/// ```
pub fn sleep(duration: Duration) -> Result<(), HubError> {
    let core = hub()?;
    if duration.is_zero() {
        return core.yield_now();
    }
    // A duration past what `Instant` can hold sleeps a century: still a timer, so a
    // long sleep is not mistaken for a wait on nothing.
    let deadline = crate::hub::deadline(Some(duration)).map(|(at, _)| at);
    loop {
        let woke = core.park("sleep", deadline, |_| {})?;
        if woke == crate::hub::Wake::TimedOut || deadline.is_none_or(|d| Instant::now() >= d) {
            return Ok(());
        }
    }
}

/// Waits until the hub has nothing else to run (gevent's `idle`): every other ready
/// greenlet has run and is waiting.
///
/// # Errors
///
/// As [`sleep`].
pub fn idle() -> Result<(), HubError> {
    let core = hub()?;
    core.park("idle", None, |key| core.add_idler(key))?;
    Ok(())
}

/// Waits until every one of `tasks` has ended, at most `timeout` in all (gevent's
/// `joinall`).
///
/// # Errors
///
/// As [`Task::join`].
pub fn joinall<'a, W: Waitable + 'a>(
    tasks: impl IntoIterator<Item = &'a W>,
    timeout: Option<Duration>,
) -> Result<(), HubError> {
    let core = hub()?;
    let deadline = crate::hub::deadline(timeout);
    // One at a time: waiting on all of them at once would look at every task on
    // every wake-up (quadratic in the number of tasks).
    for task in tasks {
        if task.is_ready() {
            continue;
        }
        let left = deadline.map(|(at, _)| at.saturating_duration_since(Instant::now()));
        match wait_until(&core, "greenlets to end", left, &[task.waiters()], || {
            task.is_ready()
        }) {
            Err(HubError::Timeout {
                waiting_on,
                guard: None,
                ..
            }) => {
                return Err(HubError::Timeout {
                    after: deadline.map_or(Duration::ZERO, |d| d.1),
                    waiting_on,
                    guard: None,
                });
            }
            other => other?,
        }
    }
    Ok(())
}

/// Kills every one of `tasks` (gevent's `killall`); with `block`, waits for all of
/// them to be dead, at most `timeout`.
///
/// # Errors
///
/// As [`Task::kill`].
pub fn killall<'a, T: 'static>(
    tasks: impl IntoIterator<Item = &'a Task<T>>,
    block: bool,
    timeout: Option<Duration>,
) -> Result<(), HubError> {
    let tasks: Vec<&Task<T>> = tasks.into_iter().collect();
    for task in &tasks {
        task.kill(false, None)?;
    }
    if block {
        joinall(tasks.iter().copied(), timeout)?;
    }
    Ok(())
}

/// Waits until `count` of `objects` (all of them for `None`) are ready, at most
/// `timeout`; returns the indices of those ready, in order (gevent's `wait`). A
/// timeout is not an error here: fewer indices come back.
///
/// # Errors
///
/// [`HubError::LoopExit`], [`HubError::InHub`], and a [`Timeout`](crate::Timeout)
/// guard's expiry.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conc_coro::{Event, Waitable, spawn, wait};
///
/// let fast = spawn(|| 1);
/// let never = Event::new();
/// let objects: [&dyn Waitable; 2] = [&fast, &never];
/// assert_eq!(wait(&objects, Some(Duration::from_millis(20)), None), Ok(vec![0]));
/// ```
pub fn wait(
    objects: &[&dyn Waitable],
    timeout: Option<Duration>,
    count: Option<usize>,
) -> Result<Vec<usize>, HubError> {
    let want = count.unwrap_or(objects.len()).min(objects.len());
    let ready = || -> Vec<usize> {
        (0..objects.len())
            .filter(|&i| objects[i].is_ready())
            .collect()
    };
    let core = hub()?;
    let waiters: Vec<&Waiters> = objects.iter().map(|o| o.waiters()).collect();
    match wait_until(&core, "objects to be ready", timeout, &waiters, || {
        ready().len() >= want
    }) {
        Ok(()) | Err(HubError::Timeout { guard: None, .. }) => Ok(ready()),
        Err(e) => Err(e),
    }
}

/// Yields the indices of `objects` as each becomes ready, in the order they do
/// (gevent's `iwait`); it ends when all have, or at `timeout` (each item is a
/// `Result`: the wait's error ends the iteration after it is yielded).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conc_coro::{Waitable, iwait, sleep, spawn};
///
/// let slow = spawn(|| sleep(Duration::from_millis(30)));
/// let fast = spawn(|| sleep(Duration::from_millis(1)));
/// let objects: [&dyn Waitable; 2] = [&slow, &fast];
/// let order: Vec<usize> = iwait(&objects, None).map(Result::unwrap).collect();
/// assert_eq!(order, [1, 0]);
/// ```
pub fn iwait<'a>(objects: &'a [&'a dyn Waitable], timeout: Option<Duration>) -> IWait<'a> {
    IWait {
        objects,
        seen: vec![false; objects.len()],
        deadline: crate::hub::deadline(timeout),
        done: false,
    }
}

/// The iterator of [`iwait`].
pub struct IWait<'a> {
    objects: &'a [&'a dyn Waitable],
    seen: Vec<bool>,
    deadline: Option<(Instant, Duration)>,
    done: bool,
}

impl std::fmt::Debug for IWait<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IWait").field("seen", &self.seen).finish()
    }
}

impl Iterator for IWait<'_> {
    type Item = Result<usize, HubError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let fresh =
            |seen: &[bool]| (0..seen.len()).find(|&i| !seen[i] && self.objects[i].is_ready());
        if let Some(i) = fresh(&self.seen) {
            self.seen[i] = true;
            return Some(Ok(i));
        }
        if self.seen.iter().all(|&s| s) {
            self.done = true;
            return None;
        }
        let core = match hub() {
            Ok(core) => core,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let timeout = self
            .deadline
            .map(|(at, _)| at.saturating_duration_since(Instant::now()));
        let waiters: Vec<&Waiters> = (0..self.objects.len())
            .filter(|&i| !self.seen[i])
            .map(|i| self.objects[i].waiters())
            .collect();
        let seen = &self.seen;
        let objects = self.objects;
        let result = wait_until(&core, "objects to be ready", timeout, &waiters, || {
            (0..seen.len()).any(|i| !seen[i] && objects[i].is_ready())
        });
        match result.map(|()| fresh(&self.seen)) {
            Ok(Some(i)) => {
                self.seen[i] = true;
                Some(Ok(i))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(HubError::Timeout { guard: None, .. }) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
