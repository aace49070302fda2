//! W6 and W7: conc-process's `Pool` beside procspawn's pool and bare ipc-channel.
//!
//! W6: `apply` of `x + 1` on a pool of 2, 10,000 times in sequence, beside a raw
//! ipc-channel round trip with a forked child (the floor: one message each way) and
//! procspawn's pool; and a `Manager` dict's `get` or `set`, one round trip each. Target:
//! at most 1.5x the raw round trip.
//!
//! W7: `map` of `x * x` over 1,000,000 ints in chunks of 10,000 on 2 workers, beside the
//! same chunks sent by hand over ipc-channel to 2 forked children, and procspawn's pool
//! with one task per chunk. Target: at least 0.5x the raw rate.

use std::time::{Duration, Instant};

use conc_process::{DictProxy, Manager, Pool};
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};

use crate::harness::{Case, Config, Report, Row, Workload, at_least, at_most, measure};
use crate::w08_process::raw_round_trips;

/// The W6 registry entry.
pub(crate) const W6: Workload = Workload {
    id: "W6",
    title: "process pool of 2: apply x + 1 and wait, 10,000 times in sequence",
    run: run_w6,
};

/// The W7 registry entry.
pub(crate) const W7: Workload = Workload {
    id: "W7",
    title: "process pool map of x * x over 1,000,000 ints, chunksize 10,000, 2 workers",
    run: run_w7,
};

const APPLIES: u64 = 10_000;
const ITEMS: u64 = 1_000_000;
const CHUNK: usize = 10_000;

fn inc(x: u64) -> u64 {
    x + 1
}

fn sqr(x: u64) -> u64 {
    x.wrapping_mul(x)
}

fn sqr_chunk(xs: Vec<u64>) -> Vec<u64> {
    xs.into_iter().map(sqr).collect()
}

fn pool() -> Pool {
    let pool = Pool::new(2).expect("pool");
    // The workers start before the clock does.
    pool.map_chunked(inc, 0..2, 1).expect("warm-up");
    pool
}

fn conc_applies(pool: &Pool, n: u64) -> Duration {
    let t = Instant::now();
    let mut v = 0;
    for _ in 0..n {
        v = pool.apply(inc, v).expect("apply");
    }
    let elapsed = t.elapsed();
    assert_eq!(v, n);
    elapsed
}

/// A `Manager` dict: one `insert` and one `get`, each a round trip, per task.
fn manager_round_trips(d: &DictProxy<u64, u64>, n: u64) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        d.insert(&(i % 64), &i).expect("insert");
        assert_eq!(d.get(&(i % 64)).expect("get"), Some(i));
    }
    t.elapsed() / 2
}

fn procspawn_applies(pool: &procspawn::Pool, n: u64) -> Duration {
    let t = Instant::now();
    let mut v = 0;
    for _ in 0..n {
        v = pool.spawn(v, inc).join().expect("procspawn join");
    }
    let elapsed = t.elapsed();
    assert_eq!(v, n);
    elapsed
}

fn conc_map(pool: &Pool, n: u64) -> Duration {
    let t = Instant::now();
    let squares = pool.map_chunked(sqr, 0..n, CHUNK).expect("map");
    let elapsed = t.elapsed();
    assert_eq!(squares.len() as u64, n);
    assert_eq!(squares[3], 9);
    elapsed
}

fn procspawn_map(pool: &procspawn::Pool, n: u64) -> Duration {
    let t = Instant::now();
    let items: Vec<u64> = (0..n).collect();
    let handles: Vec<_> = items
        .chunks(CHUNK)
        .map(|chunk| pool.spawn(chunk.to_vec(), sqr_chunk))
        .collect();
    let squares: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("procspawn join"))
        .collect();
    let elapsed = t.elapsed();
    assert_eq!(squares.len() as u64, n);
    elapsed
}

/// Two forked children squaring the chunks they receive on ipc-channel. They are
/// forked once, before any pool's threads exist, so that no lock of another thread is
/// copied into them held.
struct RawWorkers {
    children: Vec<RawChild>,
}

/// A raw child's pid, the channel to it and the channel from it.
type RawChild = (libc::pid_t, IpcSender<Vec<u64>>, IpcReceiver<Vec<u64>>);

impl RawWorkers {
    fn start() -> Self {
        let mut children = Vec::new();
        for _ in 0..2 {
            let (to_child, child_rx) = ipc::channel::<Vec<u64>>().expect("channel");
            let (child_tx, from_child) = ipc::channel::<Vec<u64>>().expect("channel");
            // SAFETY: the child only uses the two channels it owns, then `_exit`s.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                serve_chunks(&child_rx, &child_tx);
                // SAFETY: `_exit` ends the child without running the parent's handlers.
                unsafe { libc::_exit(0) };
            }
            children.push((pid, to_child, from_child));
        }
        RawWorkers { children }
    }

    /// The map, keeping both children busy with one chunk each in flight.
    fn map(&self, n: u64) -> Duration {
        let t = Instant::now();
        let items: Vec<u64> = (0..n).collect();
        let mut squares = Vec::with_capacity(items.len());
        for pair in items.chunks(CHUNK).collect::<Vec<_>>().chunks(2) {
            for (chunk, (_, to_child, _)) in pair.iter().zip(&self.children) {
                to_child.send(chunk.to_vec()).expect("send");
            }
            for (_, (_, _, from_child)) in pair.iter().zip(&self.children) {
                squares.extend(from_child.recv().expect("recv"));
            }
        }
        let elapsed = t.elapsed();
        assert_eq!(squares.len() as u64, n);
        elapsed
    }
}

impl Drop for RawWorkers {
    fn drop(&mut self) {
        // Killed rather than told: copies of their channels live on in each other and
        // in the peers' re-executed workers, so end of file may never reach them.
        let pids: Vec<libc::pid_t> = self.children.drain(..).map(|(pid, ..)| pid).collect();
        for pid in pids {
            // SAFETY: signalling our own child; no memory involved.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let mut status = 0;
            // SAFETY: `status` is a valid out-pointer; `pid` is our child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        }
    }
}

fn serve_chunks(rx: &IpcReceiver<Vec<u64>>, tx: &IpcSender<Vec<u64>>) {
    while let Ok(chunk) = rx.recv() {
        if tx.send(sqr_chunk(chunk)).is_err() {
            break;
        }
    }
}

fn run_w6(config: &Config) -> Report {
    let n = config.size(APPLIES);
    let conc = pool();
    let peer = procspawn::Pool::new(2).expect("procspawn pool");
    let manager = Manager::new().expect("manager");
    let dict = manager.dict::<u64, u64>().expect("dict");
    let mut cases = [
        Case::new("conc_process Pool apply", || conc_applies(&conc, n)),
        Case::new("conc_process Manager dict get or set", || {
            manager_round_trips(&dict, n)
        }),
        Case::new("procspawn Pool spawn + join", || {
            procspawn_applies(&peer, n)
        }),
        Case::new("raw ipc-channel round trip (fork child)", || {
            raw_round_trips(n)
        }),
    ];
    eprintln!("  -- {n} tasks per run");
    let stats = measure(config, &mut cases);
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let base = us(stats[3].median);
    let mut report = Report::default();
    for (i, (case, s)) in cases.iter().zip(&stats).enumerate() {
        let value = us(s.median);
        let ratio = value / base;
        let mut notes = match i {
            0 => {
                let verdict = at_most(ratio, 1.5);
                report.verdicts.push(format!(
                    "W6 target: Pool apply <= 1.5x a raw ipc-channel round trip: {verdict} ({ratio:.2}x)"
                ));
                format!("{ratio:.2}x raw ipc-channel; target <= 1.5x: {verdict}")
            }
            3 => String::from("baseline"),
            _ => format!("{ratio:.2}x raw ipc-channel"),
        };
        notes.push_str(&format!(
            "; runs {:.2}-{:.2} us; {}",
            us(s.min),
            us(s.max),
            config.method()
        ));
        report.rows.push(Row {
            workload: W6.id,
            system: case.system.clone(),
            value,
            unit: "us/task",
            notes,
        });
    }
    report
}

fn run_w7(config: &Config) -> Report {
    let n = config.size(ITEMS);
    let raw = RawWorkers::start();
    let conc = pool();
    let peer = procspawn::Pool::new(2).expect("procspawn pool");
    let mut cases = [
        Case::new("conc_process Pool map_chunked", || conc_map(&conc, n)),
        Case::new("procspawn Pool, a task per chunk", || {
            procspawn_map(&peer, n)
        }),
        Case::new("raw ipc-channel chunks to 2 fork children", || raw.map(n)),
    ];
    eprintln!("  -- {n} items in chunks of {CHUNK} per run");
    let stats = measure(config, &mut cases);
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let base = rate(stats[2].median);
    let mut report = Report::default();
    for (i, (case, s)) in cases.iter().zip(&stats).enumerate() {
        let value = rate(s.median);
        let ratio = value / base;
        let mut notes = match i {
            0 => {
                let verdict = at_least(ratio, 0.5);
                report.verdicts.push(format!(
                    "W7 target: Pool map >= 0.5x the raw chunked ipc-channel rate: {verdict} ({ratio:.2}x)"
                ));
                format!("{ratio:.2}x raw ipc-channel; target >= 0.5x: {verdict}")
            }
            2 => String::from("baseline"),
            _ => format!("{ratio:.2}x raw ipc-channel"),
        };
        notes.push_str(&format!(
            "; runs {:.2}-{:.2} M items/s; {}",
            rate(s.max) / 1e6,
            rate(s.min) / 1e6,
            config.method()
        ));
        report.rows.push(Row {
            workload: W7.id,
            system: case.system.clone(),
            value,
            unit: "items/s",
            notes,
        });
    }
    report
}
