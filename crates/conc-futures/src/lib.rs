//! Part of [conc](https://github.com/conc-rs/conc), Python's concurrency toolbox for Rust.
//!
//! This crate is reserved for the `concurrent.futures` counterpart and
//! exports nothing yet: its API arrives in a later release. Until then, see
//! [`conc-thread`](https://docs.rs/conc-thread) for `threading` and `queue`.
#![cfg_attr(docsrs, feature(doc_cfg))]
