//! Python's `multiprocessing` and `subprocess` for Rust.
//!
//! (Crate documentation is being written alongside the API.)
//!
//! # Subprocess
//!
//! [`subprocess`] is Python's `subprocess` module: [`subprocess::Run`] for
//! `subprocess.run`, [`subprocess::Popen`] with a deadlock-free
//! [`communicate`](subprocess::Popen::communicate), timeouts that kill and reap the
//! child, and [`subprocess::SubprocessError`] with Python's `TimeoutExpired` and
//! `CalledProcessError`. Unix only.
//!
//! ```
//! # #[cfg(unix)] {
//! let out = conc_process::subprocess::check_output(["echo", "hello"]).unwrap();
//! assert_eq!(out, b"hello\n");
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bootstrap;
mod child;
mod connection;
mod current;
mod error;
mod forkserver;
mod init;
mod launcher;
mod process;
mod registry;
mod spawn;
mod start_method;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub mod subprocess;
mod sys;

pub use connection::{Connection, pipe};
pub use current::{ProcessInfo, cpu_count, current_process, parent_process};
pub use error::ProcessError;
pub use init::init;
pub use process::{ChildProcess, Process, active_children};
pub use start_method::{Context, StartMethod, get_context, get_start_method, set_start_method};

#[doc(hidden)]
pub mod __private {
    pub use ctor;
}
