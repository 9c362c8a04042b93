//! One error type for REST (and later the websocket): a stable snake_case
//! [`ErrorCode`] that clients switch on, a human message, and an HTTP status.
//!
//! Internal errors log their cause and send a generic message: nothing about
//! the database or a library leaks to the client.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// Stable error codes. Renaming one breaks clients: add, never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // 400
    InvalidJson,
    InvalidRequest,
    OauthStateMismatch,
    OauthStateInvalid,
    OauthCodeInvalid,
    OauthDenied,
    // 401
    Unauthorized,
    InvalidToken,
    TokenExpired,
    InvalidCredentials,
    RefreshTokenReused,
    SessionRevoked,
    InvalidChallenge,
    InvalidTwoFactorCode,
    InvalidTicket,
    // 403
    Forbidden,
    WrongPassword,
    /// Deliberately vague: e.g. the other user blocked you.
    NotAllowed,
    // 404
    NotFound,
    NotFriends,
    NotBlocked,
    // 405
    MethodNotAllowed,
    // 409
    UsernameTaken,
    EmailTaken,
    TwoFactorAlreadyEnabled,
    TwoFactorNotEnabled,
    TwoFactorSetupRequired,
    PasswordNotSet,
    OauthEmailInUse,
    OauthAccountLinkedElsewhere,
    OauthAlreadyLinked,
    DisplayNameTaken,
    FriendRequestExists,
    AlreadyFriends,
    UserBlocked,
    AlreadyBlocked,
    TournamentNotOpen,
    TournamentFull,
    AlreadyJoined,
    AliasTaken,
    TooFewPlayers,
    // 413
    PayloadTooLarge,
    // 415
    UnsupportedMediaType,
    // 422
    ValidationFailed,
    InvalidImage,
    ImageTooLarge,
    // 429
    TooManyAttempts,
    // 500
    InternalError,
    // 502/503
    OauthProviderError,
    ServiceUnavailable,
    OauthNotConfigured,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidJson | InvalidRequest | OauthStateMismatch | OauthStateInvalid
            | OauthCodeInvalid | OauthDenied => StatusCode::BAD_REQUEST,
            Unauthorized | InvalidToken | TokenExpired | InvalidCredentials
            | RefreshTokenReused | SessionRevoked | InvalidChallenge | InvalidTwoFactorCode
            | InvalidTicket => StatusCode::UNAUTHORIZED,
            Forbidden | WrongPassword | NotAllowed => StatusCode::FORBIDDEN,
            NotFound | NotFriends | NotBlocked => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            UsernameTaken
            | EmailTaken
            | TwoFactorAlreadyEnabled
            | TwoFactorNotEnabled
            | TwoFactorSetupRequired
            | PasswordNotSet
            | OauthEmailInUse
            | OauthAccountLinkedElsewhere
            | OauthAlreadyLinked
            | DisplayNameTaken
            | FriendRequestExists
            | AlreadyFriends
            | UserBlocked
            | AlreadyBlocked
            | TournamentNotOpen
            | TournamentFull
            | AlreadyJoined
            | AliasTaken
            | TooFewPlayers => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ValidationFailed | InvalidImage | ImageTooLarge => StatusCode::UNPROCESSABLE_ENTITY,
            TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            OauthProviderError => StatusCode::BAD_GATEWAY,
            ServiceUnavailable | OauthNotConfigured => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An error the client caused or should know about.
    #[error("{message}")]
    Client {
        code: ErrorCode,
        message: String,
        field: Option<&'static str>,
        retry_after: Option<Duration>,
    },
    /// The database or another dependency is unreachable.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure: logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError::Client {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// A 422 naming the field at fault.
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        AppError::Client {
            code: ErrorCode::ValidationFailed,
            message: format!("{field}: {}", message.into()),
            field: Some(field),
            retry_after: None,
        }
    }

    /// A 429 telling the client when to come back.
    pub fn too_many_attempts(retry_after: Duration) -> Self {
        AppError::Client {
            code: ErrorCode::TooManyAttempts,
            message: "too many failed attempts; try again later".into(),
            field: None,
            retry_after: Some(retry_after),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Client { code, .. } => *code,
            AppError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            AppError::Internal(_) => ErrorCode::InternalError,
        }
    }

    pub fn body(&self) -> ErrorBody {
        match self {
            AppError::Client {
                code,
                message,
                field,
                ..
            } => ErrorBody {
                code: *code,
                message: message.clone(),
                field: *field,
            },
            AppError::Unavailable(_) => ErrorBody {
                code: ErrorCode::ServiceUnavailable,
                message: "a backing service is unavailable; try again shortly".into(),
                field: None,
            },
            AppError::Internal(_) => ErrorBody {
                code: ErrorCode::InternalError,
                message: "internal error".into(),
                field: None,
            },
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            AppError::Unavailable(cause) => tracing::warn!(%cause, "dependency unavailable"),
            AppError::Client { .. } => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let AppError::Client {
            retry_after: Some(after),
            ..
        } = self
        {
            // Round up: "retry after 0 seconds" would invite an immediate retry.
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            if let Ok(value) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.insert_header((header::RETRY_AFTER, value));
            }
        }
        response.json(self.body())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::Error as E;
        match e {
            // A dropped connection mid-query is the database being away, not
            // a bug. diesel-async reports every client-side error of
            // tokio-postgres as a command it could not send: only a closed
            // connection (or its ended connection task), an I/O error or a
            // timeout is the database away. So is a server ending sessions
            // (a restart or shutdown: SQLSTATE 57P01/57P02, which diesel
            // only tells by their message).
            E::DatabaseError(diesel::result::DatabaseErrorKind::ClosedConnection, info) => {
                AppError::Unavailable(info.message().to_string())
            }
            E::DatabaseError(
                diesel::result::DatabaseErrorKind::UnableToSendCommand
                | diesel::result::DatabaseErrorKind::Unknown,
                info,
            ) if [
                "connection closed",
                "channel closed",
                "error communicating with the server",
                "timeout waiting for server",
                "terminating connection",
            ]
            .iter()
            .any(|away| info.message().starts_with(away)) =>
            {
                AppError::Unavailable(info.message().to_string())
            }
            other => AppError::Internal(anyhow::Error::new(other).context("database query")),
        }
    }
}

impl From<crate::db::PoolError> for AppError {
    fn from(e: crate::db::PoolError) -> Self {
        AppError::Unavailable(format!("database pool: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}
