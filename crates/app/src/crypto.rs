//! Secrets: random tokens stored only as hashes, Argon2id passwords hashed off the executor, and
//! TOTP (RFC 6238) second factors.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// A 256-bit random token, hex-encoded (64 characters, URL-safe).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is not something a clinic can recover from at runtime.
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no OS randomness: {e}"));
    hex::encode(bytes)
}

/// How tokens are stored: SHA-256, hex. A leaked database yields no live tokens.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison of two strings (for CSRF tokens).
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Argon2id cost. Production uses OWASP's recommended minimum; tests may lower it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl Default for PasswordCost {
    fn default() -> Self {
        PasswordCost {
            memory_kib: 19_456,
            iterations: 2,
        }
    }
}

/// Hashes and verifies passwords on blocking threads, a few at a time, so sign-ins cannot
/// starve the async executor or exhaust memory.
#[derive(Clone)]
pub struct Passwords {
    cost: PasswordCost,
    permits: Arc<Semaphore>,
}

/// A fixed hash to verify against when the account does not exist, so that an unknown e-mail
/// takes as long as a wrong password.
const DUMMY_PASSWORD: &str = "kapstone-dummy-password-for-timing";

impl Passwords {
    pub fn new(cost: PasswordCost) -> Self {
        Passwords {
            cost,
            permits: Arc::new(Semaphore::new(4)),
        }
    }

    fn argon(cost: PasswordCost) -> Argon2<'static> {
        let params = Params::new(cost.memory_kib, cost.iterations, 1, None).unwrap_or_default();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    pub async fn hash(&self, password: String) -> Result<String, String> {
        let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
        let cost = self.cost;
        tokio::task::spawn_blocking(move || {
            Self::argon(cost)
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// `None` hash: verify against a dummy so the timing does not reveal whether the account exists.
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let cost = self.cost;
        tokio::task::spawn_blocking(move || {
            let real = hash.is_some();
            let stored = match hash {
                Some(h) => h,
                None => match Self::argon(cost).hash_password(DUMMY_PASSWORD.as_bytes()) {
                    Ok(h) => h.to_string(),
                    Err(_) => return false,
                },
            };
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return false;
            };
            let ok = Self::argon(cost)
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            ok && real
        })
        .await
        .unwrap_or(false)
    }
}

/// Password rules: long enough to resist guessing, short enough to bound hashing cost.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < 12 {
        return Err(format!(
            "password: is {n} characters; at least 12 are required"
        ));
    }
    if n > 256 {
        return Err("password: at most 256 characters are allowed".into());
    }
    Ok(())
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, as authenticator apps expect.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = BASE32.iter().position(|&x| x == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(v).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// A new TOTP secret: 160 random bits, base32.
pub fn new_totp_secret() -> String {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no OS randomness: {e}"));
    base32_encode(&bytes)
}

/// RFC 6238 TOTP: HMAC-SHA1, 30-second steps, 6 digits.
pub fn totp_at(secret_b32: &str, step: i64) -> Option<String> {
    let key = base32_decode(secret_b32)?;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).ok()?;
    mac.update(&u64::try_from(step).ok()?.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest.last()? & 0x0f);
    let slice = digest.get(offset..offset + 4)?;
    let code = (u32::from(slice[0] & 0x7f) << 24)
        | (u32::from(slice[1]) << 16)
        | (u32::from(slice[2]) << 8)
        | u32::from(slice[3]);
    Some(format!("{:06}", code % 1_000_000))
}

pub fn totp_step(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(30)
}

/// Checks a code against the current step and one step either side (clock drift), refusing any
/// step at or before `last_used` so a code cannot be replayed. Returns the step that matched.
pub fn verify_totp(
    secret_b32: &str,
    code: &str,
    unix_seconds: i64,
    last_used: Option<i64>,
) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let now = totp_step(unix_seconds);
    (now - 1..=now + 1)
        .filter(|s| last_used.is_none_or(|l| *s > l))
        .find(|&s| totp_at(secret_b32, s).is_some_and(|expected| same(&expected, &code)))
}

/// The `otpauth://` URI an authenticator app reads (shown as text; no QR dependency).
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_matches_the_rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B: key "12345678901234567890", 8-digit codes; we use the last 6.
        let secret = base32_encode(b"12345678901234567890");
        for (t, expected8) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            let code = totp_at(&secret, totp_step(t)).expect("code");
            assert_eq!(code, expected8[2..], "t={t}");
        }
    }

    #[test]
    fn totp_accepts_adjacent_steps_once_and_rejects_replays() {
        let secret = new_totp_secret();
        let t = 1_800_000_000;
        let code = totp_at(&secret, totp_step(t)).expect("code");
        let step = verify_totp(&secret, &code, t + 30, None).expect("previous step still valid");
        assert_eq!(
            verify_totp(&secret, &code, t, Some(step)),
            None,
            "replay refused"
        );
        assert_eq!(verify_totp(&secret, &code, t + 90, None), None, "too old");
        assert_eq!(verify_totp(&secret, "12345", t, None), None);
    }

    #[test]
    fn base32_round_trips() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            assert_eq!(base32_decode(&base32_encode(data)).as_deref(), Some(data));
        }
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn tokens_are_256_bit_and_stored_hashed() {
        let t = random_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, random_token());
        assert_eq!(token_hash(&t).len(), 64);
        assert_ne!(token_hash(&t), t);
    }

    #[tokio::test]
    async fn passwords_verify_and_unknown_accounts_fail() {
        let p = Passwords::new(PasswordCost {
            memory_kib: 256,
            iterations: 1,
        });
        let h = p.hash("correct horse battery".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(
            p.verify("correct horse battery".into(), Some(h.clone()))
                .await
        );
        assert!(!p.verify("wrong horse battery".into(), Some(h)).await);
        assert!(!p.verify(DUMMY_PASSWORD.into(), None).await);
    }
}
