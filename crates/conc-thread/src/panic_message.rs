//! Turning a panic payload into the message users see in errors.

use std::any::Any;

/// The message of a panic payload: the `&str` or `String` given to `panic!`, or
/// `"<non-string panic payload>"` for other payload types (`std::panic::panic_any`).
///
/// This is how every error of this crate (and of the other conc crates) turns a caught
/// panic into the message it carries.
///
/// # Examples
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
/// assert_eq!(conc_thread::panic_message(&*payload), "boom 1");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn extracts_str_string_and_other_payloads() {
        let s = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(&*s), "static");
        let n = 7;
        let s = std::panic::catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(panic_message(&*s), "formatted 7");
        let s = std::panic::catch_unwind(|| std::panic::panic_any(42_u8)).unwrap_err();
        assert_eq!(panic_message(&*s), "<non-string panic payload>");
    }
}
