//! Stack tests: 100,000 live greenlets (beyond what one mapping per stack allows under
//! the default `vm.max_map_count`), and the stack-overflow report, run in a child
//! process because it aborts.

mod common;

use std::process::Command;

use conc_coro::{Greenlet, getcurrent};

/// How many memory mappings the process has now.
fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |maps| maps.lines().count())
}

/// Whether this kernel has `MADV_GUARD_INSTALL` (Linux 6.13+), tried on a scratch
/// mapping the way the stack slabs use it.
fn kernel_has_guard_install() -> bool {
    const MADV_GUARD_INSTALL: libc::c_int = 102;
    let len = 4 * 4096;
    // SAFETY: a fresh private anonymous mapping, used only here and unmapped below.
    unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(addr, libc::MAP_FAILED);
        let supported = libc::madvise(addr, 4096, MADV_GUARD_INSTALL) == 0;
        libc::munmap(addr, len);
        supported
    }
}

/// Starts `n` greenlets that each suspend holding their stack, checks what that cost,
/// then resumes them all to completion.
fn live_greenlets(n: u32, check: impl FnOnce(usize, u64)) {
    let maps_before = map_count();
    let rss_before = common::rss_kib();
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
    let added_maps = map_count().saturating_sub(maps_before);
    let added_rss_kib = common::rss_kib().saturating_sub(rss_before);
    println!(
        "{n} live greenlets added {added_maps} memory mappings and {added_rss_kib} KiB of RSS"
    );
    check(added_maps, added_rss_kib);
    let total: u64 = gs
        .iter()
        .map(|g| u64::from(g.switch_as::<u32, _>(1_u32).unwrap()))
        .sum();
    // Each greenlet returns `back + i` with back = 1.
    assert_eq!(total, (0..u64::from(n)).map(|i| i + 1).sum::<u64>());
}

/// Stacks are committed only as they are touched: a suspended greenlet that used
/// little of its 256 KiB costs a few pages, not the whole stack.
fn assert_lazily_committed(n: u32, added_rss_kib: u64) {
    let full_stacks_kib = u64::from(n) * (conc_coro::DEFAULT_STACK_SIZE as u64 / 1024);
    assert!(
        added_rss_kib < full_stacks_kib / 8,
        "{n} stacks made {added_rss_kib} KiB resident; committed whole they would be {full_stacks_kib} KiB"
    );
}

#[test]
fn hundred_thousand_live_greenlets() {
    if kernel_has_guard_install() {
        // Two mappings per stack would be 200,000, beyond the default vm.max_map_count;
        // slabs with guard install need one per 256 stacks.
        let n = 100_000;
        live_greenlets(n, |added_maps, added_rss_kib| {
            assert!(added_maps < 65_530, "stacks cost {added_maps} mappings");
            assert!(
                added_maps < n as usize / 100,
                "guards split the slabs: {added_maps} mappings"
            );
            assert_lazily_committed(n, added_rss_kib);
        });
    } else {
        // The fallback: an mprotect'ed guard splits the slab, two mappings a stack. Stay
        // well inside the map limit and check the guards really are there.
        let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65_530);
        let n = ((limit.saturating_sub(map_count())) / 4).min(10_000) as u32;
        live_greenlets(n, |added_maps, added_rss_kib| {
            assert!(
                added_maps >= n as usize,
                "{n} guarded stacks added only {added_maps} mappings"
            );
            assert_lazily_committed(n, added_rss_kib);
        });
    }
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
    common::keep_child_statuses();
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
    common::keep_child_statuses();
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

/// The handler a program installed before conc-coro: reports whether it runs with its
/// own mask (SIGUSR1 blocked) and its SA_RESETHAND honoured, then exits.
extern "C" fn previous_handler(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: querying the mask and the disposition, then write(2) and _exit(2): all
    // async-signal-safe, on values of this frame.
    unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
        let blocked = libc::sigismember(&mask, libc::SIGUSR1) == 1;
        let mut now: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGSEGV, std::ptr::null(), &mut now);
        let reset = now.sa_sigaction == libc::SIG_DFL;
        let message: &[u8] = match (blocked, reset) {
            (true, true) => b"previous handler: own mask, reset\n",
            (false, _) => b"previous handler: SIGUSR1 not blocked\n",
            (true, false) => b"previous handler: SA_RESETHAND ignored\n",
        };
        libc::write(2, message.as_ptr().cast(), message.len());
        libc::_exit(42);
    }
}

#[test]
fn a_previous_fault_handler_runs_with_its_own_mask_and_flags() {
    if std::env::var_os("CONC_CORO_CHAIN_CHILD").is_some() {
        // SAFETY: installing a handler in this single-purpose child process; the
        // action struct is fully initialized before use.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = previous_handler as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaddset(&mut action.sa_mask, libc::SIGUSR1);
            libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut());
        }
        // conc-coro installs its handler in front, chaining to ours.
        Greenlet::new(|_: ()| ()).switch(()).unwrap();
        // A fault outside every greenlet guard.
        // SAFETY: deliberately faulting; the handler ends the process.
        unsafe { std::ptr::read_volatile(std::ptr::dangling::<u64>()) };
        unreachable!("the fault handler exits");
    }
    common::keep_child_statuses();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_previous_fault_handler_runs_with_its_own_mask_and_flags",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CONC_CORO_CHAIN_CHILD", "1")
        .output()
        .expect("the test binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("previous handler: own mask, reset"),
        "child stderr: {stderr}"
    );
    assert_eq!(output.status.code(), Some(42), "child stderr: {stderr}");
}
