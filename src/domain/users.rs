//! Profile rules: display names, bios, languages.

use super::auth::Invalid;

pub const DISPLAY_NAME_MAX: usize = 32;
pub const BIO_MAX: usize = 280;
/// Shortest search query: shorter ones match nearly everyone.
pub const SEARCH_MIN: usize = 2;
pub const SEARCH_MAX: usize = 64;

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// Trims and checks a display name: 1–32 visible characters, no control
/// characters. Returns the trimmed name.
pub fn normalize_display_name(name: &str) -> Result<String, Invalid> {
    let name = name.trim();
    let len = name.chars().count();
    if name.chars().any(char::is_control) {
        return Err(invalid(
            "display_name",
            "must not contain control characters",
        ));
    }
    if !(1..=DISPLAY_NAME_MAX).contains(&len) {
        return Err(invalid(
            "display_name",
            format!("must be 1-{DISPLAY_NAME_MAX} visible characters"),
        ));
    }
    Ok(name.to_string())
}

/// Up to 280 characters; newlines and tabs allowed, other control
/// characters not. Returns the bio with surrounding whitespace trimmed.
pub fn normalize_bio(bio: &str) -> Result<String, Invalid> {
    let bio = bio.trim();
    if bio
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid("bio", "must not contain control characters"));
    }
    if bio.chars().count() > BIO_MAX {
        return Err(invalid(
            "bio",
            format!("must be at most {BIO_MAX} characters"),
        ));
    }
    Ok(bio.to_string())
}

pub fn validate_language(language: &str, allowed: &[String]) -> Result<String, Invalid> {
    let language = language.trim().to_lowercase();
    if allowed.contains(&language) {
        Ok(language)
    } else {
        Err(invalid(
            "language",
            format!("must be one of {}", allowed.join(", ")),
        ))
    }
}

/// A search query, trimmed and lower-cased, 2–64 characters.
pub fn normalize_search(q: &str) -> Result<String, Invalid> {
    let q = q.trim().to_lowercase();
    if q.chars().any(char::is_control) {
        return Err(invalid("q", "must not contain control characters"));
    }
    let len = q.chars().count();
    if !(SEARCH_MIN..=SEARCH_MAX).contains(&len) {
        return Err(invalid(
            "q",
            format!("must be {SEARCH_MIN}-{SEARCH_MAX} characters"),
        ));
    }
    Ok(q)
}

/// Escapes `%`, `_` and `\` for a LIKE pattern (with the default `\` escape).
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(normalize_display_name("  Zoé  ").unwrap(), "Zoé");
        assert!(normalize_display_name("   ").is_err());
        assert!(normalize_display_name(&"x".repeat(33)).is_err());
        assert!(normalize_display_name(&"é".repeat(32)).is_ok());
        assert!(normalize_display_name("a\u{0007}b").is_err());
        assert!(normalize_display_name("a\nb").is_err());
    }

    #[test]
    fn bios() {
        assert!(normalize_bio("line one\nline two\tindented").is_ok());
        assert!(normalize_bio(&"x".repeat(281)).is_err());
        assert!(normalize_bio(&"é".repeat(280)).is_ok());
        assert!(normalize_bio("bell\u{0007}").is_err());
    }

    #[test]
    fn languages_and_search() {
        let allowed = vec!["en".to_string(), "fr".to_string()];
        assert_eq!(validate_language(" FR ", &allowed).unwrap(), "fr");
        assert!(validate_language("xx", &allowed).is_err());
        assert!(normalize_search("a").is_err());
        assert_eq!(normalize_search(" Ab ").unwrap(), "ab");
        assert_eq!(like_escape("50%_a\\"), "50\\%\\_a\\\\");
    }
}
