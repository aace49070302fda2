//! Operating-system facts about threads: native ids and which thread is the main one.
//!
//! Every backend provides `native_thread_id`, `main_thread_native_id` and
//! `is_main_thread`. Only Linux can name the main thread's id from any thread (it is
//! the process id); elsewhere the main thread is recognised by its `std` name "main",
//! and its native id is recorded by the first thread that asks, which is exact when
//! that is the main thread.

#[cfg(target_os = "linux")]
mod imp {
    pub(crate) fn native_thread_id() -> u64 {
        // SAFETY: gettid has no preconditions and cannot fail.
        let tid = unsafe { libc::gettid() };
        tid as u64
    }

    pub(crate) fn main_thread_native_id() -> u64 {
        // On Linux the main thread's TID equals the process id.
        std::process::id() as u64
    }

    pub(crate) fn is_main_thread() -> bool {
        native_thread_id() == main_thread_native_id()
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
mod imp {
    use std::sync::OnceLock;

    pub(crate) fn native_thread_id() -> u64 {
        // SAFETY: pthread_self has no preconditions and cannot fail.
        let id = unsafe { libc::pthread_self() };
        id as usize as u64
    }

    pub(crate) fn main_thread_native_id() -> u64 {
        static MAIN: OnceLock<u64> = OnceLock::new();
        *MAIN.get_or_init(native_thread_id)
    }

    pub(crate) fn is_main_thread() -> bool {
        std::thread::current().name() == Some("main")
    }
}

#[cfg(not(unix))]
mod imp {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    pub(crate) fn native_thread_id() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        thread_local!(static ID: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
        ID.with(|id| *id)
    }

    pub(crate) fn main_thread_native_id() -> u64 {
        static MAIN: OnceLock<u64> = OnceLock::new();
        *MAIN.get_or_init(native_thread_id)
    }

    pub(crate) fn is_main_thread() -> bool {
        std::thread::current().name() == Some("main")
    }
}

pub(crate) use imp::{is_main_thread, main_thread_native_id, native_thread_id};
