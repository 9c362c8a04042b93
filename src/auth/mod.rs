//! Authentication services: JWT signing and checking, password hashing,
//! TOTP, the 42 OAuth provider client, and the cache of live sessions.
//! The rules they apply (what is valid, when to lock) live in
//! [`crate::domain::auth`]; the HTTP handlers in [`crate::http::auth`].

pub mod jwt;
pub mod oauth42;
pub mod password;
pub mod session_cache;
pub mod totp;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A random URL-safe token carrying `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256, for storing high-entropy one-time secrets (challenges, OAuth
/// states, recovery codes): they cannot be guessed, so a slow hash buys nothing.
pub fn sha256(input: &str) -> Vec<u8> {
    Sha256::digest(input.as_bytes()).to_vec()
}
