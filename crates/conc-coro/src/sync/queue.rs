//! Green queues (gevent's `gevent.queue`): `Queue` (FIFO), `LifoQueue`,
//! `PriorityQueue`, all joinable (`task_done`/`join`, as Python's `queue.Queue` and
//! gevent's `JoinableQueue`), and `Channel`, where a put waits for its getter.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use crate::HubError;
use crate::hub::{Waiters, hub, wait_until};

/// An item a `put` could not deliver, handed back with why.
#[derive(Debug, PartialEq, Eq)]
pub struct PutError<T> {
    /// The item, back to the caller.
    pub item: T,
    /// Why it was not put: [`HubError::Timeout`] for a full queue, or the hub's error.
    pub error: HubError,
}

impl<T> std::fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the item was not put: {}", self.error)
    }
}

impl<T: std::fmt::Debug> std::error::Error for PutError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The order a queue hands its items out in.
pub trait Order<T>: Default {
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Takes the next item.
    fn pop(&mut self) -> Option<T>;
    /// How many items it holds.
    fn len(&self) -> usize;
    /// Whether it holds none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out.
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Order<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Last in, first out.
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T> Order<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Smallest first (Python's `PriorityQueue`: put `(priority, item)` pairs).
#[derive(Debug)]
pub struct Smallest<T: Ord>(BinaryHeap<Reverse<T>>);

impl<T: Ord> Default for Smallest<T> {
    fn default() -> Self {
        Smallest(BinaryHeap::new())
    }
}

impl<T: Ord> Order<T> for Smallest<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|r| r.0)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A queue of greenlets' work items (gevent's `Queue`, and `JoinableQueue`: every
/// queue here is joinable). `put` parks while a bounded queue is full, `get` while it
/// is empty. Clones share the queue. [`LifoQueue`] and [`PriorityQueue`] differ only
/// in their order.
///
/// # Examples
///
/// Seed 002: producers and consumers.
///
/// ```
/// use conc_coro::{Queue, joinall, spawn};
///
/// let q: Queue<u32> = Queue::new(Some(2));
/// let producer = {
///     let q = q.clone();
///     spawn(move || (0..5).for_each(|i| q.put(i, None).unwrap()))
/// };
/// let consumer = {
///     let q = q.clone();
///     spawn(move || {
///         (0..5)
///             .map(|_| {
///                 let item = q.get(None).unwrap();
///                 q.task_done();
///                 item
///             })
///             .collect::<Vec<_>>()
///     })
/// };
/// q.join(None).unwrap();
/// joinall([&consumer], None).unwrap();
/// assert_eq!(consumer.get(None).unwrap(), [0, 1, 2, 3, 4]);
/// producer.join(None).unwrap();
/// ```
pub struct Queue<T, O: Order<T> = Fifo<T>> {
    inner: Rc<Inner<T, O>>,
}

/// Last in, first out (gevent's `LifoQueue`).
pub type LifoQueue<T> = Queue<T, Lifo<T>>;
/// Smallest first (gevent's `PriorityQueue`).
pub type PriorityQueue<T> = Queue<T, Smallest<T>>;
/// Every [`Queue`] is joinable; the name of gevent's joinable one.
pub type JoinableQueue<T> = Queue<T>;

struct Inner<T, O> {
    items: RefCell<O>,
    maxsize: Option<usize>,
    getters: Waiters,
    putters: Waiters,
    unfinished: Cell<usize>,
    joiners: Waiters,
    _item: std::marker::PhantomData<T>,
}

impl<T, O: Order<T>> Clone for Queue<T, O> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

impl<T, O: Order<T>> std::fmt::Debug for Queue<T, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.qsize())
            .field("maxsize", &self.inner.maxsize)
            .finish()
    }
}

impl<T, O: Order<T>> Queue<T, O> {
    /// A queue holding at most `maxsize` items (`None`: unbounded).
    ///
    /// # Panics
    ///
    /// If `maxsize` is `Some(0)`: a queue that holds nothing is a [`Channel`].
    pub fn new(maxsize: Option<usize>) -> Self {
        assert_ne!(
            maxsize,
            Some(0),
            "a queue of size 0 holds nothing: use a Channel"
        );
        Queue {
            inner: Rc::new(Inner {
                items: RefCell::new(O::default()),
                maxsize,
                getters: Waiters::default(),
                putters: Waiters::default(),
                unfinished: Cell::new(0),
                joiners: Waiters::default(),
                _item: std::marker::PhantomData,
            }),
        }
    }

    /// The number of items held.
    pub fn qsize(&self) -> usize {
        self.inner.items.borrow().len()
    }

    /// Whether it holds no item.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether a bounded queue is full.
    pub fn full(&self) -> bool {
        self.inner.maxsize.is_some_and(|max| self.qsize() >= max)
    }

    /// The bound, if any.
    pub fn maxsize(&self) -> Option<usize> {
        self.inner.maxsize
    }

    /// Puts `item` if there is room now (gevent's `put_nowait`); gives it back if
    /// the queue is full.
    ///
    /// # Errors
    ///
    /// The item, when the queue is full.
    pub fn try_put(&self, item: T) -> Result<(), T> {
        if self.full() {
            return Err(item);
        }
        self.inner.items.borrow_mut().push(item);
        self.inner.unfinished.set(self.inner.unfinished.get() + 1);
        self.inner.getters.wake_one();
        Ok(())
    }

    /// Puts `item`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`PutError`] with the item and [`HubError::Timeout`] (the queue stayed full),
    /// [`HubError::LoopExit`] or [`HubError::InHub`].
    pub fn put(&self, item: T, timeout: Option<Duration>) -> Result<(), PutError<T>> {
        let mut item = match self.try_put(item) {
            Ok(()) => return Ok(()),
            Err(item) => item,
        };
        let deadline = crate::hub::deadline(timeout);
        loop {
            let left =
                deadline.map(|(at, _)| at.saturating_duration_since(std::time::Instant::now()));
            let waited = hub().and_then(|core| {
                wait_until(
                    &core,
                    "room in a Queue",
                    left,
                    &[&self.inner.putters],
                    || !self.full(),
                )
            });
            if let Err(mut error) = waited {
                if let (HubError::Timeout { after, .. }, Some((_, total))) = (&mut error, deadline)
                {
                    *after = total;
                }
                return Err(PutError { item, error });
            }
            // Another greenlet may have filled it again before this one ran.
            item = match self.try_put(item) {
                Ok(()) => return Ok(()),
                Err(item) => item,
            };
        }
    }

    /// Takes an item if there is one now (gevent's `get_nowait`).
    pub fn try_get(&self) -> Option<T> {
        let item = self.inner.items.borrow_mut().pop()?;
        self.inner.putters.wake_one();
        Some(item)
    }

    /// Takes the next item, waiting at most `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`HubError::Timeout`]; [`HubError::LoopExit`] when the main greenlet waits and
    /// nothing can ever put; [`HubError::InHub`].
    pub fn get(&self, timeout: Option<Duration>) -> Result<T, HubError> {
        if let Some(item) = self.try_get() {
            return Ok(item);
        }
        let core = hub()?;
        loop {
            wait_until(
                &core,
                "an item from a Queue",
                timeout,
                &[&self.inner.getters],
                || !self.empty(),
            )?;
            if let Some(item) = self.try_get() {
                return Ok(item);
            }
        }
    }

    /// Marks one item taken with `get` as processed (Python's `task_done`).
    ///
    /// # Panics
    ///
    /// If called more times than items were put (Python raises `ValueError`).
    pub fn task_done(&self) {
        let left = self.inner.unfinished.get();
        assert!(left > 0, "task_done() called too many times");
        self.inner.unfinished.set(left - 1);
        if left == 1 {
            self.inner.joiners.wake_all();
        }
    }

    /// The items put and not yet marked done.
    pub fn unfinished_tasks(&self) -> usize {
        self.inner.unfinished.get()
    }

    /// Waits until every item put has been marked done, at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Queue::get).
    pub fn join(&self, timeout: Option<Duration>) -> Result<(), HubError> {
        if self.inner.unfinished.get() == 0 {
            return Ok(());
        }
        wait_until(
            &hub()?,
            "a Queue's tasks to be done",
            timeout,
            &[&self.inner.joiners],
            || self.inner.unfinished.get() == 0,
        )
    }
}

impl<T, O: Order<T>> Iterator for Queue<T, O> {
    type Item = T;

    /// Waits for the next item; `None` once the main greenlet would wait forever
    /// (`LoopExit`) or on a hub error.
    fn next(&mut self) -> Option<T> {
        self.get(None).ok()
    }
}

/// A queue with no room: each `put` waits until a getter has taken its item (gevent's
/// `Channel`).
///
/// # Examples
///
/// ```
/// use conc_coro::{Channel, spawn};
///
/// let ch = Channel::new();
/// let sender = {
///     let ch = ch.clone();
///     spawn(move || ch.put("hand-over", None).map_err(|e| e.error))
/// };
/// assert_eq!(ch.get(None), Ok("hand-over"));
/// assert_eq!(sender.get(None), Ok(Ok(())));
/// ```
pub struct Channel<T> {
    inner: Rc<ChannelInner<T>>,
}

struct ChannelInner<T> {
    /// Items offered, each with its sequence number.
    offered: RefCell<VecDeque<(u64, T)>>,
    next: Cell<u64>,
    getters: Waiters,
    /// Putters waiting for their item to be taken.
    putters: Waiters,
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Channel {
            inner: Rc::new(ChannelInner {
                offered: RefCell::new(VecDeque::new()),
                next: Cell::new(0),
                getters: Waiters::default(),
                putters: Waiters::default(),
            }),
        }
    }
}

impl<T> std::fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("offered", &self.inner.offered.borrow().len())
            .finish()
    }
}

impl<T> Channel<T> {
    /// A channel with nobody waiting.
    pub fn new() -> Channel<T> {
        Channel::default()
    }

    fn offered(&self, seq: u64) -> bool {
        self.inner.offered.borrow().iter().any(|(s, _)| *s == seq)
    }

    /// Hands `item` to a getter, waiting at most `timeout` for one to take it.
    ///
    /// # Errors
    ///
    /// [`PutError`] with the item when no getter took it in time, or on a hub error.
    pub fn put(&self, item: T, timeout: Option<Duration>) -> Result<(), PutError<T>> {
        let seq = self.inner.next.get();
        self.inner.next.set(seq + 1);
        self.inner.offered.borrow_mut().push_back((seq, item));
        self.inner.getters.wake_one();
        let waited = hub().and_then(|core| {
            wait_until(
                &core,
                "a Channel's getter",
                timeout,
                &[&self.inner.putters],
                || !self.offered(seq),
            )
        });
        match waited {
            Ok(()) => Ok(()),
            Err(error) => {
                let mut offered = self.inner.offered.borrow_mut();
                match offered.iter().position(|(s, _)| *s == seq) {
                    Some(i) => {
                        let (_, item) = offered.remove(i).expect("found above");
                        Err(PutError { item, error })
                    }
                    // Taken meanwhile: delivered after all.
                    None => Ok(()),
                }
            }
        }
    }

    /// Takes an item a putter offers, waiting at most `timeout` for one.
    ///
    /// # Errors
    ///
    /// As [`Queue::get`].
    pub fn get(&self, timeout: Option<Duration>) -> Result<T, HubError> {
        let core = hub()?;
        loop {
            if let Some((_, item)) = self.inner.offered.borrow_mut().pop_front() {
                self.inner.putters.wake_all();
                return Ok(item);
            }
            wait_until(
                &core,
                "a Channel's putter",
                timeout,
                &[&self.inner.getters],
                || !self.inner.offered.borrow().is_empty(),
            )?;
        }
    }
}
