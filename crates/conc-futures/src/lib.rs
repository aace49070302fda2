//! Python's `concurrent.futures` for Rust: one [`Future`] type, one [`Executor`]
//! trait, a [`ThreadPoolExecutor`], [`as_completed`], [`wait`], and `.await` from any
//! async runtime.
//!
//! ```
//! use conc_futures::{Executor, ThreadPoolExecutor, as_completed};
//!
//! fn is_prime(n: u64) -> bool {
//!     n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
//! }
//!
//! let pool = ThreadPoolExecutor::builder().max_workers(4).build().unwrap();
//! let numbers = [112_272_535_095_293_u64, 7, 10];
//! let futures: Vec<_> = numbers
//!     .iter()
//!     .map(|&n| pool.submit(move || (n, is_prime(n))).unwrap())
//!     .collect();
//! for f in as_completed(&futures, None) {
//!     let (n, prime) = f.unwrap().result().unwrap();
//!     println!("{n} is prime: {prime}");
//! }
//! // In input order, like `executor.map`:
//! let primes: Vec<bool> = pool.map(numbers, is_prime, None, 1).unwrap().map(Result::unwrap).collect();
//! assert_eq!(primes, [true, true, false]);
//! ```
//!
//! # What is here
//!
//! | Python | here |
//! | --- | --- |
//! | `Executor.submit`, `map(timeout, chunksize)`, `shutdown(wait, cancel_futures)`, `with` | [`Executor`]; dropping an executor is `shutdown(wait=True)` |
//! | `ThreadPoolExecutor(max_workers, thread_name_prefix, initializer)` | [`ThreadPoolExecutor`], [`ThreadPoolBuilder`] |
//! | `ProcessPoolExecutor(max_workers, mp_context, initializer, initargs, max_tasks_per_child)` | `ProcessPoolExecutor`, `ProcessPoolBuilder` (feature `process`) |
//! | gevent's greenlets behind an executor | `GreenletExecutor` (feature `coro`) |
//! | `mpi4py.futures.MPIPoolExecutor` | `mpi::MpiPoolExecutor` (feature `mpi`, needs a system MPI; not built on docs.rs) |
//! | one interface over all of them | [`Executor`] (object-safe: `Box<dyn Executor>`), [`Job`]; with feature `process`, `Executor::submit_call` / `map_call` run named functions on every executor, processes included |
//! | `Future.result(timeout)`, `exception`, `cancel`, `cancelled`, `running`, `done`, `add_done_callback` | [`Future`] (plus [`Future::take`] for values that are not `Clone`) |
//! | `as_completed(fs, timeout)`, `wait(fs, timeout, return_when)` | [`as_completed()`], [`wait()`], [`ReturnWhen`] |
//! | `CancelledError`, `TimeoutError`, `BrokenExecutor`, `InvalidStateError` | [`FutureError`] |
//! | `await loop.run_in_executor(pool, fn)`, `asyncio.gather`, `asyncio.wait` | [`run_in_executor`], [`gather`], [`wait_async`], and `.await` on any [`Future`] |
//!
//! # Differences from Python, and why
//!
//! - **Panics are errors**: a panicking task gives [`FutureError::Panicked`] with the
//!   message; the worker thread survives.
//! - **No GIL**: a thread pool runs CPU-bound work in parallel.
//! - **Cancellation wakes waiters.** CPython's `cancel()` and
//!   `shutdown(cancel_futures=True)` can leave `wait` and `as_completed` asleep or
//!   misreporting (CPython issues #92001, #109934, #87893); here every cancellation
//!   wakes them at once.
//! - **Values move.** [`Future::result`] clones the value (`T: Clone`) and may be asked
//!   again; [`Future::take`] and `.await` move it out once.
//! - **`map` honours `chunksize` for every executor** by sending each chunk as one task.
//!
//! # Greenlets (feature `coro`)
//!
//! With the `coro` feature, a wait on futures ([`Future::result`],
//! [`Future::result_timeout`], [`Future::wait`], [`Future::take`], [`Executor::map`]'s
//! iterator, [`wait()`], [`as_completed()`]) made on a thread whose conc-coro hub exists
//! parks the calling greenlet instead of blocking the thread: the other greenlets keep
//! running, and the pool's worker wakes the hub when a future completes (through
//! `conc_coro::wait_future`). So 1,000 greenlets can wait on thread-pool futures while
//! their hub keeps serving. Without the feature, or on a thread without a hub, the
//! thread blocks as before.
//!
//! # Async interop
//!
//! Every [`Future`] implements [`IntoFuture`]: `.await` it in
//! tokio, async-std, smol or a hand-written executor. Completion wakes the awaiting task
//! through its `Waker`; dropping the `.await` does not cancel the task.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod as_completed;
mod asyncio;
#[cfg(feature = "process")]
mod call;
mod error;
mod executor;
mod future;
#[cfg(feature = "coro")]
mod greenlet_executor;
#[cfg(feature = "mpi")]
pub mod mpi;
#[cfg(feature = "process")]
mod process_pool;
mod thread_pool;
mod wait;
mod waiter;

pub use as_completed::{AsCompleted, as_completed};
pub use asyncio::{WaitAsync, gather, run_in_executor, wait_async};
pub use error::FutureError;
pub use executor::{Executor, Job, MapResults};
pub use future::{Awaiting, Future, State};
#[cfg(feature = "coro")]
#[cfg_attr(docsrs, doc(cfg(feature = "coro")))]
pub use greenlet_executor::GreenletExecutor;
#[cfg(feature = "process")]
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
pub use process_pool::{ProcessPoolBuilder, ProcessPoolExecutor};
pub use thread_pool::{ThreadPoolBuilder, ThreadPoolExecutor};
pub use wait::{DoneAndNotDone, ReturnWhen, wait};

/// The README's examples, compiled and run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
