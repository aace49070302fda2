//! Python's `multiprocessing` and `subprocess` for Rust.
//!
//! (Crate documentation is being written alongside the API.)
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
