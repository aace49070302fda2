//! The shut-down flag of a queue (Python 3.13 `Queue.shutdown`).

use std::sync::atomic::{AtomicU8, Ordering};

/// Open → shut down (drain, then refuse) → shut down immediately (refuse at once).
/// It only ever moves forward.
#[derive(Debug, Default)]
pub(crate) struct ShutdownFlag(AtomicU8);

const OPEN: u8 = 0;
const DRAINING: u8 = 1;
const IMMEDIATE: u8 = 2;

impl ShutdownFlag {
    pub(crate) fn shut(&self, immediate: bool) {
        let to = if immediate { IMMEDIATE } else { DRAINING };
        self.0.fetch_max(to, Ordering::SeqCst);
    }

    pub(crate) fn is_shut(&self) -> bool {
        self.0.load(Ordering::SeqCst) != OPEN
    }

    pub(crate) fn is_immediate(&self) -> bool {
        self.0.load(Ordering::SeqCst) == IMMEDIATE
    }
}
