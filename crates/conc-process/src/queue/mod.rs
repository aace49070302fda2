//! Python's `multiprocessing.Queue`, `JoinableQueue` and `SimpleQueue`: many producers
//! and many consumers in any processes.
//!
//! Items are encoded with postcard into a ring buffer in shared memory (see [`ring`])
//! guarded by a robust process-shared mutex, so any number of processes can put and
//! get, and a process killed in the middle of either leaves the queue usable. A `put`
//! on a queue without `maxsize` never blocks: if the ring is full the item waits in this
//! process's feeder (see [`feeder`]) until readers make room.

mod feeder;
mod ring;

use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use feeder::Feeder;

use crate::fork_lock::ForkLock;
use ring::Ring;

use crate::ProcessError;

/// The ring size of [`Queue::new`], [`JoinableQueue::new`] and [`SimpleQueue::new`]:
/// 4 MiB (the memory is only touched as items pass through it). An item whose encoding
/// is larger than the ring cannot be put; choose a bigger ring with `with_buffer`.
pub const DEFAULT_BUFFER: usize = 4 << 20;

/// Frame lengths are 32-bit.
const MAX_BUFFER: usize = u32::MAX as usize;

/// What every queue handle shares: the ring, and this process's feeder for it.
struct Core<T> {
    ring: Ring,
    /// Created on the first `put` that needs it, and again in a fork child (the parent's
    /// feeder thread does not exist there).
    /// A `ForkLock`: a child forked (by anyone) while a thread of the parent held it
    /// must still be able to take it.
    feeder: Arc<ForkLock<Option<Arc<Feeder>>>>,
    closed: Arc<AtomicBool>,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Core<T> {
    fn clone(&self) -> Self {
        Core {
            ring: self.ring.clone(),
            feeder: self.feeder.clone(),
            closed: self.closed.clone(),
            _items: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Core<T> {
    fn new(maxsize: usize, buffer: usize) -> Result<Self, ProcessError> {
        if !(64..=MAX_BUFFER).contains(&buffer) {
            return Err(ProcessError::InvalidArgument(format!(
                "a queue buffer of {buffer} bytes is out of range (64 bytes to 4 GiB)"
            )));
        }
        Ok(Self::from_ring(Ring::new(buffer, maxsize)?))
    }

    fn from_ring(ring: Ring) -> Self {
        Core {
            ring,
            feeder: Arc::default(),
            closed: Arc::default(),
            _items: PhantomData,
        }
    }

    /// This process's feeder, made on first use. The slot's lock is only held for an
    /// `Arc` clone or store (never across anything that blocks), because a `fork` child
    /// would inherit it locked if another thread held it at that instant.
    fn feeder(&self) -> Arc<Feeder> {
        if let Some(f) = self.current_feeder() {
            return f;
        }
        let fresh = Feeder::new(self.ring.clone());
        let mut slot = self.feeder.lock();
        match &*slot {
            // Another thread made one meanwhile: use it, keep the order of its items.
            Some(f) if f.is_current() => f.clone(),
            _ => {
                *slot = Some(fresh.clone());
                fresh
            }
        }
    }

    /// This process's feeder, if it has one yet.
    fn current_feeder(&self) -> Option<Arc<Feeder>> {
        let slot = self.feeder.lock();
        slot.as_ref().filter(|f| f.is_current()).cloned()
    }

    fn check_open(&self) -> Result<(), ProcessError> {
        if self.closed.load(Ordering::Acquire) {
            Err(ProcessError::Closed("queue"))
        } else {
            Ok(())
        }
    }

    /// Encodes `item`, refusing what can never fit.
    fn encode(&self, item: &T) -> Result<Vec<u8>, ProcessError> {
        let frame = crate::wire::encode_plain(item)?;
        if frame.len() > self.ring.max_item() {
            return Err(ProcessError::InvalidArgument(format!(
                "an item of {} bytes is larger than the queue's {}-byte buffer; \
                 create the queue with a bigger buffer (with_buffer)",
                frame.len(),
                self.ring.capacity()
            )));
        }
        Ok(frame)
    }

    /// `put` for `Queue`/`JoinableQueue`: admit under `maxsize`, then write or feed.
    fn put(&self, item: &T, deadline: Option<Instant>) -> Result<(), ProcessError> {
        self.check_open()?;
        let frame = self.encode(item)?;
        self.ring.admit(deadline)?;
        self.feeder().put(frame);
        Ok(())
    }

    fn get(&self, deadline: Option<Instant>) -> Result<T, ProcessError> {
        // Python 3.8+: a closed queue refuses `get` too.
        self.check_open()?;
        let frame = self.ring.read(deadline)?;
        crate::wire::forget_message();
        Ok(postcard::from_bytes(&frame)?)
    }

    fn empty(&self) -> bool {
        self.ring.admitted() == 0
    }
}

impl<T> Serialize for Core<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::wire::refuse_in_plain::<S::Error>("a queue")?;
        self.ring.serialize(serializer)
    }
}

impl<'de, T: Serialize + DeserializeOwned> Deserialize<'de> for Core<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Core::from_ring(Ring::deserialize(deserializer)?))
    }
}

fn deadline_after(timeout: Duration) -> Option<Instant> {
    Some(
        Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(far_future),
    )
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

macro_rules! queue_docs_common {
    ($Q:ident, $ctor:expr) => {
        impl<T: Serialize + DeserializeOwned> $Q<T> {
            /// Takes the next item, waiting as long as it takes (Python's `get()`).
            ///
            /// # Errors
            ///
            /// [`ProcessError::Serialization`] if the item cannot be decoded as `T`
            /// (it is consumed); [`ProcessError::Os`] if the shared lock is broken.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = ", $ctor, ";")]
            /// q.put(7).unwrap();
            /// assert_eq!(q.get().unwrap(), 7);
            /// ```
            pub fn get(&self) -> Result<T, ProcessError> {
                self.core.get(None)
            }

            /// Takes the next item, waiting at most `timeout` (Python's
            /// `get(timeout=...)`).
            ///
            /// # Errors
            ///
            /// [`ProcessError::Empty`] if nothing arrived in time; those of
            /// [`get`](Self::get) otherwise.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = ", $ctor, ";")]
            /// assert_eq!(
            ///     q.get_timeout(Duration::from_millis(10)),
            ///     Err(conc_process::ProcessError::Empty)
            /// );
            /// ```
            pub fn get_timeout(&self, timeout: Duration) -> Result<T, ProcessError> {
                self.core
                    .get(deadline_after(timeout))
                    .map_err(|e| e.waited_for("an item of the queue", timeout))
            }

            /// Takes the next item if there is one now (Python's `get_nowait()`).
            ///
            /// # Errors
            ///
            /// [`ProcessError::Empty`] if there is none; those of [`get`](Self::get)
            /// otherwise.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = ", $ctor, ";")]
            /// assert_eq!(q.get_nowait(), Err(conc_process::ProcessError::Empty));
            /// ```
            pub fn get_nowait(&self) -> Result<T, ProcessError> {
                self.core.get(Some(Instant::now()))
            }

            /// Whether the queue holds no item (Python's `empty()`; a snapshot that
            /// other processes may change at once).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = ", $ctor, ";")]
            /// assert!(q.empty());
            /// q.put(1).unwrap();
            /// assert!(!q.empty());
            /// ```
            pub fn empty(&self) -> bool {
                self.core.empty()
            }

            /// Refuses later `put`s and `get`s through this handle (and its clones) with
            /// [`ProcessError::Closed`] (Python's `close()`); items already put stay for
            /// the other processes' readers.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = ", $ctor, ";")]
            /// q.close();
            /// assert!(q.get_nowait().is_err());
            /// ```
            pub fn close(&self) {
                self.core.closed.store(true, Ordering::Release);
            }
        }

        impl<T> fmt::Debug for $Q<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($Q))
                    .field("qsize", &self.core.ring.admitted())
                    .field("maxsize", &self.core.ring.maxsize())
                    .field("buffer", &self.core.ring.capacity())
                    .finish()
            }
        }

        impl<T> Clone for $Q<T> {
            fn clone(&self) -> Self {
                $Q {
                    core: self.core.clone(),
                }
            }
        }

        /// Sends the queue to another process: the ring's shared memory travels with a
        /// message (a child's argument or result, a value on a pipe); a
        /// `fork` child simply inherits it.
        impl<T> Serialize for $Q<T> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.core.serialize(serializer)
            }
        }

        impl<'de, T: Serialize + DeserializeOwned> Deserialize<'de> for $Q<T> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok($Q {
                    core: Core::deserialize(deserializer)?,
                })
            }
        }
    };
}

macro_rules! queue_put {
    ($Q:ident, $ctor:expr) => {
        impl<T: Serialize + DeserializeOwned> $Q<T> {
            /// A queue holding at most `maxsize` items (0: unbounded), with the default
            /// 4 MiB buffer (Python's `Queue(maxsize)`).
            ///
            /// # Errors
            ///
            /// [`ProcessError::Os`] if the shared memory cannot be created.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = ", $ctor, ";")]
            /// q.put(42).unwrap();
            /// assert_eq!(q.qsize(), 1);
            /// ```
            pub fn new(maxsize: usize) -> Result<Self, ProcessError> {
                Self::with_buffer(maxsize, DEFAULT_BUFFER)
            }

            /// A queue with a ring of `buffer` bytes: the largest item it takes is a
            /// few bytes smaller.
            ///
            /// # Errors
            ///
            /// [`ProcessError::InvalidArgument`] for a buffer under 64 bytes;
            /// [`ProcessError::Os`] if the shared memory cannot be created.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use conc_process::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::<Vec<u8>>::with_buffer(0, 1024).unwrap();")]
            /// assert!(q.put(vec![0u8; 4096]).is_err()); // bigger than the buffer
            /// q.put(vec![0u8; 100]).unwrap();
            /// ```
            pub fn with_buffer(maxsize: usize, buffer: usize) -> Result<Self, ProcessError> {
                Ok($Q {
                    core: Core::new(maxsize, buffer)?,
                })
            }

            /// Puts `item`, waiting while the queue holds `maxsize` items (Python's
            /// `put()`). On a queue without `maxsize` it never waits.
            ///
            /// Pass the item or a reference to it: with a reference you keep the value
            /// if the put fails.
            ///
            /// # Errors
            ///
            /// [`ProcessError::Closed`] after [`close`](Self::close);
            /// [`ProcessError::InvalidArgument`] if the encoded item is larger than the
            /// buffer; [`ProcessError::Serialization`] if it cannot be encoded.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = ", $ctor, ";")]
            /// let item = 5;
            /// q.put(&item).unwrap(); // by reference: `item` stays yours
            /// q.put(item).unwrap();
            /// assert_eq!(q.qsize(), 2);
            /// ```
            pub fn put(&self, item: impl Borrow<T>) -> Result<(), ProcessError> {
                self.core.put(item.borrow(), None)
            }

            /// Puts `item`, waiting at most `timeout` for room (Python's
            /// `put(timeout=...)`).
            ///
            /// # Errors
            ///
            /// [`ProcessError::Full`] if there was no room in time; those of
            /// [`put`](Self::put) otherwise.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("use conc_process::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::<u32>::new(1).unwrap();")]
            /// q.put(1).unwrap();
            /// assert_eq!(
            ///     q.put_timeout(2, Duration::from_millis(10)),
            ///     Err(conc_process::ProcessError::Full)
            /// );
            /// ```
            pub fn put_timeout(
                &self,
                item: impl Borrow<T>,
                timeout: Duration,
            ) -> Result<(), ProcessError> {
                self.core.put(item.borrow(), deadline_after(timeout))
            }

            /// Puts `item` if there is room now (Python's `put_nowait()`).
            ///
            /// # Errors
            ///
            /// [`ProcessError::Full`] if the queue holds `maxsize` items; those of
            /// [`put`](Self::put) otherwise.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use conc_process::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::<char>::new(1).unwrap();")]
            /// q.put_nowait('a').unwrap();
            /// assert_eq!(q.put_nowait('b'), Err(conc_process::ProcessError::Full));
            /// assert!(q.full());
            /// ```
            pub fn put_nowait(&self, item: impl Borrow<T>) -> Result<(), ProcessError> {
                self.core.put(item.borrow(), Some(Instant::now()))
            }

            /// The number of items put and not yet taken, counting those still on
            /// their way from a producer's feeder (Python's `qsize()`).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use conc_process::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::<u8>::new(2).unwrap();")]
            /// assert_eq!((q.qsize(), q.maxsize(), q.full()), (0, 2, false));
            /// q.put(1).unwrap();
            /// q.put(2).unwrap();
            /// assert_eq!((q.qsize(), q.full()), (2, true));
            /// ```
            pub fn qsize(&self) -> usize {
                self.core.ring.admitted()
            }

            /// Whether the queue holds `maxsize` items (always false without one).
            pub fn full(&self) -> bool {
                let max = self.core.ring.maxsize();
                max != 0 && self.core.ring.admitted() >= max
            }

            /// The queue's `maxsize` (0: unbounded).
            pub fn maxsize(&self) -> usize {
                self.core.ring.maxsize()
            }

            /// Waits until every item this process put is in the shared buffer
            /// (Python's `join_thread()`; done automatically before a child exits).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use conc_process::", stringify!($Q), ";")]
            ///
            /// // A 64-byte buffer holds a few items; the rest wait in this process.
            #[doc = concat!("let q = ", stringify!($Q), "::<u32>::with_buffer(0, 64).unwrap();")]
            /// for i in 0..20 {
            ///     q.put(i).unwrap();
            /// }
            /// assert!(q.backlog() > 0);
            /// let reader = q.clone();
            /// let drain = std::thread::spawn(move || (0..20).map(|_| reader.get().unwrap()).sum::<u32>());
            /// q.join_thread(); // returns once the reader made room for all of them
            /// assert_eq!(q.backlog(), 0);
            /// assert_eq!(drain.join().unwrap(), 190);
            /// ```
            pub fn join_thread(&self) {
                if let Some(f) = self.core.current_feeder() {
                    f.flush();
                }
            }

            /// Lets this process exit without waiting for its items still in the
            /// feeder (Python's `cancel_join_thread()`); they may be lost.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use conc_process::", stringify!($Q), ";")]
            ///
            #[doc = concat!("let q = ", stringify!($Q), "::<u32>::with_buffer(0, 64).unwrap();")]
            /// for i in 0..20 {
            ///     q.put(i).unwrap();
            /// }
            /// q.cancel_join_thread();
            /// q.join_thread(); // returns at once: the waiting items are given up
            /// ```
            pub fn cancel_join_thread(&self) {
                self.core.feeder().cancel_join();
            }

            /// Items of this process still waiting for room in the buffer.
            pub fn backlog(&self) -> usize {
                self.core.current_feeder().map_or(0, |f| f.backlog())
            }
        }
    };
}

/// A FIFO queue shared by processes (Python's `multiprocessing.Queue`).
///
/// Any number of processes may put and get. Pass it to a child as (part of) its
/// argument; clone it to share it between threads. Items are any serde type; they
/// travel encoded through shared memory.
///
/// # Examples
///
/// ```
/// use conc_process::{Process, Queue, StartMethod};
///
/// // Seed 001: the child puts [42, None, 'hello'], the parent gets it.
/// fn f(q: Queue<(i32, Option<()>, String)>) {
///     q.put((42, None, "hello".to_string())).unwrap();
/// }
///
/// let q = Queue::new(0).unwrap();
/// let p = Process::new(f, q.clone()).start_method(StartMethod::Fork);
/// p.start().unwrap();
/// assert_eq!(q.get().unwrap(), (42, None, "hello".to_string()));
/// p.join().unwrap();
/// ```
pub struct Queue<T> {
    core: Core<T>,
}

queue_docs_common!(Queue, "conc_process::Queue::<u32>::new(0).unwrap()");
queue_put!(Queue, "conc_process::Queue::<u32>::new(0).unwrap()");

/// A [`Queue`] whose consumers report each item done, so a producer can wait for all
/// of them (Python's `multiprocessing.JoinableQueue`).
///
/// # Examples
///
/// ```
/// use conc_process::{JoinableQueue, Process, StartMethod};
///
/// fn worker(q: JoinableQueue<u32>) {
///     while let Ok(n) = q.get() {
///         if n == 0 {
///             q.task_done().unwrap();
///             break;
///         }
///         q.task_done().unwrap();
///     }
/// }
///
/// let q = JoinableQueue::new(0).unwrap();
/// let p = Process::new(worker, q.clone()).start_method(StartMethod::Fork);
/// p.start().unwrap();
/// for n in [3, 2, 1, 0] {
///     q.put(n).unwrap();
/// }
/// q.join().unwrap(); // every item was marked done
/// p.join().unwrap();
/// ```
pub struct JoinableQueue<T> {
    core: Core<T>,
}

queue_docs_common!(
    JoinableQueue,
    "conc_process::JoinableQueue::<u32>::new(0).unwrap()"
);
queue_put!(
    JoinableQueue,
    "conc_process::JoinableQueue::<u32>::new(0).unwrap()"
);

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// Marks one item taken with `get` as done (Python's `task_done()`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::InvalidState`] if called more times than items were put
    /// (Python: `ValueError('task_done() called too many times')`).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_process::JoinableQueue::<u8>::new(0).unwrap();
    /// q.put(1).unwrap();
    /// q.get().unwrap();
    /// q.task_done().unwrap();
    /// assert!(q.task_done().is_err());
    /// ```
    pub fn task_done(&self) -> Result<(), ProcessError> {
        self.core.ring.task_done()
    }

    /// Waits until every item put has been marked done (Python's `join()`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the shared lock is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_process::JoinableQueue::<u8>::new(0).unwrap();
    /// q.join().unwrap(); // nothing put: returns at once
    /// ```
    pub fn join(&self) -> Result<(), ProcessError> {
        self.core.ring.join(None)
    }

    /// Like [`join`](Self::join), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Timeout`] if items are still unfinished.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let q = conc_process::JoinableQueue::<u8>::new(0).unwrap();
    /// q.put(1).unwrap();
    /// assert!(matches!(
    ///     q.join_timeout(Duration::from_millis(10)),
    ///     Err(conc_process::ProcessError::Timeout { .. })
    /// ));
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), ProcessError> {
        self.core
            .ring
            .join(deadline_after(timeout))
            .map_err(|e| e.waited_for("every task of the queue to be done", timeout))
    }

    /// Items put and not yet marked done.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_process::JoinableQueue::<u8>::new(0).unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// q.get().unwrap();
    /// q.task_done().unwrap();
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.core.ring.unfinished()
    }
}

/// The plain queue (Python's `multiprocessing.SimpleQueue`): unbounded, no feeder
/// thread, so `put` waits when the buffer is full instead of buffering in the producer.
///
/// # Examples
///
/// ```
/// let q = conc_process::SimpleQueue::<i32>::new().unwrap();
/// q.put(1).unwrap();
/// q.put(2).unwrap();
/// assert_eq!((q.get().unwrap(), q.get().unwrap()), (1, 2));
/// assert!(q.empty());
/// ```
pub struct SimpleQueue<T> {
    core: Core<T>,
}

queue_docs_common!(
    SimpleQueue,
    "conc_process::SimpleQueue::<u32>::new().unwrap()"
);

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// A simple queue with the default 4 MiB buffer.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Os`] if the shared memory cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_process::SimpleQueue::<String>::new().unwrap();
    /// assert!(q.empty());
    /// ```
    pub fn new() -> Result<Self, ProcessError> {
        Self::with_buffer(DEFAULT_BUFFER)
    }

    /// A simple queue with a ring of `buffer` bytes.
    ///
    /// # Errors
    ///
    /// As for [`Queue::with_buffer`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_process::SimpleQueue::<u8>::with_buffer(256).unwrap();
    /// q.put(7).unwrap();
    /// ```
    pub fn with_buffer(buffer: usize) -> Result<Self, ProcessError> {
        Ok(SimpleQueue {
            core: Core::new(0, buffer)?,
        })
    }

    /// Puts `item`, waiting for room in the buffer if it is full (Python's
    /// `SimpleQueue.put`, which blocks on a full pipe).
    ///
    /// # Errors
    ///
    /// As for [`Queue::put`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q = conc_process::SimpleQueue::<String>::new().unwrap();
    /// q.put(String::from("x")).unwrap();
    /// assert_eq!(q.get().unwrap(), "x");
    /// ```
    pub fn put(&self, item: impl Borrow<T>) -> Result<(), ProcessError> {
        self.core.check_open()?;
        let frame = self.core.encode(item.borrow())?;
        self.core.ring.admit(None)?;
        self.core.ring.write(&frame, None)?;
        Ok(())
    }
}
