//! `MpiPoolExecutor` (feature `mpi`): Python's `mpi4py.futures.MPIPoolExecutor`, an
//! executor whose workers are the ranks of an MPI job, on rsmpi and the system's MPI.
//!
//! Every rank runs the same program. [`init`], called first thing in `main`, decides
//! what this process is: rank 0 gets an [`Mpi`] handle and goes on with `main`; every
//! other rank (under `mpiexec -n N ./program`), and every worker spawned by
//! [`MpiPoolBuilder::spawn`], serves tasks until rank 0 is done, then exits without
//! returning from `init`.
//!
//! Tasks are named functions `fn(A) -> R` whose argument and result cross with serde,
//! as for [`ProcessPoolExecutor`](crate::ProcessPoolExecutor): the function travels as
//! its offset in the program image, which is the same on every rank (checked when the
//! job starts; the ranks must run the same build).
//!
//! # Faults and limits
//!
//! - A task that panics fails its own future with [`FutureError::Panicked`] and the
//!   message; the rank serves the next task.
//! - A rank that dies (killed, `exit`, abort) ends the whole MPI job: MPI's default
//!   error handler (`MPI_ERRORS_ARE_FATAL`) aborts every rank, and `mpiexec` reports
//!   it. MPI has no portable way to lose a rank and carry on, so unlike the process
//!   pool a dead worker is not replaced.
//! - One message carries at most 2 GiB (MPI's `int` count): a bigger argument or result
//!   fails its future with [`FutureError::Transport`].
//! - Waiting never burns a core: both sides poll with a backoff, at most 200 µs between
//!   polls by default ([`MpiPoolBuilder::backoff`], or `CONC_MPI_BACKOFF_US` for every
//!   rank): a longer ceiling costs latency after a quiet spell, a shorter one CPU.
//! - Started alone (not under `mpiexec`), [`MpiPoolExecutor::new`] has no worker ranks
//!   and says so; [`MpiPoolBuilder::spawn`] starts workers at run time with
//!   `MPI_Comm_spawn` where the MPI library supports it.
//!
//! # Examples
//!
//! ```no_run
//! use conc_futures::mpi::{self, MpiPoolExecutor};
//!
//! fn is_prime(n: u64) -> bool {
//!     n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
//! }
//!
//! fn main() {
//!     // Under `mpiexec -n 3 ./program`: ranks 1 and 2 serve tasks inside this call.
//!     let mpi = mpi::init().expect("MPI starts");
//!     let pool = MpiPoolExecutor::new(&mpi).expect("worker ranks");
//!     let primes: Vec<bool> = pool
//!         .map(is_prime, [2, 4, 7, 1_000_003], None, 1)
//!         .unwrap()
//!         .collect::<Result<_, _>>()
//!         .unwrap();
//!     assert_eq!(primes, [true, false, true, true]);
//! }
//! ```

mod backoff;
mod manager;
pub(crate) mod wire;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use mpi::Threading;
use mpi::collective::Root;
use mpi::environment::Universe;
use mpi::point_to_point::Destination;
use mpi::topology::{Communicator, Rank, SimpleCommunicator};
use serde::Serialize;
use serde::de::DeserializeOwned;

use self::manager::{Order, Workers};
use crate::{Executor, Future, FutureError, Job, MapResults};

/// Rank 0's handle on the MPI job, from [`init`]: what [`MpiPoolExecutor`]s are made
/// from. Dropping it (at the end of `main`) tells the worker ranks to stop and
/// finalizes MPI once the last executor made from it is gone.
///
/// # Examples
///
/// ```no_run
/// let mpi = conc_futures::mpi::init().unwrap(); // under `mpiexec -n 3 ./program`
/// assert_eq!(mpi.world_size(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct Mpi {
    session: Arc<Session>,
}

/// The MPI library, initialized once; finalized when the last handle goes.
struct Session {
    universe: Mutex<Option<Universe>>,
    /// Ranks in `MPI_COMM_WORLD` (1 when started alone).
    size: Rank,
    /// Whether an executor is using the world's worker ranks.
    in_use: AtomicBool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let world = SimpleCommunicator::world();
        for rank in 1..self.size {
            world
                .process_at_rank(rank)
                .send_with_tag(&[0u8; 0][..], wire::TAG_STOP);
        }
        // Finalizes MPI: every executor (holding this session) is gone, so no thread
        // of this process makes MPI calls any more.
        drop(
            self.universe
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }
}

/// Starts MPI and decides this process's part: returns on rank 0 (the program's
/// `main` goes on); serves tasks and then exits the process on every other rank and
/// in workers spawned at run time. Call it first thing in `main`, before any thread
/// starts (Python: the `mpi4py.futures` entry point).
///
/// # Errors
///
/// [`FutureError::InvalidState`] if MPI was already initialized;
/// [`FutureError::BrokenExecutor`] if the MPI library cannot let a thread other than
/// `main` make its calls (it must support at least `MPI_THREAD_SERIALIZED`).
///
/// # Panics
///
/// On a worker rank, never returns. Ranks running different builds of the program
/// abort the MPI job at once (their task addresses would not agree).
pub fn init() -> Result<Mpi, FutureError> {
    let Some((universe, _)) = mpi::initialize_with_threading(Threading::Multiple) else {
        return Err(FutureError::InvalidState(
            "MPI is already initialized: call conc_futures::mpi::init() once, first thing in \
             main, or pass your Universe to init_with",
        ));
    };
    init_with(universe)
}

/// [`init`] for a program that started MPI itself (to use it for other things first):
/// takes over `universe` and decides this process's part the same way. Every rank
/// must call it, at the same point of the program.
///
/// # Errors
///
/// [`FutureError::BrokenExecutor`] if MPI was initialized with less than
/// `Threading::Serialized` (start it with `mpi::initialize_with_threading`).
///
/// # Panics
///
/// As [`init`].
pub fn init_with(universe: Universe) -> Result<Mpi, FutureError> {
    let threading = mpi::environment::threading_support();
    if threading < Threading::Serialized {
        return Err(FutureError::BrokenExecutor(format!(
            "the MPI library offers {threading:?} threading; MpiPoolExecutor makes its MPI \
             calls from a thread of its own and needs at least Serialized"
        )));
    }
    let ceiling = backoff::ceiling_from_env();
    let world = universe.world();
    if let Some(parent) = world.parent() {
        worker::serve(&parent, 0, ceiling);
        drop(universe);
        std::process::exit(0);
    }
    check_same_program(&world);
    if world.rank() != 0 {
        worker::serve(&world, 0, ceiling);
        drop(universe);
        std::process::exit(0);
    }
    Ok(Mpi {
        session: Arc::new(Session {
            size: world.size(),
            universe: Mutex::new(Some(universe)),
            in_use: AtomicBool::new(false),
        }),
    })
}

/// Aborts the job if this rank runs another build than rank 0.
fn check_same_program(world: &SimpleCommunicator) {
    let (offset, size) = wire::fingerprint();
    let mut theirs = [offset as i64, size as i64];
    world.process_at_rank(0).broadcast_into(&mut theirs[..]);
    if theirs != [offset as i64, size as i64] {
        log::error!(
            "MPI rank {} runs another build of the program than rank 0: every rank must run \
             the same binary (the same path on every host)",
            world.rank()
        );
        world.abort(1);
    }
}

impl Mpi {
    /// The number of processes in the MPI job, rank 0 included (1 when started alone).
    pub fn world_size(&self) -> usize {
        self.session.size as usize
    }
}

/// Configures an [`MpiPoolExecutor`].
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use conc_futures::mpi::{self, MpiPoolExecutor};
///
/// let mpi = mpi::init().unwrap();
/// // Started alone: spawn 2 workers; poll at most every 50 µs.
/// let pool = MpiPoolExecutor::builder(&mpi)
///     .spawn(2)
///     .backoff(Duration::from_micros(50))
///     .build()
///     .unwrap();
/// assert_eq!(pool.max_workers(), 2);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Debug)]
pub struct MpiPoolBuilder {
    session: Arc<Session>,
    backoff: Duration,
    spawn: Option<usize>,
}

impl MpiPoolBuilder {
    /// The longest sleep between two polls for replies (default 200 µs, or
    /// `CONC_MPI_BACKOFF_US`): the latency-against-CPU trade-off of
    /// `MPI4PY_FUTURES_BACKOFF`.
    pub fn backoff(mut self, ceiling: Duration) -> Self {
        self.backoff = ceiling;
        self
    }

    /// Starts `n` worker processes of this program with `MPI_Comm_spawn` instead of
    /// using the ranks `mpiexec` started (mpi4py's `MPIPoolExecutor(max_workers=n)`
    /// run alone). They serve this executor only and stop with it.
    pub fn spawn(mut self, n: usize) -> Self {
        self.spawn = Some(n);
        self
    }

    /// Starts the executor.
    ///
    /// # Errors
    ///
    /// [`FutureError::InvalidArgument`] when there are no worker ranks (not started
    /// under `mpiexec`, and no `spawn`) or `spawn(0)`; [`FutureError::InvalidState`]
    /// when another executor is using the `mpiexec` ranks;
    /// [`FutureError::BrokenExecutor`] when spawning fails.
    pub fn build(self) -> Result<MpiPoolExecutor, FutureError> {
        let (orders, inbox) = crossbeam_channel::unbounded();
        let ceiling = self.backoff;
        let (manager, workers, uses_world) = match self.spawn {
            Some(0) => {
                return Err(FutureError::InvalidArgument(
                    "spawn needs at least 1 worker",
                ));
            }
            Some(n) => (spawned_manager(n, inbox, ceiling)?, n, false),
            None => {
                if self.session.size < 2 {
                    return Err(FutureError::InvalidArgument(
                        "no worker ranks: start the program with `mpiexec -n 3 program` (rank 0 \
                         runs main, the others serve tasks), or spawn workers with \
                         MpiPoolExecutor::builder(&mpi).spawn(n)",
                    ));
                }
                if self.session.in_use.swap(true, Ordering::SeqCst) {
                    return Err(FutureError::InvalidState(
                        "another MpiPoolExecutor is using the worker ranks: shut it down first",
                    ));
                }
                let size = self.session.size;
                let manager = std::thread::Builder::new()
                    .name("conc-mpi-manager".into())
                    .spawn(move || {
                        let workers = Workers {
                            comm: SimpleCommunicator::world(),
                            ranks: (1..size).collect(),
                            stop_at_end: false,
                        };
                        manager::manage(workers, inbox, ceiling);
                    })
                    .map_err(|e| {
                        self.session.in_use.store(false, Ordering::SeqCst);
                        FutureError::BrokenExecutor(format!("cannot start the manager thread: {e}"))
                    })?;
                (manager, size as usize - 1, true)
            }
        };
        Ok(MpiPoolExecutor {
            orders: Mutex::new(Some(orders)),
            manager: Mutex::new(Some(manager)),
            next_id: AtomicU64::new(0),
            workers,
            uses_world,
            session: self.session,
        })
    }
}

/// Starts the manager of `n` spawned workers, and reports whether spawning worked.
fn spawned_manager(
    n: usize,
    inbox: crossbeam_channel::Receiver<Order>,
    ceiling: Duration,
) -> Result<JoinHandle<()>, FutureError> {
    let exe = std::env::current_exe()
        .map_err(|e| FutureError::BrokenExecutor(format!("cannot find this program: {e}")))?;
    let count =
        Rank::try_from(n).map_err(|_| FutureError::InvalidArgument("too many workers to spawn"))?;
    let (started, outcome) = crossbeam_channel::bounded(1);
    let manager = std::thread::Builder::new()
        .name("conc-mpi-manager".into())
        .spawn(move || {
            let world = SimpleCommunicator::world();
            let spawned = spawn_returning_errors(&world, &exe, count);
            let comm = match spawned {
                Ok(comm) => {
                    let _ = started.send(Ok(()));
                    comm
                }
                Err(why) => {
                    let _ = started.send(Err(why));
                    return;
                }
            };
            let workers = Workers {
                comm,
                ranks: (0..count).collect(),
                stop_at_end: true,
            };
            manager::manage(workers, inbox, ceiling);
        })
        .map_err(|e| {
            FutureError::BrokenExecutor(format!("cannot start the manager thread: {e}"))
        })?;
    match outcome.recv() {
        Ok(Ok(())) => Ok(manager),
        Ok(Err(why)) => {
            let _ = manager.join();
            Err(FutureError::BrokenExecutor(why))
        }
        Err(_) => {
            let _ = manager.join();
            Err(FutureError::BrokenExecutor(
                "the manager thread ended while spawning workers".into(),
            ))
        }
    }
}

/// `MPI_Comm_spawn` of `count` copies of `exe`, with a failure returned rather than
/// ending the job. Called directly: the world's default error handler
/// (`MPI_ERRORS_ARE_FATAL`) would abort every rank where the library cannot spawn, and
/// rsmpi's wrapper asserts on the null communicator a failed spawn leaves.
///
/// # Errors
///
/// Why no workers were started, and what to do instead.
fn spawn_returning_errors(
    world: &SimpleCommunicator,
    exe: &std::path::Path,
    count: Rank,
) -> Result<mpi::topology::InterCommunicator, String> {
    use std::os::raw::{c_char, c_int};
    use std::os::unix::ffi::OsStrExt;

    use mpi::ffi;
    use mpi::raw::{AsRaw, FromRaw};

    let program = std::ffi::CString::new(exe.as_os_str().as_bytes())
        .map_err(|_| "the program's path holds a NUL byte".to_string())?;
    let mut argv: [*mut c_char; 1] = [std::ptr::null_mut()];
    let mut errcodes: Vec<c_int> = vec![0; usize::try_from(count).unwrap_or(0)];
    // SAFETY: MPI is initialized and the world communicator lives until finalization.
    // `program` is a NUL-terminated string and `argv` a null-terminated (empty) list,
    // both alive for the call; `errcodes` holds `count` ints as MPI_Comm_spawn writes;
    // `inter` is a valid place for the new communicator. The handlers are MPI's
    // predefined ones, and the fatal one is put back at once.
    let (rc, inter, null) = unsafe {
        ffi::MPI_Comm_set_errhandler(world.as_raw(), ffi::RSMPI_ERRORS_RETURN);
        let mut inter = ffi::RSMPI_COMM_NULL;
        let rc = ffi::MPI_Comm_spawn(
            program.as_ptr(),
            argv.as_mut_ptr(),
            count,
            ffi::RSMPI_INFO_NULL,
            0,
            world.as_raw(),
            &mut inter,
            errcodes.as_mut_ptr(),
        );
        ffi::MPI_Comm_set_errhandler(world.as_raw(), ffi::RSMPI_ERRORS_ARE_FATAL);
        (rc, inter, ffi::RSMPI_COMM_NULL)
    };
    let failed = errcodes
        .iter()
        .filter(|&&c| c != ffi::MPI_SUCCESS as c_int)
        .count();
    if rc != ffi::MPI_SUCCESS as c_int || inter == null || failed > 0 {
        return Err(format!(
            "MPI_Comm_spawn could not start {count} workers ({}; {failed} failed): \
             this MPI library or its process manager cannot start processes at run time \
             here; start the program with `mpiexec -n N program` instead",
            error_text(rc)
        ));
    }
    // SAFETY: `inter` is the valid inter-communicator MPI_Comm_spawn just returned.
    Ok(unsafe { mpi::topology::InterCommunicator::from_raw(inter) })
}

/// MPI's own words for error code `code`.
fn error_text(code: std::os::raw::c_int) -> String {
    let mut text = vec![0u8; mpi::ffi::MPI_MAX_ERROR_STRING as usize + 1];
    let mut len: std::os::raw::c_int = 0;
    // SAFETY: `text` has room for MPI_MAX_ERROR_STRING characters and the NUL, as
    // MPI_Error_string may write; `len` receives the length written.
    let rc = unsafe { mpi::ffi::MPI_Error_string(code, text.as_mut_ptr().cast(), &mut len) };
    if rc != mpi::ffi::MPI_SUCCESS as std::os::raw::c_int {
        return format!("MPI error {code}");
    }
    text.truncate(usize::try_from(len).unwrap_or(0));
    String::from_utf8_lossy(&text).into_owned()
}

/// An executor whose workers are MPI ranks (Python's
/// `mpi4py.futures.MPIPoolExecutor`), running named functions `fn(A) -> R` whose
/// argument and result cross with serde. Its futures are the crate's [`Future`]s:
/// `wait`, `as_completed` and `.await` work on them beside any other.
///
/// A future is pending while its task waits for a free worker (it can be cancelled
/// then) and running once sent. Dropping the executor shuts it down and waits.
/// See the [module documentation](self) for how ranks start, faults and limits.
///
/// # Examples
///
/// ```no_run
/// use conc_futures::Executor;
/// use conc_futures::mpi::{self, MpiPoolExecutor};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let mpi = mpi::init().unwrap();
/// let pool = MpiPoolExecutor::new(&mpi).unwrap();
/// assert_eq!(pool.submit(square, 12).unwrap().result(), Ok(144));
/// // Behind the one interface, as any executor:
/// let any: &dyn Executor = &pool;
/// assert_eq!((&any).submit_call(square, 3).unwrap().result(), Ok(9));
/// ```
pub struct MpiPoolExecutor {
    /// `None` after shutdown.
    orders: Mutex<Option<Sender<Order>>>,
    manager: Mutex<Option<JoinHandle<()>>>,
    next_id: AtomicU64,
    workers: usize,
    /// Whether this executor holds the `mpiexec` ranks (released at shutdown).
    uses_world: bool,
    session: Arc<Session>,
}

impl std::fmt::Debug for MpiPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiPoolExecutor")
            .field("max_workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl MpiPoolExecutor {
    /// An executor on every worker rank `mpiexec` started.
    ///
    /// # Errors
    ///
    /// As [`MpiPoolBuilder::build`].
    pub fn new(mpi: &Mpi) -> Result<MpiPoolExecutor, FutureError> {
        MpiPoolExecutor::builder(mpi).build()
    }

    /// A builder: backoff, spawned workers.
    pub fn builder(mpi: &Mpi) -> MpiPoolBuilder {
        MpiPoolBuilder {
            session: mpi.session.clone(),
            backoff: backoff::ceiling_from_env(),
            spawn: None,
        }
    }

    /// The number of worker ranks.
    pub fn max_workers(&self) -> usize {
        self.workers
    }

    /// Schedules `func(arg)` on a worker rank and returns its future (Python's
    /// `submit`).
    ///
    /// # Errors
    ///
    /// [`FutureError::ShutDown`] after shutdown. The future gives
    /// [`FutureError::Panicked`] or [`FutureError::Transport`].
    pub fn submit<A, R>(&self, func: fn(A) -> R, arg: A) -> Result<Future<R>, FutureError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.submit_call(func, arg)
    }

    /// Runs `func` on every item, `chunksize` items per message, and yields the
    /// results in input order (Python's `map(fn, iterable, timeout, chunksize)`).
    ///
    /// # Errors
    ///
    /// As [`Executor::map`].
    pub fn map<A, R>(
        &self,
        func: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        timeout: Option<Duration>,
        chunksize: usize,
    ) -> Result<MapResults<R>, FutureError>
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_call(func, items, timeout, chunksize)
    }

    /// Stops taking work (Python's `shutdown(wait, cancel_futures)`): with
    /// `cancel_futures` the tasks still waiting for a worker are cancelled; with
    /// `wait`, returns once every sent task has come back. Calling it again is
    /// harmless.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let orders = self
            .orders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(orders) = orders {
            let _ = orders.send(Order::Shutdown {
                cancel: cancel_futures,
            });
        }
        if !wait {
            return;
        }
        let manager = self
            .manager
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(manager) = manager {
            let _ = manager.join();
            if self.uses_world {
                self.session.in_use.store(false, Ordering::SeqCst);
            }
        }
    }
}

/// The MPI pool behind the one interface: it runs the named-function jobs of
/// [`Executor::submit_call`] and [`Executor::map_call`]; a closure cannot cross to
/// another rank, so a closure job is refused with [`FutureError::InvalidArgument`]
/// and its future fails with the same error.
impl Executor for MpiPoolExecutor {
    fn execute(&self, job: Job) -> Result<(), FutureError> {
        let call = match job.into_call() {
            Ok(call) => call,
            Err(job) => {
                let refused = FutureError::InvalidArgument(
                    "an MPI pool runs named functions with serde arguments, not closures: \
                     submit them with submit_call or map_call",
                );
                job.refuse(refused.clone());
                return Err(refused);
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (task, settle) = call.into_task(id);
        let orders = self.orders.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(orders) = orders.as_ref() else {
            settle.finish(Err(FutureError::ShutDown));
            return Err(FutureError::ShutDown);
        };
        if let Err(unsent) = orders.send(Order::Run { id, task, settle }) {
            if let Order::Run { settle, .. } = unsent.into_inner() {
                settle.finish(Err(FutureError::ShutDown));
            }
            return Err(FutureError::ShutDown);
        }
        Ok(())
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        MpiPoolExecutor::shutdown(self, wait, cancel_futures);
    }
}

impl Drop for MpiPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}
