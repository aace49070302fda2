//! `MpiPoolExecutor` under `mpiexec -n 3` (feature `mpi`): rank 0 runs every check
//! below in turn, ranks 1 and 2 serve the tasks. Run alone (as `cargo test` does), the
//! binary starts itself under `mpiexec -n 3` and reports its outcome.
//!
//! Ports of mpi4py's `test/test_futures.py` where they apply (ProcessPoolMixin,
//! ExecutorShutdownTest, as_completed/wait) and the faults of issue 16: a panicking task
//! fails its own future and the rank carries on, a closure is refused, a second
//! executor cannot take the ranks in use.

use std::process::ExitCode;
use std::time::Duration;

use conc_futures::mpi::{self, Mpi, MpiPoolExecutor};
use conc_futures::{Executor, FutureError, ReturnWhen, ThreadPoolExecutor, as_completed, wait};

const PATIENCE: Duration = Duration::from_secs(60);

/// Set in the environment of the ranks this binary starts, so they do not start
/// `mpiexec` again.
const UNDER_MPIEXEC: &str = "CONC_MPI_TEST_UNDER_MPIEXEC";

/// Set for the run of this binary on its own (a singleton MPI job).
const ALONE: &str = "CONC_MPI_TEST_ALONE";

/// Set for the job whose rank 0 panics with work in flight.
const PANIC: &str = "CONC_MPI_TEST_PANIC";

fn square(x: u64) -> u64 {
    x * x
}

fn rank_of_worker(_: ()) -> u32 {
    std::process::id()
}

fn fails(x: u32) -> u32 {
    if x == 3 {
        panic!("three is not allowed");
    }
    x
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// A value whose bytes do not decode.
#[derive(Debug, Clone)]
struct Unreadable;

impl serde::Serialize for Unreadable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

impl<'de> serde::Deserialize<'de> for Unreadable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("refuses to be read"))
    }
}

fn submit_and_map(mpi: &Mpi) {
    // MPI starts once per process.
    assert!(matches!(mpi::init(), Err(FutureError::InvalidState(_))));
    let pool = MpiPoolExecutor::new(mpi).unwrap();
    assert_eq!(pool.max_workers(), mpi.world_size() - 1);
    assert_eq!(
        pool.submit(square, 12).unwrap().result_timeout(PATIENCE),
        Ok(144)
    );
    for chunksize in [1, 3, 100] {
        let squares: Vec<u64> = pool
            .map(square, 0..50, Some(PATIENCE), chunksize)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(squares, (0..50).map(square).collect::<Vec<_>>());
    }
    assert!(matches!(
        pool.map(square, 0..2, None, 0),
        Err(FutureError::InvalidArgument(_))
    ));
    // The tasks ran in other processes, on more than one of them.
    let pids: std::collections::HashSet<u32> = (0..20)
        .map(|_| pool.submit(rank_of_worker, ()).unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|f| f.result_timeout(PATIENCE).unwrap())
        .collect();
    assert!(!pids.contains(&std::process::id()), "{pids:?}");
}

fn panics_fail_their_own_future(mpi: &Mpi) {
    let pool = MpiPoolExecutor::new(mpi).unwrap();
    let results: Vec<_> = (0..6)
        .map(|x| pool.submit(fails, x).unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|f| f.result_timeout(PATIENCE))
        .collect();
    for (x, r) in results.iter().enumerate() {
        match r {
            Ok(v) => assert_eq!(*v as usize, x),
            Err(FutureError::Panicked { message }) => {
                assert_eq!(x, 3);
                assert_eq!(message, "three is not allowed");
            }
            Err(e) => panic!("task {x}: {e}"),
        }
    }
    match pool
        .submit(|_: ()| Unreadable, ())
        .unwrap()
        .result_timeout(PATIENCE)
    {
        Err(FutureError::Transport(why)) => assert!(why.contains("Unreadable"), "{why}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        pool.submit(square, 5).unwrap().result_timeout(PATIENCE),
        Ok(25)
    );
}

fn mixes_with_other_futures(mpi: &Mpi) {
    let pool = MpiPoolExecutor::new(mpi).unwrap();
    let threads = ThreadPoolExecutor::new();
    let slow = threads
        .submit(|| {
            std::thread::sleep(Duration::from_millis(300));
            1u64
        })
        .unwrap();
    let fast = pool.submit(square, 2).unwrap();
    let both = [slow.clone(), fast.clone()];
    let done = wait(&both, Some(PATIENCE), ReturnWhen::FirstCompleted);
    assert!(done.done.contains(&fast), "{done:?}");
    let order: Vec<u64> = as_completed(&both, Some(PATIENCE))
        .map(|f| f.unwrap().result().unwrap())
        .collect();
    assert_eq!(order, [4, 1]);
}

fn behind_dyn_executor(mpi: &Mpi) {
    let pool: Box<dyn Executor> = Box::new(MpiPoolExecutor::new(mpi).unwrap());
    assert_eq!(
        pool.submit_call(square, 9)
            .unwrap()
            .result_timeout(PATIENCE),
        Ok(81)
    );
    let mapped: Vec<u64> = pool
        .map_call(square, 1..=4, Some(PATIENCE), 2)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(mapped, [1, 4, 9, 16]);
    match pool.submit(|| 1) {
        Err(FutureError::InvalidArgument(why)) => assert!(why.contains("submit_call"), "{why}"),
        other => panic!("unexpected {other:?}"),
    }
}

fn shutdown_cancels_and_refuses(mpi: &Mpi) {
    let pool = MpiPoolExecutor::new(mpi).unwrap();
    // Two workers busy, the rest queued: cancel_futures cancels the queued ones.
    let futures: Vec<_> = (0..8)
        .map(|_| pool.submit(sleep_ms, 200).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    pool.shutdown(true, true);
    assert!(futures.iter().all(|f| f.done()), "shutdown(wait) left work");
    let cancelled = futures.iter().filter(|f| f.cancelled()).count();
    let ran = futures.iter().filter(|f| f.result() == Ok(200)).count();
    assert_eq!(cancelled + ran, 8);
    assert!(
        cancelled >= 8 - 2 * pool.max_workers(),
        "{cancelled} cancelled"
    );
    assert_eq!(pool.submit(square, 1).unwrap_err(), FutureError::ShutDown);
    pool.shutdown(true, false); // harmless
}

fn one_executor_at_a_time(mpi: &Mpi) {
    let first = MpiPoolExecutor::new(mpi).unwrap();
    assert!(matches!(
        MpiPoolExecutor::new(mpi),
        Err(FutureError::InvalidState(_))
    ));
    first.shutdown(true, false);
    let second = MpiPoolExecutor::new(mpi).unwrap();
    assert_eq!(
        second.submit(square, 3).unwrap().result_timeout(PATIENCE),
        Ok(9)
    );
}

// mpi4py's `MPIPoolExecutor(max_workers=n)`: workers started at run time with
// MPI_Comm_spawn serve this executor alone and stop with it.
fn spawned_workers(mpi: &Mpi) {
    assert!(matches!(
        MpiPoolExecutor::builder(mpi).spawn(0).build(),
        Err(FutureError::InvalidArgument(_))
    ));
    let pool = match MpiPoolExecutor::builder(mpi).spawn(2).build() {
        Ok(pool) => pool,
        // Not every MPI installation can spawn (a singleton MPICH without a process
        // manager to ask, a batch system that forbids it): then a clear error, and the
        // job goes on.
        Err(FutureError::BrokenExecutor(why)) => {
            assert!(why.contains("MPI_Comm_spawn"), "{why}");
            println!("  (spawning is not available here: {why})");
            return;
        }
        Err(e) => panic!("unexpected {e}"),
    };
    assert_eq!(pool.max_workers(), 2);
    let squares: Vec<u64> = pool
        .map(square, 0..10, Some(PATIENCE), 2)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(squares, (0..10).map(square).collect::<Vec<_>>());
    let pid = pool
        .submit(rank_of_worker, ())
        .unwrap()
        .result_timeout(PATIENCE)
        .unwrap();
    assert_ne!(pid, std::process::id());
    pool.shutdown(true, false);
}

fn timeouts_name_the_wait(mpi: &Mpi) {
    let pool = MpiPoolExecutor::new(mpi).unwrap();
    let slow = pool.submit(sleep_ms, 500).unwrap();
    match slow.result_timeout(Duration::from_millis(20)) {
        Err(e @ FutureError::Timeout { .. }) => assert!(e.to_string().contains("20ms"), "{e}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(slow.result_timeout(PATIENCE), Ok(500));
}

/// A check rank 0 runs.
type Check = fn(&Mpi);

const CHECKS: &[(&str, Check)] = &[
    ("submit_and_map", submit_and_map),
    ("panics_fail_their_own_future", panics_fail_their_own_future),
    ("mixes_with_other_futures", mixes_with_other_futures),
    ("behind_dyn_executor", behind_dyn_executor),
    ("shutdown_cancels_and_refuses", shutdown_cancels_and_refuses),
    ("one_executor_at_a_time", one_executor_at_a_time),
    ("timeouts_name_the_wait", timeouts_name_the_wait),
    ("spawned_workers", spawned_workers),
];

/// Whether this process was started by an MPI launcher (`mpiexec`, or
/// `MPI_Comm_spawn`), which set these for every process they start.
fn started_by_mpi() -> bool {
    [
        "PMI_RANK",
        "PMI_FD",
        "PMI_SIZE",
        "OMPI_COMM_WORLD_SIZE",
        UNDER_MPIEXEC,
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some())
}

/// Started alone (no `mpiexec`), there are no worker ranks: a clear error naming the
/// fix, not a hang.
fn alone() -> ExitCode {
    let mpi = mpi::init().expect("MPI starts as a singleton");
    assert_eq!(mpi.world_size(), 1);
    match MpiPoolExecutor::new(&mpi) {
        Err(FutureError::InvalidArgument(why)) => {
            assert!(why.contains("mpiexec"), "{why}");
            println!("test started_alone_says_how_to_start ... ok");
            ExitCode::SUCCESS
        }
        other => {
            println!("test started_alone_says_how_to_start ... FAILED: {other:?}");
            ExitCode::FAILURE
        }
    }
}

/// Rank 0 panics with tasks running: the job must end (the panic unwinds `main`, the
/// `Mpi` handle stops the workers), not hang.
fn rank_zero_panics() {
    let mpi = mpi::init().expect("MPI starts");
    let pool = MpiPoolExecutor::new(&mpi).unwrap();
    let _running: Vec<_> = (0..4)
        .map(|_| pool.submit(sleep_ms, 100).unwrap())
        .collect();
    panic!("rank 0 gives up with work in flight");
}

/// Runs `command` to its end, killing it after `limit`; its status, or `None` if it had
/// to be killed.
fn run_within(
    command: &mut std::process::Command,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let mut child = command.spawn().expect("the command starts");
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            return Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs this binary alone (see [`alone`]), then as a job whose rank 0 panics, then
/// under `mpiexec -n 3` for the checks, and returns their outcome.
fn relaunch() -> ExitCode {
    let exe = std::env::current_exe().expect("this binary's path");
    let single = std::process::Command::new(&exe).env(ALONE, "1").status();
    if !single.as_ref().is_ok_and(|s| s.success()) {
        eprintln!("mpi tests: the run without mpiexec failed: {single:?}");
        return ExitCode::FAILURE;
    }
    let panicked = run_within(
        std::process::Command::new("mpiexec")
            .args(["-n", "3"])
            .arg(&exe)
            .env(UNDER_MPIEXEC, "1")
            .env(PANIC, "1")
            .stderr(std::process::Stdio::null()),
        PATIENCE,
    );
    match panicked {
        Some(status) if !status.success() => {
            println!("test a_panicking_rank_zero_ends_the_job ... ok");
        }
        other => {
            eprintln!("mpi tests: a job whose rank 0 panicked ended with {other:?}");
            return ExitCode::FAILURE;
        }
    }
    let status = std::process::Command::new("mpiexec")
        .args(["-n", "3"])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(UNDER_MPIEXEC, "1")
        .status();
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("mpi tests: mpiexec -n 3 ended with {s}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("mpi tests: cannot run mpiexec ({e}): install MPICH or Open MPI");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    if std::env::var_os(ALONE).is_some() {
        return alone();
    }
    if !started_by_mpi() {
        // Started with SIGCHLD ignored (as CI may be), children are reaped by the
        // kernel and their exit status is lost: wait for them with the default, which
        // every process started from here (mpiexec and its ranks) inherits too.
        // SAFETY: no other thread exists yet, and SIG_DFL is a valid disposition.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
        return relaunch();
    }
    if std::env::var_os(PANIC).is_some() {
        rank_zero_panics();
    }
    let mpi = mpi::init().expect("MPI starts");
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = 0;
    for (name, check) in CHECKS {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let outcome = std::panic::catch_unwind(|| check(&mpi));
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        failed += usize::from(outcome.is_err());
    }
    println!("mpi tests: {} checks, {failed} failed", CHECKS.len());
    drop(mpi);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
