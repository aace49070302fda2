//! W8: start a child process running a trivial function and join it, 200 times, per
//! start method; and a `Pipe` round trip beside a raw ipc-channel round trip.
//!
//! Peers: raw `fork` + `_exit` + `waitpid` (the floor for `fork` and `forkserver`), and
//! a raw re-exec of this very binary that exits at the top of `main` (the floor for
//! `spawn`). Targets (issue #5): `fork` within 2x and `forkserver` within 3x of raw fork,
//! `spawn` within 1.5x of the raw re-exec, a `Connection` round trip within 1.5x of raw
//! ipc-channel.

use std::process::Command;
use std::time::{Duration, Instant};

use conc_process::{Connection, Process, StartMethod, pipe};
use ipc_channel::ipc;

use crate::harness::{Case, Config, Report, Row, Workload, at_most, measure};

/// The registry entry.
pub(crate) const WORKLOAD: Workload = Workload {
    id: "W8",
    title: "start + join a child running a trivial function, 200 times, per start method",
    run,
};

/// Set in the environment of the raw re-exec peer: `main` exits at once when it sees it.
pub(crate) const EXIT_AT_ONCE: &str = "CONC_BENCH_EXIT_AT_ONCE";

/// Starts per measurement at full size.
const STARTS: u64 = 200;
/// Round trips per measurement at full size.
const ROUND_TRIPS: u64 = 10_000;

fn trivial(x: u32) -> u32 {
    x + 1
}

fn start_join(method: StartMethod, n: u64) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        let p = Process::new(trivial, i as u32).start_method(method);
        p.start().expect("start");
        assert_eq!(p.result().expect("result"), i as u32 + 1);
    }
    t.elapsed()
}

fn raw_fork(n: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: the child only calls `_exit`, which is async-signal-safe.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: see above.
            unsafe { libc::_exit(0) };
        }
        assert!(pid > 0, "fork failed");
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; `pid` is our child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    }
    t.elapsed()
}

fn raw_reexec(n: u64) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        let status = Command::new("/proc/self/exe")
            .env(EXIT_AT_ONCE, "1")
            .status()
            .expect("re-exec");
        assert!(status.success());
    }
    t.elapsed()
}

/// Ping-pong of a counter with a child over a duplex `Connection`. The child comes from
/// the fork server, so it holds no copy of our end and sees end of file when we drop it.
fn conc_round_trips(n: u64) -> Duration {
    let (mine, theirs) = pipe::<u64>(true).expect("pipe");
    let echo = Process::new(
        |c: Connection<u64>| {
            while let Ok(v) = c.recv() {
                if c.send(v + 1).is_err() {
                    break;
                }
            }
        },
        theirs,
    )
    .start_method(StartMethod::Forkserver);
    echo.start().expect("start");
    let t = Instant::now();
    let mut v = 0;
    for _ in 0..n {
        mine.send(v).expect("send");
        v = mine.recv().expect("recv");
    }
    let elapsed = t.elapsed();
    assert_eq!(v, n);
    drop(mine);
    echo.join().expect("join");
    elapsed
}

/// The same ping-pong on bare ipc-channel channels with a raw forked child.
pub(crate) fn raw_round_trips(n: u64) -> Duration {
    let (to_child, child_rx) = ipc::channel::<u64>().expect("channel");
    let (child_tx, from_child) = ipc::channel::<u64>().expect("channel");
    // SAFETY: the child only uses the two channels it owns, then `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        drop((to_child, from_child));
        while let Ok(v) = child_rx.recv() {
            if child_tx.send(v + 1).is_err() {
                break;
            }
        }
        // SAFETY: `_exit` ends the child without running the parent's handlers.
        unsafe { libc::_exit(0) };
    }
    drop((child_rx, child_tx));
    let t = Instant::now();
    let mut v = 0;
    for _ in 0..n {
        to_child.send(v).expect("send");
        v = from_child.recv().expect("recv");
    }
    let elapsed = t.elapsed();
    assert_eq!(v, n);
    drop(to_child);
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; `pid` is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    elapsed
}

/// Runs W8.
fn run(config: &Config) -> Report {
    let starts = config.size(STARTS).max(20);
    let trips = config.size(ROUND_TRIPS);
    let mut report = Report::default();

    let mut cases = [
        Case::new("conc_process fork", || {
            start_join(StartMethod::Fork, starts)
        }),
        Case::new("conc_process forkserver", || {
            start_join(StartMethod::Forkserver, starts)
        }),
        Case::new("conc_process spawn", || {
            start_join(StartMethod::Spawn, starts)
        }),
        Case::new("raw fork + _exit + waitpid", || raw_fork(starts)),
        Case::new("raw re-exec of this binary", || raw_reexec(starts)),
    ];
    eprintln!("  -- {starts} starts per run");
    let stats = measure(config, &mut cases);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / starts as f64;
    let raw_fork_ms = ms(stats[3].median);
    let raw_exec_ms = ms(stats[4].median);
    let targets: [Option<(f64, &str, f64)>; 5] = [
        Some((raw_fork_ms, "raw fork", 2.0)),
        Some((raw_fork_ms, "raw fork", 3.0)),
        Some((raw_exec_ms, "raw re-exec", 1.5)),
        None,
        None,
    ];
    for ((case, s), target) in cases.iter().zip(&stats).zip(targets) {
        let value = ms(s.median);
        let mut notes = match target {
            Some((base, base_name, max)) => {
                let ratio = value / base;
                let verdict = at_most(ratio, max);
                report.verdicts.push(format!(
                    "W8 target: {} <= {max}x {base_name}: {verdict} ({ratio:.2}x)",
                    case.system
                ));
                format!("{ratio:.2}x {base_name}; target <= {max}x: {verdict}")
            }
            None => String::from("baseline"),
        };
        notes.push_str(&format!(
            "; runs {:.3}-{:.3} ms; {}",
            ms(s.min),
            ms(s.max),
            config.method()
        ));
        report.rows.push(Row {
            workload: WORKLOAD.id,
            system: case.system.clone(),
            value,
            unit: "ms/process",
            notes,
        });
    }

    let mut cases = [
        Case::new("conc_process Connection round trip", || {
            conc_round_trips(trips)
        }),
        Case::new("raw ipc-channel round trip (fork child)", || {
            raw_round_trips(trips)
        }),
    ];
    eprintln!("  -- {trips} round trips per run");
    let stats = measure(config, &mut cases);
    let us = |d: Duration| d.as_secs_f64() * 1e6 / trips as f64;
    let base = us(stats[1].median);
    for (i, (case, s)) in cases.iter().zip(&stats).enumerate() {
        let value = us(s.median);
        let mut notes = if i == 0 {
            let ratio = value / base;
            let verdict = at_most(ratio, 1.5);
            report.verdicts.push(format!(
                "W8 target: Connection round trip <= 1.5x raw ipc-channel: {verdict} ({ratio:.2}x)"
            ));
            format!("{ratio:.2}x raw ipc-channel; target <= 1.5x: {verdict}")
        } else {
            String::from("baseline")
        };
        notes.push_str(&format!(
            "; runs {:.2}-{:.2} us; {}",
            us(s.min),
            us(s.max),
            config.method()
        ));
        report.rows.push(Row {
            workload: WORKLOAD.id,
            system: case.system.clone(),
            value,
            unit: "us/round trip",
            notes,
        });
    }
    report
}
