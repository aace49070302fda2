//! `Popen`: a running child program (Python's `subprocess.Popen` object).

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, ExitStatus};
use std::time::{Duration, Instant};

use super::builder::PopenBuilder;
use super::communicate::{Communicated, Communication};
use super::error::SubprocessError;
use super::reaper;
use crate::sys;

/// A child program started by [`PopenBuilder::spawn`] (Python: a `Popen` object).
///
/// The pipes chosen with [`Redirect::Pipe`](super::Redirect::Pipe) are reachable with
/// [`stdin`](Self::stdin), [`stdout`](Self::stdout) and [`stderr`](Self::stderr) for
/// streaming by hand; [`communicate`](Self::communicate) does all of it at once without
/// deadlocking.
///
/// # Zombies
///
/// A child that has exited stays a zombie until it is waited for. [`wait`](Self::wait),
/// [`poll`](Self::poll) and [`communicate`](Self::communicate) reap it. When a `Popen`
/// is dropped while its child still runs, the child is not killed (as in Python); it is
/// kept in a process-wide list, and every later spawn reaps those that have ended since
/// (CPython's `_active` list and `_cleanup()`). A program that drops running children
/// and never spawns again keeps at most those zombies until it exits. No SIGCHLD handler
/// is ever installed.
///
/// Python's `with Popen(...) as proc:` closes the pipes and waits for the child when the
/// block ends; dropping a `Popen` closes the pipes but does not wait, so call
/// [`wait`](Self::wait) (or [`communicate`](Self::communicate)) where Python's block
/// would end.
///
/// # Examples
///
/// Python's documented pattern for a child that takes too long:
///
/// ```
/// use std::time::Duration;
/// use conc_process::subprocess::{PopenBuilder, Redirect, SubprocessError};
///
/// let mut proc = PopenBuilder::shell("echo partial; exec sleep 10")
///     .stdout(Redirect::Pipe)
///     .spawn()
///     .unwrap();
/// // The timeout is generous: `echo` must have run by then even on a loaded machine.
/// match proc.communicate(None, Some(Duration::from_secs(3))) {
///     Err(SubprocessError::TimeoutExpired { .. }) => {
///         proc.kill().unwrap();
///         let (out, _) = proc.communicate(None, None).unwrap(); // keeps what was read
///         assert_eq!(out.as_deref(), Some(&b"partial\n"[..]));
///     }
///     other => panic!("sleep 10 finished early: {other:?}"),
/// }
/// assert_eq!(proc.returncode(), Some(-9)); // killed by SIGKILL
/// ```
#[derive(Debug)]
pub struct Popen {
    args: Vec<String>,
    pid: u32,
    /// `None` only during `drop`, after the child moved to the reaper.
    child: Option<Child>,
    returncode: Option<i32>,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    /// What `communicate` has read and written so far; survives a timeout so the next
    /// call continues (CPython: `_communication_started`, `_fileobj2output`).
    communication: Option<Communication>,
}

impl Popen {
    /// Starts `args` with all three streams inherited: Python's `Popen(args)`. Use
    /// [`Popen::builder`] (or [`PopenBuilder`]) for pipes and other options.
    ///
    /// # Errors
    ///
    /// As [`PopenBuilder::spawn`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Popen;
    ///
    /// let mut proc = Popen::new(["sh", "-c", "exit 7"]).unwrap();
    /// assert_eq!(proc.wait(None).unwrap(), 7);
    /// ```
    pub fn new<I>(args: I) -> Result<Popen, SubprocessError>
    where
        I: IntoIterator,
        I::Item: AsRef<std::ffi::OsStr>,
    {
        PopenBuilder::new(args).spawn()
    }

    /// A [`PopenBuilder`] for `args`, to choose pipes, directory and environment.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{Popen, Redirect};
    ///
    /// let mut proc = Popen::builder(["echo", "hi"]).stdout(Redirect::Pipe).spawn().unwrap();
    /// assert_eq!(proc.communicate(None, None).unwrap().0.as_deref(), Some(&b"hi\n"[..]));
    /// ```
    pub fn builder<I>(args: I) -> PopenBuilder
    where
        I: IntoIterator,
        I::Item: AsRef<std::ffi::OsStr>,
    {
        PopenBuilder::new(args)
    }

    pub(super) fn from_parts(
        child: Child,
        args: Vec<String>,
        stdin: Option<ChildStdin>,
        stdout: Option<ChildStdout>,
        stderr: Option<ChildStderr>,
    ) -> Popen {
        Popen {
            args,
            pid: child.id(),
            child: Some(child),
            returncode: None,
            stdin,
            stdout,
            stderr,
            communication: None,
        }
    }

    /// The arguments the child was started with (Python: `Popen.args`; for a shell
    /// command these are `["/bin/sh", "-c", command]`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut proc = conc_process::subprocess::Popen::new(["true"]).unwrap();
    /// assert_eq!(proc.args(), ["true"]);
    /// proc.wait(None).unwrap();
    /// ```
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The child's process id (Python: `Popen.pid`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut proc = conc_process::subprocess::Popen::new(["true"]).unwrap();
    /// assert!(proc.pid() > 0);
    /// proc.wait(None).unwrap();
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status if the child is known to have ended, else `None`; minus the
    /// signal number when a signal killed it (Python: `Popen.returncode`). Only
    /// [`poll`](Self::poll), [`wait`](Self::wait) and [`communicate`](Self::communicate)
    /// find out that the child ended; this just reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut proc = conc_process::subprocess::Popen::new(["sleep", "10"]).unwrap();
    /// assert_eq!(proc.returncode(), None);
    /// proc.terminate().unwrap();
    /// proc.wait(None).unwrap();
    /// assert_eq!(proc.returncode(), Some(-15)); // SIGTERM
    /// ```
    pub fn returncode(&self) -> Option<i32> {
        self.returncode
    }

    /// Checks, without blocking, whether the child has ended; if so, reaps it, sets
    /// [`returncode`](Self::returncode) and returns it (Python: `Popen.poll()`).
    ///
    /// If the child can no longer be waited for because other code reaped it (e.g. a
    /// `waitpid(-1)` elsewhere), the return code becomes 0, as in CPython.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut proc = conc_process::subprocess::Popen::new(["true"]).unwrap();
    /// while proc.poll().is_none() {
    ///     std::thread::sleep(Duration::from_millis(10));
    /// }
    /// assert_eq!(proc.returncode(), Some(0));
    /// ```
    pub fn poll(&mut self) -> Option<i32> {
        if self.returncode.is_none()
            && let Some(child) = self.child.as_mut()
        {
            match child.try_wait() {
                Ok(Some(status)) => self.returncode = Some(returncode_of(status)),
                Ok(None) => {}
                // ECHILD: someone else reaped it; Python reports 0 in that case.
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => self.returncode = Some(0),
                // Anything else (EINTR...): still unknown, ask again next time.
                Err(_) => {}
            }
        }
        self.returncode
    }

    /// Waits for the child to end and returns its return code (Python:
    /// `Popen.wait(timeout)`). With a timeout, gives up after it and leaves the child
    /// running.
    ///
    /// Waiting with a timeout polls with growing sleeps (up to 50 ms), as CPython does,
    /// because POSIX has no "wait for this child with a timeout" call that does not
    /// involve SIGCHLD.
    ///
    /// Like Python's, this does not read the child's pipes: a child writing more than a
    /// pipe holds (64 KiB on Linux) to a pipe nobody reads blocks forever. Use
    /// [`communicate`](Self::communicate) then.
    ///
    /// # Errors
    ///
    /// - [`SubprocessError::TimeoutExpired`] (with no output) when `timeout` ran out.
    /// - [`SubprocessError::Io`] if waiting fails for another reason than the child
    ///   having been reaped elsewhere (which gives 0, as in [`poll`](Self::poll)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_process::subprocess::{Popen, SubprocessError};
    ///
    /// let mut proc = Popen::new(["sleep", "10"]).unwrap();
    /// let err = proc.wait(Some(Duration::from_millis(50))).unwrap_err();
    /// assert!(matches!(err, SubprocessError::TimeoutExpired { .. }));
    /// assert_eq!(proc.poll(), None); // still running
    /// proc.kill().unwrap();
    /// assert_eq!(proc.wait(None).unwrap(), -9);
    /// ```
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<i32, SubprocessError> {
        if let Some(code) = self.returncode {
            return Ok(code);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        self.wait_until(deadline, timeout)
    }

    /// [`wait`](Self::wait) against a deadline; `timeout` is only for the error.
    pub(super) fn wait_until(
        &mut self,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
    ) -> Result<i32, SubprocessError> {
        let Some(deadline) = deadline else {
            if let Some(code) = self.returncode {
                return Ok(code);
            }
            let Some(child) = self.child.as_mut() else {
                return Ok(0);
            };
            let code = match child.wait() {
                Ok(status) => returncode_of(status),
                Err(err) if err.raw_os_error() == Some(libc::ECHILD) => 0,
                Err(err) => return Err(SubprocessError::io("waiting for the child", &err)),
            };
            self.returncode = Some(code);
            return Ok(code);
        };
        let mut delay = Duration::from_micros(500);
        loop {
            if let Some(code) = self.poll() {
                return Ok(code);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.timeout_error(timeout.unwrap_or_default(), None, None));
            }
            delay = (delay * 2).min(remaining).min(Duration::from_millis(50));
            std::thread::sleep(delay);
        }
    }

    pub(super) fn timeout_error(
        &self,
        timeout: Duration,
        stdout: Option<Vec<u8>>,
        stderr: Option<Vec<u8>>,
    ) -> SubprocessError {
        SubprocessError::TimeoutExpired {
            cmd: self.args.clone(),
            timeout,
            stdout,
            stderr,
        }
    }

    /// Sends `signal` (e.g. `libc::SIGUSR1`) to the child, unless it is already known to
    /// have ended (Python: `Popen.send_signal`). A child that has ended but was not yet
    /// reaped is still ours, so its pid cannot have been reused by another process.
    ///
    /// # Errors
    ///
    /// [`SubprocessError::Io`] if `kill(2)` fails, e.g. for an invalid signal number. A
    /// child that is gone already is not an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::PopenBuilder;
    ///
    /// // SIGINT at its default action in the child even if this process was started
    /// // with it ignored (from a background shell, say), which the child would inherit.
    /// let mut proc = PopenBuilder::new(["sleep", "10"])
    ///     .default_signals(&[libc::SIGINT])
    ///     .spawn()
    ///     .unwrap();
    /// proc.send_signal(libc::SIGINT).unwrap();
    /// assert_eq!(proc.wait(None).unwrap(), -libc::SIGINT);
    /// ```
    pub fn send_signal(&mut self, signal: i32) -> Result<(), SubprocessError> {
        // Poll first, as CPython 3.9+ does: once reaped, the pid may belong to someone
        // else, so a reaped child must never be signalled.
        if self.poll().is_some() {
            return Ok(());
        }
        kill_unless_gone(self.pid, signal).map_err(|e| SubprocessError::io("sending a signal", &e))
    }

    /// Sends SIGTERM, asking the child to end (Python: `Popen.terminate()`).
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Self::send_signal).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut proc = conc_process::subprocess::Popen::new(["sleep", "10"]).unwrap();
    /// proc.terminate().unwrap();
    /// assert_eq!(proc.wait(None).unwrap(), -libc::SIGTERM);
    /// ```
    pub fn terminate(&mut self) -> Result<(), SubprocessError> {
        self.send_signal(libc::SIGTERM)
    }

    /// Sends SIGKILL, which the child cannot catch (Python: `Popen.kill()`). The child
    /// still has to be waited for; [`wait`](Self::wait) then returns -9.
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Self::send_signal).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut proc = conc_process::subprocess::Popen::new(["sleep", "10"]).unwrap();
    /// proc.kill().unwrap();
    /// assert_eq!(proc.wait(None).unwrap(), -9);
    /// ```
    pub fn kill(&mut self) -> Result<(), SubprocessError> {
        self.send_signal(libc::SIGKILL)
    }

    /// Sends `input` to the child's stdin, then closes it, while reading its stdout and
    /// stderr to the end, all at once; then waits for the child (Python:
    /// `Popen.communicate(input, timeout)`). Returns `(stdout, stderr)`, each `None`
    /// unless that stream is a pipe.
    ///
    /// # No deadlock
    ///
    /// One thread multiplexes the three pipes with `poll(2)`: a child that fills its
    /// stderr pipe before reading all of its stdin keeps being drained while it is fed,
    /// whatever the sizes. The pipes are switched to non-blocking mode for this.
    ///
    /// # Timeouts
    ///
    /// When `timeout` runs out, the result is [`SubprocessError::TimeoutExpired`]
    /// carrying the output read so far, and the child keeps running. Nothing is lost:
    /// the next `communicate` call (with `input` `None`) continues where this one
    /// stopped and returns *all* the output, so Python's pattern works:
    /// `kill()`, then `communicate(None, None)`.
    ///
    /// Once a call has finished, the pipes are closed and a further call returns empty
    /// output. After a call timed out, the pipes that remain are in non-blocking mode:
    /// keep using `communicate` rather than reading them by hand.
    ///
    /// # SIGPIPE
    ///
    /// A child that exits without reading all its input makes the next write fail with
    /// EPIPE, which is ignored. That relies on SIGPIPE being ignored in this process, as
    /// the Rust runtime arranges for every Rust `main`; a program that restores its
    /// default action (or a non-Rust host) would be killed by the signal instead.
    ///
    /// # Errors
    ///
    /// - [`SubprocessError::TimeoutExpired`] as above.
    /// - [`SubprocessError::BadArgument`] if `input` is given but stdin is not a pipe,
    ///   or is given again after an earlier call started sending.
    /// - [`SubprocessError::Io`] if reading, writing or waiting fails. A child that
    ///   exits without reading all its input is not an error (the broken pipe is
    ///   ignored, as in Python).
    ///
    /// # Examples
    ///
    /// Several MiB both ways, through `cat`:
    ///
    /// ```
    /// use conc_process::subprocess::{PopenBuilder, Redirect};
    ///
    /// let input = vec![b'x'; 4 << 20];
    /// let mut proc = PopenBuilder::new(["cat"])
    ///     .stdin(Redirect::Pipe)
    ///     .stdout(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// let (out, err) = proc.communicate(Some(&input), None).unwrap();
    /// assert_eq!(out.unwrap().len(), input.len());
    /// assert_eq!(err, None);
    /// ```
    pub fn communicate(
        &mut self,
        input: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Communicated, SubprocessError> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let input = input.filter(|bytes| !bytes.is_empty());
        let communication = match self.communication.take() {
            Some(started) => {
                if input.is_some() {
                    self.communication = Some(started);
                    return Err(SubprocessError::BadArgument(
                        "cannot send input after starting communication".to_owned(),
                    ));
                }
                started
            }
            None => {
                if input.is_some() && self.stdin.is_none() {
                    return Err(SubprocessError::BadArgument(
                        "input given, but stdin is not a pipe".to_owned(),
                    ));
                }
                Communication::start(
                    input.map(<[u8]>::to_vec).unwrap_or_default(),
                    &mut self.stdin,
                    &self.stdout,
                    &self.stderr,
                )?
            }
        };
        let communication = self.communication.insert(communication);
        let finished = communication.pump(
            &mut self.stdin,
            &mut self.stdout,
            &mut self.stderr,
            deadline,
        )?;
        if !finished {
            let (out, err) = communication.output_so_far();
            return Err(self.timeout_error(timeout.unwrap_or_default(), out, err));
        }
        match self.wait_until(deadline, timeout) {
            Ok(_) => Ok(communication_output(&mut self.communication)),
            Err(SubprocessError::TimeoutExpired { cmd, timeout, .. }) => {
                let (stdout, stderr) = self
                    .communication
                    .as_ref()
                    .map(Communication::output_so_far)
                    .unwrap_or_default();
                Err(SubprocessError::TimeoutExpired {
                    cmd,
                    timeout,
                    stdout,
                    stderr,
                })
            }
            Err(other) => Err(other),
        }
    }

    /// The pipe to the child's stdin, if stdin is [`Redirect::Pipe`](super::Redirect::Pipe)
    /// and it was not closed or taken (Python: `Popen.stdin`). Dropping it (see
    /// [`take_stdin`](Self::take_stdin)) sends end of file.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use conc_process::subprocess::{Popen, Redirect};
    ///
    /// let mut proc = Popen::builder(["cat"])
    ///     .stdin(Redirect::Pipe)
    ///     .stdout(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// proc.stdin().unwrap().write_all(b"streamed").unwrap();
    /// drop(proc.take_stdin()); // end of file for cat
    /// assert_eq!(proc.communicate(None, None).unwrap().0.as_deref(), Some(&b"streamed"[..]));
    /// ```
    pub fn stdin(&mut self) -> Option<&mut ChildStdin> {
        self.stdin.as_mut()
    }

    /// The pipe from the child's stdout (Python: `Popen.stdout`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{BufRead, BufReader};
    /// use conc_process::subprocess::{Popen, Redirect};
    ///
    /// let mut proc = Popen::builder(["sh", "-c", "echo one; echo two"])
    ///     .stdout(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// let lines: Vec<String> = BufReader::new(proc.stdout().unwrap())
    ///     .lines()
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(lines, ["one", "two"]);
    /// assert_eq!(proc.wait(None).unwrap(), 0);
    /// ```
    pub fn stdout(&mut self) -> Option<&mut ChildStdout> {
        self.stdout.as_mut()
    }

    /// The pipe from the child's stderr (Python: `Popen.stderr`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use conc_process::subprocess::{Popen, Redirect};
    ///
    /// let mut proc = Popen::builder(["sh", "-c", "echo bad >&2"])
    ///     .stderr(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// let mut text = String::new();
    /// proc.stderr().unwrap().read_to_string(&mut text).unwrap();
    /// assert_eq!(text, "bad\n");
    /// proc.wait(None).unwrap();
    /// ```
    pub fn stderr(&mut self) -> Option<&mut ChildStderr> {
        self.stderr.as_mut()
    }

    /// Takes the stdin pipe out of the `Popen`, e.g. to hand it to a writer thread or to
    /// drop it (end of file for the child).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{Popen, Redirect};
    ///
    /// let mut proc = Popen::builder(["cat"]).stdin(Redirect::Pipe).spawn().unwrap();
    /// drop(proc.take_stdin());
    /// assert_eq!(proc.wait(None).unwrap(), 0);
    /// ```
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// Takes the stdout pipe out of the `Popen`, e.g. to read it on another thread or to
    /// connect it to the next command of a pipeline (it converts into a
    /// [`Redirect::File`](super::Redirect::File) through
    /// [`OwnedFd`](std::os::fd::OwnedFd)).
    ///
    /// # Examples
    ///
    /// `echo hello | tr a-z A-Z`, without a shell:
    ///
    /// ```
    /// use std::fs::File;
    /// use std::os::fd::OwnedFd;
    /// use conc_process::subprocess::{Popen, Redirect};
    ///
    /// let mut echo = Popen::builder(["echo", "hello"]).stdout(Redirect::Pipe).spawn().unwrap();
    /// let pipe = File::from(OwnedFd::from(echo.take_stdout().unwrap()));
    /// let mut tr = Popen::builder(["tr", "a-z", "A-Z"])
    ///     .stdin(Redirect::File(pipe))
    ///     .stdout(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// assert_eq!(tr.communicate(None, None).unwrap().0.as_deref(), Some(&b"HELLO\n"[..]));
    /// assert_eq!(echo.wait(None).unwrap(), 0);
    /// ```
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// Takes the stderr pipe out of the `Popen`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use conc_process::subprocess::{Popen, Redirect};
    ///
    /// let mut proc = Popen::builder(["sh", "-c", "echo e >&2"])
    ///     .stderr(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// let mut err = proc.take_stderr().unwrap();
    /// let reader = std::thread::spawn(move || {
    ///     let mut text = String::new();
    ///     err.read_to_string(&mut text).map(|_| text)
    /// });
    /// assert_eq!(reader.join().unwrap().unwrap(), "e\n");
    /// proc.wait(None).unwrap();
    /// ```
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.stderr.take()
    }
}

impl Drop for Popen {
    /// Closes the pipes; a child that has not been reaped yet is handed to the
    /// process-wide reaper (see "Zombies" above). The child is not killed.
    fn drop(&mut self) {
        if self.poll().is_none()
            && let Some(child) = self.child.take()
        {
            reaper::adopt(child);
        }
    }
}

/// Python's return code: the exit status, or minus the signal that killed the child.
fn returncode_of(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => -signal,
        // Neither exited nor signalled cannot come out of a plain wait (no WUNTRACED).
        (None, None) => 0,
    }
}

/// The output of a finished communication, leaving an empty one behind so that a
/// later call returns empty output.
fn communication_output(communication: &mut Option<Communication>) -> Communicated {
    communication
        .as_mut()
        .map(Communication::take_output)
        .unwrap_or_default()
}

/// `kill(pid, signal)`. A process that no longer exists is not an error (Python ignores
/// `ProcessLookupError` in `send_signal`).
fn kill_unless_gone(pid: u32, signal: i32) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "pid out of range"))?;
    // The caller checked that `pid` is our unreaped child, so it cannot name a
    // recycled process.
    match sys::kill(pid, signal) {
        Err(err) if err.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        other => other,
    }
}
