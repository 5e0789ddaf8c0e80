//! Password hashing (argon2id, OWASP parameters) and the password policy.
//! Hashing costs ~19 MiB and tens of milliseconds by design: callers run it on
//! the blocking pool, never on the async executor.

use std::sync::OnceLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP's argon2id recommendation: m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 128;

fn argon2() -> Argon2<'static> {
    // The parameters are constants within argon2's bounds, so this cannot fail.
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

pub fn hash(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches `stored`. A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the same time as a real verification, for logins with an unknown
/// e-mail, so response time does not reveal which e-mails have accounts.
pub fn verify_against_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("cadenza-dummy-password-for-timing").unwrap_or_default());
    let _ = verify(password, dummy);
}

/// Passwords attackers try first (the head of public breach-frequency lists).
/// A short list, because length (≥ 10) already rules out most of the rest.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "abcdefghij",
    "administrator",
    "baseball123",
    "changeme123",
    "football123",
    "iloveyou123",
    "letmein123",
    "passw0rd123",
    "password01",
    "password1!",
    "password12",
    "password123",
    "password1234",
    "qazwsxedc123",
    "qwerty1234",
    "qwerty12345",
    "qwerty123456",
    "qwertyuiop",
    "qwertyuiop123",
    "sunshine123",
    "superman123",
    "trustno1234",
    "welcome123",
    "welcome1234",
    "0987654321",
    "1111111111",
    "123123123123",
    "1234512345",
    "1234567890a",
    "123qweasdzxc",
    "aaaaaaaaaa",
    "asdfghjkl1",
    "azertyuiop",
    "computer123",
    "dragon1234",
    "iloveyou12",
    "michael123",
    "monkey1234",
    "princess123",
    "zxcvbnm123",
    "passwordpassword",
    "cadenza123",
    "musicmusic",
];

/// The policy: length between 10 and 128 characters, not a common password,
/// not the e-mail address, and not one repeated character. Returns the reason.
pub fn check_policy(password: &str, email: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(format!("must be at least {MIN_LENGTH} characters long"));
    }
    if length > MAX_LENGTH {
        return Err(format!("must be at most {MAX_LENGTH} characters long"));
    }
    let lowered = password.to_lowercase();
    if COMMON_PASSWORDS.contains(&lowered.as_str()) {
        return Err("is one of the most commonly used passwords; choose another".into());
    }
    if lowered == email.to_lowercase()
        || lowered == email.split('@').next().unwrap_or("").to_lowercase()
    {
        return Err("must not be your e-mail address".into());
    }
    let mut chars = password.chars();
    if let Some(first) = chars.next() {
        if chars.all(|c| c == first) {
            return Err("must not be a single repeated character".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let stored = hash("correct horse battery").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterx", &stored));
        assert!(!verify("anything", "not-a-hash"));
    }

    #[test]
    fn policy() {
        assert!(check_policy("short", "a@b.c").is_err());
        assert!(check_policy("Password123", "a@b.c").is_err());
        assert!(check_policy("aaaaaaaaaaaa", "a@b.c").is_err());
        assert!(check_policy("someone@example.com", "someone@example.com").is_err());
        assert!(check_policy(&"x".repeat(129), "a@b.c").is_err());
        assert!(check_policy("tangerine-orbit-42", "a@b.c").is_ok());
    }
}
