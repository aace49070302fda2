//! `PopenBuilder`: the arguments of Python's `Popen(...)` (what to run, where its
//! streams go, its directory and environment), and the spawn itself.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{ChildStdout, Command, Stdio};

use super::error::SubprocessError;
use super::popen::Popen;
use super::reaper;
use super::redirect::Redirect;
use crate::sys;

/// The shell that `shell=True` runs, as in CPython on POSIX.
#[cfg(not(target_os = "android"))]
pub(super) const SHELL: &str = "/bin/sh";
/// The shell that `shell=True` runs, as in CPython on Android.
#[cfg(target_os = "android")]
pub(super) const SHELL: &str = "/system/bin/sh";

/// How to start a child program: Python's `Popen(args, stdin=..., stdout=...,
/// stderr=..., cwd=..., env=..., shell=...)` as a builder. [`spawn`](Self::spawn)
/// starts it.
///
/// # Examples
///
/// ```
/// use conc_process::subprocess::{PopenBuilder, Redirect};
///
/// let mut proc = PopenBuilder::new(["cat"])
///     .stdin(Redirect::Pipe)
///     .stdout(Redirect::Pipe)
///     .spawn()
///     .unwrap();
/// let (out, _) = proc.communicate(Some(b"hello"), None).unwrap();
/// assert_eq!(out.as_deref(), Some(&b"hello"[..]));
/// assert_eq!(proc.returncode(), Some(0));
/// ```
#[derive(Debug)]
#[must_use = "a PopenBuilder does nothing until spawn() is called"]
pub struct PopenBuilder {
    argv: Vec<OsString>,
    stdin: Redirect,
    stdout: Redirect,
    stderr: Redirect,
    cwd: Option<PathBuf>,
    /// `env(...)` replaces the whole environment, as Python's `env=` does.
    env_clear: bool,
    /// Variables to set (`Some`) or remove (`None`), applied in order.
    vars: Vec<(OsString, Option<OsString>)>,
    process_group: Option<i32>,
    /// Signals the child starts with at their default action.
    default_signals: Vec<i32>,
    /// Close every descriptor but 0-2 and `pass_fds` in the child (Python's default).
    close_fds: bool,
    /// Descriptors the child keeps, at the same numbers.
    pass_fds: Vec<RawFd>,
    /// Start the child in a new session (`setsid`).
    start_new_session: bool,
    /// Reset SIGPIPE and SIGXFSZ to their default actions in the child.
    restore_signals: bool,
}

impl PopenBuilder {
    /// A child running `args[0]` with arguments `args[1..]`, looked up in `PATH` when
    /// it has no slash (Python: `Popen(["ls", "-l"])`). All three streams are
    /// inherited until set otherwise.
    ///
    /// An empty `args` is reported by [`spawn`](Self::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::PopenBuilder;
    ///
    /// let mut proc = PopenBuilder::new(["true"]).spawn().unwrap();
    /// assert_eq!(proc.wait(None).unwrap(), 0);
    /// ```
    pub fn new<I>(args: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        PopenBuilder {
            argv: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            stdin: Redirect::Inherit,
            stdout: Redirect::Inherit,
            stderr: Redirect::Inherit,
            cwd: None,
            env_clear: false,
            vars: Vec::new(),
            process_group: None,
            default_signals: Vec::new(),
            close_fds: true,
            pass_fds: Vec::new(),
            start_new_session: false,
            restore_signals: true,
        }
    }

    /// A command line run by `/bin/sh -c` (Python: `Popen(cmd, shell=True)`), so pipes,
    /// redirections and `$VARS` work. The child's arguments are
    /// `["/bin/sh", "-c", command]`.
    ///
    /// Never build `command` from untrusted input: the shell interprets all of it.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{PopenBuilder, Redirect};
    ///
    /// let mut proc = PopenBuilder::shell("echo one two | wc -w")
    ///     .stdout(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// let (out, _) = proc.communicate(None, None).unwrap();
    /// assert_eq!(String::from_utf8_lossy(&out.unwrap()).trim(), "2");
    /// ```
    pub fn shell(command: impl AsRef<OsStr>) -> Self {
        Self::new([OsStr::new(SHELL), OsStr::new("-c"), command.as_ref()])
    }

    /// Where the child's stdin comes from.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{PopenBuilder, Redirect};
    ///
    /// // `cat` reads /dev/null: end of file at once.
    /// let mut proc = PopenBuilder::new(["cat"]).stdin(Redirect::DevNull).spawn().unwrap();
    /// assert_eq!(proc.wait(None).unwrap(), 0);
    /// ```
    pub fn stdin(mut self, redirect: Redirect) -> Self {
        self.stdin = redirect;
        self
    }

    /// Where the child's stdout goes.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{PopenBuilder, Redirect};
    ///
    /// let mut proc = PopenBuilder::new(["echo", "hi"]).stdout(Redirect::Pipe).spawn().unwrap();
    /// let (out, err) = proc.communicate(None, None).unwrap();
    /// assert_eq!(out.as_deref(), Some(&b"hi\n"[..]));
    /// assert_eq!(err, None); // stderr was not a pipe
    /// ```
    pub fn stdout(mut self, redirect: Redirect) -> Self {
        self.stdout = redirect;
        self
    }

    /// Where the child's stderr goes; [`Redirect::Stdout`] sends it wherever stdout
    /// goes (`2>&1`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{PopenBuilder, Redirect};
    ///
    /// let mut proc = PopenBuilder::shell("echo oops >&2")
    ///     .stderr(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// let (_, err) = proc.communicate(None, None).unwrap();
    /// assert_eq!(err.as_deref(), Some(&b"oops\n"[..]));
    /// ```
    pub fn stderr(mut self, redirect: Redirect) -> Self {
        self.stderr = redirect;
        self
    }

    /// The child's working directory (Python: `cwd=`). A relative program path is
    /// looked up relative to it.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{PopenBuilder, Redirect};
    ///
    /// let mut proc = PopenBuilder::new(["pwd"]).cwd("/").stdout(Redirect::Pipe).spawn().unwrap();
    /// let (out, _) = proc.communicate(None, None).unwrap();
    /// assert_eq!(out.as_deref(), Some(&b"/\n"[..]));
    /// ```
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Replaces the child's whole environment by `vars` (Python: `env=`). Without a
    /// call to `env`, the child inherits this process's environment.
    ///
    /// `PATH` is searched for the program in *this* process's environment, not in
    /// `vars`, so `env([])` still finds `sh`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{PopenBuilder, Redirect};
    ///
    /// let mut proc = PopenBuilder::shell("echo \"[$GREETING] [$HOME]\"")
    ///     .env([("GREETING", "hello")])
    ///     .stdout(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// let (out, _) = proc.communicate(None, None).unwrap();
    /// assert_eq!(out.as_deref(), Some(&b"[hello] []\n"[..]));
    /// ```
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.env_clear = true;
        self.vars = vars
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), Some(v.as_ref().to_owned())))
            .collect();
        self
    }

    /// Sets one variable on top of the inherited environment (or of the one given to
    /// [`env`](Self::env)); Python's `env={**os.environ, key: value}`.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{PopenBuilder, Redirect};
    ///
    /// let mut proc = PopenBuilder::shell("echo $CONC_DEMO")
    ///     .env_var("CONC_DEMO", "42")
    ///     .stdout(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// assert_eq!(proc.communicate(None, None).unwrap().0.as_deref(), Some(&b"42\n"[..]));
    /// ```
    pub fn env_var(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.vars
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes one variable from the child's environment.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{PopenBuilder, Redirect};
    ///
    /// let mut proc = PopenBuilder::shell("echo \"[$CONC_GONE]\"")
    ///     .env_var("CONC_GONE", "x")
    ///     .env_remove("CONC_GONE")
    ///     .stdout(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// assert_eq!(proc.communicate(None, None).unwrap().0.as_deref(), Some(&b"[]\n"[..]));
    /// ```
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.vars.push((key.as_ref().to_owned(), None));
        self
    }

    /// Puts the child in process group `pgid`, or in a new group of its own when
    /// `pgid` is 0 (Python 3.11: `process_group=`). A signal sent to the group
    /// (`kill(-pgid, sig)`) then reaches the child and everything it starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::PopenBuilder;
    ///
    /// // `kill -0 -PGID` succeeds only if a process group PGID exists: the shell's
    /// // own pid names a group only because the shell leads a new one.
    /// let mut proc = PopenBuilder::shell("kill -0 -$$ 2>/dev/null")
    ///     .process_group(0)
    ///     .spawn()
    ///     .unwrap();
    /// assert_eq!(proc.wait(None).unwrap(), 0);
    /// ```
    pub fn process_group(mut self, pgid: i32) -> Self {
        self.process_group = Some(pgid);
        self
    }

    /// Starts the child with each of `signals` at its default action, whatever this
    /// process does with them. A process started from a background shell (or by `nohup`)
    /// inherits SIGINT and SIGQUIT *ignored*, and passes that on to its children; a child
    /// that should die of `send_signal(libc::SIGINT)` then needs this. (SIGPIPE and
    /// SIGXFSZ are [`restore_signals`](Self::restore_signals)' business.)
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::PopenBuilder;
    ///
    /// let mut proc = PopenBuilder::new(["sleep", "10"])
    ///     .default_signals(&[libc::SIGINT])
    ///     .spawn()
    ///     .unwrap();
    /// proc.send_signal(libc::SIGINT).unwrap();
    /// assert_eq!(proc.wait(None).unwrap(), -libc::SIGINT);
    /// ```
    pub fn default_signals(mut self, signals: &[i32]) -> Self {
        self.default_signals.extend_from_slice(signals);
        self
    }

    /// Whether the child starts with SIGPIPE and SIGXFSZ at their default actions
    /// (Python: `restore_signals`, on by default). Rust programs ignore SIGPIPE, and
    /// std already restores it for children; SIGXFSZ is reset only when this process
    /// has it ignored (inherited), so the default costs nothing otherwise. Off: the
    /// child inherits this process's SIGXFSZ and, through std, a default SIGPIPE.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::PopenBuilder;
    ///
    /// let mut proc = PopenBuilder::new(["true"]).restore_signals(false).spawn().unwrap();
    /// assert_eq!(proc.wait(None).unwrap(), 0);
    /// ```
    pub fn restore_signals(mut self, restore: bool) -> Self {
        self.restore_signals = restore;
        self
    }

    /// Whether the child closes every inherited descriptor except 0, 1, 2 and
    /// [`pass_fds`](Self::pass_fds) (Python: `close_fds`, on by default as in Python 3).
    /// Descriptors Rust opens are close-on-exec already; this also covers ones that C
    /// libraries opened without it. Turning it off (with no other option that needs
    /// code in the child) lets the child start through `posix_spawn`, a little faster.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::PopenBuilder;
    ///
    /// let mut proc = PopenBuilder::new(["true"]).close_fds(false).spawn().unwrap();
    /// assert_eq!(proc.wait(None).unwrap(), 0);
    /// ```
    pub fn close_fds(mut self, close: bool) -> Self {
        self.close_fds = close;
        self
    }

    /// Descriptors the child keeps open, at the same numbers, whatever their
    /// close-on-exec flag (Python: `pass_fds`; it implies `close_fds` for the rest).
    /// [`spawn`](Self::spawn) refuses 0-2 (always inherited) and descriptors that are
    /// not open.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use conc_process::subprocess::{PopenBuilder, Redirect};
    ///
    /// let file = std::fs::File::open("/dev/null").unwrap(); // close-on-exec, as Rust opens it
    /// let fd = file.as_raw_fd();
    /// let mut proc = PopenBuilder::shell(format!("test -e /proc/self/fd/{fd} && echo kept"))
    ///     .pass_fds(&[fd])
    ///     .stdout(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// let (out, _) = proc.communicate(None, None).unwrap();
    /// assert_eq!(out.as_deref(), Some(&b"kept\n"[..]));
    /// ```
    pub fn pass_fds(mut self, fds: &[RawFd]) -> Self {
        self.pass_fds.extend_from_slice(fds);
        self
    }

    /// Starts the child in a new session, as its leader, detached from this process's
    /// controlling terminal (Python: `start_new_session`; `setsid(2)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{PopenBuilder, Redirect};
    ///
    /// // In a new session, the shell's session id is its own pid.
    /// let mut proc = PopenBuilder::shell("[ \"$(cut -d' ' -f6 /proc/$$/stat)\" = \"$$\" ] && echo leader")
    ///     .start_new_session(true)
    ///     .stdout(Redirect::Pipe)
    ///     .spawn()
    ///     .unwrap();
    /// let (out, _) = proc.communicate(None, None).unwrap();
    /// assert_eq!(out.as_deref(), Some(&b"leader\n"[..]));
    /// ```
    pub fn start_new_session(mut self, new_session: bool) -> Self {
        self.start_new_session = new_session;
        self
    }

    /// The arguments the child will run with, as text (lossy for non-UTF-8).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::PopenBuilder;
    ///
    /// assert_eq!(PopenBuilder::shell("exit 3").args(), ["/bin/sh", "-c", "exit 3"]);
    /// ```
    pub fn args(&self) -> Vec<String> {
        self.argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// Starts the child (Python: the `Popen(...)` call itself).
    ///
    /// Before starting it, children of earlier [`Popen`]s that were dropped while still
    /// running are reaped if they have ended since (see [`Popen`]'s "Zombies" section).
    ///
    /// # Errors
    ///
    /// - [`SubprocessError::BadArgument`] for an empty argument list, or
    ///   [`Redirect::Stdout`] given for stdin or stdout.
    /// - [`SubprocessError::Spawn`] when the program cannot be started (not found, not
    ///   executable, `cwd` missing...).
    /// - [`SubprocessError::Io`] when a pipe or a file descriptor copy cannot be made.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use conc_process::subprocess::{PopenBuilder, SubprocessError};
    ///
    /// let err = PopenBuilder::new(["/no/such/program"]).spawn().unwrap_err();
    /// assert!(matches!(err, SubprocessError::Spawn { kind: ErrorKind::NotFound, .. }));
    /// ```
    pub fn spawn(self) -> Result<Popen, SubprocessError> {
        if self.argv.is_empty() {
            return Err(SubprocessError::BadArgument(
                "args must not be empty".to_owned(),
            ));
        }
        reaper::reap_finished();
        crate::sys::keep_exit_statuses();

        let args = self.args();
        let mut command = Command::new(&self.argv[0]);
        command.args(&self.argv[1..]);
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        if self.env_clear {
            command.env_clear();
        }
        for (key, value) in &self.vars {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(pgid) = self.process_group {
            command.process_group(pgid);
        }
        if let Some(&bad) = self
            .default_signals
            .iter()
            .find(|&&s| s <= 0 || s > libc::SIGRTMAX() || s == libc::SIGKILL || s == libc::SIGSTOP)
        {
            return Err(SubprocessError::BadArgument(format!(
                "default_signals: {bad} is not a signal whose action can be set"
            )));
        }
        for &fd in &self.pass_fds {
            // SAFETY: F_GETFD only asks whether `fd` is open.
            if fd <= 2 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
                return Err(SubprocessError::BadArgument(format!(
                    "pass_fds: {fd} is not an open descriptor above 2"
                )));
            }
        }
        let mut default_signals = self.default_signals.clone();
        if self.restore_signals && sys::signal_ignored(libc::SIGXFSZ) {
            default_signals.push(libc::SIGXFSZ);
        }
        let needs_code_in_child = !default_signals.is_empty()
            || self.start_new_session
            || self.close_fds
            || !self.pass_fds.is_empty();
        if needs_code_in_child {
            let in_child = InChild {
                signals: default_signals,
                new_session: self.start_new_session,
                close_fds: self.close_fds || !self.pass_fds.is_empty(),
                pass_fds: self.pass_fds.clone(),
            };
            // SAFETY: the closure runs in the child between fork and exec, where only
            // async-signal-safe calls are allowed: `InChild::run` makes only such calls
            // (signal, setsid, close_range, fcntl) and reads vectors allocated before the
            // fork.
            unsafe {
                command.pre_exec(move || in_child.run());
            }
        }

        command.stdin(to_stdio(self.stdin, "stdin")?);
        let mut merged_reader = None;
        let (stdout, stderr) = match (self.stdout, self.stderr) {
            (Redirect::Pipe, Redirect::Stdout) => {
                // std has no `2>&1`: make the pipe here and hand its write end to both.
                let (read, write) = sys::pipe_cloexec()
                    .map_err(|e| SubprocessError::io("creating the stdout pipe", &e))?;
                let write2 = write
                    .try_clone()
                    .map_err(|e| SubprocessError::io("duplicating the stdout pipe", &e))?;
                merged_reader = Some(read);
                (Stdio::from(write), Stdio::from(write2))
            }
            (Redirect::Inherit, Redirect::Stdout) => (Stdio::inherit(), Stdio::from(io::stdout())),
            (Redirect::DevNull, Redirect::Stdout) => (Stdio::null(), Stdio::null()),
            (Redirect::File(file), Redirect::Stdout) => {
                let copy = file
                    .try_clone()
                    .map_err(|e| SubprocessError::io("duplicating the stdout file", &e))?;
                (Stdio::from(file), Stdio::from(copy))
            }
            (stdout, stderr) => (to_stdio(stdout, "stdout")?, to_stdio(stderr, "stderr")?),
        };
        command.stdout(stdout).stderr(stderr);

        let spawned = command.spawn();
        // Dropping the Command closes this side's copies of the merged pipe's write end;
        // without that, reading the pipe would never see end of file.
        drop(command);
        let mut child = spawned.map_err(|e| {
            // std reports a failed chdir like a failed exec; say which one it was.
            let message = match &self.cwd {
                Some(cwd) if !cwd.is_dir() => {
                    format!("{e} (working directory '{}')", cwd.display())
                }
                _ => e.to_string(),
            };
            SubprocessError::Spawn {
                program: args[0].clone(),
                kind: e.kind(),
                message,
            }
        })?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .or_else(|| merged_reader.map(ChildStdout::from));
        let stderr = child.stderr.take();
        Ok(Popen::from_parts(child, args, stdin, stdout, stderr))
    }
}

/// The `Stdio` for a redirect other than [`Redirect::Stdout`].
/// What the child does between `fork` and `exec`.
struct InChild {
    signals: Vec<i32>,
    new_session: bool,
    close_fds: bool,
    pass_fds: Vec<RawFd>,
}

impl InChild {
    /// Runs in the child: async-signal-safe calls only.
    fn run(&self) -> io::Result<()> {
        let check = |rc: libc::c_long| {
            if rc == -1 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        for &signal in &self.signals {
            // SAFETY: signal(2) is async-signal-safe; the number was validated.
            if unsafe { libc::signal(signal, libc::SIG_DFL) } == libc::SIG_ERR {
                return Err(io::Error::last_os_error());
            }
        }
        if self.new_session {
            // SAFETY: setsid(2) takes nothing and is async-signal-safe.
            check(unsafe { libc::setsid() } as libc::c_long)?;
        }
        if self.close_fds {
            // Marked close-on-exec rather than closed: std's own pipe reporting a
            // failed exec must stay open until the exec. CLOSE_RANGE_CLOEXEC needs
            // Linux 5.11; before it, mark each possible descriptor.
            // SAFETY: close_range only changes descriptor flags; fcntl(F_SETFD) too.
            let ranged = unsafe {
                libc::syscall(
                    libc::SYS_close_range,
                    3u32,
                    u32::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                )
            };
            if ranged != 0 {
                // SAFETY: sysconf has no preconditions.
                let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(3, 1 << 20) as RawFd;
                for fd in 3..max {
                    // SAFETY: as above; a closed descriptor just reports EBADF.
                    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
                }
            }
            for &fd in &self.pass_fds {
                // SAFETY: clears the flag of a descriptor validated in the parent.
                check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } as libc::c_long)?;
            }
        }
        Ok(())
    }
}

fn to_stdio(redirect: Redirect, stream: &str) -> Result<Stdio, SubprocessError> {
    Ok(match redirect {
        Redirect::Inherit => Stdio::inherit(),
        Redirect::Pipe => Stdio::piped(),
        Redirect::DevNull => Stdio::null(),
        Redirect::File(file) => Stdio::from(file),
        Redirect::Stdout => {
            return Err(SubprocessError::BadArgument(format!(
                "Redirect::Stdout is only valid for stderr, not for {stream}"
            )));
        }
    })
}
