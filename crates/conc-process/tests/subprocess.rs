//! Black-box tests of `conc_process::subprocess`, ported from CPython's
//! `Lib/test/test_subprocess.py` (`ProcessTestCase`, `RunFuncTestCase`,
//! `POSIXProcessTestCase`, `MiscTests`). Each test names the CPython test it comes from;
//! `python -c ...` children are replaced by `sh`, `cat`, `echo`, `sleep`, `head`.
//!
//! Timing: every bound is generous (the suite runs on a loaded 2-core machine); no test
//! asserts that something was fast, only that it did not take "forever".
#![cfg(unix)]

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use conc_process::subprocess::{
    self, CompletedProcess, Popen, PopenBuilder, Redirect, Run, SubprocessError,
};

/// Generous upper bound for things that should end promptly.
const LONG: Duration = Duration::from_secs(60);

/// Whether a process with this pid exists (zombies included): `kill(pid, 0)`.
fn pid_exists(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission; nothing is sent.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// Waits up to `LONG` for `cond`, polling.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < LONG {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn piped(args: &[&str]) -> PopenBuilder {
    Popen::builder(args)
        .stdin(Redirect::Pipe)
        .stdout(Redirect::Pipe)
        .stderr(Redirect::Pipe)
}

// --- return codes: call, check_call, run ------------------------------------------

/// test_call_seq / RunFuncTestCase.test_returncode
#[test]
fn call_returns_the_exit_status() {
    assert_eq!(subprocess::call(["sh", "-c", "exit 47"]).unwrap(), 47);
    assert_eq!(subprocess::call(["true"]).unwrap(), 0);
    let done = Run::new(["sh", "-c", "exit 47"]).run().unwrap();
    assert_eq!(done.returncode, 47);
    assert_eq!(done.args, ["sh", "-c", "exit 47"]);
}

/// test_check_call_zero / test_check_call_nonzero
#[test]
fn check_call_zero_and_nonzero() {
    subprocess::check_call(["true"]).unwrap();
    match subprocess::check_call(["sh", "-c", "exit 47"]) {
        Err(SubprocessError::CalledProcessError {
            returncode,
            stdout,
            stderr,
            cmd,
        }) => {
            assert_eq!(returncode, 47);
            assert_eq!((stdout, stderr), (None, None));
            assert_eq!(cmd, ["sh", "-c", "exit 47"]);
        }
        other => panic!("expected CalledProcessError, got {other:?}"),
    }
}

/// RunFuncTestCase.test_check / test_check_zero
#[test]
fn run_check_carries_the_output() {
    let err = Run::shell("echo partial; echo oops >&2; exit 3")
        .capture_output(true)
        .check(true)
        .run()
        .unwrap_err();
    assert_eq!(
        err,
        SubprocessError::CalledProcessError {
            cmd: vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo partial; echo oops >&2; exit 3".into()
            ],
            returncode: 3,
            stdout: Some(b"partial\n".to_vec()),
            stderr: Some(b"oops\n".to_vec()),
        }
    );
    let done = Run::new(["true"]).check(true).run().unwrap();
    assert_eq!(done.returncode, 0);
    done.check_returncode().unwrap();
}

/// CompletedProcess.check_returncode without `check=True`.
#[test]
fn completed_process_check_returncode() {
    let done = Run::shell("exit 2").run().unwrap();
    assert_eq!(done.returncode, 2);
    let err = done.check_returncode().unwrap_err();
    assert!(matches!(
        err,
        SubprocessError::CalledProcessError { returncode: 2, .. }
    ));
    let manual = CompletedProcess {
        args: vec!["x".into()],
        returncode: 0,
        stdout: None,
        stderr: None,
    };
    assert_eq!(manual.check_returncode(), Ok(()));
    assert_eq!(manual.stdout_lossy(), "");
}

/// CalledProcessErrorTests.test_str / test_signal_str
#[test]
fn called_process_error_messages() {
    let err = subprocess::check_call(["false"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Command '['false']' returned non-zero exit status 1."
    );
    let err = Run::shell("kill -9 $$").check(true).run().unwrap_err();
    assert_eq!(
        err.to_string(),
        "Command '['/bin/sh', '-c', 'kill -9 $$']' died with <Signals.SIGKILL: 9>."
    );
}

// --- capture, input, merging, devnull -----------------------------------------------

/// test_check_output / RunFuncTestCase.test_capture_stdout
#[test]
fn check_output_returns_stdout() {
    assert_eq!(
        subprocess::check_output(["sh", "-c", "printf BDFL"]).unwrap(),
        b"BDFL"
    );
}

/// test_check_output_nonzero: the error carries the output.
#[test]
fn check_output_nonzero_keeps_output() {
    match subprocess::check_output(["sh", "-c", "echo before; exit 5"]) {
        Err(SubprocessError::CalledProcessError {
            returncode: 5,
            stdout: Some(out),
            stderr: None,
            ..
        }) => assert_eq!(out, b"before\n"),
        other => panic!("expected CalledProcessError, got {other:?}"),
    }
}

/// RunFuncTestCase.test_capture_output
#[test]
fn capture_output_gets_both_streams() {
    let done = Run::shell("echo BDFL; echo FLUFL >&2")
        .capture_output(true)
        .run()
        .unwrap();
    assert_eq!(done.stdout.as_deref(), Some(&b"BDFL\n"[..]));
    assert_eq!(done.stderr.as_deref(), Some(&b"FLUFL\n"[..]));
    assert_eq!(done.stdout_lossy(), "BDFL\n");
    assert_eq!(done.stderr_lossy(), "FLUFL\n");
}

/// RunFuncTestCase.test_stdout_with_capture_output_arg /
/// test_stderr_with_capture_output_arg / test_check_output_stdin_with_input_arg:
/// the ValueErrors.
#[test]
fn conflicting_run_options_are_rejected() {
    let err = Run::new(["true"])
        .capture_output(true)
        .stdout(Redirect::Pipe)
        .run()
        .unwrap_err();
    assert!(matches!(err, SubprocessError::BadArgument(m) if m.contains("capture_output")));
    let err = Run::new(["true"])
        .capture_output(true)
        .stderr(Redirect::DevNull)
        .run()
        .unwrap_err();
    assert!(matches!(err, SubprocessError::BadArgument(_)));
    let err = Run::new(["cat"])
        .stdin(Redirect::DevNull)
        .input("x")
        .run()
        .unwrap_err();
    assert!(matches!(err, SubprocessError::BadArgument(m) if m.contains("input")));
}

/// test_check_output_input_arg / RunFuncTestCase.test_check_output_input_arg
#[test]
fn input_is_fed_to_stdin() {
    let done = Run::new(["tr", "a-z", "A-Z"])
        .input("pear")
        .capture_output(true)
        .run()
        .unwrap();
    assert_eq!(done.stdout_lossy(), "PEAR");
}

/// test_check_output_stdin_arg: stdin from a file.
#[test]
fn stdin_from_a_file() {
    let path = std::env::temp_dir().join(format!("conc-subprocess-stdin-{}", std::process::id()));
    std::fs::write(&path, "pear").unwrap();
    let done = Run::new(["cat"])
        .stdin(Redirect::File(File::open(&path).unwrap()))
        .stdout(Redirect::Pipe)
        .run()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(done.stdout_lossy(), "pear");
}

/// test_stdout_filedes: stdout into a file.
#[test]
fn stdout_to_a_file() {
    let path = std::env::temp_dir().join(format!("conc-subprocess-stdout-{}", std::process::id()));
    let file = File::create(&path).unwrap();
    let code = Run::new(["echo", "orange"])
        .stdout(Redirect::from(file))
        .run()
        .unwrap()
        .returncode;
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(text, "orange\n");
}

/// test_stdout_stderr_pipe / test_check_output_stderr: stderr=STDOUT into the pipe.
#[test]
fn stderr_merged_into_stdout_pipe() {
    let done = Run::shell("echo apple; echo orange >&2; echo pear")
        .stdout(Redirect::Pipe)
        .stderr(Redirect::Stdout)
        .run()
        .unwrap();
    assert_eq!(done.stdout_lossy(), "apple\norange\npear\n");
    assert_eq!(done.stderr, None);
}

/// test_stdout_stderr_file: stderr=STDOUT with stdout a file.
#[test]
fn stderr_merged_into_stdout_file() {
    let path = std::env::temp_dir().join(format!("conc-subprocess-merged-{}", std::process::id()));
    let file = File::create(&path).unwrap();
    Run::shell("echo apple; echo orange >&2")
        .stdout(Redirect::File(file))
        .stderr(Redirect::Stdout)
        .check(true)
        .run()
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(text, "apple\norange\n");
}

/// test_stdout_devnull / test_stderr_devnull / test_stdin_devnull
#[test]
fn devnull_everywhere() {
    let done = Run::shell("echo hidden; echo hidden >&2; cat")
        .stdin(Redirect::DevNull)
        .stdout(Redirect::DevNull)
        .stderr(Redirect::DevNull)
        .run()
        .unwrap();
    assert_eq!(done.returncode, 0);
    assert_eq!((done.stdout, done.stderr), (None, None));
    // stderr=STDOUT with stdout=DEVNULL: nothing reaches a pipe, nothing fails.
    let done = Run::shell("echo gone >&2")
        .stdout(Redirect::DevNull)
        .stderr(Redirect::Stdout)
        .run()
        .unwrap();
    assert_eq!(done.returncode, 0);
}

/// Redirect::Stdout is for stderr only (CPython raises ValueError for stdout=STDOUT).
#[test]
fn stdout_redirect_only_for_stderr() {
    let err = Popen::builder(["true"])
        .stdout(Redirect::Stdout)
        .spawn()
        .unwrap_err();
    assert!(matches!(err, SubprocessError::BadArgument(_)));
    let err = Popen::builder(["true"])
        .stdin(Redirect::Stdout)
        .spawn()
        .unwrap_err();
    assert!(matches!(err, SubprocessError::BadArgument(_)));
}

/// test_invalid_args (empty argument list)
#[test]
fn empty_args_are_rejected() {
    let empty: [&str; 0] = [];
    assert!(matches!(
        Popen::new(empty).unwrap_err(),
        SubprocessError::BadArgument(_)
    ));
    assert!(matches!(
        Run::new(empty).run().unwrap_err(),
        SubprocessError::BadArgument(_)
    ));
}

// --- cwd and env ---------------------------------------------------------------------

/// test_cwd
#[test]
fn cwd_is_used() {
    let tmp = std::env::temp_dir().canonicalize().unwrap();
    let done = Run::new(["pwd", "-P"])
        .cwd(&tmp)
        .capture_output(true)
        .run()
        .unwrap();
    assert_eq!(done.stdout_lossy().trim_end(), tmp.to_str().unwrap());
}

/// test_cwd_with_relative_arg-ish: a missing cwd is a spawn error, not a panic.
#[test]
fn missing_cwd_is_a_spawn_error() {
    let err = Run::new(["true"]).cwd("/no/such/dir").run().unwrap_err();
    assert!(err.to_string().contains("/no/such/dir"), "{err}");
    assert!(matches!(
        err,
        SubprocessError::Spawn {
            kind: ErrorKind::NotFound,
            ..
        }
    ));
}

/// test_env / test_empty_env
#[test]
fn env_replaces_the_environment() {
    let done = Run::shell("echo \"[$FRUIT] [$HOME]\"")
        .env([("FRUIT", "orange")])
        .capture_output(true)
        .run()
        .unwrap();
    assert_eq!(done.stdout_lossy(), "[orange] []\n");
    let done = Run::new(["env"])
        .env::<_, &str, &str>([])
        .capture_output(true)
        .run()
        .unwrap();
    // dash may add PWD; nothing inherited remains.
    assert!(
        !done.stdout_lossy().contains("HOME="),
        "{}",
        done.stdout_lossy()
    );
}

/// RunFuncTestCase.test_run_kwargs: extra variables on top of the inherited ones.
#[test]
fn env_var_adds_and_env_remove_removes() {
    let done = Run::shell("echo \"[$FRUIT] [${PATH:+path}] [$GONE]\"")
        .env_var("FRUIT", "banana")
        .env_var("GONE", "x")
        .env_remove("GONE")
        .capture_output(true)
        .run()
        .unwrap();
    assert_eq!(done.stdout_lossy(), "[banana] [path] []\n");
}

// --- shell conveniences --------------------------------------------------------------

/// MiscTests.test_getoutput
#[test]
fn getoutput_and_getstatusoutput() {
    assert_eq!(subprocess::getoutput("echo xyzzy").unwrap(), "xyzzy");
    assert_eq!(
        subprocess::getstatusoutput("echo xyzzy").unwrap(),
        (0, "xyzzy".to_owned())
    );
    let (status, output) =
        subprocess::getstatusoutput("cat /no/such/file/conc 2>&1; exit 3").unwrap();
    assert_eq!(status, 3);
    assert!(output.contains("No such file"), "{output}");
    assert!(!output.ends_with('\n'));
    // Only one trailing newline goes, as in Python.
    assert_eq!(subprocess::getoutput("echo a; echo").unwrap(), "a\n");
}

/// test_shell_sequence / test_shell_string: pipes work through the shell.
#[test]
fn shell_pipeline() {
    let done = Run::shell("printf 'c\\na\\nb\\n' | sort | head -n 2")
        .capture_output(true)
        .check(true)
        .run()
        .unwrap();
    assert_eq!(done.stdout_lossy(), "a\nb\n");
}

// --- spawn errors --------------------------------------------------------------------

/// test_invalid_cmd / test_exception_bad_executable / test_nonexisting_with_pipes
#[test]
fn program_not_found() {
    let err = Popen::builder(["/no/such/program/conc"])
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap_err();
    match &err {
        SubprocessError::Spawn { program, kind, .. } => {
            assert_eq!(program, "/no/such/program/conc");
            assert_eq!(*kind, ErrorKind::NotFound);
        }
        other => panic!("expected Spawn, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("cannot run '/no/such/program/conc': ")
    );
    assert!(matches!(
        subprocess::call(["conc-no-such-program-in-path"]).unwrap_err(),
        SubprocessError::Spawn {
            kind: ErrorKind::NotFound,
            ..
        }
    ));
}

/// test_exception_errpipe_normal-ish: a directory is not executable.
#[test]
fn program_not_executable() {
    let err = Popen::new(["/"]).unwrap_err();
    assert!(matches!(err, SubprocessError::Spawn { .. }), "{err:?}");
}

// --- timeouts ------------------------------------------------------------------------

/// RunFuncTestCase.test_timeout / test_call_timeout: the child is killed and reaped,
/// and the partial output comes with the error.
#[test]
fn run_timeout_kills_and_reaps_the_child() {
    let err = Run::shell("echo $$; exec sleep 30")
        .capture_output(true)
        .timeout(Duration::from_secs(5))
        .run()
        .unwrap_err();
    let SubprocessError::TimeoutExpired {
        cmd,
        timeout,
        stdout,
        stderr,
    } = err
    else {
        panic!("expected TimeoutExpired, got {err:?}");
    };
    assert_eq!(cmd[0], "/bin/sh");
    assert_eq!(timeout, Duration::from_secs(5));
    assert_eq!(stderr.as_deref(), Some(&b""[..]));
    let pid: u32 = String::from_utf8(stdout.unwrap())
        .unwrap()
        .trim()
        .parse()
        .expect("the child printed its pid before the timeout");
    // Killed *and* reaped: not even a zombie is left.
    assert!(
        !pid_exists(pid),
        "child {pid} still exists after run() timed out"
    );
}

/// RunFuncTestCase.test_run_with_shell_timeout_and_capture_output: a grandchild that
/// keeps the pipes open does not make the timeout hang.
#[test]
fn run_timeout_with_grandchild_holding_the_pipe() {
    let start = Instant::now();
    let err = Run::shell("sleep 20 & sleep 20")
        .capture_output(true)
        .timeout(Duration::from_millis(500))
        .run()
        .unwrap_err();
    assert!(matches!(err, SubprocessError::TimeoutExpired { .. }));
    assert!(
        start.elapsed() < Duration::from_secs(19),
        "run waited for the grandchild"
    );
}

/// test_check_output_timeout: the timeout error keeps what was read.
#[test]
fn timeout_error_message_and_partial_output() {
    let err = Run::shell("echo BDFL; exec sleep 30")
        .stdout(Redirect::Pipe)
        .timeout(Duration::from_secs(5))
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Command '['/bin/sh', '-c', 'echo BDFL; exec sleep 30']' timed out after 5 seconds"
    );
    match err {
        SubprocessError::TimeoutExpired { stdout, stderr, .. } => {
            assert_eq!(stdout.as_deref(), Some(&b"BDFL\n"[..]));
            assert_eq!(stderr, None);
        }
        other => panic!("{other:?}"),
    }
}

/// test_wait_timeout: the child keeps running after a wait timeout.
#[test]
fn wait_timeout_leaves_the_child_running() {
    let mut proc = Popen::new(["sleep", "30"]).unwrap();
    let err = proc.wait(Some(Duration::from_millis(100))).unwrap_err();
    assert!(matches!(
        err,
        SubprocessError::TimeoutExpired {
            stdout: None,
            stderr: None,
            ..
        }
    ));
    assert_eq!(proc.returncode(), None);
    assert!(pid_exists(proc.pid()));
    proc.kill().unwrap();
    assert_eq!(proc.wait(Some(LONG)).unwrap(), -libc::SIGKILL);
}

/// test_communicate_timeout: TimeoutExpired, then kill, then communicate again returns
/// everything (Python's documented pattern).
#[test]
fn communicate_timeout_then_continue() {
    let mut proc = piped(&["sh", "-c", "echo banana; echo pear >&2; cat; exec sleep 30"])
        .spawn()
        .unwrap();
    // Keep stdin open through the first call by sending input that cat echoes back.
    let err = proc
        .communicate(Some(b"apple\n"), Some(Duration::from_secs(2)))
        .unwrap_err();
    let SubprocessError::TimeoutExpired { stdout, stderr, .. } = err else {
        panic!("expected TimeoutExpired, got {err:?}");
    };
    // What was read before the timeout comes with the error...
    assert!(stdout.is_some() && stderr.is_some());
    assert_eq!(
        proc.returncode(),
        None,
        "communicate's timeout must not kill"
    );
    // ...and input after starting is refused.
    assert!(matches!(
        proc.communicate(Some(b"more"), None).unwrap_err(),
        SubprocessError::BadArgument(_)
    ));
    proc.kill().unwrap();
    let (out, err) = proc.communicate(None, Some(LONG)).unwrap();
    assert_eq!(out.as_deref(), Some(&b"banana\napple\n"[..]));
    assert_eq!(err.as_deref(), Some(&b"pear\n"[..]));
    assert_eq!(proc.returncode(), Some(-libc::SIGKILL));
}

/// test_communicate_timeout_large_output: output keeps arriving across the timeout.
#[test]
fn communicate_timeout_large_output() {
    let mut proc = Popen::builder([
        "sh",
        "-c",
        "head -c 65536 /dev/zero; sleep 1; head -c 65536 /dev/zero; sleep 1; \
         head -c 65536 /dev/zero; sleep 1; head -c 65536 /dev/zero",
    ])
    .stdout(Redirect::Pipe)
    .spawn()
    .unwrap();
    let err = proc
        .communicate(None, Some(Duration::from_millis(300)))
        .unwrap_err();
    assert!(matches!(err, SubprocessError::TimeoutExpired { .. }));
    let (out, _) = proc.communicate(None, Some(LONG)).unwrap();
    assert_eq!(out.unwrap().len(), 4 * 65536);
    assert_eq!(proc.returncode(), Some(0));
}

// --- communicate ---------------------------------------------------------------------

/// test_communicate_timeout with input: the input offset survives the timeout, so the
/// second call sends the rest and everything comes back.
#[test]
fn communicate_timeout_resumes_the_input() {
    let input: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
    let mut proc = piped(&["sh", "-c", "sleep 1; cat"]).spawn().unwrap();
    let err = proc
        .communicate(Some(&input), Some(Duration::from_millis(200)))
        .unwrap_err();
    assert!(matches!(err, SubprocessError::TimeoutExpired { .. }));
    let (out, err) = proc.communicate(None, Some(LONG)).unwrap();
    assert!(
        out.as_deref() == Some(&input[..]),
        "input lost or reordered"
    );
    assert_eq!(err.as_deref(), Some(&b""[..]));
    assert_eq!(proc.returncode(), Some(0));
}

/// communicate without any pipe is a wait (with the same timeout behaviour).
#[test]
fn communicate_without_pipes_waits() {
    let mut proc = Popen::new(["sleep", "30"]).unwrap();
    match proc.communicate(None, Some(Duration::from_millis(100))) {
        Err(SubprocessError::TimeoutExpired { stdout, stderr, .. }) => {
            assert_eq!((stdout, stderr), (None, None));
        }
        other => panic!("expected TimeoutExpired, got {other:?}"),
    }
    assert_eq!(proc.poll(), None);
    proc.terminate().unwrap();
    assert_eq!(proc.communicate(None, None).unwrap(), (None, None));
    assert_eq!(proc.returncode(), Some(-libc::SIGTERM));
}

/// test_communicate_stdin / test_communicate_stdout / test_communicate_stderr
#[test]
fn communicate_single_streams() {
    let mut proc = Popen::builder(["sh", "-c", "test \"$(cat)\" = pear"])
        .stdin(Redirect::Pipe)
        .spawn()
        .unwrap();
    assert_eq!(proc.communicate(Some(b"pear"), None).unwrap(), (None, None));
    assert_eq!(proc.returncode(), Some(0));

    let mut proc = Popen::builder(["echo", "pineapple"])
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    let (out, err) = proc.communicate(None, None).unwrap();
    assert_eq!((out.as_deref(), err), (Some(&b"pineapple\n"[..]), None));

    let mut proc = Popen::builder(["sh", "-c", "echo pineapple >&2"])
        .stderr(Redirect::Pipe)
        .spawn()
        .unwrap();
    let (out, err) = proc.communicate(None, None).unwrap();
    assert_eq!((out, err.as_deref()), (None, Some(&b"pineapple\n"[..])));
}

/// test_communicate: all three at once.
#[test]
fn communicate_all_three() {
    let mut proc = piped(&["sh", "-c", "echo pineapple >&2; cat"])
        .spawn()
        .unwrap();
    let (out, err) = proc.communicate(Some(b"banana"), None).unwrap();
    assert_eq!(out.as_deref(), Some(&b"banana"[..]));
    assert_eq!(err.as_deref(), Some(&b"pineapple\n"[..]));
    // A finished communication: a later call gives empty output.
    assert_eq!(
        proc.communicate(None, None).unwrap(),
        (Some(Vec::new()), Some(Vec::new()))
    );
}

/// test_communicate_pipe_buf: several MiB both ways through `cat`.
#[test]
fn communicate_large_input_and_output() {
    let input: Vec<u8> = (0..6 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut proc = piped(&["cat"]).spawn().unwrap();
    let (out, err) = proc.communicate(Some(&input), Some(LONG)).unwrap();
    assert!(out.as_deref() == Some(&input[..]), "cat changed the data");
    assert_eq!(err.as_deref(), Some(&b""[..]));
    assert_eq!(proc.returncode(), Some(0));
}

/// The deadlock case (test_communicate_pipe_buf's reason to exist): the child fills
/// its stderr pipe before it reads any of its stdin, and echoes stdin to both outputs.
/// Writing all input first, or reading one stream at a time, would hang forever.
#[test]
fn communicate_does_not_deadlock() {
    let size = 3 << 20;
    let input = vec![b'i'; size];
    let mut proc = piped(&[
        "sh",
        "-c",
        "head -c 3145728 /dev/zero >&2; tee /dev/stderr; head -c 1048576 /dev/zero >&2",
    ])
    .spawn()
    .unwrap();
    let (out, err) = proc.communicate(Some(&input), Some(LONG)).unwrap();
    let (out, err) = (out.unwrap(), err.unwrap());
    assert_eq!(out.len(), size);
    assert!(out.iter().all(|&b| b == b'i'));
    assert_eq!(err.len(), size + size + (1 << 20));
    assert_eq!(proc.returncode(), Some(0));
}

/// RunFuncTestCase: the same through run() with input and capture_output.
#[test]
fn run_large_input_and_output() {
    let input = vec![b'z'; 5 << 20];
    let done = Run::shell("cat; head -c 2097152 /dev/zero >&2")
        .input(input.clone())
        .capture_output(true)
        .timeout(LONG)
        .run()
        .unwrap();
    assert_eq!(done.stdout.unwrap().len(), input.len());
    assert_eq!(done.stderr.unwrap().len(), 2 << 20);
}

/// test_communicate_epipe / test_communicate_BrokenPipeError_stdin_close: a child that
/// exits without reading its input is not an error.
#[test]
fn communicate_ignores_a_child_that_stops_reading() {
    let input = vec![b'x'; 4 << 20];
    let mut proc = piped(&["sh", "-c", "head -c 10 >/dev/null; echo done"])
        .spawn()
        .unwrap();
    let (out, _) = proc.communicate(Some(&input), Some(LONG)).unwrap();
    assert_eq!(out.as_deref(), Some(&b"done\n"[..]));
    assert_eq!(proc.returncode(), Some(0));
}

/// test_communicate with input but no stdin pipe: refused (Python ignores the input).
#[test]
fn communicate_input_without_stdin_pipe() {
    let mut proc = Popen::new(["true"]).unwrap();
    assert!(matches!(
        proc.communicate(Some(b"x"), None).unwrap_err(),
        SubprocessError::BadArgument(_)
    ));
    assert_eq!(proc.wait(Some(LONG)).unwrap(), 0);
}

/// test_writes_before_communicate: manual writes, then communicate.
#[test]
fn writes_before_communicate() {
    let mut proc = piped(&["cat"]).spawn().unwrap();
    proc.stdin().unwrap().write_all(b"banana").unwrap();
    let (out, err) = proc.communicate(Some(b"split"), None).unwrap();
    assert_eq!(out.as_deref(), Some(&b"bananasplit"[..]));
    assert_eq!(err.as_deref(), Some(&b""[..]));
}

/// test_stdout_pipe / test_stderr_pipe: manual streaming through the handles.
#[test]
fn manual_streaming_through_the_handles() {
    let mut proc = piped(&["sh", "-c", "read line; echo \"got $line\"; echo err >&2"])
        .spawn()
        .unwrap();
    writeln!(proc.stdin().unwrap(), "orange").unwrap();
    drop(proc.take_stdin());
    let mut out = String::new();
    proc.stdout().unwrap().read_to_string(&mut out).unwrap();
    let mut err = String::new();
    proc.take_stderr()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!((out.as_str(), err.as_str()), ("got orange\n", "err\n"));
    assert!(proc.take_stdin().is_none());
    assert_eq!(proc.wait(Some(LONG)).unwrap(), 0);
}

/// A pipeline without a shell: one child's stdout is the next one's stdin.
#[test]
fn pipeline_between_two_children() {
    let mut first = Popen::builder(["printf", "b\\na\\nc\\n"])
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    let pipe = File::from(OwnedFd::from(first.take_stdout().unwrap()));
    let mut second = Popen::builder(["sort"])
        .stdin(Redirect::File(pipe))
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    let (out, _) = second.communicate(None, Some(LONG)).unwrap();
    assert_eq!(out.as_deref(), Some(&b"a\nb\nc\n"[..]));
    assert_eq!(first.wait(Some(LONG)).unwrap(), 0);
}

// --- poll, wait, returncode, signals -------------------------------------------------

/// test_poll
#[test]
fn poll_until_done() {
    let mut proc = Popen::new(["sh", "-c", "sleep 0.2; exit 3"]).unwrap();
    assert!(eventually(|| proc.poll().is_some()));
    assert_eq!(proc.poll(), Some(3));
    assert_eq!(proc.returncode(), Some(3));
    // Subsequent invocations should just return the returncode.
    assert_eq!(proc.poll(), Some(3));
}

/// test_wait
#[test]
fn wait_returns_the_code_and_sets_returncode() {
    let mut proc = Popen::new(["sh", "-c", "exit 2"]).unwrap();
    assert_eq!(proc.returncode(), None);
    assert_eq!(proc.wait(None).unwrap(), 2);
    assert_eq!(proc.returncode(), Some(2));
    assert_eq!(proc.wait(Some(Duration::ZERO)).unwrap(), 2);
    assert_eq!(proc.args(), ["sh", "-c", "exit 2"]);
}

/// POSIXProcessTestCase.test_kill / test_terminate / test_send_signal: negative return
/// codes.
#[test]
fn signals_give_negative_return_codes() {
    let mut proc = Popen::new(["sleep", "30"]).unwrap();
    proc.kill().unwrap();
    assert_eq!(proc.wait(Some(LONG)).unwrap(), -libc::SIGKILL);

    let mut proc = Popen::new(["sleep", "30"]).unwrap();
    proc.terminate().unwrap();
    assert_eq!(proc.wait(Some(LONG)).unwrap(), -libc::SIGTERM);

    let mut proc = Popen::new(["sleep", "30"]).unwrap();
    proc.send_signal(libc::SIGUSR1).unwrap();
    assert_eq!(proc.wait(Some(LONG)).unwrap(), -libc::SIGUSR1);

    let done = Run::shell("kill -TERM $$").run().unwrap();
    assert_eq!(done.returncode, -libc::SIGTERM);
}

/// test_send_signal_dead / test_kill_dead / test_terminate_dead: signalling a child
/// that has already been reaped is a no-op.
#[test]
fn signalling_a_dead_child_is_a_no_op() {
    let mut proc = Popen::new(["true"]).unwrap();
    proc.wait(None).unwrap();
    proc.kill().unwrap();
    proc.terminate().unwrap();
    proc.send_signal(libc::SIGINT).unwrap();
    assert_eq!(proc.returncode(), Some(0));
    // Most likely ended but not reaped yet when kill() runs: send_signal polls first,
    // reaps it, and signals nothing.
    let mut proc = Popen::new(["true"]).unwrap();
    let pid = proc.pid();
    std::thread::sleep(Duration::from_millis(200));
    proc.kill().unwrap();
    assert!(eventually(|| proc.poll().is_some()));
    assert!(matches!(proc.returncode(), Some(0) | Some(-9)));
    assert!(!pid_exists(pid));
}

/// An invalid signal number is reported, not ignored.
#[test]
fn invalid_signal_is_an_error() {
    let mut proc = Popen::new(["sleep", "30"]).unwrap();
    assert!(matches!(
        proc.send_signal(100_000).unwrap_err(),
        SubprocessError::Io {
            kind: ErrorKind::InvalidInput,
            ..
        }
    ));
    proc.kill().unwrap();
    proc.wait(Some(LONG)).unwrap();
}

// --- zombies -------------------------------------------------------------------------

/// POSIXProcessTestCase.test_zombie_fast_process_del: a Popen dropped while its child
/// runs leaves no zombie once a later Popen is created.
#[test]
fn dropped_children_are_reaped_by_later_spawns() {
    let proc = Popen::new(["sh", "-c", "sleep 0.3"]).unwrap();
    let pid = proc.pid();
    drop(proc);
    assert!(pid_exists(pid), "the child is not killed by drop");
    // The child exits after 0.3 s and is a zombie until a later spawn reaps it.
    let gone = eventually(|| {
        let mut other = Popen::new(["true"]).unwrap();
        other.wait(None).unwrap();
        !pid_exists(pid)
    });
    assert!(gone, "dropped child {pid} was never reaped");
}

/// POSIXProcessTestCase.test_leak_fast_process_del_killed: the same for a child killed
/// by a signal after its Popen was dropped.
#[test]
fn dropped_killed_children_are_reaped() {
    let proc = Popen::new(["sleep", "30"]).unwrap();
    let pid = proc.pid();
    drop(proc);
    // SAFETY: `pid` is an unreaped child of ours (the reaper holds it), so the pid
    // cannot have been reused.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    let gone = eventually(|| {
        drop(Popen::new(["true"]).unwrap());
        !pid_exists(pid)
    });
    assert!(gone, "killed child {pid} was never reaped");
}

// --- types ---------------------------------------------------------------------------

/// Popen and the other public types can move to (and be shared with) other threads.
#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Popen>();
    send_sync::<PopenBuilder>();
    send_sync::<Run>();
    send_sync::<Redirect>();
    send_sync::<CompletedProcess>();
    send_sync::<SubprocessError>();
}

/// A Popen can be waited for from another thread (it is `Send`).
#[test]
fn popen_moves_to_another_thread() {
    let mut proc = Popen::builder(["echo", "moved"])
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    let waiter = std::thread::spawn(move || proc.communicate(None, Some(LONG)));
    let (out, _) = waiter.join().unwrap().unwrap();
    assert_eq!(out.as_deref(), Some(&b"moved\n"[..]));
}

/// Debug output of a Popen in the middle of a big communicate shows sizes, not the
/// megabytes of buffered data.
#[test]
fn popen_debug_does_not_dump_buffers() {
    let input = vec![b'q'; 1 << 20];
    let mut proc = piped(&["sh", "-c", "cat; exec sleep 30"]).spawn().unwrap();
    let err = proc
        .communicate(Some(&input), Some(Duration::from_millis(500)))
        .unwrap_err();
    assert!(matches!(err, SubprocessError::TimeoutExpired { .. }));
    let debug = format!("{proc:?}");
    assert!(debug.len() < 4096, "Debug is {} bytes long", debug.len());
    assert!(debug.contains("input_len: 1048576"), "{debug}");
    proc.kill().unwrap();
    let (out, _) = proc.communicate(None, Some(LONG)).unwrap();
    assert_eq!(out.unwrap().len(), input.len());
}

/// test_universal_newlines_and_text-ish: invalid UTF-8 is replaced, not an error.
#[test]
fn lossy_text_helpers() {
    let done = Run::new(["printf", "ok\\377"])
        .capture_output(true)
        .run()
        .unwrap();
    assert_eq!(done.stdout.as_deref(), Some(&b"ok\xff"[..]));
    assert_eq!(done.stdout_lossy(), "ok\u{fffd}");
}

/// test_process_group_0: the child leads a new process group.
#[test]
fn process_group_zero_makes_a_new_group() {
    let done = Run::shell("kill -0 -$$ 2>/dev/null")
        .process_group(0)
        .run()
        .unwrap();
    assert_eq!(done.returncode, 0);
    // Without it the shell is in our group, so no group has its pid as id.
    let done = Run::shell("kill -0 -$$ 2>/dev/null").run().unwrap();
    assert_ne!(done.returncode, 0);
}

/// Whether `pid` ignores `signal`, from the `SigIgn` mask of /proc/PID/status.
fn ignores(pid: u32, signal: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap();
    mask & (1 << (signal - 1)) != 0
}

/// A child inherits an ignored SIGINT (as in Python), unless `default_signals` resets
/// it; a test that signals a child must not depend on how the test runner was started.
#[test]
fn default_signals_resets_what_the_parent_ignores() {
    // SAFETY: ignoring SIGINT (then restoring the previous action) in the test process;
    // no test here expects to receive SIGINT itself.
    let previous = unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    let mut inherited = Popen::new(["sleep", "30"]).unwrap();
    let mut reset = PopenBuilder::new(["sleep", "30"])
        .default_signals(&[libc::SIGINT, libc::SIGQUIT])
        .spawn()
        .unwrap();
    // SAFETY: restores the action saved above.
    unsafe { libc::signal(libc::SIGINT, previous) };
    // `sleep` has exec'd by the time /proc shows its name.
    for proc in [&inherited, &reset] {
        let pid = proc.pid();
        assert!(eventually(|| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        }));
    }
    assert!(
        ignores(inherited.pid(), libc::SIGINT),
        "an ignored SIGINT is inherited"
    );
    assert!(
        !ignores(reset.pid(), libc::SIGINT),
        "default_signals reset it"
    );
    assert!(!ignores(reset.pid(), libc::SIGQUIT));
    reset.send_signal(libc::SIGINT).unwrap();
    assert_eq!(reset.wait(None).unwrap(), -libc::SIGINT);
    inherited.kill().unwrap();
    assert_eq!(inherited.wait(None).unwrap(), -libc::SIGKILL);
}

#[test]
fn default_signals_refuses_what_cannot_be_set() {
    for bad in [libc::SIGKILL, libc::SIGSTOP, 0, -1, 1000] {
        let err = PopenBuilder::new(["true"])
            .default_signals(&[bad])
            .spawn()
            .unwrap_err();
        assert!(
            matches!(err, SubprocessError::BadArgument(_)),
            "{bad}: {err:?}"
        );
    }
}

/// Opens /dev/null without close-on-exec, as a C library might: an inheritable leak.
fn leaky_fd() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: a NUL-terminated path and plain flags; the descriptor is owned below.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    assert!(fd > 2);
    // SAFETY: `fd` was just opened and is owned by nobody else.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// Whether the child's probe printed `open`.
fn child_says_open(builder: PopenBuilder) -> bool {
    let mut proc = builder.stdout(Redirect::Pipe).spawn().unwrap();
    let (out, _) = proc.communicate(None, None).unwrap();
    out.as_deref() == Some(&b"open\n"[..])
}

// Python's close_fds (default True) and pass_fds.
#[test]
fn close_fds_closes_leaked_descriptors_and_pass_fds_keeps_some() {
    use std::os::fd::AsRawFd;
    let leaked = leaky_fd();
    let fd = leaked.as_raw_fd();
    let probe = format!("test -e /proc/self/fd/{fd} && echo open || echo closed");
    assert!(
        !child_says_open(PopenBuilder::shell(&probe)),
        "closed by default"
    );
    assert!(
        child_says_open(PopenBuilder::shell(&probe).close_fds(false)),
        "inherited when asked"
    );
    let kept = std::fs::File::open("/dev/null").unwrap(); // close-on-exec, as Rust opens it
    let kept_fd = kept.as_raw_fd();
    let probe_both =
        format!("test -e /proc/self/fd/{kept_fd} && test ! -e /proc/self/fd/{fd} && echo open");
    assert!(
        child_says_open(PopenBuilder::shell(&probe_both).pass_fds(&[kept_fd])),
        "pass_fds keeps exactly the named one"
    );
    for bad in [0, 2, 9999] {
        let err = PopenBuilder::new(["true"])
            .pass_fds(&[bad])
            .spawn()
            .unwrap_err();
        assert!(
            matches!(err, SubprocessError::BadArgument(_)),
            "{bad}: {err:?}"
        );
    }
    // A failed exec is still reported with close_fds on (std's error pipe survives).
    let err = PopenBuilder::new(["/no/such/program"]).spawn().unwrap_err();
    assert!(matches!(err, SubprocessError::Spawn { .. }), "{err:?}");
}

// Python's start_new_session.
#[test]
fn start_new_session_makes_the_child_a_session_leader() {
    let leader = "[ \"$(cut -d' ' -f6 /proc/$$/stat)\" = \"$$\" ] && echo open || echo not";
    assert!(child_says_open(
        PopenBuilder::shell(leader).start_new_session(true)
    ));
    assert!(!child_says_open(PopenBuilder::shell(leader)));
}

/// Python's test_restore_signals: with SIGXFSZ ignored here (as a parent may hand it
/// down), `restore_signals` (the default) starts the child with it at its default
/// action; turned off, the child inherits "ignored". Read from the child's own
/// `/proc/self/status` (`SigIgn`, a hex mask: SIGXFSZ is bit 24, value 0x0100_0000).
#[test]
fn restore_signals_resets_an_ignored_sigxfsz_in_the_child() {
    // SAFETY: ignoring SIGXFSZ in this test process only changes what a file-size limit
    // does to it, which no test here reaches.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let ignored_in_child = |restore: bool| {
        let mut proc = piped(&["sh", "-c", "grep SigIgn /proc/self/status"])
            .restore_signals(restore)
            .spawn()
            .unwrap();
        let (out, _) = proc.communicate(None, None).unwrap();
        let text = String::from_utf8(out.unwrap()).unwrap();
        let mask = u64::from_str_radix(text.split_whitespace().nth(1).unwrap(), 16).unwrap();
        mask & (1 << (libc::SIGXFSZ - 1)) != 0
    };
    assert!(
        !ignored_in_child(true),
        "restore_signals left SIGXFSZ ignored"
    );
    assert!(
        ignored_in_child(false),
        "without restore_signals the child inherits it"
    );
}
