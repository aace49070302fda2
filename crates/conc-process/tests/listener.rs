//! `connection::Listener` and `connection::client`: CPython's `_TestListenerClient` and
//! `_TestAuthentication` where they apply, hostile peers, and interoperation with the
//! system `python3` in both directions (its own handshake: HMAC-MD5 on CPython 3.11
//! and earlier; the `{sha256}` form of 3.12+ replayed by a hand-written Python peer).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use conc_process::ProcessError;
use conc_process::connection::{Address, Listener, SocketConnection, client};

fn local() -> Address {
    "127.0.0.1:0".parse().unwrap()
}

fn echo_once(conn: &SocketConnection) {
    let message = conn.recv_bytes().unwrap();
    conn.send_bytes(&message).unwrap();
}

/// `_TestListenerClient.test_listener_client`, over both families.
#[test]
fn conc_talks_to_conc_over_tcp_and_unix() {
    let dir = std::env::temp_dir().join(format!("conc-listener-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    for address in [local(), Address::Unix(path.clone())] {
        for key in [None, Some(&b"secret"[..])] {
            let listener = Listener::bind(address.clone(), key).unwrap();
            let at = listener.address().clone();
            let peer = thread::spawn(move || {
                let conn = client(&at, key).unwrap();
                conn.send_bytes(b"ping").unwrap();
                let echoed = conn.recv_bytes().unwrap();
                conn.send(&(7u32, "typed".to_string())).unwrap();
                echoed
            });
            let conn = listener.accept().unwrap();
            echo_once(&conn);
            assert_eq!(conn.recv::<(u32, String)>().unwrap(), (7, "typed".into()));
            assert_eq!(peer.join().unwrap(), b"ping");
            assert_eq!(conn.recv_bytes(), Err(ProcessError::Eof));
        }
        if let Address::Unix(p) = &address {
            assert!(!p.exists(), "the socket file is removed with the listener");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `_TestAuthentication`: a wrong key is refused on both sides, and the listener goes
/// on accepting.
#[test]
fn a_wrong_key_is_refused_and_the_listener_carries_on() {
    let listener = Listener::bind(local(), Some(b"right")).unwrap();
    let at = listener.address().clone();
    let wrong = thread::spawn(move || client(&at, Some(b"wrong")));
    match listener.accept() {
        Err(ProcessError::AuthenticationError(why)) => assert!(why.contains("wrong"), "{why}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        wrong.join().unwrap(),
        Err(ProcessError::AuthenticationError(_))
    ));
    // A client without a key gets a challenge it does not expect.
    let at = listener.address().clone();
    let keyless = thread::spawn(move || {
        let conn = client(&at, None).unwrap();
        conn.send_bytes(b"not an answer").unwrap();
        conn.recv_bytes()
    });
    assert!(listener.accept().is_err());
    let _ = keyless.join().unwrap();
    let at = listener.address().clone();
    let right = thread::spawn(move || client(&at, Some(b"right")).map(|c| c.recv_bytes()));
    listener.accept().unwrap().send_bytes(b"welcome").unwrap();
    assert_eq!(right.join().unwrap().unwrap().unwrap(), b"welcome");
}

/// Bytes before authentication are bounded: a huge length prefix is refused without
/// allocating it, and garbage is an error, not a hang.
#[test]
fn hostile_bytes_before_authentication_are_bounded() {
    let listener = Listener::bind(local(), Some(b"key")).unwrap();
    let Address::Tcp(at) = listener.address().clone() else {
        unreachable!()
    };
    for hostile in [
        vec![0x7f, 0xff, 0xff, 0xff], // 2 GiB announced
        vec![0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0], // -1, then 2^64 - 2^56
        vec![0x80, 0, 0, 1],          // a negative length
        vec![0, 0, 0, 30, b'x'],      // cut short
    ] {
        let attacker = thread::spawn(move || {
            let mut s = TcpStream::connect(at).unwrap();
            let mut challenge = [0u8; 64];
            let _ = s.read(&mut challenge);
            s.write_all(&hostile).unwrap();
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
        });
        match listener.accept() {
            Err(ProcessError::BadMessage(_) | ProcessError::AuthenticationError(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
        attacker.join().unwrap();
    }
}

#[test]
fn messages_over_a_limit_and_of_every_size() {
    let listener = Listener::bind(local(), None).unwrap();
    let at = listener.address().clone();
    let peer = thread::spawn(move || {
        let conn = client(&at, None).unwrap();
        for size in [0usize, 1, 16_384, 16_385, 3 << 20] {
            let message: Vec<u8> = (0..size).map(|i| i as u8).collect();
            conn.send_bytes(&message).unwrap();
            assert_eq!(conn.recv_bytes().unwrap(), message);
        }
        conn.send_bytes(&[0; 100]).unwrap();
        conn.recv_bytes()
    });
    let conn = listener.accept().unwrap();
    for _ in 0..5 {
        echo_once(&conn);
    }
    assert!(conn.poll(Some(Duration::from_secs(30))).unwrap());
    assert!(matches!(
        conn.recv_bytes_max(10),
        Err(ProcessError::BadMessage(_))
    ));
    assert!(
        peer.join().unwrap().is_err(),
        "the connection is closed after a bad frame"
    );
}

#[test]
fn addresses_parse_and_errors_are_clear() {
    assert!(matches!(
        "localhost:80".parse::<Address>(),
        Ok(Address::Tcp(_))
    ));
    assert!(matches!(
        "no port here".parse::<Address>(),
        Err(ProcessError::InvalidArgument(_))
    ));
    let listener = Listener::bind(local(), None).unwrap();
    assert!(matches!(
        Listener::bind(listener.address().clone(), None),
        Err(ProcessError::Os { .. })
    ));
    drop(listener);
    let nowhere = Address::Unix(std::env::temp_dir().join("conc-no-such-socket"));
    assert!(matches!(
        client(&nowhere, None),
        Err(ProcessError::Os { .. })
    ));
}

// --- Python interoperation -----------------------------------------------------------

fn python() -> Option<&'static str> {
    let found = Command::new("python3")
        .arg("-c")
        .arg("import multiprocessing.connection")
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("python3 with multiprocessing is not installed: skipping");
    }
    found.then_some("python3")
}

fn run_python(script: &str, arg: &str) -> std::process::Child {
    Command::new(python().unwrap())
        .arg("-c")
        .arg(script)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child) -> String {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const PY_CLIENT: &str = r#"
import sys
from multiprocessing.connection import Client
host, port = sys.argv[1].rsplit(":", 1)
c = Client((host, int(port)), authkey=b"shared key")
c.send_bytes(b"hello from python")
print(c.recv_bytes().decode())
c.send_bytes(b"x" * 100000)
c.close()
"#;

#[test]
fn a_python_client_authenticates_to_a_conc_listener() {
    if python().is_none() {
        return;
    }
    let listener = Listener::bind(local(), Some(b"shared key")).unwrap();
    let child = run_python(PY_CLIENT, &listener.address().to_string());
    let conn = listener.accept().unwrap();
    assert_eq!(conn.recv_bytes().unwrap(), b"hello from python");
    conn.send_bytes(b"hello from rust").unwrap();
    assert_eq!(conn.recv_bytes().unwrap(), vec![b'x'; 100_000]);
    assert_eq!(finish(child).trim(), "hello from rust");
}

const PY_LISTENER: &str = r#"
import sys
from multiprocessing.connection import Listener
key = sys.argv[1].encode()
with Listener(("127.0.0.1", 0), authkey=b"shared key") as l:
    print(l.address[1], flush=True)
    for _ in range(2):
        try:
            with l.accept() as c:
                c.send_bytes(c.recv_bytes().upper())
                print("served", flush=True)
        except Exception as e:
            print(type(e).__name__, flush=True)
"#;

#[test]
fn a_conc_client_authenticates_to_a_python_listener() {
    if python().is_none() {
        return;
    }
    let mut child = run_python(PY_LISTENER, "unused");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let address: Address = format!("127.0.0.1:{}", line.trim()).parse().unwrap();
    // First a wrong key: refused on both sides.
    assert!(matches!(
        client(&address, Some(b"wrong key")),
        Err(ProcessError::AuthenticationError(_))
    ));
    let conn = client(&address, Some(b"shared key")).unwrap();
    conn.send_bytes(b"shout").unwrap();
    assert_eq!(conn.recv_bytes().unwrap(), b"SHOUT");
    drop(conn);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        rest.split_whitespace().collect::<Vec<_>>(),
        ["AuthenticationError", "served"]
    );
}

/// CPython 3.12+'s `{sha256}` handshake, written out in Python with `hmac` and
/// `struct` (so that it runs on any Python 3): as a client, it answers our challenge
/// with `{sha256}` + HMAC-SHA256 and challenges us the same way.
const PY_SHA256_CLIENT: &str = r##"
import hmac, os, socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
def send(b): s.sendall(struct.pack("!i", len(b)) + b)
def recv():
    n = struct.unpack("!i", s.recv(4, socket.MSG_WAITALL))[0]
    return s.recv(n, socket.MSG_WAITALL) if n else b""
key = b"shared key"
challenge = recv()
assert challenge.startswith(b"#CHALLENGE#{sha256}"), challenge
message = challenge[len(b"#CHALLENGE#"):]
send(b"{sha256}" + hmac.new(key, message, "sha256").digest())
assert recv() == b"#WELCOME#"
ours = b"{sha256}" + os.urandom(40)
send(b"#CHALLENGE#" + ours)
answer = recv()
assert answer == b"{sha256}" + hmac.new(key, ours, "sha256").digest(), answer
send(b"#WELCOME#")
send(b"sha256 ok")
print(recv().decode())
"##;

#[test]
fn the_sha256_handshake_of_python_3_12_is_spoken() {
    if python().is_none() {
        return;
    }
    let listener = Listener::bind(local(), Some(b"shared key")).unwrap();
    let child = run_python(PY_SHA256_CLIENT, &listener.address().to_string());
    let conn = listener.accept().unwrap();
    assert_eq!(conn.recv_bytes().unwrap(), b"sha256 ok");
    conn.send_bytes(b"both ways").unwrap();
    assert_eq!(finish(child).trim(), "both ways");
}
