//! Secrets: the user token (the person's key, a 0600 file in the data directory) and per-run
//! tokens (scoped to one run, handed out on submit).
//!
//! Run tokens are `run_<id>_<mac>` where `<mac>` is an HMAC-SHA256 of the id under a key that
//! lives only in the host's memory. The host can check them without a lookup table, and they
//! die with the host, exactly like the runs they belong to (a restart interrupts every run).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::RunId;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of MAC kept in a run token (128 bits).
const MAC_BYTES: usize = 16;

/// Issues and checks run tokens.
pub struct RunTokens {
    key: [u8; 32],
}

impl std::fmt::Debug for RunTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunTokens { key: <secret> }")
    }
}

impl RunTokens {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        fill_random(&mut key);
        RunTokens { key }
    }

    /// The token for run `id`.
    pub fn issue(&self, id: RunId) -> String {
        let mac = self.mac(id).finalize().into_bytes();
        format!("run_{}_{}", id.0, hex(&mac[..MAC_BYTES]))
    }

    /// The run a token belongs to, if it is genuine.
    pub fn verify(&self, token: &str) -> Option<RunId> {
        let rest = token.strip_prefix("run_")?;
        let (id, mac) = rest.split_once('_')?;
        let id = RunId(id.parse().ok()?);
        let mac = unhex(mac)?;
        if mac.len() != MAC_BYTES {
            return None;
        }
        self.mac(id).verify_truncated_left(&mac).ok().map(|()| id)
    }

    fn mac(&self, id: RunId) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(&id.0.to_be_bytes());
        mac
    }
}

/// A new random secret, as 64 hex characters.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    hex(&bytes)
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn fill_random(buf: &mut [u8]) {
    // Without an OS random source there is no safe token to hand out: stopping is right.
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_tokens_are_scoped_to_their_run_and_key() {
        let tokens = RunTokens::generate();
        let t7 = tokens.issue(RunId(7));
        assert_eq!(tokens.verify(&t7), Some(RunId(7)));
        // The same MAC under another id is refused.
        let forged = t7.replacen("run_7_", "run_8_", 1);
        assert_eq!(tokens.verify(&forged), None);
        // Another host's key does not verify it.
        assert_eq!(RunTokens::generate().verify(&t7), None);
        for junk in ["", "run_", "run_7", "run_7_zz", "run_x_00", "user"] {
            assert_eq!(tokens.verify(junk), None, "{junk}");
        }
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }
}
