//! The hook that receives panics nobody joined (Python: `threading.excepthook`).

use std::sync::{Arc, RwLock};

use crate::registry::Thread;

/// What the [excepthook](set_excepthook) is told about an unjoined panic
/// (Python: `threading.ExceptHookArgs`).
///
/// # Examples
///
/// ```
/// conc_thread::set_excepthook(|args: &conc_thread::ExceptHookArgs| {
///     eprintln!("thread {} died: {}", args.thread_name(), args.message());
/// });
/// # conc_thread::reset_excepthook();
/// ```
#[derive(Debug, Clone)]
pub struct ExceptHookArgs {
    thread: Thread,
    message: String,
}

impl ExceptHookArgs {
    pub(crate) fn new(thread: &Thread, message: String) -> Self {
        ExceptHookArgs {
            thread: thread.clone(),
            message,
        }
    }

    /// The thread that panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// conc_thread::set_excepthook(|args: &conc_thread::ExceptHookArgs| {
    ///     let _ident = args.thread().ident();
    /// });
    /// # conc_thread::reset_excepthook();
    /// ```
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// The name of the thread that panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// conc_thread::set_excepthook(|args: &conc_thread::ExceptHookArgs| {
    ///     assert!(!args.thread_name().is_empty());
    /// });
    /// # conc_thread::reset_excepthook();
    /// ```
    pub fn thread_name(&self) -> &str {
        self.thread.name()
    }

    /// The panic message.
    ///
    /// # Examples
    ///
    /// ```
    /// conc_thread::set_excepthook(|args: &conc_thread::ExceptHookArgs| {
    ///     let _ = args.message().len();
    /// });
    /// # conc_thread::reset_excepthook();
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

type Hook = Arc<dyn Fn(&ExceptHookArgs) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// The hook's lock, registered on first use to be held across every fork (see
/// `fork.rs`): a child forked while another thread reported a panic must not find it
/// held.
fn hook() -> &'static RwLock<Option<Hook>> {
    static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    crate::fork::register(&REGISTERED, || {
        Box::new(
            HOOK.write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    });
    &HOOK
}

/// Installs the function called with every panic that no [`JoinHandle`](crate::JoinHandle)
/// collected: the thread's handle was dropped before or after the panic
/// (Python: assigning `threading.excepthook`). The hook runs on the thread that
/// noticed the panic: the dying thread, or the one dropping the handle.
///
/// The default hook prints `Exception in thread NAME: MESSAGE` to standard error (the
/// standard panic hook has already printed the location when the panic happened).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// conc_thread::set_excepthook(move |args: &conc_thread::ExceptHookArgs| {
///     sink.lock().unwrap().push(args.message().to_owned());
/// });
/// let h = conc_thread::spawn(|| panic!("unjoined"));
/// h.thread().clone().wait_finished(None);
/// drop(h);
/// assert_eq!(seen.lock().unwrap().as_slice(), ["unjoined"]);
/// conc_thread::reset_excepthook();
/// ```
pub fn set_excepthook<F>(hook: F)
where
    F: Fn(&ExceptHookArgs) + Send + Sync + 'static,
{
    *self::hook().write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(hook));
}

/// Puts the default hook back (Python: `threading.excepthook = threading.__excepthook__`).
///
/// # Examples
///
/// ```
/// conc_thread::set_excepthook(|_: &conc_thread::ExceptHookArgs| {});
/// conc_thread::reset_excepthook();
/// ```
pub fn reset_excepthook() {
    *hook().write().unwrap_or_else(|e| e.into_inner()) = None;
}

pub(crate) fn call_excepthook(args: &ExceptHookArgs) {
    let hook = self::hook()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // Neither a panicking hook nor an unwritable stderr (`eprintln!` panics on a closed
    // pipe) may take down the thread that reports the panic.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match hook {
        Some(hook) => hook(args),
        None => report_to_stderr(format_args!(
            "Exception in thread {}: {}",
            args.thread_name(),
            args.message()
        )),
    }));
    if outcome.is_err() {
        report_to_stderr(format_args!("conc-thread: the excepthook itself panicked"));
    }
}

fn report_to_stderr(message: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{message}");
}

#[cfg(test)]
mod fork_tests {
    use super::*;

    #[test]
    fn the_fork_handlers_hold_and_release_the_hook() {
        let _ = hook(); // registers the lock
        crate::fork::prepare();
        assert!(HOOK.try_read().is_err(), "the hook is held across the fork");
        crate::fork::release();
        assert!(HOOK.try_read().is_ok());
    }
}
