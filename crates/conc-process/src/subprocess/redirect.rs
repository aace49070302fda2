//! `Redirect`: where a child's stdin, stdout or stderr goes (Python's `None`, `PIPE`,
//! `DEVNULL`, `STDOUT` or a file object).

use std::fs::File;

/// Where one of the child's standard streams is connected.
///
/// | Python | here |
/// | --- | --- |
/// | `None` (the default) | [`Redirect::Inherit`] (the default) |
/// | `subprocess.PIPE` | [`Redirect::Pipe`] |
/// | `subprocess.DEVNULL` | [`Redirect::DevNull`] |
/// | `stderr=subprocess.STDOUT` | [`Redirect::Stdout`] (for stderr only) |
/// | an open file | [`Redirect::File`] |
///
/// # Examples
///
/// ```
/// use conc_process::subprocess::{Redirect, Run};
///
/// let done = Run::new(["sh", "-c", "echo out; echo err >&2"])
///     .stdout(Redirect::Pipe)
///     .stderr(Redirect::Stdout)
///     .run()
///     .unwrap();
/// assert_eq!(done.stdout.as_deref(), Some(&b"out\nerr\n"[..]));
/// assert_eq!(done.stderr, None);
/// ```
#[derive(Debug, Default)]
#[non_exhaustive]
pub enum Redirect {
    /// The child shares this process's stream (Python: `None`).
    #[default]
    Inherit,
    /// A new pipe: this side keeps the other end, reachable through
    /// [`Popen::stdin`](super::Popen::stdin) and friends and read or written by
    /// [`Popen::communicate`](super::Popen::communicate) (Python: `PIPE`).
    Pipe,
    /// `/dev/null` (Python: `DEVNULL`).
    DevNull,
    /// For stderr only: the same place as the child's stdout, i.e. `2>&1`
    /// (Python: `STDOUT`). With a stdout pipe, both streams arrive in that one pipe.
    Stdout,
    /// An open file (or anything else turned into one, such as an
    /// [`OwnedFd`](std::os::fd::OwnedFd)); the child gets its own copy of the
    /// descriptor.
    File(File),
}

impl From<File> for Redirect {
    /// [`Redirect::File`].
    ///
    /// # Examples
    ///
    /// ```
    /// use conc_process::subprocess::Redirect;
    ///
    /// let null = std::fs::File::open("/dev/null").unwrap();
    /// assert!(matches!(Redirect::from(null), Redirect::File(_)));
    /// ```
    fn from(file: File) -> Self {
        Redirect::File(file)
    }
}
