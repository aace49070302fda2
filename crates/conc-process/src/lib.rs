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

mod error;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub mod subprocess;

pub use error::ProcessError;
