//! `SubprocessError`: the exceptions of Python's `subprocess` module as one enum.

use std::fmt::{self, Write as _};
use std::io;
use std::time::Duration;

use crate::error::signal_name;

/// Everything that can go wrong running a child program (Python: `SubprocessError` and
/// its subclasses, plus the `OSError`/`ValueError` that `Popen` raises).
///
/// The `Display` messages follow Python's, so a log line reads the same in both:
/// `Command '['false']' returned non-zero exit status 1.`
///
/// # Examples
///
/// ```
/// use conc_process::subprocess::{self, SubprocessError};
///
/// let err = subprocess::check_call(["false"]).unwrap_err();
/// assert_eq!(err.to_string(), "Command '['false']' returned non-zero exit status 1.");
/// assert!(matches!(err, SubprocessError::CalledProcessError { returncode: 1, .. }));
/// ```
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubprocessError {
    /// The program could not be started: not found, not executable, a bad `cwd`...
    /// (Python: `FileNotFoundError`/`PermissionError` from `Popen`).
    #[error("cannot run '{program}': {message}")]
    Spawn {
        /// The program that was to be run (the first argument).
        program: String,
        /// The kind of the OS error, e.g. [`io::ErrorKind::NotFound`].
        kind: io::ErrorKind,
        /// The operating system's message.
        message: String,
    },
    /// A timeout ran out before the child finished (Python: `TimeoutExpired`). Whether
    /// the child still runs depends on the call: [`Popen::wait`](super::Popen::wait)
    /// and [`Popen::communicate`](super::Popen::communicate) leave it running,
    /// [`Run::run`](super::Run::run) killed and reaped it before returning this.
    #[error("Command '{}' timed out after {} seconds", PyList(cmd), timeout.as_secs_f64())]
    TimeoutExpired {
        /// The arguments of the command.
        cmd: Vec<String>,
        /// The timeout that ran out.
        timeout: Duration,
        /// The output read from the child's stdout pipe before the timeout, or `None`
        /// when stdout was not a pipe being read.
        stdout: Option<Vec<u8>>,
        /// The same for stderr.
        stderr: Option<Vec<u8>>,
    },
    /// The child exited with a non-zero status and the caller asked for a check
    /// (Python: `CalledProcessError`).
    #[error("Command '{}' {}", PyList(cmd), describe_returncode(*returncode))]
    CalledProcessError {
        /// The arguments of the command.
        cmd: Vec<String>,
        /// The exit status, or minus the signal number when a signal killed the child.
        returncode: i32,
        /// The captured stdout, or `None` when it was not captured.
        stdout: Option<Vec<u8>>,
        /// The captured stderr, or `None` when it was not captured.
        stderr: Option<Vec<u8>>,
    },
    /// Reading from or writing to the child's pipes, or waiting for it, failed.
    #[error("{context}: {message}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The kind of the OS error.
        kind: io::ErrorKind,
        /// The operating system's message.
        message: String,
    },
    /// An argument does not make sense, such as an empty argument list or `input`
    /// without a stdin pipe (Python: `ValueError`).
    #[error("invalid argument: {0}")]
    BadArgument(String),
}

impl SubprocessError {
    /// Wraps an I/O error with what was being done when it happened.
    pub(crate) fn io(context: &'static str, err: &io::Error) -> Self {
        SubprocessError::Io {
            context,
            kind: err.kind(),
            message: err.to_string(),
        }
    }
}

/// Python's `str()` of a list of strings: `['ls', '-l']`.
struct PyList<'a>(&'a [String]);

impl fmt::Display for PyList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        for (i, arg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            // Python's repr picks double quotes only when that avoids escaping.
            let quote = if arg.contains('\'') && !arg.contains('"') {
                '"'
            } else {
                '\''
            };
            f.write_char(quote)?;
            for c in arg.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\t' => f.write_str("\\t")?,
                    c if c == quote => {
                        f.write_char('\\')?;
                        f.write_char(c)?;
                    }
                    c => f.write_char(c)?,
                }
            }
            f.write_char(quote)?;
        }
        f.write_char(']')
    }
}

/// The end of Python's `CalledProcessError.__str__`.
fn describe_returncode(returncode: i32) -> String {
    if returncode < 0 {
        match signal_name(-returncode) {
            Some(name) => format!("died with <Signals.{name}: {}>.", -returncode),
            None => format!("died with unknown signal {}.", -returncode),
        }
    } else {
        format!("returned non-zero exit status {returncode}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_python() {
        let called = |returncode| SubprocessError::CalledProcessError {
            cmd: vec!["sleep".into(), "10".into()],
            returncode,
            stdout: None,
            stderr: None,
        };
        assert_eq!(
            called(2).to_string(),
            "Command '['sleep', '10']' returned non-zero exit status 2."
        );
        assert_eq!(
            called(-9).to_string(),
            "Command '['sleep', '10']' died with <Signals.SIGKILL: 9>."
        );
        assert_eq!(
            called(-200).to_string(),
            "Command '['sleep', '10']' died with unknown signal 200."
        );
        let timeout = SubprocessError::TimeoutExpired {
            cmd: vec!["sleep".into(), "10".into()],
            timeout: Duration::from_millis(500),
            stdout: None,
            stderr: None,
        };
        assert_eq!(
            timeout.to_string(),
            "Command '['sleep', '10']' timed out after 0.5 seconds"
        );
    }

    #[test]
    fn list_repr_quotes_like_python() {
        let args = [
            "it's".to_owned(),
            "a\\b".to_owned(),
            "say \"'hi'\"".to_owned(),
        ];
        assert_eq!(
            PyList(&args).to_string(),
            r#"["it's", 'a\\b', 'say "\'hi\'"']"#
        );
    }
}
