//! `Local`: one value per thread (Python's `threading.local()`).
//!
//! The seeds list `local` among `threading`'s names (seed 001's `__all__`); this is the
//! classic Python example for it:
//!
//! ```text
//! local_school = threading.local()
//! def process_student():
//!     std = local_school.student          # each thread sees its own student
//!     print('Hello, %s (in %s)' % (std, threading.current_thread().name))
//! def process_thread(name):
//!     local_school.student = name
//!     process_student()
//! Thread(target=process_thread, args=('Alice',), name='Thread-A').start()
//! Thread(target=process_thread, args=('Bob',), name='Thread-B').start()
//! ```
//!
//! What it shows: a module-level `Local` read and written by several threads without
//! any lock, each thread seeing only its own value; per-thread counters that need no
//! synchronization; the main thread's value untouched by the others.
//!
//! How Rust differs: a `Local<T>` has one type `T` (Python's local takes any
//! attributes) and a function creating each thread's first value. Access goes through
//! `get`/`set`/`with`. A module-global needs a `static` initialized on first use
//! (`LazyLock`), since `Local::new` takes a closure.

use std::sync::LazyLock;

use conc_thread::{Builder, Local, current_thread};

/// `local_school = threading.local()`: each thread's current student.
static LOCAL_SCHOOL: LazyLock<Local<Option<String>>> = LazyLock::new(|| Local::new(|| None));

/// How many greetings this thread has printed.
static GREETINGS: LazyLock<Local<u32>> = LazyLock::new(|| Local::new(|| 0));

fn process_student() -> String {
    let student = LOCAL_SCHOOL
        .get()
        .expect("process_thread set the student first");
    GREETINGS.with(|n| *n += 1);
    let line = format!("Hello, {student} (in {})", current_thread().name());
    println!("{line}");
    line
}

fn process_thread(name: &str) -> (String, u32) {
    LOCAL_SCHOOL.set(Some(name.to_owned())); // local_school.student = name
    let mut last = String::new();
    for _ in 0..3 {
        last = process_student();
        std::thread::sleep(std::time::Duration::from_millis(10)); // let the threads interleave
    }
    (last, GREETINGS.get())
}

fn main() {
    examples::heading("The classic threading.local example: Alice and Bob");
    LOCAL_SCHOOL.set(Some("the main thread's student".to_owned()));
    let threads: Vec<_> = [
        ("Alice", "Thread-A"),
        ("Bob", "Thread-B"),
        ("Carol", "Thread-C"),
    ]
    .into_iter()
    .map(|(student, thread_name)| {
        Builder::new()
            .name(thread_name)
            .spawn(move || process_thread(student))
            .expect("the OS should start a thread")
    })
    .collect();
    for (t, (student, thread_name)) in threads.into_iter().zip([
        ("Alice", "Thread-A"),
        ("Bob", "Thread-B"),
        ("Carol", "Thread-C"),
    ]) {
        let (last, greetings) = t.join().expect("the thread does not panic");
        assert_eq!(last, format!("Hello, {student} (in {thread_name})"));
        assert_eq!(greetings, 3, "each thread counted only its own greetings");
    }

    let mine = LOCAL_SCHOOL.get();
    println!(
        "main thread still sees: {mine:?}; its greeting count: {}",
        GREETINGS.get()
    );
    assert_eq!(mine.as_deref(), Some("the main thread's student"));
    assert_eq!(
        GREETINGS.get(),
        0,
        "the other threads' counters are their own"
    );

    examples::heading("A fresh thread starts from the initializer");
    let fresh = conc_thread::spawn(|| LOCAL_SCHOOL.get())
        .join()
        .expect("the thread does not panic");
    println!("a new thread's local_school.student: {fresh:?}");
    assert_eq!(fresh, None);
}
