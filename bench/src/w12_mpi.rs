//! W12 (feature `mpi`): `is_prime` over the W5 list (24 numbers) on 2 MPI worker
//! ranks, and the round trip of one tiny task.
//!
//! The workload runs under `mpiexec -n 3` (it starts itself so): rank 0 measures, the
//! others serve. Figures:
//!
//! - the speed-up over serial Rust of `conc_futures::mpi::MpiPoolExecutor` `map`
//!   (chunksize 1) on the 2 worker ranks, beside `ProcessPoolExecutor` with 2
//!   forkserver workers in the same run (target: the MPI pool at least 1.8x serial);
//! - microseconds per task round trip (`submit(x + 1)` then `result()`, one at a time)
//!   against a raw rsmpi send/receive of an 8-byte message between ranks 0 and 1
//!   (target: at most 2x). The raw pair blocks in MPI (spinning, in MPICH); the pool's
//!   sides poll with a backoff so that idle ranks leave their cores to the others.

use std::time::{Duration, Instant};

use conc_futures::mpi::{self as conc_mpi, MpiPoolExecutor};
use conc_futures::{Executor, ProcessPoolExecutor};
use mpi::Threading;
use mpi::point_to_point::{Destination, Source};
use mpi::topology::Communicator;

use crate::harness::{self, Case, Config, Report, Row, Workload, at_least, at_most, measure};
use crate::w05_primes::{EXPECTED, PRIMES, REPEATS, is_prime};

/// The registry entry.
pub(crate) const WORKLOAD: Workload = Workload {
    id: "W12",
    title: "is_prime over the W5 list on 2 MPI worker ranks; one task's round trip",
    run,
};

/// Ranks of the job: the manager and 2 workers.
const RANKS: &str = "3";

/// The MPI pool's target speed-up over serial.
const MIN_SPEED_UP: f64 = 1.8;

/// The round trip's target, as a multiple of the raw send/receive pair's.
const MAX_ROUND_TRIP: f64 = 2.0;

/// Round trips per measurement at full size.
const ROUND_TRIPS: u32 = 2_000;

const SERIAL: &str = "serial Rust";
const MPI_POOL: &str = "conc_futures::mpi::MpiPoolExecutor map(chunksize=1), 2 worker ranks";
const PROCESSES: &str = "conc_futures::ProcessPoolExecutor map(chunksize=1), 2 forkserver workers";

/// Whether an MPI launcher started this process.
fn under_mpiexec() -> bool {
    ["PMI_RANK", "PMI_FD", "OMPI_COMM_WORLD_SIZE"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// Runs W12: under `mpiexec`, measures (rank 0) or serves (the others, which never
/// return); otherwise starts this binary under `mpiexec -n 3` and reads its report.
fn run(config: &Config) -> Report {
    if under_mpiexec() {
        measure_ranks(config)
    } else {
        relaunch(config).unwrap_or_else(|why| Report {
            rows: Vec::new(),
            verdicts: vec![format!("W12 not measured: {why}")],
        })
    }
}

fn relaunch(config: &Config) -> Result<Report, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let report = std::env::temp_dir().join(format!("conc-bench-W12-{}.report", std::process::id()));
    let mut command = std::process::Command::new("mpiexec");
    command
        .args(["-n", RANKS])
        .arg(exe)
        .arg("W12")
        .arg("--report-to")
        .arg(&report);
    if config.quick {
        command.arg("--quick");
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run mpiexec ({e}): install MPICH or Open MPI"))?;
    let text = std::fs::read_to_string(&report);
    let _ = std::fs::remove_file(&report);
    if !status.success() {
        return Err(format!("mpiexec -n {RANKS} ended with {status}"));
    }
    let text = text.map_err(|e| format!("no report from the ranks: {e}"))?;
    harness::parse_report_lines(&text, |id| (id == WORKLOAD.id).then_some(WORKLOAD.id))
}

fn measure_ranks(config: &Config) -> Report {
    let (universe, _) =
        mpi::initialize_with_threading(Threading::Multiple).expect("MPI is not initialized yet");
    let trips = if config.quick {
        ROUND_TRIPS / 10
    } else {
        ROUND_TRIPS
    };
    let raw = raw_round_trip(&universe.world(), trips);
    // Ranks 1 and 2 serve from here on and exit when rank 0 is done.
    let mpi = conc_mpi::init_with(universe).expect("the pool's ranks start");
    let raw = raw.expect("rank 0 measured the raw pair");

    let repeats = if config.quick { 1 } else { REPEATS };
    let numbers = PRIMES.repeat(repeats);
    let expected = EXPECTED.repeat(repeats);
    let check = |answers: Vec<bool>| assert_eq!(answers, expected, "a wrong answer");
    // Both pools through the one interface: `map_call` of the named function.
    let timed_map = |executor: &dyn Executor| {
        let start = Instant::now();
        let answers = (&executor)
            .map_call(is_prime, numbers.clone(), None, 1)
            .expect("open")
            .collect::<Result<Vec<bool>, _>>()
            .expect("every task ran");
        let elapsed = start.elapsed();
        check(answers);
        elapsed
    };
    let pool = MpiPoolExecutor::new(&mpi).expect("2 worker ranks");
    let processes = ProcessPoolExecutor::builder()
        .max_workers(2)
        .start_method(conc_process::StartMethod::Forkserver)
        .build()
        .expect("a process pool");
    // Both pools' workers exist before any clock starts.
    for f in [
        pool.submit(is_prime, PRIMES[0]).expect("open"),
        pool.submit(is_prime, PRIMES[0]).expect("open"),
        processes.submit(is_prime, PRIMES[0]).expect("open"),
        processes.submit(is_prime, PRIMES[0]).expect("open"),
    ] {
        f.result().expect("a warm-up task");
    }
    let mut cases = [
        Case::new(SERIAL, || {
            let start = Instant::now();
            let answers: Vec<bool> = std::hint::black_box(&numbers)
                .iter()
                .map(|&n| is_prime(n))
                .collect();
            let elapsed = start.elapsed();
            check(answers);
            elapsed
        }),
        Case::new(MPI_POOL, || timed_map(&pool)),
        Case::new(PROCESSES, || timed_map(&processes)),
    ];
    let stats = measure(config, &mut cases);
    let trip = pool_round_trip(&pool, trips);
    drop(cases);
    pool.shutdown(true, false);

    let mut report = Report::default();
    let serial = &stats[0];
    for (case, s) in cases_names().iter().zip(&stats) {
        let speed_up = s.paired_speedup(serial);
        let mut notes = format!("speed-up {speed_up:.2}x vs serial (ideal 2.00x)");
        if *case == MPI_POOL {
            let verdict = at_least(speed_up, MIN_SPEED_UP);
            notes.push_str(&format!("; target >= {MIN_SPEED_UP}x: {verdict}"));
            report.verdicts.push(format!(
                "W12 target: the MPI pool >= {MIN_SPEED_UP}x serial: {verdict} ({speed_up:.2}x)"
            ));
        }
        notes.push_str(&format!(
            "; runs {:.3}-{:.3} s; {}",
            s.min.as_secs_f64(),
            s.max.as_secs_f64(),
            config.method()
        ));
        report.rows.push(Row {
            workload: WORKLOAD.id,
            system: (*case).to_string(),
            value: s.median.as_secs_f64(),
            unit: "s",
            notes,
        });
    }
    let ratio = trip.as_secs_f64() / raw.as_secs_f64();
    let verdict = at_most(ratio, MAX_ROUND_TRIP);
    report.rows.push(Row {
        workload: WORKLOAD.id,
        system: "conc_futures::mpi::MpiPoolExecutor submit + result(), one at a time".into(),
        value: trip.as_secs_f64() * 1e6,
        unit: "us/round trip",
        notes: format!(
            "{ratio:.1}x raw; target <= {MAX_ROUND_TRIP}x: {verdict}; median of {trips}"
        ),
    });
    report.rows.push(Row {
        workload: WORKLOAD.id,
        system: "raw rsmpi send + receive of 8 bytes, ranks 0 and 1".into(),
        value: raw.as_secs_f64() * 1e6,
        unit: "us/round trip",
        notes: format!("baseline; median of {trips}"),
    });
    report.verdicts.push(format!(
        "W12 target: a task's round trip <= {MAX_ROUND_TRIP}x a raw send/receive pair: {verdict} \
         ({ratio:.1}x: {:.1} us vs {:.1} us)",
        trip.as_secs_f64() * 1e6,
        raw.as_secs_f64() * 1e6
    ));
    drop(mpi);
    report
}

fn cases_names() -> [&'static str; 3] {
    [SERIAL, MPI_POOL, PROCESSES]
}

fn add_one(x: u64) -> u64 {
    x + 1
}

/// The median of `trips` single-task round trips through `pool`.
fn pool_round_trip(pool: &MpiPoolExecutor, trips: u32) -> Duration {
    let mut times: Vec<Duration> = (0..trips)
        .map(|i| {
            let start = Instant::now();
            let value = pool.submit(add_one, u64::from(i)).expect("open").result();
            let elapsed = start.elapsed();
            assert_eq!(value, Ok(u64::from(i) + 1));
            elapsed
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

/// Ranks 0 and 1 bounce an 8-byte message `trips` times; rank 0 gets the median round
/// trip, the other ranks `None`.
fn raw_round_trip<C: Communicator>(world: &C, trips: u32) -> Option<Duration> {
    let message = [7u8; 8];
    match world.rank() {
        0 => {
            let peer = world.process_at_rank(1);
            let mut times: Vec<Duration> = (0..trips)
                .map(|_| {
                    let start = Instant::now();
                    peer.send(&message[..]);
                    let (back, _) = peer.receive_vec::<u8>();
                    let elapsed = start.elapsed();
                    assert_eq!(back, message);
                    elapsed
                })
                .collect();
            times.sort_unstable();
            Some(times[times.len() / 2])
        }
        1 => {
            let peer = world.process_at_rank(0);
            for _ in 0..trips {
                let (bytes, _) = peer.receive_vec::<u8>();
                peer.send(&bytes[..]);
            }
            None
        }
        _ => None,
    }
}
