//! `MpiPoolExecutor`: seed 000's `is_prime` list on the ranks of an MPI job
//! (mpi4py.futures' `MPIPoolExecutor`, the executor past one machine).
//!
//! Run it as an MPI job: `mpiexec -n 3 target/release/examples/futures_mpi` (built with
//! `cargo build --release -p examples --features mpi --example futures_mpi`; `cargo
//! xtask demo` does both where MPI is installed). Rank 0 runs `main` past
//! `conc_futures::mpi::init()`; ranks 1 and 2 serve the tasks inside that call.
//!
//! What it shows: the same `submit` + `as_completed` and `map` as the thread and process
//! examples, on worker processes that could as well be on other machines (a host file
//! for `mpiexec`, the same binary path on each); the rank that ran each task; a panic in
//! a task coming back as an error while the rank carries on.
//!
//! How Rust differs: tasks are named functions whose argument and result cross with
//! serde (mpi4py pickles them), and the ranks must run the same build (checked at start).

use std::time::Instant;

use conc_futures::as_completed;
use conc_futures::mpi::{self, MpiPoolExecutor};
use examples::primes::{EXPECTED, PRIMES, is_prime};

/// `is_prime`, and which worker process answered.
fn is_prime_where(n: u64) -> (bool, u32) {
    let _busy = examples::timeline::process_span(format!("is_prime({n})"));
    (is_prime(n), std::process::id())
}

fn refuse_odd(n: u64) -> u64 {
    assert!(n.is_multiple_of(2), "{n} is odd");
    n / 2
}

fn main() {
    let mpi = mpi::init().expect("MPI starts");
    let pool = match MpiPoolExecutor::new(&mpi) {
        Ok(pool) => pool,
        Err(why) => {
            eprintln!("{why}");
            std::process::exit(2);
        }
    };
    examples::heading(&format!(
        "Seed 000 on {} MPI worker ranks (submit + as_completed)",
        pool.max_workers()
    ));
    let start = Instant::now();
    let futures: Vec<_> = PRIMES
        .iter()
        .map(|&n| pool.submit(is_prime_where, n).expect("the pool runs"))
        .collect();
    for f in as_completed(&futures, None) {
        let f = f.expect("no timeout");
        let i = futures.iter().position(|g| *g == f).expect("one of ours");
        let (prime, pid) = f.result().expect("a value");
        println!("{} is prime: {prime}   (worker process {pid})", PRIMES[i]);
        assert_eq!(prime, EXPECTED[i]);
    }
    println!(
        "{} checks in {}",
        PRIMES.len(),
        examples::ms(start.elapsed())
    );

    examples::heading("map, in input order");
    let answers: Vec<bool> = pool
        .map(is_prime_where, PRIMES, None, 2)
        .expect("the pool runs")
        .map(|r| r.expect("a value").0)
        .collect();
    println!("{answers:?}");
    assert_eq!(answers, EXPECTED);

    examples::heading("a panic in a task is that task's error; the rank carries on");
    println!("{:?}", pool.submit(refuse_odd, 7).unwrap().result());
    println!("{:?}", pool.submit(refuse_odd, 8).unwrap().result());
}
