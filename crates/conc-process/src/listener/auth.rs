//! `multiprocessing.connection`'s authkey handshake: a challenge of random bytes, the
//! HMAC of it under the shared key as the answer, then `#WELCOME#` or `#FAILURE#`.
//!
//! Two forms exist, and both sides here speak both, as CPython 3.12+ does:
//! - CPython 3.12+: the challenge is `{sha256}` and 40 random bytes; the answer is
//!   `{sha256}` and the HMAC-SHA256 of the whole challenge (prefix included).
//! - CPython 3.11 and earlier: the challenge is 20 random bytes; the answer is the bare
//!   16-byte HMAC-MD5 of it. An old peer answers a `{sha256}` challenge this way too.
//!
//! Every message of the handshake is bounded to 256 bytes, as in CPython, so a peer
//! that has not authenticated cannot make us allocate.

use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::Sha256;

use super::frame::PyStream;
use crate::{ProcessError, sys};

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
/// Random bytes in a challenge we send.
const MESSAGE_LENGTH: usize = 40;
/// A legacy (MD5-only) challenge's length, and an MD5 digest's.
const MD5_ONLY_MESSAGE_LENGTH: usize = 20;
const MD5_DIGEST_LENGTH: usize = 16;
/// The most a handshake message may hold.
const MAX_HANDSHAKE_MESSAGE: usize = 256;

fn failed(why: impl Into<String>) -> ProcessError {
    ProcessError::AuthenticationError(why.into())
}

/// The digests a message may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Digest {
    Md5,
    Sha256,
}

impl Digest {
    fn mac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        match self {
            Digest::Md5 => {
                let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key)
                    .expect("HMAC accepts keys of any length");
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            Digest::Sha256 => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .expect("HMAC accepts keys of any length");
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// Checks `mac` in constant time.
    fn verify(self, key: &[u8], message: &[u8], mac: &[u8]) -> bool {
        match self {
            Digest::Md5 => <Hmac<Md5> as Mac>::new_from_slice(key)
                .map(|m| m.chain_update(message).verify_slice(mac).is_ok())
                .unwrap_or(false),
            Digest::Sha256 => <Hmac<Sha256> as Mac>::new_from_slice(key)
                .map(|m| m.chain_update(message).verify_slice(mac).is_ok())
                .unwrap_or(false),
        }
    }
}

/// Splits a challenge or an answer into the digest it names (`None`: the legacy form)
/// and its payload, as CPython's `_get_digest_name_and_payload`.
fn digest_and_payload(message: &[u8]) -> Result<(Option<Digest>, &[u8]), ProcessError> {
    if message.len() == MD5_ONLY_MESSAGE_LENGTH || message.len() == MD5_DIGEST_LENGTH {
        return Ok((None, message));
    }
    if message.first() == Some(&b'{')
        && let Some(end) = message.iter().take(20).skip(1).position(|&b| b == b'}')
    {
        let end = end + 1;
        let digest = match &message[1..end] {
            b"sha256" => Some(Digest::Sha256),
            b"md5" => Some(Digest::Md5),
            _ => None,
        };
        if let Some(digest) = digest {
            return Ok((Some(digest), &message[end + 1..]));
        }
    }
    Err(failed(format!(
        "unsupported message length ({} bytes) or digest",
        message.len()
    )))
}

/// The answer to `message` (a challenge without its `#CHALLENGE#`).
fn answer(key: &[u8], message: &[u8]) -> Result<Vec<u8>, ProcessError> {
    match digest_and_payload(message)?.0 {
        None => Ok(Digest::Md5.mac(key, message)),
        Some(digest) => {
            let name: &[u8] = match digest {
                Digest::Md5 => b"{md5}",
                Digest::Sha256 => b"{sha256}",
            };
            let mut response = name.to_vec();
            response.extend(digest.mac(key, message));
            Ok(response)
        }
    }
}

/// Sends a challenge and checks the answer (CPython's `deliver_challenge`).
///
/// # Errors
///
/// [`ProcessError::AuthenticationError`] when the answer is wrong (the peer is told
/// `#FAILURE#`); the stream's errors.
pub(crate) fn deliver_challenge(stream: &PyStream, key: &[u8]) -> Result<(), ProcessError> {
    let mut message = b"{sha256}".to_vec();
    let mut random = [0u8; MESSAGE_LENGTH];
    sys::fill_random(&mut random)
        .map_err(|e| ProcessError::os("cannot draw a random challenge", e))?;
    message.extend_from_slice(&random);
    let mut challenge = CHALLENGE.to_vec();
    challenge.extend_from_slice(&message);
    stream.send_bytes(&challenge)?;
    let response = stream.recv_bytes_max(MAX_HANDSHAKE_MESSAGE)?;
    let (digest, mac) = digest_and_payload(&response)?;
    let digest = digest.unwrap_or(Digest::Md5);
    if !digest.verify(key, &message, mac) {
        let _ = stream.send_bytes(FAILURE);
        return Err(failed("digest received was wrong"));
    }
    stream.send_bytes(WELCOME)
}

/// Answers the peer's challenge (CPython's `answer_challenge`).
///
/// # Errors
///
/// [`ProcessError::AuthenticationError`] when the challenge is malformed or our answer
/// is refused; the stream's errors.
pub(crate) fn answer_challenge(stream: &PyStream, key: &[u8]) -> Result<(), ProcessError> {
    let message = stream.recv_bytes_max(MAX_HANDSHAKE_MESSAGE)?;
    let Some(message) = message.strip_prefix(CHALLENGE) else {
        return Err(failed(
            "protocol error: the first message was not a challenge",
        ));
    };
    if message.len() < MD5_ONLY_MESSAGE_LENGTH {
        return Err(failed(format!(
            "challenge too short: {} bytes",
            message.len()
        )));
    }
    stream.send_bytes(&answer(key, message)?)?;
    let verdict = stream.recv_bytes_max(MAX_HANDSHAKE_MESSAGE)?;
    if verdict != WELCOME {
        return Err(failed("digest sent was rejected"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_are_recognised() {
        assert_eq!(
            digest_and_payload(&[7; 20]).unwrap(),
            (None, &[7u8; 20][..])
        );
        assert_eq!(
            digest_and_payload(&[7; 16]).unwrap(),
            (None, &[7u8; 16][..])
        );
        let (digest, payload) = digest_and_payload(b"{sha256}0123456789012345678901234").unwrap();
        assert_eq!(
            (digest, payload),
            (Some(Digest::Sha256), &b"0123456789012345678901234"[..])
        );
        assert!(digest_and_payload(b"{sha3}0123456789012345678901").is_err());
        assert!(digest_and_payload(b"no brace at all, and long enough").is_err());
    }

    #[test]
    fn answers_verify_and_wrong_keys_do_not() {
        let challenge = b"{sha256}0123456789012345678901234567890123456789";
        let response = answer(b"key", challenge).unwrap();
        assert!(response.starts_with(b"{sha256}"));
        let (digest, mac) = digest_and_payload(&response).unwrap();
        assert!(digest.unwrap().verify(b"key", challenge, mac));
        assert!(!digest.unwrap().verify(b"other", challenge, mac));
        // The legacy form: a bare HMAC-MD5.
        let legacy = answer(b"key", &[1; 20]).unwrap();
        assert_eq!(legacy.len(), 16);
        assert!(Digest::Md5.verify(b"key", &[1; 20], &legacy));
    }

    #[test]
    fn a_known_vector_matches_python() {
        // hmac.new(b'key', b'The quick brown fox jumps over the lazy dog', 'sha256')
        let mac = Digest::Sha256.mac(b"key", b"The quick brown fox jumps over the lazy dog");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        let mac = Digest::Md5.mac(b"key", b"The quick brown fox jumps over the lazy dog");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "80070713463e7749b90c2dc24911e275");
    }
}
