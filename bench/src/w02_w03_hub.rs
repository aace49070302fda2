//! W2 and W3: the conc-coro hub against tokio, may and OS threads.
//!
//! # W2: 100,000 green tasks, each sleeping 10 ms once
//!
//! Every system spawns [`W2_TASKS`] tasks (a tenth with `--quick`) that each sleep
//! 10 ms once, and waits for all of them; the figure is the wall time from the first
//! spawn to the last join. Rows: conc-coro (`spawn` + `sleep` + `joinall` on the
//! thread's hub), tokio current-thread (`spawn` + `tokio::time::sleep`), may (one
//! worker, `go!` + `may::coroutine::sleep`), and OS threads (a tenth as many,
//! [`W2_THREAD_SCALE`], `std::thread::sleep`; the figure is scaled back up, as the
//! notes say).
//!
//! Peak memory per task is measured in each system's first (warm-up) run: the process's
//! resident set once every task is alive and asleep, minus the resident set before the
//! first spawn, over the number of tasks. Later runs reuse memory (conc-coro keeps the
//! stacks a burst released warm until its hub idles), so only the first run says what a
//! fresh program pays: the notes give that run's time too (for conc-coro it includes a
//! first-touch page fault per stack page). tokio runs first, on a fresh heap;
//! conc-coro's stacks come from fresh slabs either way.
//!
//! Target: conc-coro at most 2.5x tokio current-thread's time, with at most 6 KiB peak
//! RSS per greenlet.
//!
//! # W3: TCP echo, 100 connections x 1,000 round trips of 64 bytes
//!
//! Every system runs its echo server and its 100 clients itself, on 127.0.0.1: each
//! client connects, then writes 64 bytes and reads them back 1,000 times. The figure is
//! round trips per second over the whole run (connects included). Rows: conc-coro on
//! one hub (server and clients greenlets of one thread), conc-coro with one hub per
//! core (one server and its share of the clients on each of `available_parallelism`
//! threads), tokio current-thread, tokio multi-thread (one worker per core), and std
//! threads (a thread per client and per server connection).
//!
//! Targets: one hub at least tokio current-thread's round trips per second; one hub
//! per core at least tokio multi-thread's.

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::Once;
use std::time::{Duration, Instant};

use crate::harness::{
    Case, Config, Report, Row, Stats, Workload, at_least, at_most, format_value, measure,
};

/// The W2 registry entry.
pub(crate) const W2: Workload = Workload {
    id: "W2",
    title: "100,000 green tasks each sleeping 10 ms once, all alive at once",
    run: run_w2,
};

/// The W3 registry entry.
pub(crate) const W3: Workload = Workload {
    id: "W3",
    title: "TCP echo on 127.0.0.1: 100 connections x 1,000 round trips of 64 bytes",
    run: run_w3,
};

/// Tasks per W2 run at full size.
const W2_TASKS: u64 = 100_000;
/// The OS-thread row of W2 starts this fraction of the tasks.
const W2_THREAD_SCALE: u64 = 10;
/// How long each W2 task sleeps.
const NAP: Duration = Duration::from_millis(10);
/// W3's clients.
const CONNECTIONS: u64 = 100;
/// W3's round trips per client at full size.
const ROUND_TRIPS: u64 = 1_000;
/// W3's message size.
const MESSAGE: usize = 64;

const CONC_W2: &str = "conc-coro: spawn + sleep + joinall (one hub)";
const TOKIO_W2: &str = "tokio current-thread: spawn + time::sleep";
const CONC_W3: &str = "conc-coro: one hub (StreamServer + client greenlets)";
const CONC_W3_CORES: &str = "conc-coro: one hub per core";
const TOKIO_W3: &str = "tokio current-thread";
const TOKIO_W3_MULTI: &str = "tokio multi-thread (a worker per core)";

/// W2's target: at most this many times tokio current-thread's time.
const W2_MAX_RATIO: f64 = 2.5;
/// W2's target: at most this much resident memory per greenlet.
const W2_MAX_KIB: f64 = 6.0;

/// The process's resident set in KiB.
fn rss_kib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0.0)
}

/// Records the first run's KiB per task into `slot`.
fn first_only(slot: &Cell<Option<f64>>, per_task: f64) {
    if slot.get().is_none() {
        slot.set(Some(per_task));
    }
}

/// What a W2 system's first (warm-up) run measured: KiB per task and its time.
#[derive(Default)]
struct FirstRun {
    kib: Cell<Option<f64>>,
    time: Cell<Option<Duration>>,
}

impl FirstRun {
    /// Runs `run` (which records the KiB), recording its time if it is the first.
    fn time(&self, run: impl FnOnce(&Cell<Option<f64>>) -> Duration) -> Duration {
        let took = run(&self.kib);
        if self.time.get().is_none() {
            self.time.set(Some(took));
        }
        took
    }
}

fn run_w2(config: &Config) -> Report {
    let n = config.size(W2_TASKS);
    let n_threads = n / W2_THREAD_SCALE;
    let firsts: [Rc<FirstRun>; 4] = Default::default();
    let mut cases = [
        Case::new(TOKIO_W2, {
            let first = firsts[0].clone();
            move || first.time(|kib| tokio_sleepers(n, kib))
        }),
        Case::new(CONC_W2, {
            let first = firsts[1].clone();
            move || first.time(|kib| conc_sleepers(n, kib))
        }),
        Case::new("may: go! + coroutine::sleep (1 worker)", {
            let first = firsts[2].clone();
            move || first.time(|kib| may_sleepers(n, kib))
        }),
        Case::new("OS threads: thread::sleep", {
            let first = firsts[3].clone();
            move || first.time(|kib| thread_sleepers(n_threads, kib) * W2_THREAD_SCALE as u32)
        }),
    ];
    eprintln!("  -- {n} tasks ({n_threads} OS threads, scaled)");
    let stats = measure(config, &mut cases);
    let mut report = Report::default();
    let tokio_secs = stats[0].median.as_secs_f64();
    let first_secs = |f: &FirstRun| f.time.get().unwrap_or_default().as_secs_f64();
    let tokio_first = first_secs(&firsts[0]);
    for ((case, s), first) in cases.iter().zip(&stats).zip(&firsts) {
        let secs = s.median.as_secs_f64();
        let kib = first.kib.get().unwrap_or(0.0);
        let mut notes = format!(
            "{:.2}x tokio current-thread; first (cold) run {:.3} s, {:.2}x tokio's; \
             {kib:.1} KiB RSS per task (first run)",
            secs / tokio_secs,
            first_secs(first),
            first_secs(first) / tokio_first
        );
        if case.system == CONC_W2 {
            let time = at_most(secs / tokio_secs, W2_MAX_RATIO);
            let memory = at_most(kib, W2_MAX_KIB);
            notes.push_str(&format!(
                "; target <= {W2_MAX_RATIO}x: {time}; target <= {W2_MAX_KIB} KiB: {memory}"
            ));
            report.verdicts.push(format!(
                "W2 target: conc-coro <= {W2_MAX_RATIO}x tokio current-thread: {time} ({:.2}x: {secs:.3} s vs {tokio_secs:.3} s)",
                secs / tokio_secs
            ));
            report.verdicts.push(format!(
                "W2 target: <= {W2_MAX_KIB} KiB peak RSS per greenlet: {memory} ({kib:.1} KiB)"
            ));
        }
        if case.system.starts_with("OS threads") {
            notes.push_str(&format!(
                "; scaled: {n_threads} threads, time x{W2_THREAD_SCALE}"
            ));
        }
        notes.push_str(&spread_secs(s, config));
        report.rows.push(Row {
            workload: W2.id,
            system: case.system.clone(),
            value: secs,
            unit: "s",
            notes,
        });
    }
    report
}

fn spread_secs(s: &Stats, config: &Config) -> String {
    format!(
        "; runs {}-{} s; {}",
        format_value(s.min.as_secs_f64()),
        format_value(s.max.as_secs_f64()),
        config.method()
    )
}

fn conc_sleepers(n: u64, kib: &Cell<Option<f64>>) -> Duration {
    let before = rss_kib();
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| conc_coro::spawn(|| conc_coro::sleep(NAP).expect("a green sleep")))
        .collect();
    // Every task runs up to its sleep before the main greenlet's shorter nap ends.
    conc_coro::sleep(Duration::from_millis(1)).expect("a green sleep");
    first_only(kib, (rss_kib() - before) / n as f64);
    conc_coro::joinall(&tasks, None).expect("every task ends");
    start.elapsed()
}

fn tokio_sleepers(n: u64, kib: &Cell<Option<f64>>) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let before = rss_kib();
        let start = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| tokio::spawn(async { tokio::time::sleep(NAP).await }))
            .collect();
        tokio::time::sleep(Duration::from_millis(1)).await;
        first_only(kib, (rss_kib() - before) / n as f64);
        for t in tasks {
            t.await.expect("a task");
        }
        start.elapsed()
    })
}

fn may_sleepers(n: u64, kib: &Cell<Option<f64>>) -> Duration {
    static CONFIG: Once = Once::new();
    CONFIG.call_once(|| {
        may::config().set_workers(1);
    });
    let before = rss_kib();
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            // SAFETY: may's `spawn` is unsafe because a coroutine may move between
            // workers (thread-locals) and has a small stack; this one touches no
            // thread-local and only sleeps.
            unsafe { may::coroutine::spawn(|| may::coroutine::sleep(NAP)) }
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1));
    first_only(kib, (rss_kib() - before) / n as f64);
    for t in tasks {
        t.join().expect("a coroutine");
    }
    start.elapsed()
}

fn thread_sleepers(n: u64, kib: &Cell<Option<f64>>) -> Duration {
    let before = rss_kib();
    let start = Instant::now();
    let threads: Vec<_> = (0..n)
        .map(|_| {
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(|| std::thread::sleep(NAP))
                .expect("a thread")
        })
        .collect();
    first_only(kib, (rss_kib() - before) / n as f64);
    for t in threads {
        t.join().expect("a thread");
    }
    start.elapsed()
}

fn run_w3(config: &Config) -> Report {
    let trips = config.size(ROUND_TRIPS);
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let mut cases = [
        Case::new(CONC_W3, move || conc_echo(CONNECTIONS, trips)),
        Case::new(CONC_W3_CORES, move || conc_echo_per_core(cores, trips)),
        Case::new(TOKIO_W3, move || tokio_echo(None, trips)),
        Case::new(TOKIO_W3_MULTI, move || tokio_echo(Some(cores), trips)),
        Case::new("std threads: a thread per connection", move || {
            thread_echo(trips)
        }),
    ];
    eprintln!("  -- {CONNECTIONS} connections x {trips} round trips");
    let stats = measure(config, &mut cases);
    let total = (CONNECTIONS * trips) as f64;
    let rate = |s: &Stats| total / s.median.as_secs_f64();
    let tokio_one = rate(&stats[2]);
    let tokio_multi = rate(&stats[3]);
    let mut report = Report::default();
    for (case, s) in cases.iter().zip(&stats) {
        let value = rate(s);
        let mut notes = format!("{:.2}x tokio current-thread", value / tokio_one);
        let bar = match case.system.as_str() {
            CONC_W3 => Some((tokio_one, TOKIO_W3)),
            CONC_W3_CORES => Some((tokio_multi, TOKIO_W3_MULTI)),
            _ => None,
        };
        if let Some((peer, name)) = bar {
            let verdict = at_least(value / peer, 1.0);
            notes.push_str(&format!(
                "; {:.2}x {name}; target >= 1x: {verdict}",
                value / peer
            ));
            report.verdicts.push(format!(
                "W3 target: {} >= {name}: {verdict} ({:.2}x: {value:.0} vs {peer:.0} round trips/s)",
                case.system,
                value / peer
            ));
        }
        notes.push_str(&format!(
            "; runs {}-{} round trips/s; {}",
            format_value(total / s.max.as_secs_f64()),
            format_value(total / s.min.as_secs_f64()),
            config.method()
        ));
        report.rows.push(Row {
            workload: W3.id,
            system: case.system.clone(),
            value,
            unit: "round trips/s",
            notes,
        });
    }
    report
}

/// One echo: read a message, write it back, until the peer closes.
fn echo_loop(mut conn: impl Read + Write) {
    let mut buf = [0u8; MESSAGE];
    while conn.read_exact(&mut buf).is_ok() {
        if conn.write_all(&buf).is_err() {
            return;
        }
    }
}

/// One client: `trips` round trips of a message on `conn`.
fn client_loop(mut conn: impl Read + Write, trips: u64) {
    let out = [7u8; MESSAGE];
    let mut back = [0u8; MESSAGE];
    for _ in 0..trips {
        conn.write_all(&out).expect("a write");
        conn.read_exact(&mut back).expect("a read");
    }
    assert_eq!(back, out);
}

fn conc_echo(clients: u64, trips: u64) -> Duration {
    let server = conc_coro::StreamServer::bind("127.0.0.1:0", |conn, _| {
        let _ = conn.set_nodelay(true);
        echo_loop(conn);
    })
    .expect("a server");
    server.start();
    let addr = server.address();
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            conc_coro::spawn(move || {
                let conn = conc_coro::TcpStream::connect(addr).expect("a connection");
                conn.set_nodelay(true).expect("nodelay");
                client_loop(conn, trips);
            })
        })
        .collect();
    conc_coro::joinall(&tasks, None).expect("every client ends");
    let elapsed = start.elapsed();
    server.stop(Some(Duration::from_secs(1)));
    elapsed
}

fn conc_echo_per_core(cores: usize, trips: u64) -> Duration {
    let share = CONNECTIONS / cores as u64;
    let threads: Vec<_> = (0..cores)
        .map(|i| {
            let clients = if i == 0 {
                CONNECTIONS - share * (cores as u64 - 1)
            } else {
                share
            };
            std::thread::spawn(move || conc_echo(clients, trips))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("a hub thread"))
        .max()
        .unwrap_or_default()
}

fn tokio_echo(workers: Option<usize>, trips: u64) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = match workers {
        None => tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_io()
            .build(),
    }
    .expect("a runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a listener");
        let addr = listener.local_addr().expect("an address");
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let _ = conn.set_nodelay(true);
                tokio::spawn(async move {
                    let mut buf = [0u8; MESSAGE];
                    while conn.read_exact(&mut buf).await.is_ok() {
                        if conn.write_all(&buf).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                tokio::spawn(async move {
                    let mut conn = tokio::net::TcpStream::connect(addr)
                        .await
                        .expect("a connection");
                    conn.set_nodelay(true).expect("nodelay");
                    let out = [7u8; MESSAGE];
                    let mut back = [0u8; MESSAGE];
                    for _ in 0..trips {
                        conn.write_all(&out).await.expect("a write");
                        conn.read_exact(&mut back).await.expect("a read");
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.expect("a client");
        }
        let elapsed = start.elapsed();
        server.abort();
        elapsed
    })
}

fn thread_echo(trips: u64) -> Duration {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let addr = listener.local_addr().expect("an address");
    let acceptor = std::thread::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..CONNECTIONS {
            let (conn, _) = listener.accept().expect("a connection");
            conn.set_nodelay(true).expect("nodelay");
            handlers.push(std::thread::spawn(move || echo_loop(conn)));
        }
        for h in handlers {
            let _ = h.join();
        }
    });
    let start = Instant::now();
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            std::thread::spawn(move || {
                let conn = std::net::TcpStream::connect(addr).expect("a connection");
                conn.set_nodelay(true).expect("nodelay");
                client_loop(conn, trips);
            })
        })
        .collect();
    for c in clients {
        c.join().expect("a client");
    }
    let elapsed = start.elapsed();
    acceptor.join().expect("the acceptor");
    elapsed
}
