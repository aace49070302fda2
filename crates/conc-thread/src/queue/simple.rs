//! `SimpleQueue`: Python's `queue.SimpleQueue`, an unbounded FIFO without task tracking.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::GetError;

/// An unbounded FIFO queue with no task tracking and no shutdown, like Python's
/// `queue.SimpleQueue`: the thinnest layer over an unbounded `crossbeam-channel`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use conc_thread::SimpleQueue;
///
/// let q = Arc::new(SimpleQueue::new());
/// let producer = { let q = q.clone(); conc_thread::spawn(move || for i in 0..3 { q.put(i) }) };
/// producer.join().unwrap();
/// assert_eq!((q.get(), q.get(), q.get()), (0, 1, 2));
/// assert!(q.empty());
/// ```
#[derive(Debug)]
pub struct SimpleQueue<T> {
    tx: Sender<T>,
    rx: Receiver<T>,
}

impl<T> SimpleQueue<T> {
    /// An empty queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: conc_thread::SimpleQueue<u8> = conc_thread::SimpleQueue::new();
    /// assert_eq!(q.qsize(), 0);
    /// ```
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        SimpleQueue { tx, rx }
    }

    /// Adds an item; never blocks and never fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_thread::SimpleQueue::new();
    /// q.put("x");
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn put(&self, item: T) {
        if self.tx.send(item).is_err() {
            unreachable!("the queue holds its own receiver");
        }
    }

    /// Removes and returns the oldest item, blocking until there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_thread::SimpleQueue::new();
    /// q.put(7);
    /// assert_eq!(q.get(), 7);
    /// ```
    pub fn get(&self) -> T {
        match self.rx.recv() {
            Ok(item) => item,
            Err(_) => unreachable!("the queue holds its own sender"),
        }
    }

    /// Removes the oldest item, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`GetError::Empty`] if no item arrived in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_thread::{GetError, SimpleQueue};
    ///
    /// let q: SimpleQueue<u8> = SimpleQueue::new();
    /// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(GetError::Empty));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        self.rx.recv_timeout(timeout).map_err(|err| match err {
            RecvTimeoutError::Timeout => GetError::Empty,
            RecvTimeoutError::Disconnected => unreachable!("the queue holds its own sender"),
        })
    }

    /// Removes the oldest item if there is one, without blocking.
    ///
    /// # Errors
    ///
    /// [`GetError::Empty`] if the queue is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_thread::SimpleQueue::new();
    /// assert!(q.get_nowait().is_err());
    /// q.put(1);
    /// assert_eq!(q.get_nowait(), Ok(1));
    /// ```
    pub fn get_nowait(&self) -> Result<T, GetError> {
        self.rx.try_recv().map_err(|_| GetError::Empty)
    }

    /// The number of items in the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_thread::SimpleQueue::new();
    /// q.put(());
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.rx.len()
    }

    /// Whether the queue is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(conc_thread::SimpleQueue::<u8>::new().empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl<T> Default for SimpleQueue<T> {
    fn default() -> Self {
        SimpleQueue::new()
    }
}
