//! Stack tests: 100,000 live greenlets (beyond what one mapping per stack allows under
//! the default `vm.max_map_count`), and the stack-overflow report, run in a child
//! process because it aborts.

use std::process::Command;

use conc_coro::{Greenlet, getcurrent};

/// How many memory mappings the process has now.
fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |maps| maps.lines().count())
}

#[test]
fn hundred_thousand_live_greenlets() {
    let n = 100_000_u32;
    let maps_before = map_count();
    let gs: Vec<Greenlet> = (0..n)
        .map(|i| {
            let g = Greenlet::new(move |_: ()| {
                let parent = getcurrent().parent().expect("not main");
                let back: u32 = parent.switch(i).unwrap().downcast().unwrap();
                back + i
            });
            // Started and suspended: every one holds its stack.
            assert_eq!(g.switch_as::<u32, _>(()), Ok(i));
            g
        })
        .collect();
    if cfg!(target_os = "linux") {
        let added = map_count().saturating_sub(maps_before);
        let rss = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        println!("{n} live greenlets added {added} memory mappings; {rss}");
        // Two mappings per stack would be 200,000, beyond vm.max_map_count; slabs with
        // guard install need one per 256 stacks (mprotect guards would need two each
        // and fail before reaching this line).
        assert!(added < 65_530, "stacks cost {added} mappings");
    }
    let total: u64 = gs
        .iter()
        .map(|g| u64::from(g.switch_as::<u32, _>(1_u32).unwrap()))
        .sum();
    // Each greenlet returns `back + i` with back = 1.
    assert_eq!(total, (0..u64::from(n)).map(|i| i + 1).sum::<u64>());
}

/// Recurses until the stack runs out (the bound is never reached in practice).
fn recurse(depth: u64) -> u64 {
    let buffer = std::hint::black_box([depth as u8; 512]);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + u64::from(buffer[0])
}

#[test]
fn stack_overflow_is_reported_and_aborts() {
    if std::env::var_os("CONC_CORO_OVERFLOW_CHILD").is_some() {
        conc_coro::set_stack_size(64 * 1024);
        let g = Greenlet::new(|_: ()| recurse(0));
        let _ = g.switch(());
        unreachable!("the overflow aborts the process");
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stack_overflow_is_reported_and_aborts",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CONC_CORO_OVERFLOW_CHILD", "1")
        .output()
        .expect("the test binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("greenlet overflowed its stack"),
        "child stderr: {stderr}"
    );
    assert!(!output.status.success());
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            Some(libc_sigabrt()),
            "status {:?}",
            output.status
        );
    }
}

#[cfg(unix)]
fn libc_sigabrt() -> i32 {
    6
}

#[test]
fn ordinary_segfaults_still_reach_the_default_handler() {
    // A fault outside any greenlet guard must not print the greenlet message: Rust's
    // own stack-overflow report for a thread still works.
    if std::env::var_os("CONC_CORO_THREAD_OVERFLOW_CHILD").is_some() {
        // Make sure the greenlet handler is installed, then overflow a plain thread.
        Greenlet::new(|_: ()| ()).switch(()).unwrap();
        let t = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| recurse(0))
            .unwrap();
        let _ = t.join();
        unreachable!("the overflow aborts the process");
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "ordinary_segfaults_still_reach_the_default_handler",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CONC_CORO_THREAD_OVERFLOW_CHILD", "1")
        .output()
        .expect("the test binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        !stderr.contains("greenlet overflowed"),
        "child stderr: {stderr}"
    );
    assert!(
        stderr.contains("has overflowed its stack"),
        "child stderr: {stderr}"
    );
}
