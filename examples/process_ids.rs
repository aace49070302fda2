//! Process ids: `os.getpid()` and `os.getppid()` in the parent and in the child.
//!
//! Ports seed 001 §3.3: `info(title)` prints the module name, the parent's pid and its
//! own pid, first in the main process, then in `Process(target=f, args=('bob',))`,
//! whose parent pid is the main process's pid.
//!
//! What it shows: `std::process::id()` is `os.getpid()`; `conc_process::parent_process()`
//! gives the parent's pid as `multiprocessing.parent_process().pid` does (the portable
//! `os.getppid()`, which also holds with the fork server in between);
//! `current_process().name()` is `"MainProcess"` in the parent and `"Process-1"` in the
//! child (Python's `__name__` is `__main__` vs `__mp_main__`).
//!
//! How Rust differs: the child's report comes back as its return value, so the parent
//! can check it.

use conc_process::{Process, current_process, parent_process};

/// What `info(title)` prints, returned as well so the parent can check it.
fn info(title: &str) -> (String, Option<u32>, u32) {
    let me = current_process();
    let parent = parent_process().map(|p| p.pid());
    println!("{title}");
    println!("  process name:   {}", me.name());
    println!(
        "  parent process: {}",
        parent.map_or("(none)".to_string(), |p| p.to_string())
    );
    println!("  process id:     {}", std::process::id());
    (me.name().to_owned(), parent, std::process::id())
}

fn f(name: String) -> (String, Option<u32>, u32) {
    let report = info("function f");
    println!("hello {name}");
    report
}

fn main() {
    conc_process::init();

    examples::heading("main process line");
    let (name, parent, pid) = info("main process line");
    assert_eq!(name, "MainProcess");
    assert_eq!(parent, None);

    examples::heading("Process(target=f, args=('bob',))");
    let p = Process::new(f, "bob".to_string());
    p.start().expect("start");
    let (child_name, child_parent, child_pid) = p.result().expect("child result");
    assert_eq!(child_name, "Process-1");
    assert_eq!(
        child_parent,
        Some(pid),
        "the child's parent is this process"
    );
    assert_eq!(Some(child_pid), p.pid());
    assert_ne!(child_pid, pid);
    println!("parent {pid} -> child {child_pid}");
}
