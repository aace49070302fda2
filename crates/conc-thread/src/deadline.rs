//! Turning a timeout into a deadline without overflowing `Instant`.

use std::time::{Duration, Instant};

/// `now + timeout`, or `None` (wait forever) when the sum does not fit in an `Instant`,
/// so `Duration::MAX` means "no timeout" instead of a panic.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}
