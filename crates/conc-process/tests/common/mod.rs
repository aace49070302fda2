//! Shared by the integration tests: one test per start method, and bounded waits.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

/// Generous bound for anything that should take milliseconds: the tests must pass on a
/// loaded 2-core machine, and a timeout here means a hang, not slowness.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Expands `fn name(method: StartMethod) { body }` into one `#[test]` per start
/// method, in a module named after the test: `name::fork`, `name::spawn`,
/// `name::forkserver`.
#[macro_export]
macro_rules! each_method {
    ($(#[$attr:meta])* fn $name:ident($m:ident: StartMethod) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$attr])*
            fn run($m: conc_process::StartMethod) $body
            #[test]
            fn fork() {
                run(conc_process::StartMethod::Fork)
            }
            #[test]
            fn spawn() {
                run(conc_process::StartMethod::Spawn)
            }
            #[test]
            fn forkserver() {
                run(conc_process::StartMethod::Forkserver)
            }
        }
    };
}

/// Polls `cond` until it holds or [`PATIENCE`] runs out; whether it held.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Whether a process with this pid exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "pid (comm) S ...".
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}
