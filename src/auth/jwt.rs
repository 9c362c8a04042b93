//! HS256 JSON Web Tokens: access tokens (60 min) and refresh tokens (1 day).
//!
//! Pinned to HS256: a token whose header names any other algorithm,
//! including `none`, is refused before its signature is looked at. `typ`
//! keeps the two kinds apart, and `sid` ties a token to its login session so
//! that revoking the session ends both.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::JwtSettings;

/// Clock skew tolerated between nodes, in seconds.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a decimal string (RFC 7519 wants a string).
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub aud: String,
    pub jti: Uuid,
    pub typ: TokenType,
    /// The login session (refresh-token family).
    pub sid: Uuid,
}

impl Claims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    /// Bad signature, algorithm, issuer, audience, shape or type.
    Invalid,
}

/// A signed token and what the caller needs to store about it. No Debug:
/// the token is a credential.
pub struct IssuedToken {
    pub token: String,
    pub jti: Uuid,
    pub expires_at: DateTime<Utc>,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl JwtKeys {
    pub fn new(settings: &JwtSettings) -> anyhow::Result<Self> {
        let secret = settings.secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        Ok(JwtKeys {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access_ttl: settings.access_ttl,
            refresh_ttl: settings.refresh_ttl,
        })
    }

    pub fn issue(
        &self,
        typ: TokenType,
        user_id: i64,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> anyhow::Result<IssuedToken> {
        let ttl = match typ {
            TokenType::Access => self.access_ttl,
            TokenType::Refresh => self.refresh_ttl,
        };
        let expires_at = now + chrono::Duration::from_std(ttl)?;
        let claims = Claims {
            sub: user_id.to_string(),
            exp: expires_at.timestamp(),
            iat: now.timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: Uuid::new_v4(),
            typ,
            sid: session_id,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken {
            token,
            jti: claims.jti,
            expires_at,
        })
    }

    /// Checks signature, algorithm, expiry, issuer, audience and type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let claims = data.claims;
        if claims.typ != expected || claims.user_id().is_none() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use secrecy::SecretString;

    fn settings(secret: &str) -> JwtSettings {
        JwtSettings {
            secret: SecretString::from(secret),
            issuer: "transcendence".into(),
            audience: "transcendence".into(),
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(86_400),
            session_cache_ttl: Duration::from_secs(10),
        }
    }

    fn keys() -> JwtKeys {
        JwtKeys::new(&settings(&"k".repeat(32))).unwrap()
    }

    #[test]
    fn round_trip_and_type_separation() {
        let keys = keys();
        let sid = Uuid::new_v4();
        let access = keys.issue(TokenType::Access, 7, sid, Utc::now()).unwrap();
        let claims = keys.verify(&access.token, TokenType::Access).unwrap();
        assert_eq!(claims.user_id(), Some(7));
        assert_eq!(claims.sid, sid);
        assert_eq!(
            keys.verify(&access.token, TokenType::Refresh).unwrap_err(),
            TokenError::Invalid
        );
        let refresh = keys.issue(TokenType::Refresh, 7, sid, Utc::now()).unwrap();
        assert!(keys.verify(&refresh.token, TokenType::Access).is_err());
    }

    #[test]
    fn expired_tokens_are_refused_with_little_leeway() {
        let keys = keys();
        let old = Utc::now() - chrono::Duration::seconds(3600 + 10);
        let token = keys
            .issue(TokenType::Access, 1, Uuid::new_v4(), old)
            .unwrap();
        assert_eq!(
            keys.verify(&token.token, TokenType::Access).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn other_secret_issuer_or_audience_is_refused() {
        let keys = keys();
        let token = keys
            .issue(TokenType::Access, 1, Uuid::new_v4(), Utc::now())
            .unwrap();
        let other = JwtKeys::new(&settings(&"z".repeat(32))).unwrap();
        assert!(other.verify(&token.token, TokenType::Access).is_err());
        let mut s = settings(&"k".repeat(32));
        s.audience = "elsewhere".into();
        let foreign = JwtKeys::new(&s).unwrap();
        let token = foreign
            .issue(TokenType::Access, 1, Uuid::new_v4(), Utc::now())
            .unwrap();
        assert!(keys.verify(&token.token, TokenType::Access).is_err());
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let keys = keys();
        let token = keys
            .issue(TokenType::Access, 1, Uuid::new_v4(), Utc::now())
            .unwrap();
        let parts: Vec<&str> = token.token.split('.').collect();
        for alg in ["none", "None", "HS512", "RS256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            for sig in ["", parts[2]] {
                let forged = format!("{header}.{}.{sig}", parts[1]);
                assert!(
                    keys.verify(&forged, TokenType::Access).is_err(),
                    "alg {alg} accepted"
                );
            }
        }
    }
}
