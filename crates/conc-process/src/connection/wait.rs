//! `wait`: Python's `multiprocessing.connection.wait`, blocking until one of several
//! objects is ready: connections with something to read, process sentinels, sockets,
//! any readable descriptor.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Connection;
use crate::ProcessError;

/// Something [`wait`] can wait for.
///
/// Implemented for every descriptor type ([`AsFd`]: `BorrowedFd`, `OwnedFd`, sockets,
/// pipes, the sentinels of [`Process::sentinel`](crate::Process::sentinel)), which are
/// ready when readable or hung up, and for [`Connection`], ready when
/// [`poll`](Connection::poll) says so (a message, or the end of file).
///
/// An object with no descriptor of its own can take part by answering now:
///
/// ```
/// use std::time::Duration;
/// use conc_process::connection::{Readiness, Waitable, wait};
///
/// struct Flag(bool);
/// impl Waitable for Flag {
///     fn readiness(&self) -> Readiness<'_> {
///         Readiness::Now(self.0)
///     }
/// }
/// let ready = wait(&[&Flag(false), &Flag(true)], Some(Duration::ZERO)).unwrap();
/// assert_eq!(ready, [1]);
/// ```
pub trait Waitable {
    /// How readiness is found: a descriptor to `poll(2)`, or an answer now.
    fn readiness(&self) -> Readiness<'_>;
}

/// What a [`Waitable`] offers to [`wait`].
#[derive(Debug)]
pub enum Readiness<'a> {
    /// Ready when this descriptor is readable (or hung up).
    Fd(BorrowedFd<'a>),
    /// Ready now or not (objects without a descriptor of their own: they are asked
    /// again every few milliseconds while `wait` waits).
    Now(bool),
}

impl<F: AsFd> Waitable for F {
    fn readiness(&self) -> Readiness<'_> {
        Readiness::Fd(self.as_fd())
    }
}

impl<T: Serialize + DeserializeOwned> Waitable for Connection<T> {
    fn readiness(&self) -> Readiness<'_> {
        // A closed or write-only end has nothing to read but reports it at once, as
        // Python's `wait` returns a connection whose `recv` would raise.
        Readiness::Now(self.poll(Some(Duration::ZERO)).unwrap_or(true))
    }
}

/// Longest nap between two looks at objects without a descriptor.
const MAX_SLICE: Duration = Duration::from_millis(10);

/// Waits until at least one of `objects` is ready, or `timeout` passes (`None`: no
/// limit), and returns the indices of the ready ones, in order (Python's
/// `multiprocessing.connection.wait(object_list, timeout)`, which returns the objects
/// themselves). An empty result means the timeout passed. Objects of one type are
/// passed as they are (`&[&conn_a, &conn_b]`); a mix as `&dyn Waitable`.
///
/// Descriptors are waited for with one `poll(2)`; while a [`Connection`] is among the
/// objects the wait is cut into slices of at most 10 ms to ask it again, so a message
/// on it is noticed within that.
///
/// # Errors
///
/// [`ProcessError::Os`] if `poll(2)` fails (an invalid descriptor is reported as ready,
/// as `poll` does with `POLLNVAL`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conc_process::connection::{wait, Waitable};
/// use conc_process::{Process, StartMethod};
///
/// let (quiet, _keep) = conc_process::pipe::<u8>(true).unwrap();
/// let (loud, tx) = conc_process::pipe::<u8>(true).unwrap();
/// let p = Process::new(|ms: u64| std::thread::sleep(Duration::from_millis(ms)), 10)
///     .start_method(StartMethod::Fork);
/// p.start().unwrap();
/// tx.send(1).unwrap();
/// let sentinel = p.sentinel().unwrap();
/// let objects: [&dyn Waitable; 3] = [&quiet, &loud, &sentinel];
/// let ready = wait(&objects, Some(Duration::from_secs(30))).unwrap();
/// assert!(ready.contains(&1) && !ready.contains(&0));
/// p.join().unwrap();
/// assert_eq!(wait(&objects[2..], Some(Duration::ZERO)).unwrap(), [0]);
/// ```
pub fn wait<W: Waitable + ?Sized>(
    objects: &[&W],
    timeout: Option<Duration>,
) -> Result<Vec<usize>, ProcessError> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let mut slice = Duration::from_millis(1);
    loop {
        let mut ready = Vec::new();
        let mut fds = Vec::new();
        let mut asked = false;
        for (i, object) in objects.iter().enumerate() {
            match object.readiness() {
                Readiness::Fd(fd) => fds.push((
                    i,
                    libc::pollfd {
                        fd: fd.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    },
                )),
                Readiness::Now(now) => {
                    asked = true;
                    if now {
                        ready.push(i);
                    }
                }
            }
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        // Objects already ready: only a look at the descriptors, no waiting.
        let nap = if !ready.is_empty() {
            Some(Duration::ZERO)
        } else if asked {
            Some(left.map_or(slice, |left| left.min(slice)))
        } else {
            left
        };
        let mut pollfds: Vec<libc::pollfd> = fds.iter().map(|(_, p)| *p).collect();
        poll(&mut pollfds, nap)?;
        for ((i, _), p) in fds.iter().zip(&pollfds) {
            if p.revents != 0 {
                ready.push(*i);
            }
        }
        if !ready.is_empty() || left.is_some_and(|l| l.is_zero()) {
            ready.sort_unstable();
            return Ok(ready);
        }
        slice = (slice * 2).min(MAX_SLICE);
    }
}

/// `poll(2)` for up to `timeout` (`None`: no limit), retried after a signal.
fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> Result<(), ProcessError> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let ms = match (timeout, deadline) {
            (None, _) | (Some(_), None) => -1,
            (Some(_), Some(d)) => {
                let left = d.saturating_duration_since(Instant::now());
                // Rounded up, so a wait never ends a little early and spins.
                i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
            }
        };
        // SAFETY: `fds` is a valid, exclusively borrowed array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n >= 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(ProcessError::os("poll failed", err));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_times_out_and_a_readable_pipe_is_ready() {
        let none: [&dyn Waitable; 0] = [];
        assert!(
            wait(&none, Some(Duration::from_millis(5)))
                .unwrap()
                .is_empty()
        );
        let (read, write) = std::io::pipe().unwrap();
        assert!(wait(&[&read], Some(Duration::ZERO)).unwrap().is_empty());
        drop(write); // end of file: readable
        assert_eq!(wait(&[&read], Some(Duration::ZERO)).unwrap(), [0]);
        // Connections alone, without `dyn`.
        let (a, b) = crate::pipe::<u8>(true).unwrap();
        let (c, _d) = crate::pipe::<u8>(true).unwrap();
        b.send(1).unwrap();
        assert_eq!(wait(&[&a, &c], None).unwrap(), [0]);
    }

    #[test]
    fn a_closed_connection_counts_as_ready() {
        let (a, _b) = crate::pipe::<u8>(true).unwrap();
        let (c, _d) = crate::pipe::<u8>(true).unwrap();
        a.close();
        assert_eq!(wait(&[&a, &c], Some(Duration::ZERO)).unwrap(), [0]);
    }
}
