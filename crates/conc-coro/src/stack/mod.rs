//! Greenlet stacks: slabs of fixed-size slots, each with a guard region, handed out from
//! a per-thread free list so creating a greenlet makes no system call.
//!
//! ```text
//!   one slab (one mmap, MAP_NORESERVE: reserved, committed page by page on use)
//!   ┌───────┬──────────────────┬───────┬──────────────────┬─────┐
//!   │ guard │ stack 0  ▲ grows │ guard │ stack 1  ▲ grows │ ... │
//!   └───────┴──────────────────┴───────┴──────────────────┴─────┘
//!   low addresses                                      high addresses
//!   limit(0)               base(0) = limit(1)
//! ```
//!
//! Guards are installed with `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+), which does
//! not split the mapping: a slab stays one kernel memory area however many stacks it
//! holds, so 100,000 greenlets fit far below `vm.max_map_count` (65,530 by default).
//! Where the kernel lacks it, each guard is an `mprotect(PROT_NONE)` page range, which
//! costs two memory areas per stack and caps live greenlets near 32,000 at the default
//! `vm.max_map_count`; running out then is a clear error naming that setting.
//!
//! A fault inside a guard is reported by [`overflow`] as "greenlet overflowed its
//! stack" before the process aborts.

pub(crate) mod overflow;
mod slab;

pub(crate) use slab::{GreenletStack, defer_trimming, trim_idle};
