//! A panic nobody looked at is reported through the `log` facade (gevent prints the
//! traceback of a greenlet nobody joined); one that was looked at is not reported
//! twice. A logger is process-wide, so this file holds one test.

use std::sync::Mutex;
use std::time::Duration;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        LINES
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }

    fn flush(&self) {}
}

static LOGGER: Capture = Capture;

fn reports() -> Vec<String> {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("nobody looked at"))
        .cloned()
        .collect()
}

#[test]
fn unlooked_at_panics_are_logged_once() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let looked_at = conc_coro::spawn(|| -> u8 { panic!("seen by get") });
    assert!(looked_at.get(Some(Duration::from_secs(20))).is_err());
    drop(looked_at);
    assert!(reports().is_empty(), "{:?}", reports());

    // Dropped before it even ran: it still runs, panics, and is reported.
    drop(conc_coro::spawn(|| -> u8 { panic!("nobody waits for me") }));
    conc_coro::sleep(Duration::from_millis(5)).unwrap();
    let reports = reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].starts_with("ERROR") && reports[0].contains("nobody waits for me"));
}
