//! External programs with `subprocess`.
//!
//! Ports seed 003's last item, "use `subprocess` to start external programs and
//! interact with their output" (使用subprocess启动外部程序的进程，并进行输出交互): the
//! seed only names it, so this example runs the everyday Python patterns:
//! `subprocess.run(["echo", ...], capture_output=True)`, a shell pipeline with
//! `shell=True`, feeding `input=` to a filter, `Popen` with `communicate()`,
//! `run(..., timeout=2)` killing a `sleep 10`, and `check=True` turning a failing
//! command into `CalledProcessError`.
//!
//! What it shows: `Run::new(args)...run()` is `subprocess.run`, `Run::shell(cmd)` is
//! `shell=True`, `Popen::builder(args)...spawn()` is `Popen(...)`, and every Python
//! exception is a `SubprocessError` variant with the same message.
//!
//! How Rust differs:
//! - Keyword arguments become builder calls; output is bytes (`Vec<u8>`), with
//!   `stdout_lossy()` for `text=True`.
//! - Errors are values: `check(true)` makes `run()` return
//!   `Err(CalledProcessError { .. })` instead of raising, and a `match` replaces
//!   `try`/`except`.
//! - A timed-out `run` kills *and reaps* the child before returning, as Python's does;
//!   the example checks that the `sleep` is really gone.

use std::time::{Duration, Instant};

use conc_process::subprocess::{self, Popen, Redirect, Run, SubprocessError};

fn main() -> Result<(), SubprocessError> {
    examples::heading("run([\"echo\", ...], capture_output=True)");
    let done = Run::new(["echo", "hello from a child process"])
        .capture_output(true)
        .run()?;
    println!(
        "args={:?} returncode={} stdout={:?}",
        done.args,
        done.returncode,
        done.stdout_lossy()
    );
    assert_eq!(done.stdout_lossy(), "hello from a child process\n");

    examples::heading("shell=True: a pipeline");
    let done = Run::shell("printf 'pear\\napple\\nfig\\n' | sort | tr a-z A-Z")
        .capture_output(true)
        .check(true)
        .run()?;
    print!("{}", done.stdout_lossy());
    assert_eq!(done.stdout_lossy(), "APPLE\nFIG\nPEAR\n");

    examples::heading("input= to a filter, and getoutput()");
    let done = Run::new(["wc", "-w"])
        .input("the quick brown fox")
        .capture_output(true)
        .run()?;
    println!("wc -w counted {} words", done.stdout_lossy().trim());
    assert_eq!(done.stdout_lossy().trim(), "4");
    let who = subprocess::getoutput("echo \"$((6 * 7))\"")?;
    println!("getoutput('echo $((6 * 7))') = {who:?}");
    assert_eq!(who, "42");

    examples::heading("Popen + communicate(): stdout and stderr at the same time");
    let mut proc = Popen::builder([
        "sh",
        "-c",
        "while read line; do echo \"out: $line\"; echo \"err: $line\" >&2; done",
    ])
    .stdin(Redirect::Pipe)
    .stdout(Redirect::Pipe)
    .stderr(Redirect::Pipe)
    .spawn()?;
    println!("started pid {}", proc.pid());
    let (out, err) = proc.communicate(Some(b"one\ntwo\n"), Some(Duration::from_secs(30)))?;
    let (out, err) = (out.unwrap_or_default(), err.unwrap_or_default());
    print!("{}", String::from_utf8_lossy(&out));
    print!("{}", String::from_utf8_lossy(&err));
    assert_eq!(out, b"out: one\nout: two\n");
    assert_eq!(err, b"err: one\nerr: two\n");
    assert_eq!(proc.returncode(), Some(0));

    examples::heading("run([\"sleep\", \"10\"], timeout=2): killed and reaped");
    let start = Instant::now();
    match Run::shell("echo \"sleeping as pid $$\"; exec sleep 10")
        .stdout(Redirect::Pipe)
        .timeout(Duration::from_secs(2))
        .run()
    {
        Err(SubprocessError::TimeoutExpired {
            timeout, stdout, ..
        }) => {
            let said = String::from_utf8_lossy(stdout.as_deref().unwrap_or_default()).into_owned();
            println!(
                "TimeoutExpired after {timeout:?} (returned at {}); output so far: {said:?}",
                examples::stamp(start)
            );
            let pid = said
                .trim()
                .rsplit(' ')
                .next()
                .unwrap_or_default()
                .to_owned();
            assert!(
                !pid.is_empty(),
                "the child printed its pid before the timeout"
            );
            // `kill -0 PID` succeeds only while the process exists (even as a zombie).
            let exists = Run::shell(format!("kill -0 {pid} 2>/dev/null"))
                .run()?
                .returncode
                == 0;
            println!("process {pid} still exists: {exists}");
            assert!(!exists, "the timed-out child must be killed and reaped");
        }
        other => panic!("sleep 10 should have timed out, got {other:?}"),
    }

    examples::heading("check=True: CalledProcessError");
    match Run::shell("echo 'about to fail' >&2; exit 3")
        .capture_output(true)
        .check(true)
        .run()
    {
        Err(error @ SubprocessError::CalledProcessError { returncode, .. }) => {
            println!("caught: {error}");
            assert_eq!(returncode, 3);
            if let SubprocessError::CalledProcessError {
                stderr: Some(stderr),
                ..
            } = &error
            {
                println!("its stderr: {:?}", String::from_utf8_lossy(stderr));
            }
        }
        other => panic!("exit 3 should fail the check, got {other:?}"),
    }
    let error = subprocess::check_call(["false"]).unwrap_err();
    println!("check_call(['false']): {error}");
    assert_eq!(
        error.to_string(),
        "Command '['false']' returned non-zero exit status 1."
    );
    Ok(())
}
