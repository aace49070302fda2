//! Named-function calls (feature `process`): the work every executor can run, a
//! process pool included. A [`Job`](crate::Job) made by `Executor::submit_call` or
//! `map_call` holds a [`Call`]: a thread or greenlet executor runs it in place, as it
//! runs a closure; a process pool ships it to a worker through the small [`CallPool`]
//! interface, so this module needs nothing of the executor that implements it.

use conc_process::{Pool, ProcessError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::future::{Action, settle};
use crate::{Future, FutureError};

/// Forgets a finished call's canceller (see [`CallPool::track`]).
pub(crate) type Finish = Box<dyn FnOnce() + Send>;

/// What a call needs of the process pool that sends it.
pub(crate) trait CallPool {
    /// The pool whose workers run the call.
    fn pool(&self) -> &Pool;

    /// Registers `cancel` (what `shutdown(cancel_futures)` calls for a call not yet
    /// done) and returns what to call once the call is done.
    ///
    /// # Errors
    ///
    /// [`FutureError::ShutDown`] after shutdown.
    fn track(&self, cancel: Box<dyn Fn() + Send>) -> Result<Finish, FutureError>;
}

/// A named-function call inside a job.
pub(crate) trait Call: Send {
    /// Does `action` here, in this process, as a closure job would.
    fn in_place(self: Box<Self>, action: Action);

    /// Hands the call to a worker of `pool`; its future fails with the error if the
    /// pool refuses it.
    fn send(self: Box<Self>, pool: &dyn CallPool) -> Result<(), FutureError>;

    /// The call as a message for another rank (task `id`), and its future.
    #[cfg(feature = "mpi")]
    fn into_task(
        self: Box<Self>,
        id: u64,
    ) -> (Result<crate::mpi::wire::Task, FutureError>, Box<dyn Settle>);
}

/// The future of a call that runs on another rank, seen without its type.
#[cfg(feature = "mpi")]
pub(crate) trait Settle: Send {
    /// Marks the future running as its task leaves for a worker; `false` if it was
    /// cancelled first (the task is then dropped).
    fn start(&self) -> bool;

    /// Completes the future with the reply's value (decoded here), or with `error`.
    fn finish(self: Box<Self>, reply: Result<Vec<u8>, FutureError>);
}

#[cfg(feature = "mpi")]
impl<R: DeserializeOwned + Send + 'static> Settle for Future<R> {
    fn start(&self) -> bool {
        self.set_running_or_notify_cancel() == Ok(true)
    }

    fn finish(self: Box<Self>, reply: Result<Vec<u8>, FutureError>) {
        let value = reply
            .and_then(|bytes| crate::mpi::wire::decode::<R>(&bytes).map_err(FutureError::from));
        let _ = match value {
            Ok(value) => self.set_result(value),
            Err(FutureError::Cancelled) => {
                self.cancel();
                Ok(())
            }
            Err(error) => self.set_error(error),
        };
    }
}

/// `func(arg)`, completing `future`.
struct OneCall<A, R> {
    func: fn(A) -> R,
    arg: A,
    future: Future<R>,
}

/// `func` on every item of `chunk`, completing `future` with the values in order.
struct ChunkCall<A, R> {
    func: fn(A) -> R,
    chunk: Vec<A>,
    future: Future<Vec<R>>,
}

/// The call of `Job::call`.
pub(crate) fn one_call<A, R>(func: fn(A) -> R, arg: A, future: Future<R>) -> Box<dyn Call>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    Box::new(OneCall { func, arg, future })
}

/// The call of one chunk of `map_call`.
pub(crate) fn chunk_call<A, R>(
    func: fn(A) -> R,
    chunk: Vec<A>,
    future: Future<Vec<R>>,
) -> Box<dyn Call>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    Box::new(ChunkCall {
        func,
        chunk,
        future,
    })
}

/// Registers `future` with `pool` for cancellation; a refusal fails the future too.
fn track<T: Send + 'static>(
    pool: &dyn CallPool,
    future: &Future<T>,
) -> Result<Finish, FutureError> {
    let cancel = future.clone();
    pool.track(Box::new(move || {
        cancel.cancel();
    }))
    .inspect_err(|refused| {
        let _ = future.set_error(refused.clone());
    })
}

impl<A, R> Call for OneCall<A, R>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    fn in_place(self: Box<Self>, action: Action) {
        let OneCall { func, arg, future } = *self;
        settle(&future, action, move || func(arg));
    }

    #[cfg(feature = "mpi")]
    fn into_task(
        self: Box<Self>,
        id: u64,
    ) -> (Result<crate::mpi::wire::Task, FutureError>, Box<dyn Settle>) {
        let OneCall { func, arg, future } = *self;
        (crate::mpi::wire::one(id, func, &arg), Box::new(future))
    }

    fn send(self: Box<Self>, pool: &dyn CallPool) -> Result<(), FutureError> {
        let OneCall { func, arg, future } = *self;
        let finish = track(pool, &future)?;
        pool.pool().apply_then(func, arg, move |outcome| {
            finish();
            let _ = match outcome {
                Ok(value) => future.set_result(value),
                Err(e) => future.set_error(future_error(e)),
            };
        });
        Ok(())
    }
}

impl<A, R> Call for ChunkCall<A, R>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    fn in_place(self: Box<Self>, action: Action) {
        let ChunkCall {
            func,
            chunk,
            future,
        } = *self;
        settle(&future, action, move || {
            chunk.into_iter().map(func).collect()
        });
    }

    #[cfg(feature = "mpi")]
    fn into_task(
        self: Box<Self>,
        id: u64,
    ) -> (Result<crate::mpi::wire::Task, FutureError>, Box<dyn Settle>) {
        let ChunkCall {
            func,
            chunk,
            future,
        } = *self;
        (crate::mpi::wire::chunk(id, func, &chunk), Box::new(future))
    }

    fn send(self: Box<Self>, pool: &dyn CallPool) -> Result<(), FutureError> {
        let ChunkCall {
            func,
            chunk,
            future,
        } = *self;
        let finish = track(pool, &future)?;
        pool.pool().map_chunk_then(func, chunk, move |results| {
            finish();
            let _ = match results.into_iter().collect::<Result<Vec<R>, _>>() {
                Ok(values) => future.set_result(values),
                Err(e) => future.set_error(future_error(e)),
            };
        });
        Ok(())
    }
}

/// The future error for a pool's error.
fn future_error(e: ProcessError) -> FutureError {
    match e {
        ProcessError::Panicked { message, .. } => FutureError::Panicked { message },
        e @ ProcessError::Died { .. } => FutureError::WorkerDied {
            message: e.to_string(),
        },
        ProcessError::PoolBroken(why) => FutureError::BrokenExecutor(why),
        ProcessError::Cancelled(_) => FutureError::Cancelled,
        ProcessError::Closed(_) => FutureError::ShutDown,
        other => FutureError::Transport(other.to_string()),
    }
}
