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
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let q = conc_coro::Queue::new(Some(1));
/// q.put("first", None).unwrap();
/// let refused = q.put("second", Some(Duration::from_millis(5))).unwrap_err();
/// assert_eq!(refused.item, "second"); // nothing is lost
/// assert!(matches!(refused.error, conc_coro::HubError::Timeout { .. }));
/// ```
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
trait Order<T>: Default {
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Takes the next item.
    fn pop(&mut self) -> Option<T>;
    /// How many items it holds.
    fn len(&self) -> usize;
}

/// First in, first out.
struct Fifo<T>(VecDeque<T>);

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
struct Lifo<T>(Vec<T>);

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

/// Smallest first.
struct Smallest<T: Ord>(BinaryHeap<Reverse<T>>);

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

/// What the three queue types share: items in an order, a bound, waiters on both
/// ends, and the count of unfinished tasks.
struct QueueCore<T, O> {
    inner: Rc<Inner<T, O>>,
}

struct Inner<T, O> {
    items: RefCell<O>,
    maxsize: Option<usize>,
    getters: Waiters,
    putters: Waiters,
    unfinished: Cell<usize>,
    joiners: Waiters,
    _item: std::marker::PhantomData<T>,
}

impl<T, O: Order<T>> Clone for QueueCore<T, O> {
    fn clone(&self) -> Self {
        QueueCore {
            inner: self.inner.clone(),
        }
    }
}

impl<T, O: Order<T>> QueueCore<T, O> {
    fn new(maxsize: Option<usize>) -> Self {
        assert_ne!(
            maxsize,
            Some(0),
            "a queue of size 0 holds nothing: use a Channel"
        );
        QueueCore {
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

    fn qsize(&self) -> usize {
        self.inner.items.borrow().len()
    }

    fn full(&self) -> bool {
        self.inner.maxsize.is_some_and(|max| self.qsize() >= max)
    }

    fn try_put(&self, item: T) -> Result<(), T> {
        if self.full() {
            return Err(item);
        }
        self.inner.items.borrow_mut().push(item);
        self.inner.unfinished.set(self.inner.unfinished.get() + 1);
        self.inner.getters.wake_one();
        Ok(())
    }

    fn put(&self, item: T, timeout: Option<Duration>) -> Result<(), PutError<T>> {
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

    fn try_get(&self) -> Option<T> {
        let item = self.inner.items.borrow_mut().pop()?;
        self.inner.putters.wake_one();
        Some(item)
    }

    fn get(&self, timeout: Option<Duration>) -> Result<T, HubError> {
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
                || self.qsize() > 0,
            )?;
            if let Some(item) = self.try_get() {
                return Ok(item);
            }
        }
    }

    fn task_done(&self) {
        let left = self.inner.unfinished.get();
        assert!(left > 0, "task_done() called too many times");
        self.inner.unfinished.set(left - 1);
        if left == 1 {
            self.inner.joiners.wake_all();
        }
    }

    fn join(&self, timeout: Option<Duration>) -> Result<(), HubError> {
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

/// Defines a public queue type over [`QueueCore`] with one order; they differ only in
/// the order items come out in (and a priority queue's items must be `Ord`).
macro_rules! queue_type {
    ($(#[$doc:meta])* $name:ident, $order:ident, $($bound:path)?) => {
        $(#[$doc])*
        pub struct $name<T $(: $bound)?> {
            core: QueueCore<T, $order<T>>,
        }

        impl<T $(: $bound)?> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name {
                    core: self.core.clone(),
                }
            }
        }

        impl<T $(: $bound)?> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("len", &self.qsize())
                    .field("maxsize", &self.maxsize())
                    .finish()
            }
        }

        impl<T $(: $bound)?> $name<T> {
            /// A queue holding at most `maxsize` items (`None`: unbounded).
            ///
            /// # Panics
            ///
            /// If `maxsize` is `Some(0)`: a queue that holds nothing is a [`Channel`].
            pub fn new(maxsize: Option<usize>) -> Self {
                $name {
                    core: QueueCore::new(maxsize),
                }
            }

            /// The number of items held.
            pub fn qsize(&self) -> usize {
                self.core.qsize()
            }

            /// Whether it holds no item.
            pub fn empty(&self) -> bool {
                self.qsize() == 0
            }

            /// Whether a bounded queue is full.
            pub fn full(&self) -> bool {
                self.core.full()
            }

            /// The bound, if any.
            pub fn maxsize(&self) -> Option<usize> {
                self.core.inner.maxsize
            }

            /// Puts `item` if there is room now (gevent's `put_nowait`).
            ///
            /// # Errors
            ///
            /// The item, handed back, when the queue is full.
            pub fn try_put(&self, item: T) -> Result<(), T> {
                self.core.try_put(item)
            }

            /// Puts `item`, waiting at most `timeout` for room.
            ///
            /// # Errors
            ///
            /// [`PutError`] with the item and [`HubError::Timeout`] (the queue stayed
            /// full), [`HubError::LoopExit`] or [`HubError::InHub`].
            pub fn put(&self, item: T, timeout: Option<Duration>) -> Result<(), PutError<T>> {
                self.core.put(item, timeout)
            }

            /// Takes an item if there is one now (gevent's `get_nowait`).
            pub fn try_get(&self) -> Option<T> {
                self.core.try_get()
            }

            /// Takes the next item, waiting at most `timeout` for one.
            ///
            /// # Errors
            ///
            /// [`HubError::Timeout`]; [`HubError::LoopExit`] when the main greenlet waits
            /// and nothing can ever put; [`HubError::InHub`].
            pub fn get(&self, timeout: Option<Duration>) -> Result<T, HubError> {
                self.core.get(timeout)
            }

            /// Marks one item taken with `get` as processed (Python's `task_done`).
            ///
            /// # Panics
            ///
            /// If called more times than items were put (Python raises `ValueError`).
            pub fn task_done(&self) {
                self.core.task_done();
            }

            /// The items put and not yet marked done.
            pub fn unfinished_tasks(&self) -> usize {
                self.core.inner.unfinished.get()
            }

            /// Waits until every item put has been marked done, at most `timeout`.
            ///
            /// # Errors
            ///
            /// As [`get`](Self::get).
            pub fn join(&self, timeout: Option<Duration>) -> Result<(), HubError> {
                self.core.join(timeout)
            }
        }

        impl<T $(: $bound)?> Iterator for $name<T> {
            type Item = T;

            /// Waits for the next item; `None` once the main greenlet would wait
            /// forever (`LoopExit`) or on a hub error.
            fn next(&mut self) -> Option<T> {
                self.get(None).ok()
            }
        }
    };
}

queue_type!(
    /// A queue of greenlets' work items, first in first out (gevent's `Queue`, and
    /// `JoinableQueue`: every queue here is joinable). `put` parks while a bounded queue
    /// is full, `get` while it is empty. Clones share the queue.
    ///
    /// # Examples
    ///
    /// Seed 002: producers and consumers.
    ///
    /// ```
    /// use conc_coro::{Queue, joinall, spawn};
    ///
    /// let q = Queue::new(Some(2));
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
    Queue,
    Fifo,
);

queue_type!(
    /// A queue handing out the most recently put item first (gevent's `LifoQueue`).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_coro::LifoQueue::new(None);
    /// q.put(1, None).unwrap();
    /// q.put(2, None).unwrap();
    /// assert_eq!(q.get(None), Ok(2));
    /// ```
    LifoQueue,
    Lifo,
);

queue_type!(
    /// A queue handing out its smallest item first (gevent's `PriorityQueue`): put
    /// `(priority, item)` pairs.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_coro::PriorityQueue::new(None);
    /// q.put((2, "later"), None).unwrap();
    /// q.put((1, "first"), None).unwrap();
    /// assert_eq!(q.get(None), Ok((1, "first")));
    /// ```
    PriorityQueue,
    Smallest,
    Ord
);

/// Every [`Queue`] is joinable; the name of gevent's joinable one.
pub type JoinableQueue<T> = Queue<T>;

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
