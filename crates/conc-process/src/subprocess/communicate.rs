//! The `poll(2)` loop behind `Popen::communicate`: feed stdin, drain stdout and stderr,
//! all on one thread, so no pipe can fill up while we block on another.
//!
//! The state lives in [`Communication`], kept by the `Popen` between calls: a call that
//! times out leaves the input offset and the output read so far there, and the next
//! call continues (CPython's `_input_offset` and `_fileobj2output`).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::process::{ChildStderr, ChildStdin, ChildStdout};
use std::time::Instant;

use super::error::SubprocessError;

/// What [`Popen::communicate`](super::Popen::communicate) returns: `(stdout, stderr)`, each `None` unless that
/// stream is a pipe read by `communicate` (Python's `(stdout_data, stderr_data)`).
///
/// # Examples
///
/// ```
/// use conc_process::subprocess::{Communicated, Popen, Redirect};
///
/// let mut proc = Popen::builder(["echo", "hi"]).stdout(Redirect::Pipe).spawn().unwrap();
/// let (stdout, stderr): Communicated = proc.communicate(None, None).unwrap();
/// assert_eq!((stdout.as_deref(), stderr), (Some(&b"hi\n"[..]), None));
/// ```
pub type Communicated = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The error for an I/O failure in `communicate`.
pub(super) fn pipe_error(err: &io::Error) -> SubprocessError {
    SubprocessError::io("communicating with the child", err)
}
use crate::sys;

/// How much is read or written per system call.
const CHUNK: usize = 64 * 1024;

/// The progress of a `communicate` that may span several calls.
pub(super) struct Communication {
    input: Vec<u8>,
    written: usize,
    /// `None` when stdout was not a pipe when communication started.
    stdout: Option<Vec<u8>>,
    stderr: Option<Vec<u8>>,
}

impl Communication {
    /// Begins communicating: pipes go non-blocking (so a write larger than the free pipe
    /// space returns a partial count instead of blocking), and stdin is closed at once
    /// when there is nothing to send, as in Python.
    pub(super) fn start(
        input: Vec<u8>,
        stdin: &mut Option<ChildStdin>,
        stdout: &Option<ChildStdout>,
        stderr: &Option<ChildStderr>,
    ) -> Result<Communication, SubprocessError> {
        if input.is_empty() {
            *stdin = None;
        }
        let nonblocking = |fd: BorrowedFd<'_>| sys::set_nonblocking(fd).map_err(|e| pipe_error(&e));
        if let Some(pipe) = stdin {
            nonblocking(pipe.as_fd())?;
        }
        if let Some(pipe) = stdout {
            nonblocking(pipe.as_fd())?;
        }
        if let Some(pipe) = stderr {
            nonblocking(pipe.as_fd())?;
        }
        Ok(Communication {
            input,
            written: 0,
            stdout: stdout.as_ref().map(|_| Vec::new()),
            stderr: stderr.as_ref().map(|_| Vec::new()),
        })
    }

    /// Moves data until stdin is fully written (or the child closed it) and stdout and
    /// stderr reached end of file, closing each pipe when it is done. Returns `false`
    /// if `deadline` came first.
    pub(super) fn pump(
        &mut self,
        stdin: &mut Option<ChildStdin>,
        stdout: &mut Option<ChildStdout>,
        stderr: &mut Option<ChildStderr>,
        deadline: Option<Instant>,
    ) -> Result<bool, SubprocessError> {
        if self.written >= self.input.len() {
            *stdin = None;
        }
        loop {
            // Fixed slots: 0 stdin, 1 stdout, 2 stderr; a closed pipe gets fd -1, which
            // poll ignores.
            let mut fds = [
                pollfd(stdin.as_ref().map(|p| p.as_raw_fd()), libc::POLLOUT),
                pollfd(stdout.as_ref().map(|p| p.as_raw_fd()), libc::POLLIN),
                pollfd(stderr.as_ref().map(|p| p.as_raw_fd()), libc::POLLIN),
            ];
            if fds.iter().all(|p| p.fd < 0) {
                return Ok(true);
            }
            let timeout_ms = match deadline {
                None => -1,
                Some(deadline) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if remaining.is_zero() {
                        return Ok(false);
                    }
                    // Round up, so a wait never ends just before the deadline and spins.
                    let ms = remaining.as_nanos().div_ceil(1_000_000);
                    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
                }
            };
            if sys::poll_fds(&mut fds, timeout_ms).map_err(|e| pipe_error(&e))? == 0 {
                continue;
            }
            let ready = |slot: usize| fds[slot].revents != 0;
            if ready(0) {
                self.write_some(stdin)?;
            }
            if ready(1)
                && let Some(buf) = self.stdout.as_mut()
            {
                read_some(stdout, buf)?;
            }
            if ready(2)
                && let Some(buf) = self.stderr.as_mut()
            {
                read_some(stderr, buf)?;
            }
        }
    }

    /// Writes the next chunk of input; closes stdin once everything is written or the
    /// child closed its end (EPIPE is ignored, as in Python: a child may rightly stop
    /// reading early).
    fn write_some(&mut self, stdin: &mut Option<ChildStdin>) -> Result<(), SubprocessError> {
        let Some(pipe) = stdin.as_mut() else {
            return Ok(());
        };
        let end = self.input.len().min(self.written + CHUNK);
        match pipe.write(&self.input[self.written..end]) {
            Ok(n) => self.written += n,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.written = self.input.len(),
            Err(e) if is_retry(&e) => {}
            Err(e) => return Err(pipe_error(&e)),
        }
        if self.written >= self.input.len() {
            *stdin = None;
        }
        Ok(())
    }

    /// The output read so far, copied (for a `TimeoutExpired`).
    pub(super) fn output_so_far(&self) -> Communicated {
        (self.stdout.clone(), self.stderr.clone())
    }

    /// The whole output, leaving empty buffers behind.
    pub(super) fn take_output(&mut self) -> Communicated {
        (
            self.stdout.as_mut().map(std::mem::take),
            self.stderr.as_mut().map(std::mem::take),
        )
    }
}

impl std::fmt::Debug for Communication {
    // Sizes only: the buffers may hold megabytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Communication")
            .field("input_len", &self.input.len())
            .field("written", &self.written)
            .field("stdout_len", &self.stdout.as_ref().map(Vec::len))
            .field("stderr_len", &self.stderr.as_ref().map(Vec::len))
            .finish()
    }
}

/// Reads what is available from `pipe` into `buf`; closes the pipe at end of file.
fn read_some<R: Read>(pipe: &mut Option<R>, buf: &mut Vec<u8>) -> Result<(), SubprocessError> {
    let Some(reader) = pipe.as_mut() else {
        return Ok(());
    };
    let mut chunk = [0u8; CHUNK];
    match reader.read(&mut chunk) {
        Ok(0) => *pipe = None,
        Ok(n) => buf.extend_from_slice(&chunk[..n]),
        Err(e) if is_retry(&e) => {}
        Err(e) => return Err(pipe_error(&e)),
    }
    Ok(())
}

/// A spurious wake-up or a signal: poll again.
fn is_retry(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

fn pollfd(fd: Option<std::os::fd::RawFd>, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd: fd.unwrap_or(-1),
        events,
        revents: 0,
    }
}
