//! Python's `multiprocessing` and `subprocess` for Rust.
//!
//! (Crate documentation is being written alongside the API.)
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;

pub use error::ProcessError;
