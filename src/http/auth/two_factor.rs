//! TOTP setup: a secret with its QR code, enabling with a first code (which
//! hands out recovery codes once), and disabling.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use diesel_async::AsyncConnection;
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Attempt, ThrottleKey, check_second_factor, load_user};
use crate::app::AppState;
use crate::auth::{sha256, totp};
use crate::db::{two_factor as db_2fa, users};
use crate::domain::auth::normalize_recovery_code;
use crate::error::{AppError, AppResult, ErrorBody, ErrorCode};
use crate::http::extractors::AuthUser;

/// How many recovery codes `enable` hands out.
pub const RECOVERY_CODES: usize = 10;
/// No 0/o, 1/l/i: codes are read off paper.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

#[derive(Serialize, ToSchema)]
pub struct TwoFactorSetupResponse {
    /// Base32 secret, for typing into an authenticator by hand.
    pub secret: String,
    pub otpauth_uri: String,
    /// The otpauth URI as a QR code: `data:image/png;base64,…`.
    pub qr_code: String,
    /// The same QR code as an SVG document.
    pub qr_code_svg: String,
}

#[derive(Deserialize, ToSchema)]
pub struct TwoFactorCodeRequest {
    /// A 6-digit TOTP code (disable also takes a recovery code).
    #[schema(example = "123456")]
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// Single-use codes for when the authenticator is lost. Shown once.
    pub recovery_codes: Vec<String>,
}

fn two_factor_already_enabled() -> AppError {
    AppError::new(
        ErrorCode::TwoFactorAlreadyEnabled,
        "two-factor authentication is already enabled",
    )
}

fn wrong_code() -> AppError {
    AppError::new(
        ErrorCode::InvalidTwoFactorCode,
        "wrong or already used code",
    )
}

/// Makes a new secret (pending until `enable`) and its QR code.
#[utoipa::path(post, path = "/api/auth/2fa/setup", tag = "two-factor",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TwoFactorSetupResponse),
        (status = 401, body = ErrorBody),
        (status = 409, description = "two_factor_already_enabled", body = ErrorBody),
    ))]
pub async fn setup(state: web::Data<AppState>, me: AuthUser) -> AppResult<HttpResponse> {
    let mut conn = state.db.get().await?;
    let user = load_user(&mut conn, me.user_id).await?;
    if user.totp_enabled {
        return Err(two_factor_already_enabled());
    }
    let secret = totp::generate_secret();
    let setup = totp::setup(&secret, &state.settings.totp_issuer, &user.username)?;
    users::set_pending_totp_secret(&mut conn, user.id, &secret).await?;
    Ok(HttpResponse::Ok().json(TwoFactorSetupResponse {
        secret: setup.secret,
        otpauth_uri: setup.otpauth_uri,
        qr_code: setup.qr_png_data_url,
        qr_code_svg: setup.qr_svg,
    }))
}

/// Turns 2FA on with a code from the pending secret; returns the recovery
/// codes, which are stored hashed and never shown again.
#[utoipa::path(post, path = "/api/auth/2fa/enable", tag = "two-factor",
    security(("bearer" = [])),
    request_body = TwoFactorCodeRequest,
    responses(
        (status = 200, body = RecoveryCodesResponse),
        (status = 401, description = "invalid_two_factor_code", body = ErrorBody),
        (status = 409, description = "two_factor_already_enabled or two_factor_setup_required", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn enable(
    state: web::Data<AppState>,
    me: AuthUser,
    body: web::Json<TwoFactorCodeRequest>,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.get().await?;
    let user = load_user(&mut conn, me.user_id).await?;
    if user.totp_enabled {
        return Err(two_factor_already_enabled());
    }
    let Some(secret) = user.totp_pending_secret.clone() else {
        return Err(AppError::new(
            ErrorCode::TwoFactorSetupRequired,
            "call /api/auth/2fa/setup first",
        ));
    };
    let key = ThrottleKey::account("2fa", me.user_id);
    let keys = [&key];
    let attempt = Attempt::begin(&mut conn, &keys).await?;
    let now = u64::try_from(Utc::now().timestamp()).unwrap_or_default();
    let Some(step) = totp::check(&secret, &body.code, now)? else {
        return Err(wrong_code());
    };
    let codes = new_recovery_codes();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| sha256(&normalize_recovery_code(c)))
        .collect();
    conn.transaction(async |conn| -> AppResult<()> {
        // Only from the state this request read: a parallel enable, or a new
        // setup in between, makes this one a conflict.
        if !users::enable_totp(conn, user.id, &secret, step).await? {
            return Err(AppError::new(
                ErrorCode::TwoFactorAlreadyEnabled,
                "two-factor authentication was enabled or set up again meanwhile",
            ));
        }
        db_2fa::replace_recovery_codes(conn, user.id, &hashes).await?;
        Ok(())
    })
    .await?;
    attempt.succeeded(&mut conn).await?;
    tracing::info!(user_id = user.id, "two-factor authentication enabled");
    Ok(HttpResponse::Ok().json(RecoveryCodesResponse {
        recovery_codes: codes,
    }))
}

/// Turns 2FA off; needs a current TOTP code or a recovery code.
#[utoipa::path(post, path = "/api/auth/2fa/disable", tag = "two-factor",
    security(("bearer" = [])),
    request_body = TwoFactorCodeRequest,
    responses(
        (status = 204, description = "two-factor authentication disabled"),
        (status = 401, description = "invalid_two_factor_code", body = ErrorBody),
        (status = 409, description = "two_factor_not_enabled", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn disable(
    state: web::Data<AppState>,
    me: AuthUser,
    body: web::Json<TwoFactorCodeRequest>,
) -> AppResult<HttpResponse> {
    let mut conn = state.db.get().await?;
    let user = load_user(&mut conn, me.user_id).await?;
    if !user.totp_enabled {
        return Err(AppError::new(
            ErrorCode::TwoFactorNotEnabled,
            "two-factor authentication is not enabled",
        ));
    }
    let key = ThrottleKey::account("2fa", me.user_id);
    let keys = [&key];
    let attempt = Attempt::begin(&mut conn, &keys).await?;
    let disabled = conn
        .transaction(async |conn| -> AppResult<bool> {
            if !check_second_factor(conn, &user, &body.code).await? {
                return Ok(false);
            }
            users::disable_totp(conn, user.id).await?;
            db_2fa::delete_recovery_codes(conn, user.id).await?;
            Ok(true)
        })
        .await?;
    if !disabled {
        return Err(wrong_code());
    }
    attempt.succeeded(&mut conn).await?;
    tracing::info!(user_id = user.id, "two-factor authentication disabled");
    Ok(HttpResponse::NoContent().finish())
}

/// Ten codes shaped `xxxxx-xxxxx` (about 49 bits each).
fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..10)
                .map(|_| RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_distinct_and_shaped() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(&code[5..6], "-");
            assert_eq!(normalize_recovery_code(code).len(), 10);
        }
    }
}
