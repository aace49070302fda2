//! The core of the LIFO and priority queues: a container behind a mutex with
//! `not_empty` / `not_full` condition variables, the design of CPython's `queue.Queue`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::marker::PhantomData;

use crate::sync::{Condvar, Mutex, MutexGuard};

use super::shutdown::ShutdownFlag;
use super::tasks::TaskTracker;
use super::{QueueCore, Wait};
use crate::{GetError, PutError};

/// The order a locked queue hands items out in.
pub(crate) trait Storage<T>: Default {
    fn push(&mut self, item: T);
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
    /// Drops every item and says how many there were.
    fn clear(&mut self) -> usize {
        let n = self.len();
        while self.pop().is_some() {}
        n
    }
}

/// Last in, first out.
#[derive(Debug)]
pub(crate) struct Stack<T>(Vec<T>);

impl<T> Default for Stack<T> {
    fn default() -> Self {
        Stack(Vec::new())
    }
}

impl<T> Storage<T> for Stack<T> {
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

/// Smallest first, like Python's `heapq`-based `PriorityQueue`.
#[derive(Debug)]
pub(crate) struct MinHeap<T: Ord>(BinaryHeap<Reverse<T>>);

impl<T: Ord> Default for MinHeap<T> {
    fn default() -> Self {
        MinHeap(BinaryHeap::new())
    }
}

impl<T: Ord> Storage<T> for MinHeap<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[derive(Debug)]
pub(crate) struct LockedCore<T, S> {
    maxsize: usize,
    items: Mutex<S>,
    not_empty: Condvar,
    not_full: Condvar,
    // Written only under `items`' mutex, so waiters re-checking it under the mutex
    // cannot miss a shutdown.
    flag: ShutdownFlag,
    tasks: TaskTracker,
    _item: PhantomData<fn(T) -> T>,
}

impl<T, S: Storage<T>> LockedCore<T, S> {
    fn is_full(&self, items: &S) -> bool {
        self.maxsize > 0 && items.len() >= self.maxsize
    }

    /// Waits on `cond` per `wait`; returns `false` once the wait is over without news.
    fn block(cond: &Condvar, items: &mut MutexGuard<'_, S>, wait: Wait) -> bool {
        match wait {
            Wait::No => false,
            Wait::Forever => {
                cond.wait(items);
                true
            }
            Wait::Until(deadline) => !cond.wait_until(items, deadline).timed_out(),
        }
    }
}

impl<T, S: Storage<T>> QueueCore<T> for LockedCore<T, S> {
    fn with_maxsize(maxsize: usize) -> Self {
        LockedCore {
            maxsize,
            items: Mutex::new(S::default()),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            flag: ShutdownFlag::default(),
            tasks: TaskTracker::default(),
            _item: PhantomData,
        }
    }

    fn maxsize(&self) -> usize {
        self.maxsize
    }

    fn put(&self, item: T, wait: Wait) -> Result<(), PutError<T>> {
        let mut items = self.items.lock();
        loop {
            if self.flag.is_shut() {
                return Err(PutError::ShutDown(item));
            }
            if !self.is_full(&items) {
                break;
            }
            if !Self::block(&self.not_full, &mut items, wait) {
                // Timed out (or not allowed to wait): one last look before giving up.
                if self.flag.is_shut() {
                    return Err(PutError::ShutDown(item));
                }
                if self.is_full(&items) {
                    return Err(PutError::Full(item));
                }
                break;
            }
        }
        items.push(item);
        self.tasks.add();
        self.not_empty.notify_one();
        Ok(())
    }

    fn get(&self, wait: Wait) -> Result<T, GetError> {
        let mut items = self.items.lock();
        loop {
            if self.flag.is_immediate() {
                return Err(GetError::ShutDown);
            }
            if let Some(item) = items.pop() {
                self.not_full.notify_one();
                return Ok(item);
            }
            if self.flag.is_shut() {
                return Err(GetError::ShutDown);
            }
            if !Self::block(&self.not_empty, &mut items, wait) {
                return match items.pop() {
                    Some(item) => {
                        self.not_full.notify_one();
                        Ok(item)
                    }
                    None => Err(GetError::Empty),
                };
            }
        }
    }

    fn qsize(&self) -> usize {
        self.items.lock().len()
    }

    fn shutdown(&self, immediate: bool) {
        let mut items = self.items.lock();
        self.flag.shut(immediate);
        if immediate {
            let discarded = items.clear();
            self.tasks.remove(discarded, || 0);
        }
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    fn is_shutdown(&self) -> bool {
        self.flag.is_shut()
    }

    fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    fn task_base(&self) -> usize {
        0
    }
}
