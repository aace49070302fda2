//! How a rank waits for a message without burning its core.
//!
//! A blocking MPI receive spins in most MPI libraries (MPICH's does): a manager rank
//! blocked in one takes a whole core from the workers it waits for (measured here: 2
//! workers held to about 1.2x serial on 2 cores). So every wait here polls
//! (`MPI_Iprobe`) and sleeps between polls: yielding for a short while after the last
//! message first (a sleep, however short, lasts at least Linux's 50 µs timer slack, and
//! a task's round trip crosses four waits), then sleeping twice as long each time up to
//! a ceiling, the trade-off mpi4py makes with `MPI4PY_FUTURES_BACKOFF`. A longer
//! ceiling costs up to that much latency on a reply after a quiet spell; a shorter one
//! costs CPU while waiting.

use std::time::{Duration, Instant};

/// The default ceiling of the sleep between polls.
pub(crate) const DEFAULT_CEILING: Duration = Duration::from_micros(200);

/// The environment variable that sets the ceiling, in microseconds, on every rank (the
/// workers read it too: they are started by `mpiexec` with the same environment).
pub(crate) const ENV: &str = "CONC_MPI_BACKOFF_US";

/// How long after the last message a wait only yields between polls.
const SPIN_FOR: Duration = Duration::from_micros(200);

/// A wait that follows a quiet spell this long does not spin: messages are coming
/// slowly (long tasks), so a reply a little later costs little, and the yields would
/// take CPU from the ranks doing the work.
const QUIET: Duration = Duration::from_millis(1);

/// The first sleep.
const FIRST_SLEEP: Duration = Duration::from_micros(20);

/// The ceiling from [`ENV`], or [`DEFAULT_CEILING`].
pub(crate) fn ceiling_from_env() -> Duration {
    std::env::var(ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_CEILING, Duration::from_micros)
}

/// One wait's state: since when it waits, how long the next sleep is.
#[derive(Debug)]
pub(crate) struct Backoff {
    since: Instant,
    spin_for: Duration,
    sleep: Duration,
    ceiling: Duration,
}

impl Backoff {
    /// A fresh wait sleeping at most `ceiling` between polls.
    pub(crate) fn new(ceiling: Duration) -> Backoff {
        Backoff::with_spin(ceiling, SPIN_FOR)
    }

    fn with_spin(ceiling: Duration, spin_for: Duration) -> Backoff {
        Backoff {
            since: Instant::now(),
            spin_for,
            sleep: FIRST_SLEEP.min(ceiling),
            ceiling,
        }
    }

    /// Starts over: something arrived. Spins next time only if it came quickly.
    pub(crate) fn reset(&mut self) {
        let quiet = self.since.elapsed() >= QUIET;
        *self = Backoff::with_spin(self.ceiling, if quiet { Duration::ZERO } else { SPIN_FOR });
    }

    /// How long to pause before the next poll (zero: yield only), growing each call
    /// once the spinning time is over.
    pub(crate) fn next_pause(&mut self) -> Duration {
        if self.since.elapsed() < self.spin_for {
            return Duration::ZERO;
        }
        let pause = self.sleep;
        self.sleep = (self.sleep * 2).min(self.ceiling);
        pause
    }

    /// Pauses as [`next_pause`](Self::next_pause) says.
    pub(crate) fn pause(&mut self) {
        match self.next_pause() {
            Duration::ZERO => std::thread::yield_now(),
            pause => std::thread::sleep(pause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spins_then_sleeps_doubling_up_to_the_ceiling() {
        let mut b = Backoff::with_spin(Duration::from_micros(160), Duration::ZERO);
        let pauses: Vec<u64> = (0..5).map(|_| b.next_pause().as_micros() as u64).collect();
        assert_eq!(pauses, [20, 40, 80, 160, 160]);
        // Within the spinning time, only yields; after a quick message, it spins again.
        let mut b = Backoff::with_spin(Duration::from_micros(160), Duration::from_secs(3600));
        assert_eq!(b.next_pause(), Duration::ZERO);
        b.reset();
        assert_eq!(b.next_pause(), Duration::ZERO);
        // After a quiet spell, it sleeps at once.
        let mut b = Backoff::new(Duration::from_micros(160));
        b.since -= QUIET;
        b.reset();
        assert_eq!(b.next_pause(), Duration::from_micros(20));
    }
}
