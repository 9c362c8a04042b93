//! Account rules: what a valid username, email and password are, how failed
//! attempts lock an account or an address, and how a username is derived
//! from a 42 login. Pure: no I/O, no clock (time is passed in).

use std::time::Duration;

use chrono::{DateTime, Utc};

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 20;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const EMAIL_MAX: usize = 254;

/// A rule broken by a field, with the field's name for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// 3–20 characters of `[A-Za-z0-9_-]`.
pub fn validate_username(username: &str) -> Result<(), Invalid> {
    let len = username.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) || !username.chars().all(is_username_char) {
        return Err(invalid(
            "username",
            format!("must be {USERNAME_MIN}-{USERNAME_MAX} characters of A-Z, a-z, 0-9, _ and -"),
        ));
    }
    Ok(())
}

/// A syntactic check: one `@`, a non-empty local part without spaces or
/// control characters, and a domain of dot-separated labels.
pub fn validate_email(email: &str) -> Result<(), Invalid> {
    let bad = || invalid("email", "is not a valid email address");
    if email.len() > EMAIL_MAX || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(bad());
    }
    Ok(())
}

/// 8–128 characters (Unicode scalar values, not bytes).
pub fn validate_password(field: &'static str, password: &str) -> Result<(), Invalid> {
    let len = password.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
        return Err(invalid(
            field,
            format!("must be {PASSWORD_MIN}-{PASSWORD_MAX} characters"),
        ));
    }
    Ok(())
}

/// When failures lock a key (an account or a client address), and for how
/// long: `max_failures` within `window` lock for `base_lockout`, doubling at
/// each further failure up to `max_lockout`.
#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub window: Duration,
    pub base_lockout: Duration,
    pub max_lockout: Duration,
}

impl ThrottlePolicy {
    /// Per account: 5 failures lock it.
    pub const ACCOUNT: ThrottlePolicy = ThrottlePolicy {
        max_failures: 5,
        window: Duration::from_secs(15 * 60),
        base_lockout: Duration::from_secs(30),
        max_lockout: Duration::from_secs(15 * 60),
    };

    /// Per client address: looser, because a school shares one address.
    pub const ADDRESS: ThrottlePolicy = ThrottlePolicy {
        max_failures: 30,
        window: Duration::from_secs(15 * 60),
        base_lockout: Duration::from_secs(30),
        max_lockout: Duration::from_secs(15 * 60),
    };

    /// The state after one more failure at `now`.
    pub fn record_failure(
        &self,
        state: Option<ThrottleState>,
        now: DateTime<Utc>,
    ) -> ThrottleState {
        let mut state = match state {
            Some(s) if !self.window_expired(&s, now) => s,
            _ => ThrottleState {
                failures: 0,
                window_started_at: now,
                locked_until: None,
            },
        };
        state.failures = state.failures.saturating_add(1);
        if state.failures >= self.max_failures {
            let doublings = (state.failures - self.max_failures).min(16);
            let lockout = self
                .base_lockout
                .saturating_mul(1 << doublings)
                .min(self.max_lockout);
            state.locked_until =
                Some(now + chrono::Duration::from_std(lockout).unwrap_or_default());
        }
        state
    }

    /// A window ends when it is older than `window` and no lock is running;
    /// failures made while locked keep counting, so the lockout keeps growing.
    fn window_expired(&self, state: &ThrottleState, now: DateTime<Utc>) -> bool {
        let locked = state.locked_until.is_some_and(|until| until > now);
        let age = (now - state.window_started_at).to_std().unwrap_or_default();
        !locked && age > self.window
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: u32,
    pub window_started_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// A username derived from a 42 login: the allowed characters only, padded
/// to the minimum and cut to leave room for a numeric suffix.
pub fn username_base_from_login(login: &str) -> String {
    let mut base: String = login.chars().filter(|c| is_username_char(*c)).collect();
    base.truncate(USERNAME_MAX - 4);
    while base.len() < USERNAME_MIN {
        base.push('_');
    }
    base
}

/// The `n`th candidate for a derived username: the base, then base2, base3…
pub fn username_candidate(base: &str, n: u32) -> String {
    if n <= 1 {
        base.to_string()
    } else {
        format!("{base}{n}")
    }
}

/// Recovery codes are shown as `xxxxx-xxxxx`; users may type them with or
/// without the dash and in any case.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Whether a 2FA code looks like a TOTP code (6 digits) rather than a
/// recovery code.
pub fn is_totp_code(code: &str) -> bool {
    let code = code.trim();
    code.len() == 6 && code.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("abc").is_ok());
        assert!(validate_username("Player_One-42").is_ok());
        assert!(validate_username("ab").is_err());
        assert!(validate_username(&"a".repeat(21)).is_err());
        assert!(validate_username("bad name").is_err());
        assert!(validate_username("émile").is_err());
        assert_eq!(validate_username("x").unwrap_err().field, "username");
    }

    #[test]
    fn emails() {
        assert!(validate_email("a@b.co").is_ok());
        assert!(validate_email("first.last+tag@school.42.fr").is_ok());
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a b@c.de", "a@b..c", "a@-b.co", "a@b@c.de",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(validate_password("password", "12345678").is_ok());
        assert!(validate_password("password", "1234567").is_err());
        assert!(validate_password("password", &"é".repeat(128)).is_ok());
        assert!(validate_password("password", &"é".repeat(129)).is_err());
    }

    #[test]
    fn throttle_locks_after_max_failures_and_grows() {
        let p = ThrottlePolicy::ACCOUNT;
        let t0 = DateTime::<Utc>::from_timestamp(1_000_000, 0).unwrap();
        let mut state = None;
        for _ in 0..4 {
            let s = p.record_failure(state, t0);
            assert_eq!(s.locked_until, None);
            state = Some(s);
        }
        let fifth = p.record_failure(state, t0);
        assert_eq!(fifth.locked_until, Some(t0 + chrono::Duration::seconds(30)));
        let sixth = p.record_failure(Some(fifth), t0);
        assert_eq!(sixth.locked_until, Some(t0 + chrono::Duration::seconds(60)));
        let mut s = sixth;
        for _ in 0..20 {
            s = p.record_failure(Some(s), t0);
        }
        assert_eq!(s.locked_until, Some(t0 + chrono::Duration::minutes(15)));
    }

    #[test]
    fn throttle_window_resets_when_not_locked() {
        let p = ThrottlePolicy::ACCOUNT;
        let t0 = DateTime::<Utc>::from_timestamp(1_000_000, 0).unwrap();
        let s = p.record_failure(None, t0);
        let later = t0 + chrono::Duration::minutes(16);
        let s = p.record_failure(Some(s), later);
        assert_eq!(s.failures, 1);
        assert_eq!(s.window_started_at, later);
    }

    #[test]
    fn derived_usernames_are_valid() {
        for login in ["jdoe", "a", "", "very-long-login-of-someone", "ça.va"] {
            let base = username_base_from_login(login);
            for n in [1, 2, 999] {
                let candidate = username_candidate(&base, n);
                assert!(validate_username(&candidate).is_ok(), "{candidate:?}");
            }
        }
        assert_eq!(username_candidate("jdoe", 1), "jdoe");
        assert_eq!(username_candidate("jdoe", 2), "jdoe2");
    }

    #[test]
    fn recovery_codes_normalise() {
        assert_eq!(normalize_recovery_code(" AbCde-12345 "), "abcde12345");
        assert!(is_totp_code("123456"));
        assert!(!is_totp_code("12345"));
        assert!(!is_totp_code("abcde-12345"));
    }
}
