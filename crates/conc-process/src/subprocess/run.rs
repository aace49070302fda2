//! `Run` (Python's `subprocess.run`), its result `CompletedProcess`, and the older
//! conveniences `call`, `check_call`, `check_output`, `getoutput`, `getstatusoutput`.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use super::builder::PopenBuilder;
use super::error::SubprocessError;
use super::redirect::Redirect;

/// A finished child: what [`Run::run`] returns (Python: `CompletedProcess`).
///
/// # Examples
///
/// ```
/// use conc_process::subprocess::Run;
///
/// let done = Run::new(["echo", "hello"]).capture_output(true).run().unwrap();
/// assert_eq!(done.returncode, 0);
/// assert_eq!(done.stdout_lossy(), "hello\n");
/// assert_eq!(done.stderr.as_deref(), Some(&b""[..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedProcess {
    /// The arguments the child ran with (for a shell command,
    /// `["/bin/sh", "-c", command]`).
    pub args: Vec<String>,
    /// The exit status, or minus the signal number when a signal killed the child.
    pub returncode: i32,
    /// Everything the child wrote to stdout, or `None` when stdout was not captured.
    pub stdout: Option<Vec<u8>>,
    /// Everything the child wrote to stderr, or `None` when stderr was not captured
    /// (including when it was merged into stdout).
    pub stderr: Option<Vec<u8>>,
}

impl CompletedProcess {
    /// `Err(CalledProcessError)` when the return code is not 0 (Python:
    /// `check_returncode()`).
    ///
    /// # Errors
    ///
    /// [`SubprocessError::CalledProcessError`] carrying the arguments, return code and
    /// output.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// let done = Run::shell("exit 3").run().unwrap(); // no check: Ok
    /// assert_eq!(done.returncode, 3);
    /// assert!(done.check_returncode().is_err());
    /// ```
    pub fn check_returncode(&self) -> Result<(), SubprocessError> {
        if self.returncode == 0 {
            Ok(())
        } else {
            Err(SubprocessError::CalledProcessError {
                cmd: self.args.clone(),
                returncode: self.returncode,
                stdout: self.stdout.clone(),
                stderr: self.stderr.clone(),
            })
        }
    }

    /// The captured stdout as text, invalid UTF-8 replaced by `�`; empty when stdout was
    /// not captured (Python: `run(..., text=True).stdout`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// let done = Run::new(["printf", "caf\\303\\251"]).capture_output(true).run().unwrap();
    /// assert_eq!(done.stdout_lossy(), "café");
    /// ```
    pub fn stdout_lossy(&self) -> Cow<'_, str> {
        lossy(self.stdout.as_deref())
    }

    /// The captured stderr as text, like [`stdout_lossy`](Self::stdout_lossy).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// let done = Run::shell("echo warning >&2").capture_output(true).run().unwrap();
    /// assert_eq!(done.stderr_lossy(), "warning\n");
    /// ```
    pub fn stderr_lossy(&self) -> Cow<'_, str> {
        lossy(self.stderr.as_deref())
    }
}

fn lossy(bytes: Option<&[u8]>) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes.unwrap_or_default())
}

/// Runs a command and waits for it: Python's `subprocess.run(args, ...)` as a builder.
///
/// Options of `Popen` ([`stdin`](Self::stdin), [`stdout`](Self::stdout),
/// [`stderr`](Self::stderr), [`cwd`](Self::cwd), [`env`](Self::env)...) plus those of
/// `run`: [`capture_output`](Self::capture_output), [`input`](Self::input),
/// [`timeout`](Self::timeout) and [`check`](Self::check).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use conc_process::subprocess::Run;
///
/// let done = Run::new(["tr", "a-z", "A-Z"])
///     .input("shout")
///     .capture_output(true)
///     .timeout(Duration::from_secs(30))
///     .check(true)
///     .run()
///     .unwrap();
/// assert_eq!(done.stdout_lossy(), "SHOUT");
/// ```
#[derive(Debug)]
#[must_use = "a Run does nothing until run() is called"]
pub struct Run {
    popen: PopenBuilder,
    stdin_set: bool,
    output_set: bool,
    capture_output: bool,
    input: Option<Vec<u8>>,
    timeout: Option<Duration>,
    check: bool,
}

impl Run {
    /// Runs `args[0]` with arguments `args[1..]` (Python: `run(["ls", "-l"])`).
    ///
    /// # Examples
    ///
    /// ```
    /// let done = conc_process::subprocess::Run::new(["true"]).run().unwrap();
    /// assert_eq!(done.returncode, 0);
    /// assert_eq!(done.stdout, None); // not captured
    /// ```
    pub fn new<I>(args: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        Self::from_builder(PopenBuilder::new(args))
    }

    /// Runs a command line with `/bin/sh -c` (Python: `run(cmd, shell=True)`).
    ///
    /// Never build `command` from untrusted input: the shell interprets all of it.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// let done = Run::shell("printf 'b\\na\\n' | sort").capture_output(true).run().unwrap();
    /// assert_eq!(done.stdout_lossy(), "a\nb\n");
    /// ```
    pub fn shell(command: impl AsRef<OsStr>) -> Self {
        Self::from_builder(PopenBuilder::shell(command))
    }

    fn from_builder(popen: PopenBuilder) -> Self {
        Run {
            popen,
            stdin_set: false,
            output_set: false,
            capture_output: false,
            input: None,
            timeout: None,
            check: false,
        }
    }

    /// Where the child's stdin comes from ([`PopenBuilder::stdin`]). Cannot be combined
    /// with [`input`](Self::input).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{Redirect, Run};
    ///
    /// let done = Run::new(["cat"]).stdin(Redirect::DevNull).capture_output(true).run().unwrap();
    /// assert_eq!(done.stdout_lossy(), "");
    /// ```
    pub fn stdin(mut self, redirect: Redirect) -> Self {
        self.popen = self.popen.stdin(redirect);
        self.stdin_set = true;
        self
    }

    /// Where the child's stdout goes ([`PopenBuilder::stdout`]); [`Redirect::Pipe`]
    /// captures it. Cannot be combined with [`capture_output`](Self::capture_output).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{Redirect, Run};
    ///
    /// let done = Run::new(["echo", "x"]).stdout(Redirect::DevNull).run().unwrap();
    /// assert_eq!(done.stdout, None);
    /// ```
    pub fn stdout(mut self, redirect: Redirect) -> Self {
        self.popen = self.popen.stdout(redirect);
        self.output_set = true;
        self
    }

    /// Where the child's stderr goes ([`PopenBuilder::stderr`]); [`Redirect::Stdout`]
    /// merges it into stdout. Cannot be combined with
    /// [`capture_output`](Self::capture_output).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{Redirect, Run};
    ///
    /// let done = Run::shell("echo a; echo b >&2")
    ///     .stdout(Redirect::Pipe)
    ///     .stderr(Redirect::Stdout)
    ///     .run()
    ///     .unwrap();
    /// assert_eq!(done.stdout_lossy(), "a\nb\n");
    /// ```
    pub fn stderr(mut self, redirect: Redirect) -> Self {
        self.popen = self.popen.stderr(redirect);
        self.output_set = true;
        self
    }

    /// Captures stdout and stderr in the [`CompletedProcess`] (Python:
    /// `capture_output=True`, i.e. `stdout=PIPE, stderr=PIPE`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// let done = Run::shell("echo out; echo err >&2").capture_output(true).run().unwrap();
    /// assert_eq!((done.stdout_lossy(), done.stderr_lossy()), ("out\n".into(), "err\n".into()));
    /// ```
    pub fn capture_output(mut self, capture: bool) -> Self {
        self.capture_output = capture;
        self
    }

    /// Bytes sent to the child's stdin, which then gets end of file (Python: `input=`).
    /// Makes stdin a pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// let done = Run::new(["wc", "-c"]).input(vec![b'x'; 1000]).capture_output(true).run().unwrap();
    /// assert_eq!(done.stdout_lossy().trim(), "1000");
    /// ```
    pub fn input(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.input = Some(input.into());
        self
    }

    /// The longest the child may run. When it runs out, the child is killed
    /// (SIGKILL) and reaped, and [`run`](Self::run) returns
    /// [`SubprocessError::TimeoutExpired`] with the output captured until then
    /// (Python: `timeout=`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use conc_process::subprocess::{Run, SubprocessError};
    ///
    /// let err = Run::new(["sleep", "10"]).timeout(Duration::from_millis(100)).run().unwrap_err();
    /// assert!(matches!(err, SubprocessError::TimeoutExpired { .. }));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Turns a non-zero return code into [`SubprocessError::CalledProcessError`]
    /// (Python: `check=True`).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{Run, SubprocessError};
    ///
    /// let err = Run::new(["false"]).check(true).run().unwrap_err();
    /// assert!(matches!(err, SubprocessError::CalledProcessError { returncode: 1, .. }));
    /// ```
    pub fn check(mut self, check: bool) -> Self {
        self.check = check;
        self
    }

    /// The child's working directory ([`PopenBuilder::cwd`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// let done = Run::new(["pwd"]).cwd("/").capture_output(true).run().unwrap();
    /// assert_eq!(done.stdout_lossy(), "/\n");
    /// ```
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.popen = self.popen.cwd(dir);
        self
    }

    /// Replaces the child's whole environment ([`PopenBuilder::env`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// let done = Run::shell("echo $A$B").env([("A", "1"), ("B", "2")]).capture_output(true).run().unwrap();
    /// assert_eq!(done.stdout_lossy(), "12\n");
    /// ```
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.popen = self.popen.env(vars);
        self
    }

    /// Sets one variable on top of the environment ([`PopenBuilder::env_var`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// let done = Run::shell("echo $X").env_var("X", "y").capture_output(true).run().unwrap();
    /// assert_eq!(done.stdout_lossy(), "y\n");
    /// ```
    pub fn env_var(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.popen = self.popen.env_var(key, value);
        self
    }

    /// Removes one variable from the environment ([`PopenBuilder::env_remove`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// let done = Run::shell("echo \"[$HOME]\"").env_remove("HOME").capture_output(true).run().unwrap();
    /// assert_eq!(done.stdout_lossy(), "[]\n");
    /// ```
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.popen = self.popen.env_remove(key);
        self
    }

    /// Puts the child in process group `pgid`, or a new group of its own for 0
    /// ([`PopenBuilder::process_group`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// let done = Run::shell("kill -0 -$$ 2>/dev/null").process_group(0).run().unwrap();
    /// assert_eq!(done.returncode, 0); // the shell leads its own group
    /// ```
    pub fn process_group(mut self, pgid: i32) -> Self {
        self.popen = self.popen.process_group(pgid);
        self
    }

    /// Starts the child with each of `signals` at its default action
    /// ([`PopenBuilder::default_signals`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// // The shell kills itself with SIGINT, whatever this process ignores.
    /// let done = Run::shell("kill -INT $$").default_signals(&[libc::SIGINT]).run().unwrap();
    /// assert_eq!(done.returncode, -libc::SIGINT);
    /// ```
    pub fn default_signals(mut self, signals: &[i32]) -> Self {
        self.popen = self.popen.default_signals(signals);
        self
    }

    /// Whether the child closes inherited descriptors other than 0-2 and the
    /// `pass_fds` ([`PopenBuilder::close_fds`]; on by default).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// assert_eq!(Run::new(["true"]).close_fds(false).run().unwrap().returncode, 0);
    /// ```
    pub fn close_fds(mut self, close: bool) -> Self {
        self.popen = self.popen.close_fds(close);
        self
    }

    /// Descriptors the child keeps, at the same numbers ([`PopenBuilder::pass_fds`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{Run, SubprocessError};
    ///
    /// let err = Run::new(["true"]).pass_fds(&[1]).run().unwrap_err();
    /// assert!(matches!(err, SubprocessError::BadArgument(_))); // 0-2 are always inherited
    /// ```
    pub fn pass_fds(mut self, fds: &[std::os::fd::RawFd]) -> Self {
        self.popen = self.popen.pass_fds(fds);
        self
    }

    /// Starts the child in a new session ([`PopenBuilder::start_new_session`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// assert_eq!(Run::new(["true"]).start_new_session(true).run().unwrap().returncode, 0);
    /// ```
    pub fn start_new_session(mut self, new_session: bool) -> Self {
        self.popen = self.popen.start_new_session(new_session);
        self
    }

    /// Whether the child starts with SIGPIPE and SIGXFSZ at their default actions
    /// ([`PopenBuilder::restore_signals`]; on by default).
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Run;
    ///
    /// assert_eq!(Run::new(["true"]).restore_signals(false).run().unwrap().returncode, 0);
    /// ```
    pub fn restore_signals(mut self, restore: bool) -> Self {
        self.popen = self.popen.restore_signals(restore);
        self
    }

    /// Starts the child, sends the input, collects the output, waits for the child and
    /// applies the check (Python: `subprocess.run`).
    ///
    /// # Errors
    ///
    /// - [`SubprocessError::BadArgument`] when `capture_output` is combined with
    ///   `stdout`/`stderr`, or `input` with `stdin` (Python's `ValueError`s), or as
    ///   [`PopenBuilder::spawn`].
    /// - [`SubprocessError::Spawn`] when the program cannot be started.
    /// - [`SubprocessError::TimeoutExpired`] when the timeout ran out; the child has
    ///   been killed and reaped.
    /// - [`SubprocessError::CalledProcessError`] with `check(true)` and a non-zero
    ///   return code.
    /// - [`SubprocessError::Io`] if a pipe fails; the child has been killed and reaped.
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::{Run, SubprocessError};
    ///
    /// let err = Run::new(["no-such-program-here"]).run().unwrap_err();
    /// assert!(matches!(err, SubprocessError::Spawn { .. }));
    /// ```
    pub fn run(self) -> Result<CompletedProcess, SubprocessError> {
        let mut popen = self.popen;
        if self.capture_output {
            if self.output_set {
                return Err(SubprocessError::BadArgument(
                    "stdout and stderr arguments may not be used with capture_output".to_owned(),
                ));
            }
            popen = popen.stdout(Redirect::Pipe).stderr(Redirect::Pipe);
        }
        if self.input.is_some() {
            if self.stdin_set {
                return Err(SubprocessError::BadArgument(
                    "stdin and input arguments may not both be used".to_owned(),
                ));
            }
            popen = popen.stdin(Redirect::Pipe);
        }
        let mut process = popen.spawn()?;
        match process.communicate(self.input.as_deref(), self.timeout) {
            Ok((stdout, stderr)) => {
                let done = CompletedProcess {
                    args: process.args().to_vec(),
                    returncode: process.returncode().unwrap_or_default(),
                    stdout,
                    stderr,
                };
                if self.check {
                    done.check_returncode()?;
                }
                Ok(done)
            }
            Err(err) => {
                // As CPython's run(): kill and reap before reporting, so a timeout never
                // leaves the child running. The output was collected up to the timeout;
                // reading on after the kill could block on grandchildren holding the
                // pipes open.
                let _ = process.kill();
                let _ = process.wait(None);
                Err(err)
            }
        }
    }
}

/// Runs `args`, waits, and returns its return code (Python: `subprocess.call`).
///
/// # Errors
///
/// As [`Run::run`] (without check, so only spawn and I/O errors).
///
/// # Examples
///
/// ```
/// assert_eq!(conc_process::subprocess::call(["sh", "-c", "exit 4"]).unwrap(), 4);
/// ```
pub fn call<I>(args: I) -> Result<i32, SubprocessError>
where
    I: IntoIterator,
    I::Item: AsRef<OsStr>,
{
    Run::new(args).run().map(|done| done.returncode)
}

/// Runs `args` and returns `Ok(())` if it succeeded (Python: `subprocess.check_call`).
///
/// # Errors
///
/// [`SubprocessError::CalledProcessError`] on a non-zero return code, or as
/// [`Run::run`].
///
/// # Examples
///
/// ```
/// use conc_process::subprocess::check_call;
///
/// assert!(check_call(["true"]).is_ok());
/// assert!(check_call(["false"]).is_err());
/// ```
pub fn check_call<I>(args: I) -> Result<(), SubprocessError>
where
    I: IntoIterator,
    I::Item: AsRef<OsStr>,
{
    Run::new(args).check(true).run().map(drop)
}

/// Runs `args` and returns its stdout, failing on a non-zero return code (Python:
/// `subprocess.check_output`). Stderr is inherited.
///
/// # Errors
///
/// [`SubprocessError::CalledProcessError`] (carrying the output) on a non-zero return
/// code, or as [`Run::run`].
///
/// # Examples
///
/// ```
/// let out = conc_process::subprocess::check_output(["echo", "a", "b"]).unwrap();
/// assert_eq!(out, b"a b\n");
/// ```
pub fn check_output<I>(args: I) -> Result<Vec<u8>, SubprocessError>
where
    I: IntoIterator,
    I::Item: AsRef<OsStr>,
{
    let done = Run::new(args).stdout(Redirect::Pipe).check(true).run()?;
    Ok(done.stdout.unwrap_or_default())
}

/// Runs a shell command and returns `(return code, output)`, stdout and stderr merged,
/// decoded lossily, with one trailing newline removed (Python:
/// `subprocess.getstatusoutput`).
///
/// # Errors
///
/// Only if `/bin/sh` cannot be run or a pipe fails: a failing command is reported by
/// its return code.
///
/// # Examples
///
/// ```
/// use conc_process::subprocess::getstatusoutput;
///
/// assert_eq!(getstatusoutput("echo hi").unwrap(), (0, "hi".to_owned()));
/// let (code, text) = getstatusoutput("cat /no/such/file").unwrap();
/// assert_eq!(code, 1);
/// assert!(text.contains("No such file"));
/// ```
pub fn getstatusoutput(command: impl AsRef<OsStr>) -> Result<(i32, String), SubprocessError> {
    let done = Run::shell(command)
        .stdout(Redirect::Pipe)
        .stderr(Redirect::Stdout)
        .run()?;
    let mut text = done.stdout_lossy().into_owned();
    if text.ends_with('\n') {
        text.pop();
    }
    Ok((done.returncode, text))
}

/// Runs a shell command and returns its output (stdout and stderr merged, one trailing
/// newline removed), ignoring the return code (Python: `subprocess.getoutput`).
///
/// # Errors
///
/// As [`getstatusoutput`].
///
/// # Examples
///
/// ```
/// assert_eq!(conc_process::subprocess::getoutput("echo one; echo two").unwrap(), "one\ntwo");
/// ```
pub fn getoutput(command: impl AsRef<OsStr>) -> Result<String, SubprocessError> {
    getstatusoutput(command).map(|(_, text)| text)
}
