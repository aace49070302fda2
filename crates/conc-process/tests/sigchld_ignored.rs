//! A program started with SIGCHLD ignored (a parent that ignores it passes that on)
//! still gets its children's exit codes, under every start method and from Popen:
//! the kernel would otherwise reap the children itself and every code would be lost.
//! Runs in a process of its own (this test binary re-executed), since it changes a
//! process-wide signal action.

use std::process::Command;

use conc_process::subprocess::Popen;
use conc_process::{StartMethod, get_context};

conc_process::test_support!();

fn exit_with(code: i32) {
    std::process::exit(code);
}

fn in_child() {
    // SAFETY: ignoring SIGCHLD in this single-purpose child process.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        let p = get_context(method).process(exit_with, 3);
        p.start().unwrap();
        let _ = p.join();
        assert_eq!(p.exitcode(), Some(3), "{method:?}");
    }
    let mut proc = Popen::new(["sh", "-c", "exit 5"]).unwrap();
    assert_eq!(proc.wait(None).unwrap(), 5);
    // The engine restored the default action, the one that keeps exit statuses.
    // SAFETY: reads the current action only.
    let now = unsafe {
        let mut now: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut now);
        now
    };
    assert_eq!(now.sa_sigaction, libc::SIG_DFL);
}

#[test]
fn exit_codes_survive_an_ignored_sigchld() {
    if std::env::var_os("CONC_SIGCHLD_CHILD").is_some() {
        in_child();
        return;
    }
    // This (parent) test process may itself run with SIGCHLD ignored: test_support!'s
    // init() restored the default, so the re-executed child can be waited for.
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "exit_codes_survive_an_ignored_sigchld",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CONC_SIGCHLD_CHILD", "1")
        .output()
        .expect("the test binary runs");
    assert!(
        output.status.success(),
        "child: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
