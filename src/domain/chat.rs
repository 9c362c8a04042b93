//! Rules of private chat: conversation ids, message bodies, client ids.

use std::fmt;

/// Longest message body, in characters, after trimming.
pub const MAX_BODY_CHARS: usize = 2000;
/// Longest `client_msg_id`, in bytes.
pub const MAX_CLIENT_MSG_ID: usize = 64;

/// A conversation between two users: `"{smaller id}_{larger id}"`, so both
/// sides name it alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChatId {
    low: i64,
    high: i64,
}

impl ChatId {
    /// The conversation of two different users.
    pub fn between(a: i64, b: i64) -> Option<Self> {
        (a != b && a > 0 && b > 0).then(|| ChatId {
            low: a.min(b),
            high: a.max(b),
        })
    }

    /// Parses the canonical form only (`"3_7"`, not `"7_3"` or `"03_7"`),
    /// so one conversation has one name.
    pub fn parse(s: &str) -> Option<Self> {
        let (low, high) = s.split_once('_')?;
        let canonical = |part: &str| {
            !part.is_empty() && !part.starts_with('0') && part.bytes().all(|b| b.is_ascii_digit())
        };
        if !canonical(low) || !canonical(high) {
            return None;
        }
        let id = ChatId {
            low: low.parse().ok()?,
            high: high.parse().ok()?,
        };
        (id.low < id.high).then_some(id)
    }

    pub fn low(&self) -> i64 {
        self.low
    }

    pub fn high(&self) -> i64 {
        self.high
    }

    pub fn has(&self, user: i64) -> bool {
        user == self.low || user == self.high
    }

    /// The other participant, if `user` is one.
    pub fn peer_of(&self, user: i64) -> Option<i64> {
        if user == self.low {
            Some(self.high)
        } else if user == self.high {
            Some(self.low)
        } else {
            None
        }
    }
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.low, self.high)
    }
}

/// Why a message body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    Empty,
    TooLong,
    ControlCharacter,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BodyError::Empty => "the message is empty",
            BodyError::TooLong => "the message is over 2000 characters",
            BodyError::ControlCharacter => {
                "the message holds a control character (only newline and tab are allowed)"
            }
        })
    }
}

/// The body as stored: trimmed, 1 to 2000 characters, no control
/// characters but newline and tab.
pub fn clean_body(body: &str) -> Result<String, BodyError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(BodyError::Empty);
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(BodyError::TooLong);
    }
    if body
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(BodyError::ControlCharacter);
    }
    Ok(body.to_string())
}

/// A client's id for a message: 1 to 64 printable ASCII characters.
pub fn valid_client_msg_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_CLIENT_MSG_ID && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_ids_are_canonical() {
        let id = ChatId::between(7, 3).unwrap();
        assert_eq!(id.to_string(), "3_7");
        assert_eq!(ChatId::parse("3_7"), Some(id.clone()));
        assert_eq!(id.peer_of(3), Some(7));
        assert_eq!(id.peer_of(9), None);
        for bad in [
            "7_3", "3_3", "03_7", "3_07", "3-7", "3_7_9", "_7", "3_", "a_b", "-1_2", "",
        ] {
            assert_eq!(ChatId::parse(bad), None, "{bad}");
        }
        assert_eq!(ChatId::between(4, 4), None);
        assert_eq!(ChatId::parse("1_99999999999999999999"), None);
    }

    #[test]
    fn bodies_are_trimmed_and_checked() {
        assert_eq!(clean_body("  hi\n\tthere  ").unwrap(), "hi\n\tthere");
        assert_eq!(clean_body(" \n "), Err(BodyError::Empty));
        assert_eq!(clean_body("a\u{7}b"), Err(BodyError::ControlCharacter));
        assert_eq!(clean_body("a\rb"), Err(BodyError::ControlCharacter));
        assert!(clean_body(&"é".repeat(2000)).is_ok());
        assert_eq!(clean_body(&"é".repeat(2001)), Err(BodyError::TooLong));
    }

    #[test]
    fn client_ids() {
        assert!(valid_client_msg_id("c-1"));
        assert!(!valid_client_msg_id(""));
        assert!(!valid_client_msg_id("has space"));
        assert!(!valid_client_msg_id(&"x".repeat(65)));
    }
}
