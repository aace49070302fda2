//! The public face shared by [`Queue`], [`LifoQueue`] and [`PriorityQueue`]: one macro,
//! so the three types cannot drift apart in behaviour or documentation.

use std::time::Duration;

use super::fifo::FifoCore;
use super::locked::{LockedCore, MinHeap, Stack};
use super::{QueueCore, Wait};
use crate::{GetError, PutError, TaskDoneError};

macro_rules! queue_api {
    (
        $(#[$meta:meta])*
        $Queue:ident<T $(: $bound:ident)?>, $Core:ty, $order:literal
    ) => {
        $(#[$meta])*
        pub struct $Queue<T $(: $bound)?> {
            core: $Core,
        }

        impl<T $(: $bound)?> $Queue<T> {
            #[doc = concat!("A queue holding at most `maxsize` items; `0` means unbounded, as in Python's `", stringify!($Queue), "(maxsize=0)`.")]
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q: conc_thread::", stringify!($Queue), "<u32> = conc_thread::", stringify!($Queue), "::new(2);")]
            /// assert_eq!(q.maxsize(), 2);
            /// ```
            pub fn new(maxsize: usize) -> Self {
                $Queue { core: <$Core>::with_maxsize(maxsize) }
            }

            /// The capacity given to `new`; `0` for an unbounded queue.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q: conc_thread::", stringify!($Queue), "<u32> = conc_thread::", stringify!($Queue), "::new(0);")]
            /// assert_eq!(q.maxsize(), 0);
            /// ```
            pub fn maxsize(&self) -> usize {
                self.core.maxsize()
            }

            /// Adds an item, blocking while the queue is full (Python: `put(item)`).
            ///
            /// # Errors
            ///
            /// [`PutError::ShutDown`] with the item if the queue is or becomes shut down.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = conc_thread::", stringify!($Queue), "::new(0);")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.qsize(), 1);
            /// ```
            #[inline]
            pub fn put(&self, item: T) -> Result<(), PutError<T>> {
                self.core.put(item, Wait::Forever)
            }

            /// Adds an item, waiting at most `timeout` for room (Python: `put(item, timeout=t)`).
            ///
            /// # Errors
            ///
            /// [`PutError::Full`] with the item if there was no room in time,
            /// [`PutError::ShutDown`] if the queue is or becomes shut down.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use conc_thread::PutError;
            ///
            #[doc = concat!("let q = conc_thread::", stringify!($Queue), "::new(1);")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.put_timeout(2, Duration::from_millis(5)), Err(PutError::Full(2)));
            /// ```
            pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
                self.core.put(item, Wait::timeout(timeout))
            }

            /// Adds an item only if there is room now (Python: `put_nowait(item)`).
            ///
            /// # Errors
            ///
            /// [`PutError::Full`] if the queue is full, [`PutError::ShutDown`] if it is
            /// shut down; both hand the item back.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = conc_thread::", stringify!($Queue), "::new(1);")]
            /// assert!(q.put_nowait(1).is_ok());
            /// assert_eq!(q.put_nowait(2).unwrap_err().into_inner(), 2);
            /// ```
            pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
                self.core.put(item, Wait::No)
            }

            #[doc = concat!("Removes and returns the ", $order, " item, blocking while the queue is empty (Python: `get()`).")]
            ///
            /// # Errors
            ///
            /// [`GetError::ShutDown`] once the queue is shut down and empty (or shut down
            /// immediately).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = conc_thread::", stringify!($Queue), "::new(0);")]
            /// q.put(5).unwrap();
            /// assert_eq!(q.get(), Ok(5));
            /// ```
            #[inline]
            pub fn get(&self) -> Result<T, GetError> {
                self.core.get(Wait::Forever)
            }

            /// Like [`get`](Self::get), waiting at most `timeout` (Python: `get(timeout=t)`).
            ///
            /// # Errors
            ///
            /// [`GetError::Empty`] if no item arrived in time, [`GetError::ShutDown`] as
            /// for `get`.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            /// use conc_thread::GetError;
            ///
            #[doc = concat!("let q: conc_thread::", stringify!($Queue), "<u8> = conc_thread::", stringify!($Queue), "::new(0);")]
            /// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(GetError::Empty));
            /// ```
            pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
                self.core.get(Wait::timeout(timeout))
            }

            /// Removes an item only if one is there now (Python: `get_nowait()`).
            ///
            /// # Errors
            ///
            /// [`GetError::Empty`] if the queue is empty, [`GetError::ShutDown`] as for `get`.
            ///
            /// # Examples
            ///
            /// ```
            /// use conc_thread::GetError;
            ///
            #[doc = concat!("let q = conc_thread::", stringify!($Queue), "::new(0);")]
            /// assert_eq!(q.get_nowait(), Err(GetError::Empty));
            /// q.put(3).unwrap();
            /// assert_eq!(q.get_nowait(), Ok(3));
            /// ```
            pub fn get_nowait(&self) -> Result<T, GetError> {
                self.core.get(Wait::No)
            }

            /// The number of items in the queue (approximate while other threads use it,
            /// as in Python).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = conc_thread::", stringify!($Queue), "::new(0);")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.qsize(), 1);
            /// ```
            pub fn qsize(&self) -> usize {
                self.core.qsize()
            }

            /// Whether the queue is empty.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q: conc_thread::", stringify!($Queue), "<u8> = conc_thread::", stringify!($Queue), "::new(0);")]
            /// assert!(q.empty());
            /// ```
            pub fn empty(&self) -> bool {
                self.qsize() == 0
            }

            /// Whether the queue is full; never for an unbounded queue.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = conc_thread::", stringify!($Queue), "::new(1);")]
            /// q.put(1).unwrap();
            /// assert!(q.full());
            /// ```
            pub fn full(&self) -> bool {
                let maxsize = self.maxsize();
                maxsize > 0 && self.qsize() >= maxsize
            }

            /// Marks one item taken by `get` as processed (Python: `task_done()`).
            ///
            /// # Errors
            ///
            /// [`TaskDoneError`] if called more times than items were put.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = conc_thread::", stringify!($Queue), "::new(0);")]
            /// q.put(1).unwrap();
            /// q.get().unwrap();
            /// assert!(q.task_done().is_ok());
            /// assert!(q.task_done().is_err());
            /// ```
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                self.core.tasks().done(|| self.core.task_base())
            }

            /// Blocks until every item ever put has been marked done with
            /// [`task_done`](Self::task_done) (Python: `join()`). Items discarded by an
            /// immediate shutdown count as done.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::sync::Arc;
            ///
            #[doc = concat!("let q = Arc::new(conc_thread::", stringify!($Queue), "::new(0));")]
            /// for i in 0..3 { q.put(i).unwrap(); }
            /// let worker = { let q = q.clone(); conc_thread::spawn(move || {
            ///     while let Ok(_item) = q.get() { q.task_done().unwrap(); }
            /// }) };
            /// q.join();
            /// q.shutdown(false);
            /// worker.join().unwrap();
            /// ```
            pub fn join(&self) {
                self.core.tasks().join(|| self.core.task_base())
            }

            /// Like [`join`](Self::join), giving up after `timeout`; returns whether every
            /// task was done.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            ///
            #[doc = concat!("let q = conc_thread::", stringify!($Queue), "::new(0);")]
            /// q.put(1).unwrap();
            /// assert!(!q.join_timeout(Duration::from_millis(5)));
            /// ```
            pub fn join_timeout(&self, timeout: Duration) -> bool {
                self.core.tasks().join_timeout(timeout, || self.core.task_base())
            }

            /// The number of items put and not yet marked done (Python: `unfinished_tasks`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = conc_thread::", stringify!($Queue), "::new(0);")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.unfinished_tasks(), 1);
            /// ```
            pub fn unfinished_tasks(&self) -> usize {
                self.core.tasks().unfinished(|| self.core.task_base())
            }

            /// Shuts the queue down (Python 3.13: `shutdown(immediate)`).
            ///
            /// Afterwards every `put` fails with [`PutError::ShutDown`], and blocked
            /// putters wake with that error. With `immediate == false`, `get` keeps
            /// returning the remaining items and fails with [`GetError::ShutDown`] once
            /// the queue is empty; with `immediate == true`, the remaining items are
            /// discarded (counting as done for [`join`](Self::join)) and every `get`
            /// fails at once. Blocked getters wake in both cases.
            ///
            /// A `put` that was already under way when `shutdown(false)` was called may
            /// still land after a consumer saw the queue empty and got `ShutDown` (the
            /// FIFO queue checks the flag without a lock, for speed); a final
            /// `shutdown(true)` after the consumers have stopped discards such items and
            /// releases `join`.
            ///
            /// # Examples
            ///
            /// ```
            /// use conc_thread::GetError;
            ///
            #[doc = concat!("let q = conc_thread::", stringify!($Queue), "::new(0);")]
            /// q.put(1).unwrap();
            /// q.shutdown(false);
            /// assert_eq!(q.get(), Ok(1));
            /// assert_eq!(q.get(), Err(GetError::ShutDown));
            /// ```
            pub fn shutdown(&self, immediate: bool) {
                self.core.shutdown(immediate)
            }

            /// Whether [`shutdown`](Self::shutdown) was called (Python 3.13: `is_shutdown`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q: conc_thread::", stringify!($Queue), "<u8> = conc_thread::", stringify!($Queue), "::new(0);")]
            /// q.shutdown(true);
            /// assert!(q.is_shutdown());
            /// ```
            pub fn is_shutdown(&self) -> bool {
                self.core.is_shutdown()
            }
        }

        impl<T $(: $bound)?> Default for $Queue<T> {
            /// An unbounded queue.
            fn default() -> Self {
                $Queue::new(0)
            }
        }

        impl<T $(: $bound)?> std::fmt::Debug for $Queue<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($Queue))
                    .field("maxsize", &self.maxsize())
                    .field("qsize", &self.qsize())
                    .field("unfinished_tasks", &self.unfinished_tasks())
                    .field("shutdown", &self.is_shutdown())
                    .finish()
            }
        }
    };
}

queue_api! {
    /// A first-in, first-out queue with task tracking and shutdown, like Python's
    /// `queue.Queue`; built on `crossbeam-channel`.
    ///
    /// # Examples
    ///
    /// Results coming back from worker threads, as in the seeds:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use conc_thread::Queue;
    ///
    /// let results = Arc::new(Queue::new(0));
    /// let workers: Vec<_> = (1..=3).map(|n| {
    ///     let results = results.clone();
    ///     conc_thread::spawn(move || results.put(n * n).unwrap())
    /// }).collect();
    /// for w in workers { w.join().unwrap(); }
    /// let mut squares: Vec<i32> = (0..3).map(|_| results.get().unwrap()).collect();
    /// squares.sort();
    /// assert_eq!(squares, [1, 4, 9]);
    /// ```
    Queue<T>, FifoCore<T>, "oldest"
}

queue_api! {
    /// A last-in, first-out queue, like Python's `queue.LifoQueue`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_thread::LifoQueue::new(0);
    /// for i in 1..=3 { q.put(i).unwrap(); }
    /// assert_eq!((q.get(), q.get(), q.get()), (Ok(3), Ok(2), Ok(1)));
    /// ```
    LifoQueue<T>, LockedCore<T, Stack<T>>, "newest"
}

queue_api! {
    /// A queue that hands out its smallest item first, like Python's
    /// `queue.PriorityQueue`. Put `(priority, data)` tuples, as in Python; use
    /// `std::cmp::Reverse` for largest-first. Items of equal priority come out in no
    /// particular order, as with Python's `heapq`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_thread::PriorityQueue::new(0);
    /// q.put((2, "code")).unwrap();
    /// q.put((1, "eat")).unwrap();
    /// q.put((3, "sleep")).unwrap();
    /// assert_eq!(q.get(), Ok((1, "eat")));
    /// assert_eq!(q.get(), Ok((2, "code")));
    /// ```
    PriorityQueue<T: Ord>, LockedCore<T, MinHeap<T>>, "smallest"
}
