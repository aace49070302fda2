//! CPython's `TestStartMethod` (Lib/test/_test_multiprocessing.py): the process-wide
//! default, `force`, contexts, and what a child inherits. One test, because the default
//! is process-wide state.

use conc_process::{
    Process, ProcessError, StartMethod, get_context, get_start_method, set_start_method,
};

conc_process::test_support!();

fn child_view(_: ()) -> (StartMethod, Option<StartMethod>) {
    let me = conc_process::current_process();
    (get_start_method(), me.start_method())
}

#[test]
fn test_set_get() {
    // Default before anyone chooses: forkserver, as Python 3.14 on Linux.
    assert_eq!(get_start_method(), StartMethod::Forkserver);
    let p = Process::new(child_view, ());
    assert_eq!(p.get_start_method(), StartMethod::Forkserver);

    set_start_method(StartMethod::Spawn, false).unwrap();
    assert_eq!(get_start_method(), StartMethod::Spawn);
    assert_eq!(
        set_start_method(StartMethod::Fork, false),
        Err(ProcessError::InvalidState("context has already been set"))
    );
    // A child started with the default sees the parent's default, and how it started.
    let p = Process::new(child_view, ());
    p.start().unwrap();
    assert_eq!(
        p.result().unwrap(),
        (StartMethod::Spawn, Some(StartMethod::Spawn))
    );

    set_start_method(StartMethod::Fork, true).unwrap();
    assert_eq!(get_start_method(), StartMethod::Fork);
    // A context overrides the default.
    let p = get_context(StartMethod::Forkserver).process(child_view, ());
    p.start().unwrap();
    assert_eq!(
        p.result().unwrap(),
        (StartMethod::Fork, Some(StartMethod::Forkserver))
    );

    // Names parse as Python spells them.
    for m in StartMethod::all() {
        assert_eq!(m.as_str().parse::<StartMethod>().unwrap(), m);
    }
    assert!(matches!(
        "thread".parse::<StartMethod>(),
        Err(ProcessError::InvalidArgument(_))
    ));
}
