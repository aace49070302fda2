//! A process's life: `start`, `is_alive`, `pid`, `terminate`, `kill`, `daemon`,
//! `exitcode`, `current_process`, `active_children`.
//!
//! Ports seed 004 §4.2–4.3, which lists the `Process` methods and attributes
//! (`p.start()`, `p.join([timeout])`, `p.is_alive()`, `p.terminate()/kill()`,
//! `p.daemon`, `p.pid`, `p.exitcode`) and the module functions `current_process()` and
//! `active_children()`.
//!
//! What it shows: exit codes follow Python — 0 for a normal return, 1 after a panic (an
//! uncaught exception), the code given to `exit`, and minus the signal number for a
//! process stopped by `terminate()` (SIGTERM, -15) or `kill()` (SIGKILL, -9). A panic's
//! message comes back to the parent. `join_timeout` returns `Err(Timeout)` while the
//! child still runs. A daemon child is terminated when the program exits instead of
//! being waited for.
//!
//! How Rust differs: `join` returns a `Result` that already says how the child ended,
//! so there is no need to read `exitcode` to notice a failure.

use std::time::Duration;

use conc_process::{Process, ProcessError, active_children, current_process};

fn task(secs: u64) {
    println!("  {} sleeps {secs} s", current_process().name());
    std::thread::sleep(Duration::from_secs(secs));
}

fn fails(why: String) {
    panic!("{why}");
}

fn quits(code: i32) {
    std::process::exit(code);
}

fn main() {
    // Before init(): the fork server is forked there, and its children inherit the hook.
    examples::one_line_panic_reports();
    conc_process::init();
    println!("current_process(): {}", current_process().name());

    examples::heading("start, is_alive, pid, join(timeout), terminate");
    let p = Process::new(task, 30).name("sleeper");
    println!(
        "before start: is_alive={} pid={:?} exitcode={:?}",
        p.is_alive(),
        p.pid(),
        p.exitcode()
    );
    p.start().expect("start");
    println!("after start:  is_alive={} pid={:?}", p.is_alive(), p.pid());
    let names: Vec<String> = active_children()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    println!("active_children(): {names:?}");
    assert!(names.iter().any(|n| n == "sleeper"));
    assert!(matches!(
        p.join_timeout(Duration::from_millis(100)),
        Err(ProcessError::Timeout { .. })
    ));
    println!("join(timeout=0.1): still alive = {}", p.is_alive());
    p.terminate().expect("terminate");
    let err = p.join().unwrap_err();
    println!("terminate(): {err}; exitcode = {:?}", p.exitcode());
    assert_eq!(p.exitcode(), Some(-15));

    examples::heading("kill()");
    let p = Process::new(task, 30);
    p.start().expect("start");
    p.kill().expect("kill");
    let _ = p.join();
    println!("kill(): exitcode = {:?}", p.exitcode());
    assert_eq!(p.exitcode(), Some(-9));
    assert!(active_children().is_empty());

    examples::heading("exit codes: return, panic, exit(3)");
    let ok = Process::new(task, 0);
    let panicking = Process::new(fails, "division by zero".to_string());
    let exiting = Process::new(quits, 3);
    for p in [&ok, &panicking] {
        p.start().expect("start");
    }
    exiting.start().expect("start");
    println!("returned:  {:?}, exitcode {:?}", ok.join(), ok.exitcode());
    println!(
        "panicked:  {:?}, exitcode {:?}",
        panicking.join(),
        panicking.exitcode()
    );
    println!(
        "exit(3):   {:?}, exitcode {:?}",
        exiting.join(),
        exiting.exitcode()
    );
    assert_eq!(ok.exitcode(), Some(0));
    assert!(
        matches!(panicking.join(), Err(ProcessError::Panicked { message, .. }) if message == "division by zero")
    );
    assert_eq!(panicking.exitcode(), Some(1));
    assert_eq!(exiting.exitcode(), Some(3));

    examples::heading("daemon=True: terminated when the program exits");
    let d = Process::new(task, 60).name("daemon").daemon(true);
    d.start().expect("start");
    println!(
        "daemon {} started (pid {:?}); main returns without joining it",
        d.get_name(),
        d.pid()
    );
    // At exit conc-process terminates daemonic children and waits for the others,
    // as Python's multiprocessing does; the program ends at once instead of in 60 s.
}
