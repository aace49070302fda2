//! What crosses between ranks: a task names its function by code offset, as every
//! rank runs the same program, and carries its argument as postcard bytes; the reply
//! carries the result's bytes or why there is none.
//!
//! ```text
//!   task   (tag TASK):   Task { id, entry, func, args }
//!   reply  (tag RESULT): (id, Result<result bytes, Failure>)
//!   stop   (tag STOP):   empty: the worker leaves its loop
//! ```
//!
//! `entry` is the offset of `run_one::<A, R>` (or `run_chunk`), monomorphized for the
//! task's types, and `func` the offset of the user's `fn(A) -> R`: the worker calls the
//! entry with the function, so the types the two sides use always agree.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::FutureError;

/// Message tags.
pub(crate) const TAG_TASK: i32 = 1;
pub(crate) const TAG_STOP: i32 = 2;
pub(crate) const TAG_RESULT: i32 = 3;

/// The largest message MPI's `int` count can carry.
pub(crate) const MAX_MESSAGE: usize = i32::MAX as usize;

/// A task as it travels.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Task {
    pub(crate) id: u64,
    entry: isize,
    func: isize,
    args: Vec<u8>,
}

/// Why a task has no result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Failure {
    /// The function panicked; its message.
    Panicked(String),
    /// An argument or result did not cross.
    Transport(String),
}

impl From<Failure> for FutureError {
    fn from(failure: Failure) -> FutureError {
        match failure {
            Failure::Panicked(message) => FutureError::Panicked { message },
            Failure::Transport(why) => FutureError::Transport(why),
        }
    }
}

/// A worker's answer: the result's bytes, or why there are none.
pub(crate) type Reply = Result<Vec<u8>, Failure>;

/// What a worker calls: decodes the arguments, runs the function, encodes the result.
type Entry = fn(func: usize, args: &[u8]) -> Reply;

/// The point every code offset is counted from.
#[inline(never)]
fn anchor() {}

/// Where [`anchor`] sits in this process.
fn anchor_address() -> usize {
    anchor as *const () as usize
}

fn offset(address: usize) -> isize {
    (address as isize).wrapping_sub(anchor_address() as isize)
}

fn address(offset: isize) -> usize {
    (anchor_address() as isize).wrapping_add(offset) as usize
}

/// The task running `func(arg)`.
///
/// # Errors
///
/// [`FutureError::InvalidArgument`] if `func` is not code of the program itself (a
/// dynamic library sits at another address on each rank); [`FutureError::Transport`]
/// if the argument cannot be encoded.
pub(crate) fn one<A, R>(id: u64, func: fn(A) -> R, arg: &A) -> Result<Task, FutureError>
where
    A: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
{
    task(id, run_one::<A, R>, func as usize, arg)
}

/// The task running `func` on every item of `chunk`, the results in order.
///
/// # Errors
///
/// As [`one`].
pub(crate) fn chunk<A, R>(id: u64, func: fn(A) -> R, chunk: &[A]) -> Result<Task, FutureError>
where
    A: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
{
    task(id, run_chunk::<A, R>, func as usize, chunk)
}

fn task<T: Serialize + ?Sized>(
    id: u64,
    entry: Entry,
    func: usize,
    args: &T,
) -> Result<Task, FutureError> {
    if !same_image(func) {
        return Err(FutureError::InvalidArgument(
            "an MPI task's function must be code of the program itself, not of a dynamic \
             library: each rank loads libraries at other addresses",
        ));
    }
    let args = postcard::to_stdvec(args).map_err(|e| {
        FutureError::Transport(format!(
            "the task's argument of type `{}` could not be encoded: {e}",
            std::any::type_name::<T>()
        ))
    })?;
    Ok(Task {
        id,
        entry: offset(entry as usize),
        func: offset(func),
        args,
    })
}

/// Runs `task` here (in a worker rank).
pub(crate) fn run(task: &Task) -> Reply {
    // SAFETY: `task.entry` is the offset of a `run_one`/`run_chunk` instance from
    // `anchor`, computed by `task` in a rank running this same program image (the ranks
    // compare `fingerprint`s before any task flows), so `address` gives back that
    // function here, with exactly the `Entry` signature.
    let entry = unsafe { std::mem::transmute::<usize, Entry>(address(task.entry)) };
    entry(address(task.func), &task.args)
}

fn run_one<A: DeserializeOwned, R: Serialize>(func: usize, args: &[u8]) -> Reply {
    // SAFETY: `func` is the address of an `fn(A) -> R` of this image, sent together
    // with this very instance of `run_one::<A, R>` (see `run`), so the types agree.
    let func = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    let arg: A = decode(args)?;
    let value = catch_unwind(AssertUnwindSafe(|| func(arg)))
        .map_err(|payload| Failure::Panicked(conc_thread::panic_message(&*payload)))?;
    encode(&value)
}

fn run_chunk<A: DeserializeOwned, R: Serialize>(func: usize, args: &[u8]) -> Reply {
    // SAFETY: as in `run_one`.
    let func = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    let items: Vec<A> = decode(args)?;
    let values = catch_unwind(AssertUnwindSafe(|| {
        items.into_iter().map(func).collect::<Vec<R>>()
    }))
    .map_err(|payload| Failure::Panicked(conc_thread::panic_message(&*payload)))?;
    encode(&values)
}

/// `value` as postcard bytes.
///
/// # Errors
///
/// [`Failure::Transport`] naming the type when serde refuses it.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Failure> {
    postcard::to_stdvec(value).map_err(|e| {
        Failure::Transport(format!(
            "a value of type `{}` could not be encoded: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// A value of type `T` from postcard bytes.
///
/// # Errors
///
/// [`Failure::Transport`] naming the type when the bytes are not one.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    postcard::from_bytes(bytes).map_err(|e| {
        Failure::Transport(format!(
            "a value of type `{}` could not be decoded: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// What identifies this program image: where a standard function sits from `anchor`,
/// and the size of the executable file. Ranks running different builds differ.
pub(crate) fn fingerprint() -> (isize, u64) {
    let size = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map_or(0, |m| m.len());
    // The standard library is linked in whole and far from this crate's code: any
    // change to the program moves one against the other.
    (offset(std::process::exit as *const () as usize), size)
}

/// Whether `func` lies in the same loaded object as this crate's code.
fn same_image(func: usize) -> bool {
    base_of(func).is_some_and(|base| Some(base) == base_of(anchor_address()))
}

/// The base address of the loaded object holding `address`.
fn base_of(address: usize) -> Option<usize> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: `dladdr` only reads the address (it does not dereference it) and fills
    // `info`, which is valid for writes; a zero return leaves it unused.
    let found = unsafe { libc::dladdr(address as *const libc::c_void, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: `dladdr` returned non-zero, so it filled `info`.
    let info = unsafe { info.assume_init() };
    Some(info.dli_fbase as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u32) -> u32 {
        x * 2
    }

    fn boom(_: ()) -> u8 {
        panic!("boom")
    }

    #[test]
    fn a_task_runs_here_as_on_a_worker() {
        let task = one(7, double, &21).unwrap();
        assert_eq!(task.id, 7);
        assert_eq!(decode::<u32>(&run(&task).unwrap()), Ok(42));
        let chunk = chunk(8, double, &[1, 2, 3]).unwrap();
        assert_eq!(decode::<Vec<u32>>(&run(&chunk).unwrap()), Ok(vec![2, 4, 6]));
        assert_eq!(
            run(&one(9, boom, &()).unwrap()),
            Err(Failure::Panicked("boom".into()))
        );
    }

    #[test]
    fn bad_bytes_are_a_transport_failure() {
        let mut task = one(1, double, &1).unwrap();
        task.args.clear();
        assert!(matches!(run(&task), Err(Failure::Transport(why)) if why.contains("u32")));
    }
}
