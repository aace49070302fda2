//! What a pool worker and its keeper say to each other, and the worker's loop.
//!
//! Each worker has one socket pair with its keeper thread in the parent:
//!
//! ```text
//!   worker  ---- Hello::Ready (or InitFailed) ---->  keeper     once, after the initializer
//!   worker  <--- task: (entry, func, [A; n]) ------  keeper
//!   worker  ---- reply: Ok([Ok(R) | Err(panic); n]) ->  keeper  then the next task
//!   worker  <--- an empty frame --------------------  keeper     retire: the worker exits
//! ```
//!
//! A worker reads its next task only after it has replied to the last one, so the
//! keeper always knows which task a dead worker held. Functions travel as code offsets
//! (see `bootstrap`): the worker is a copy (fork, forkserver) or a re-execution (spawn)
//! of this very program.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ProcessError;
use crate::bootstrap;
use crate::ipc::{self, Frame, FrameReader, OutgoingFrame};
use crate::wire::{self, Descriptor};

/// What a worker process is started with.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WorkerArgs<I> {
    /// The worker's end of its socket pair.
    pub(crate) socket: Descriptor,
    /// The initializer's code offset and its argument.
    pub(crate) init: Option<(isize, I)>,
    /// Python's `maxtasksperchild`: the worker exits after this many tasks.
    pub(crate) max_tasks: Option<usize>,
}

/// The worker's first message.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Hello {
    /// The initializer ran (or there is none): tasks may come.
    Ready,
    /// The initializer panicked with this message; the worker exits.
    InitFailed(String),
}

/// The reply to one task: a result per argument (a panic's message in place of a
/// value), or why none could be produced.
type Reply<R> = Result<Vec<Result<R, String>>, String>;

/// Every `task_entry::<A, R>` once its types are erased: the user's function's
/// address, the arguments' bytes and descriptors; the reply's bytes and descriptors.
type TaskEntry = fn(usize, &[u8], Vec<OwnedFd>) -> (Vec<u8>, Vec<OwnedFd>);

/// Encodes a task running `func` on each of `args` in a worker.
///
/// # Errors
///
/// [`ProcessError::InvalidArgument`] when `func` lives in a dynamic library (a spawned
/// worker could not find it), [`ProcessError::Serialization`] when the arguments
/// cannot be encoded.
pub(crate) fn encode_task<A, R>(func: fn(A) -> R, args: &[A]) -> Result<OutgoingFrame, ProcessError>
where
    A: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
{
    encode_with(task_entry::<A, R> as TaskEntry, func as usize, args)
}

/// Encodes a task running `func(a, b)` on each pair of `args` (Python's `starmap`).
///
/// # Errors
///
/// As [`encode_task`].
pub(crate) fn encode_star_task<A, B, R>(
    func: fn(A, B) -> R,
    args: &[(A, B)],
) -> Result<OutgoingFrame, ProcessError>
where
    A: Serialize + DeserializeOwned,
    B: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
{
    encode_with(star_task_entry::<A, B, R> as TaskEntry, func as usize, args)
}

fn encode_with<T: Serialize>(
    entry: TaskEntry,
    func: usize,
    args: &[T],
) -> Result<OutgoingFrame, ProcessError> {
    let entry = entry as usize;
    check_in_main_image(&[func, entry])?;
    let header = (bootstrap::code_offset(entry), bootstrap::code_offset(func));
    let (bytes, fds) = wire::encode_message(&(header, args)).map_err(|e| {
        ProcessError::Serialization(format!(
            "the task's argument of type `{}` could not be serialized: {}",
            std::any::type_name::<T>(),
            reason(e)
        ))
    })?;
    OutgoingFrame::new(bytes, fds)
}

/// The code offset of an initializer, checked like a task's function.
///
/// # Errors
///
/// [`ProcessError::InvalidArgument`] when `init` lives in a dynamic library.
pub(crate) fn initializer_offset<I>(init: fn(I)) -> Result<isize, ProcessError> {
    let addr = init as usize;
    check_in_main_image(&[addr])?;
    Ok(bootstrap::code_offset(addr))
}

fn check_in_main_image(addrs: &[usize]) -> Result<(), ProcessError> {
    if bootstrap::in_main_image(addrs) {
        return Ok(());
    }
    Err(ProcessError::InvalidArgument(
        "the function lives in a dynamic library: pool workers can only find functions \
         of the program itself"
            .into(),
    ))
}

/// Decodes a worker's reply to a task of `count` arguments.
///
/// # Errors
///
/// [`ProcessError::Serialization`] when the worker could not decode the arguments or
/// encode the results, or the reply is not what was asked for.
pub(crate) fn decode_reply<R: DeserializeOwned>(
    frame: Frame,
    count: usize,
) -> Result<Vec<Result<R, String>>, ProcessError> {
    let results = ipc::decode::<Reply<R>>(frame)
        .map_err(|e| match e {
            ProcessError::Serialization(why) => ProcessError::Serialization(format!(
                "the results of type `{}` could not be decoded: {why}",
                std::any::type_name::<R>()
            )),
            other => other,
        })?
        .map_err(ProcessError::Serialization)?;
    if results.len() != count {
        return Err(ProcessError::BadMessage(format!(
            "a pool worker answered {} results to a task of {count}",
            results.len()
        )));
    }
    Ok(results)
}

/// Runs in the worker: decodes the arguments, calls the function on each (catching
/// panics), encodes the reply.
fn task_entry<A, R>(func: usize, args: &[u8], fds: Vec<OwnedFd>) -> (Vec<u8>, Vec<OwnedFd>)
where
    A: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
{
    // SAFETY: `func` is the address of an `fn(A) -> R` of this program image, sent by
    // `encode_task` together with the address of this very `task_entry::<A, R>`, so the
    // types agree (see `bootstrap` for why the addresses mean the same code here).
    let func: fn(A) -> R = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    run_each(args, fds, func)
}

/// [`task_entry`] for a function of two arguments, each task argument a pair.
fn star_task_entry<A, B, R>(func: usize, args: &[u8], fds: Vec<OwnedFd>) -> (Vec<u8>, Vec<OwnedFd>)
where
    A: Serialize + DeserializeOwned,
    B: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
{
    // SAFETY: `func` is the address of an `fn(A, B) -> R` of this program image, sent by
    // `encode_star_task` together with the address of this very
    // `star_task_entry::<A, B, R>`, so the types agree.
    let func: fn(A, B) -> R = unsafe { std::mem::transmute::<usize, fn(A, B) -> R>(func) };
    run_each(args, fds, |(a, b): (A, B)| func(a, b))
}

/// Decodes the arguments, runs `func` on each (catching panics), encodes the reply.
fn run_each<A, R>(args: &[u8], fds: Vec<OwnedFd>, func: impl Fn(A) -> R) -> (Vec<u8>, Vec<OwnedFd>)
where
    A: DeserializeOwned,
    R: Serialize,
{
    let reply: Reply<R> = match wire::decode_message::<Vec<A>>(args, fds) {
        Ok(args) => Ok(args.into_iter().map(|arg| catch(|| func(arg))).collect()),
        Err(e) => Err(format!(
            "the worker could not decode the task's argument of type `{}`: {}",
            std::any::type_name::<A>(),
            reason(e)
        )),
    };
    encode_reply(&reply)
}

/// Why a value did not cross: a serialization error's text without its "serialization
/// failed" prefix, which the error that carries it on adds again.
fn reason(e: ProcessError) -> String {
    match e {
        ProcessError::Serialization(why) => why,
        other => other.to_string(),
    }
}

/// Runs `f`, turning a panic into its message.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| conc_thread::panic_message(&*payload))
}

/// Runs in the one-shot child of a closure task (`fork`): its results reach the
/// keeper on `socket` as a worker's reply would.
pub(crate) fn reply_from_fork<R: Serialize>(socket: &OwnedFd, results: Vec<Result<R, String>>) {
    let _ = send(socket.as_fd(), &encode_reply(&Ok(results)));
}

/// A reply's bytes and descriptors; a reply that cannot be encoded becomes the error
/// saying so.
fn encode_reply<R: Serialize>(reply: &Reply<R>) -> (Vec<u8>, Vec<OwnedFd>) {
    wire::encode_message(reply).unwrap_or_else(|e| {
        let failed: Reply<R> = Err(format!(
            "the worker could not serialize the results of type `{}`: {}",
            std::any::type_name::<R>(),
            reason(e)
        ));
        // A `String` always encodes.
        wire::encode_message(&failed).unwrap_or_default()
    })
}

/// Runs one task frame, returning the reply's bytes and descriptors.
fn run_task(mut frame: Frame) -> (Vec<u8>, Vec<OwnedFd>) {
    let fds = std::mem::take(&mut frame.fds);
    let Ok(((entry, func), args)) = postcard::take_from_bytes::<(isize, isize)>(frame.payload())
    else {
        let failed: Reply<()> = Err("the worker received a malformed task".into());
        return wire::encode_message(&failed).unwrap_or_default();
    };
    // SAFETY: `entry` is the offset of a `task_entry::<A, R>` of this program image,
    // computed by `encode_task` in the parent, whose image this worker shares; once
    // erased it has the `TaskEntry` signature.
    let entry = unsafe { std::mem::transmute::<usize, TaskEntry>(bootstrap::code_addr(entry)) };
    entry(bootstrap::code_addr(func), args, fds)
}

fn send(socket: BorrowedFd<'_>, (bytes, fds): &(Vec<u8>, Vec<OwnedFd>)) -> bool {
    let fds: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
    ipc::send_frame(socket, bytes, &fds, None).is_ok()
}

/// A pool worker's life: the initializer, then tasks until the keeper closes the socket
/// (the pool is closing) or `max_tasks` are done.
pub(crate) fn worker_main<I>(args: WorkerArgs<I>)
where
    I: Serialize + DeserializeOwned,
{
    let socket = args.socket.0;
    let mut hello = Hello::Ready;
    if let Some((offset, arg)) = args.init {
        // SAFETY: `offset` is the offset of an `fn(I)` of this program image, computed
        // by `initializer_offset::<I>` for the `WorkerArgs<I>` this worker was started
        // with, so the types agree.
        let init = unsafe { std::mem::transmute::<usize, fn(I)>(bootstrap::code_addr(offset)) };
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| init(arg))) {
            hello = Hello::InitFailed(conc_thread::panic_message(&*payload));
        }
    }
    let failed = matches!(hello, Hello::InitFailed(_));
    if ipc::send_value(socket.as_fd(), &hello, None).is_err() || failed {
        return;
    }
    let mut reader = FrameReader::default();
    let mut done = 0;
    // An empty frame (the keeper retires the worker) or any error reading (end of
    // file: the keeper is gone; a bad frame) ends the worker.
    while let Ok(frame) = reader.read(socket.as_fd(), None) {
        if frame.payload().is_empty() {
            return;
        }
        if !send(socket.as_fd(), &run_task(frame)) {
            return;
        }
        done += 1;
        if args.max_tasks.is_some_and(|max| done >= max) {
            return;
        }
    }
}
