//! `Group` and `Pool` (gevent's `gevent.pool`): sets of greenlets to wait for, kill,
//! and map over; a pool bounds how many run at once.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::time::Duration;

use crate::hub::{Waiters, hub, wait_until};
use crate::{HubError, Queue, Semaphore, Task, spawn};

/// What a group needs of its members, whatever their value type.
trait Member {
    fn kill(&self) -> Result<(), HubError>;
}

impl<T: 'static> Member for Task<T> {
    fn kill(&self) -> Result<(), HubError> {
        Task::kill(self, false, None)
    }
}

struct Inner {
    members: RefCell<HashMap<u64, Rc<dyn Member>>>,
    next: Cell<u64>,
    /// Woken whenever a member leaves.
    left: Waiters,
    /// A pool's slots.
    slots: Option<Semaphore>,
}

/// A set of greenlets spawned together (gevent's `Group`): [`join`](Group::join) waits
/// for all of them, [`kill`](Group::kill) ends them, [`map`](Group::map),
/// [`imap`](Group::imap) and [`imap_unordered`](Group::imap_unordered) run a function
/// over items, one greenlet each. A [`Pool`] is a group that bounds how many run at
/// once.
///
/// # Examples
///
/// ```
/// use conc_coro::Group;
///
/// let group = Group::new();
/// let a = group.spawn(|| 1).unwrap();
/// let b = group.spawn(|| 2).unwrap();
/// group.join(None).unwrap();
/// assert_eq!(a.get(None).unwrap() + b.get(None).unwrap(), 3);
/// assert!(group.is_empty());
/// ```
#[derive(Clone)]
pub struct Group {
    inner: Rc<Inner>,
}

/// A [`Group`] running at most `size` greenlets at once (gevent's `Pool(size)`):
/// [`spawn`](Group::spawn) waits for a free slot. Every method of `Group` applies
/// (through `Deref`, as gevent's `Pool` subclasses `Group`).
///
/// # Examples
///
/// Seed 002's `Pool(5)`:
///
/// ```
/// use std::time::Duration;
/// use conc_coro::{Pool, sleep};
///
/// let pool = Pool::new(5);
/// let squares = pool
///     .map(|x: u64| {
///         sleep(Duration::from_millis(1)).unwrap();
///         x * x
///     }, 0..20)
///     .unwrap();
/// assert_eq!(squares, (0..20).map(|x| x * x).collect::<Vec<_>>());
/// assert_eq!(pool.free_count(), 5);
/// ```
#[derive(Clone, Debug)]
pub struct Pool {
    group: Group,
}

impl Pool {
    /// A pool of `size` slots.
    ///
    /// # Panics
    ///
    /// If `size` is 0.
    pub fn new(size: usize) -> Pool {
        assert!(size > 0, "a pool needs at least one slot");
        Pool {
            group: Group::make(Some(Semaphore::new(size))),
        }
    }
}

impl std::ops::Deref for Pool {
    type Target = Group;

    fn deref(&self) -> &Group {
        &self.group
    }
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("len", &self.len())
            .field("free", &self.free_count())
            .finish()
    }
}

impl Default for Group {
    fn default() -> Self {
        Group::new()
    }
}

/// Takes a finished member out of its group and frees its slot, however it ended.
struct Leave {
    group: Weak<Inner>,
    id: u64,
    slot: Option<Semaphore>,
}

impl Drop for Leave {
    fn drop(&mut self) {
        if let Some(inner) = self.group.upgrade() {
            if let Ok(mut members) = inner.members.try_borrow_mut() {
                members.remove(&self.id);
            }
            inner.left.wake_all();
        }
        if let Some(slot) = &self.slot {
            slot.release();
        }
    }
}

impl Group {
    /// An unbounded group.
    pub fn new() -> Group {
        Group::make(None)
    }

    fn make(slots: Option<Semaphore>) -> Group {
        Group {
            inner: Rc::new(Inner {
                members: RefCell::new(HashMap::new()),
                next: Cell::new(0),
                left: Waiters::default(),
                slots,
            }),
        }
    }

    /// Spawns `f` in the group, first waiting for a free slot in a pool.
    ///
    /// # Errors
    ///
    /// The errors of waiting for a slot ([`HubError::LoopExit`], a
    /// [`Timeout`](crate::Timeout) guard's expiry).
    pub fn spawn<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> Result<Task<T>, HubError> {
        if let Some(slots) = &self.inner.slots {
            slots.acquire(None)?;
        }
        let id = self.inner.next.get() + 1;
        self.inner.next.set(id);
        let leave = Leave {
            group: Rc::downgrade(&self.inner),
            id,
            slot: self.inner.slots.clone(),
        };
        let task = spawn(move || {
            let _leave = leave;
            f()
        });
        if !task.dead() {
            self.inner
                .members
                .borrow_mut()
                .insert(id, Rc::new(task.clone()));
        }
        Ok(task)
    }

    /// The greenlets running (or waiting to start) in the group.
    pub fn len(&self) -> usize {
        self.inner.members.borrow().len()
    }

    /// Whether no greenlet is in the group.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The free slots of a pool (`usize::MAX` for an unbounded group).
    pub fn free_count(&self) -> usize {
        self.inner
            .slots
            .as_ref()
            .map_or(usize::MAX, Semaphore::available)
    }

    /// Whether a pool has no free slot.
    pub fn full(&self) -> bool {
        self.free_count() == 0
    }

    /// Waits until a pool has a free slot, at most `timeout` (gevent's
    /// `wait_available`).
    ///
    /// # Errors
    ///
    /// [`HubError::Timeout`], [`HubError::LoopExit`], [`HubError::InHub`].
    pub fn wait_available(&self, timeout: Option<Duration>) -> Result<(), HubError> {
        if !self.full() {
            return Ok(());
        }
        wait_until(
            &hub()?,
            "a free slot in a Pool",
            timeout,
            &[&self.inner.left],
            || !self.full(),
        )
    }

    /// Waits until every greenlet of the group has ended, at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`wait_available`](Group::wait_available).
    pub fn join(&self, timeout: Option<Duration>) -> Result<(), HubError> {
        if self.is_empty() {
            return Ok(());
        }
        wait_until(
            &hub()?,
            "a Group's greenlets",
            timeout,
            &[&self.inner.left],
            || self.is_empty(),
        )
    }

    /// Kills every greenlet of the group; with `block`, waits (at most `timeout`)
    /// until they are gone.
    ///
    /// # Errors
    ///
    /// As [`Task::kill`].
    pub fn kill(&self, block: bool, timeout: Option<Duration>) -> Result<(), HubError> {
        let members: Vec<Rc<dyn Member>> = self.inner.members.borrow().values().cloned().collect();
        for member in members {
            member.kill()?;
        }
        if block {
            self.join(timeout)?;
        }
        Ok(())
    }

    /// Runs `f` in the group and waits for its value (gevent's `apply`).
    ///
    /// # Errors
    ///
    /// As [`Task::take`].
    pub fn apply<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> Result<T, HubError> {
        self.spawn(f)?.take(None)
    }

    /// Runs `f` on every item, one greenlet each, and returns the results in order.
    ///
    /// # Errors
    ///
    /// The first item's error in order: a panic, a kill, or a wait's.
    pub fn map<A: 'static, R: 'static>(
        &self,
        f: impl Fn(A) -> R + 'static,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, HubError> {
        let f = Rc::new(f);
        let tasks = items
            .into_iter()
            .map(|item| {
                let f = f.clone();
                self.spawn(move || f(item))
            })
            .collect::<Result<Vec<_>, _>>()?;
        tasks.iter().map(|t| t.take(None)).collect()
    }

    /// Runs `f` on every item as slots allow, yielding results in the items' order
    /// as they become available (gevent's `imap`).
    pub fn imap<A: 'static, R: 'static>(
        &self,
        f: impl Fn(A) -> R + 'static,
        items: impl IntoIterator<Item = A> + 'static,
    ) -> IMap<R> {
        self.imap_inner(f, items, true)
    }

    /// [`imap`](Group::imap), yielding each result as soon as it is ready
    /// (gevent's `imap_unordered`).
    pub fn imap_unordered<A: 'static, R: 'static>(
        &self,
        f: impl Fn(A) -> R + 'static,
        items: impl IntoIterator<Item = A> + 'static,
    ) -> IMap<R> {
        self.imap_inner(f, items, false)
    }

    fn imap_inner<A: 'static, R: 'static>(
        &self,
        f: impl Fn(A) -> R + 'static,
        items: impl IntoIterator<Item = A> + 'static,
        ordered: bool,
    ) -> IMap<R> {
        let results: Queue<(usize, Result<R, HubError>)> = Queue::new(None);
        let total = Rc::new(Cell::new(None));
        let f = Rc::new(f);
        let group = self.clone();
        let (out, count) = (results.clone(), total.clone());
        // A feeder spawns as slots free up, so the caller gets results meanwhile.
        let feeder = spawn(move || {
            let mut n = 0;
            for (i, item) in items.into_iter().enumerate() {
                let f = f.clone();
                let task = match group.spawn(move || f(item)) {
                    Ok(task) => task,
                    Err(e) => {
                        let _ = out.try_put((i, Err(e)));
                        n = i + 1;
                        break;
                    }
                };
                let out = out.clone();
                task.link(move |t| {
                    let _ = out.try_put((i, t.take(Some(Duration::ZERO))));
                });
                n = i + 1;
            }
            count.set(Some(n));
        });
        IMap {
            results,
            total,
            _feeder: feeder,
            ordered,
            next: 0,
            pending: HashMap::new(),
            yielded: 0,
        }
    }
}

/// The iterator of [`Group::imap`] and [`Group::imap_unordered`]: each item is a
/// result, `Err` for an item whose greenlet panicked or was killed (or a wait error,
/// which ends the iteration).
///
/// # Examples
///
/// ```
/// let pool = conc_coro::Pool::new(2);
/// let results: conc_coro::IMap<u32> = pool.imap(|x: u32| x + 1, vec![1, 2, 3]);
/// assert_eq!(results.collect::<Result<Vec<_>, _>>(), Ok(vec![2, 3, 4]));
/// ```
pub struct IMap<R: 'static> {
    results: Queue<(usize, Result<R, HubError>)>,
    total: Rc<Cell<Option<usize>>>,
    _feeder: Task<()>,
    ordered: bool,
    next: usize,
    pending: HashMap<usize, Result<R, HubError>>,
    yielded: usize,
}

impl<R: 'static> std::fmt::Debug for IMap<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IMap")
            .field("ordered", &self.ordered)
            .field("yielded", &self.yielded)
            .finish()
    }
}

impl<R: 'static> Iterator for IMap<R> {
    type Item = Result<R, HubError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.total.get().is_some_and(|n| self.yielded >= n) {
                return None;
            }
            if self.ordered
                && let Some(r) = self.pending.remove(&self.next)
            {
                self.next += 1;
                self.yielded += 1;
                return Some(r);
            }
            match self.results.get(None) {
                Ok((i, r)) if !self.ordered || i == self.next => {
                    self.next += 1;
                    self.yielded += 1;
                    return Some(r);
                }
                Ok((i, r)) => {
                    self.pending.insert(i, r);
                }
                Err(e) => {
                    // Nothing more can come: end after reporting it.
                    self.total.set(Some(self.yielded));
                    return Some(Err(e));
                }
            }
        }
    }
}
