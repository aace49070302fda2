//! Python's `subprocess` module: run external programs, connect to their standard
//! streams, get their return codes.
//!
//! ```
//! use std::time::Duration;
//! use conc_process::subprocess::{self, Run, SubprocessError};
//!
//! // subprocess.run(["echo", "hello"], capture_output=True, check=True)
//! let done = Run::new(["echo", "hello"]).capture_output(true).check(true).run()?;
//! assert_eq!(done.stdout_lossy(), "hello\n");
//!
//! // subprocess.run("sleep 10", shell=True, timeout=0.1): killed, reaped, reported
//! let err = Run::shell("sleep 10").timeout(Duration::from_millis(100)).run().unwrap_err();
//! assert!(matches!(err, SubprocessError::TimeoutExpired { .. }));
//!
//! // subprocess.check_output(["false"]) -> CalledProcessError
//! let err = subprocess::check_output(["false"]).unwrap_err();
//! assert_eq!(err.to_string(), "Command '['false']' returned non-zero exit status 1.");
//! # Ok::<(), SubprocessError>(())
//! ```
//!
//! # What is here
//!
//! | Python | here |
//! | --- | --- |
//! | `run(args, capture_output, input, timeout, check, stdin, stdout, stderr, cwd, env)` | [`Run`] (a builder), [`Run::run`] |
//! | `run(cmd, shell=True)`, `Popen(cmd, shell=True)` | [`Run::shell`], [`PopenBuilder::shell`] |
//! | `CompletedProcess`, `check_returncode()` | [`CompletedProcess`], [`CompletedProcess::check_returncode`] |
//! | `Popen(args, ...)` | [`Popen::new`], [`PopenBuilder`] ([`Popen::builder`]) |
//! | `Popen.pid`, `args`, `returncode`, `poll()`, `wait(timeout)` | [`Popen::pid`], [`Popen::args`], [`Popen::returncode`], [`Popen::poll`], [`Popen::wait`] |
//! | `Popen.send_signal`, `terminate`, `kill` | [`Popen::send_signal`], [`Popen::terminate`], [`Popen::kill`] |
//! | `Popen.communicate(input, timeout)` | [`Popen::communicate`], returning [`Communicated`] |
//! | `Popen.stdin`, `stdout`, `stderr` | [`Popen::stdin`], [`Popen::stdout`], [`Popen::stderr`] (and `take_*`) |
//! | `PIPE`, `DEVNULL`, `STDOUT`, a file | [`Redirect`] |
//! | `call`, `check_call`, `check_output`, `getoutput`, `getstatusoutput` | [`call`], [`check_call`], [`check_output`], [`getoutput`], [`getstatusoutput`] |
//! | `SubprocessError`, `TimeoutExpired`, `CalledProcessError`, `OSError`, `ValueError` | [`SubprocessError`] and its variants |
//!
//! # Differences from Python, and why
//!
//! - **Builders instead of keyword arguments.** `Run::new(args).timeout(t).check(true)`
//!   reads like `run(args, timeout=t, check=True)` and is checked at compile time.
//! - **Bytes, with lossy text helpers.** Output is `Vec<u8>` (Python's default);
//!   [`CompletedProcess::stdout_lossy`] plays `text=True`. Output not captured is
//!   `None`, as in Python.
//! - **Shell commands keep their real arguments.** `Run::shell("exit 3")` reports its
//!   command as `['/bin/sh', '-c', 'exit 3']`; Python shows the string.
//! - **`communicate` refuses `input` without a stdin pipe** (Python ignores it
//!   silently).
//! - **Dropping a `Popen` does not wait** (Python's `with Popen(...)` block does);
//!   call [`Popen::wait`] where the block would end.
//! - **Zombies** are handled as in CPython (a list of dropped, still-running children
//!   reaped on later spawns); see [`Popen`]. No SIGCHLD handler is installed, ever.
//! - **SIGPIPE.** The Rust runtime ignores SIGPIPE in the parent, so a child that stops
//!   reading shows up as an ignored broken pipe; children start with SIGPIPE restored
//!   to its default (Python's `restore_signals=True`). Other signals the parent ignores
//!   (SIGINT and SIGQUIT, for a program started from a background shell) are inherited
//!   ignored, as in Python; [`PopenBuilder::default_signals`] resets the ones a child
//!   should die of.
//! - `close_fds` (on by default, as in Python 3), `pass_fds` and `start_new_session`
//!   are [`PopenBuilder`] options.
//! - Not ported: `text`/`encoding`/`errors`/`universal_newlines` (use the lossy helpers
//!   or `String::from_utf8`), `preexec_fn`, `user`/`group`, `umask`, `executable`,
//!   `bufsize`, and Windows' `startupinfo`/`creationflags`.
//!
//! # Platforms
//!
//! Unix only (tested on Linux): the module is compiled out elsewhere. Spawning uses
//! `std::process::Command`; `communicate` uses `poll(2)`.

mod builder;
mod communicate;
mod error;
mod popen;
mod reaper;
mod redirect;
mod run;

pub use builder::PopenBuilder;
pub use communicate::Communicated;
pub use error::SubprocessError;
pub use popen::Popen;
pub use redirect::Redirect;
pub use run::{CompletedProcess, Run, call, check_call, check_output, getoutput, getstatusoutput};
