//! The portable "die with the parent" fallback: with `PR_SET_PDEATHSIG` off, a child
//! still dies when its parent is SIGKILLed, through the pipe-EOF watchdog. (The fork
//! server's children keep the death signal armed at `init`, so only `fork` and `spawn`
//! are checked here.) One test: forcing the watchdog is process-wide.

mod common;

use common::{PATIENCE, eventually, pid_alive};
use conc_process::{Connection, StartMethod, get_context, pipe};

conc_process::test_support!();

/// Reports its pid and whether the kernel death signal is armed, then sleeps.
fn sleeper(report: Connection<(u32, i32)>) {
    let mut sig: libc::c_int = -1;
    // SAFETY: PR_GET_PDEATHSIG writes the signal number into `sig`.
    unsafe { libc::prctl(libc::PR_GET_PDEATHSIG, &mut sig as *mut libc::c_int) };
    report.send((std::process::id(), sig)).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(120));
}

/// Starts a sleeping grandchild with the same method, then sleeps itself.
fn middle((method, report): (StartMethod, Connection<(u32, i32)>)) {
    let grandchild = get_context(method).process(sleeper, report);
    grandchild.start().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(120));
}

#[test]
fn children_die_with_their_parent_without_the_death_signal() {
    conc_process::__private::force_parent_watchdog();
    for method in [StartMethod::Fork, StartMethod::Spawn] {
        let (rx, tx) = pipe::<(u32, i32)>(false).unwrap();
        let parent = get_context(method).process(middle, (method, tx));
        parent.start().unwrap();
        let (grandchild, death_signal) = rx.recv_timeout(PATIENCE).unwrap();
        assert_eq!(
            death_signal, 0,
            "{method}: the kernel death signal must be off here"
        );
        assert!(pid_alive(grandchild));
        parent.kill().unwrap();
        let _ = parent.join();
        assert!(
            eventually(PATIENCE, || !pid_alive(grandchild)),
            "{method}: grandchild {grandchild} outlived its parent"
        );
    }
}
