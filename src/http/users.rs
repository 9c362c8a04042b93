//! `/api/users`: the caller's own profile, other users' public profiles,
//! and search.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::db::game::{self, Stats};
use crate::db::social;
use crate::db::users::{self, ProfileChanges, User};
use crate::domain::auth::{Invalid, validate_username};
use crate::domain::social::Relation;
use crate::domain::users::{
    like_escape, normalize_bio, normalize_display_name, normalize_search, validate_language,
};
use crate::error::{AppError, AppResult, ErrorBody, ErrorCode};
use crate::http::extractors::AuthUser;
use crate::http::pagination::{Page, PageParams};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("").route(web::get().to(search)))
        .service(
            web::resource("/me")
                .route(web::get().to(me))
                .route(web::patch().to(update_me)),
        )
        .service(
            web::resource("/me/avatar")
                .route(web::put().to(super::avatars::upload))
                .route(web::delete().to(super::avatars::reset)),
        )
        .service(web::resource("/by-username/{username}").route(web::get().to(by_username)))
        .service(web::resource("/{id}").route(web::get().to(by_id)))
        .service(web::resource("/{id}/matches").route(web::get().to(super::games::history)));
}

pub use crate::protocol::UserView;
pub use crate::protocol::dto::avatar_url;

/// A public profile as the caller sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    #[serde(flatten)]
    pub user: UserView,
    pub bio: String,
    /// `none`, `request_sent`, `request_received`, `friends` or `blocking`.
    pub relation: &'static str,
    #[serde(flatten)]
    pub presence: PresenceView,
    /// Pong: rating and record.
    pub stats: Stats,
}

/// Whether a user is online, and when they were last seen.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceView {
    /// `online`, `in_game` or `offline`.
    pub presence: &'static str,
    pub last_seen_at: Option<DateTime<Utc>>,
}

impl PresenceView {
    pub fn of(state: &AppState, user: &User) -> Self {
        PresenceView {
            presence: state.presence.status(user.id),
            last_seen_at: user.last_seen_at,
        }
    }

    /// What a blocked pair sees of each other: nothing.
    pub fn hidden() -> Self {
        PresenceView {
            presence: "offline",
            last_seen_at: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedAccount {
    pub provider: String,
    pub login: String,
    pub linked_at: DateTime<Utc>,
}

/// The caller's own profile: the public view plus private fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    #[serde(flatten)]
    pub user: UserView,
    pub email: String,
    pub bio: String,
    pub language: String,
    pub two_factor_enabled: bool,
    pub oauth_accounts: Vec<LinkedAccount>,
    /// The languages `language` may be set to.
    pub languages: Vec<String>,
    /// Pong: rating and record.
    pub stats: Stats,
}

/// The caller's view of their account: one query (user, stats and linked
/// accounts), the hottest authenticated read (see docs/benchmarks.md).
async fn me_view(state: &AppState, conn: &AsyncPgConnection, user_id: i64) -> AppResult<MeView> {
    let Some((user, stats, accounts)) = game::account(conn, user_id).await? else {
        return Err(AppError::new(
            ErrorCode::InvalidToken,
            "the account of this token no longer exists",
        ));
    };
    let oauth_accounts = accounts
        .into_iter()
        .map(|a| LinkedAccount {
            provider: a.provider,
            login: a.provider_login,
            linked_at: a.created_at,
        })
        .collect();
    Ok(MeView {
        user: UserView::from(&user),
        email: user.email,
        bio: user.bio,
        language: user.language,
        two_factor_enabled: user.totp_enabled,
        oauth_accounts,
        languages: state.settings.languages.clone(),
        stats,
    })
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/users/me", tag = "users",
    security(("bearer" = [])),
    responses((status = 200, body = MeView), (status = 401, body = ErrorBody)))]
pub async fn me(state: web::Data<AppState>, me: AuthUser) -> AppResult<HttpResponse> {
    let view = state
        .reads
        .read(async |conn| me_view(&state, conn, me.user_id).await)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize, ToSchema)]
pub struct ProfilePatch {
    /// 1–32 visible characters, unique (case-insensitively) among display
    /// names and other users' usernames.
    pub display_name: Option<String>,
    /// Up to 280 characters.
    pub bio: Option<String>,
    /// One of the server's languages (default `en`, `fr`, `de`).
    pub language: Option<String>,
}

fn check<T>(result: Result<T, Invalid>) -> AppResult<T> {
    result.map_err(|e| AppError::validation(e.field, e.message))
}

fn display_name_taken() -> AppError {
    AppError::Client {
        code: ErrorCode::DisplayNameTaken,
        message: "display_name: already taken".into(),
        field: Some("display_name"),
        retry_after: None,
    }
}

/// Changes the caller's display name, bio or language.
#[utoipa::path(patch, path = "/api/users/me", tag = "users",
    security(("bearer" = [])),
    request_body = ProfilePatch,
    responses(
        (status = 200, body = MeView),
        (status = 401, body = ErrorBody),
        (status = 409, description = "display_name_taken", body = ErrorBody),
        (status = 422, description = "validation_failed, naming the field", body = ErrorBody),
    ))]
pub async fn update_me(
    state: web::Data<AppState>,
    me: AuthUser,
    body: web::Json<ProfilePatch>,
) -> AppResult<HttpResponse> {
    let ProfilePatch {
        display_name,
        bio,
        language,
    } = body.into_inner();
    let changes = ProfileChanges {
        display_name: display_name
            .map(|n| check(normalize_display_name(&n)))
            .transpose()?,
        bio: bio.map(|b| check(normalize_bio(&b))).transpose()?,
        language: language
            .map(|l| check(validate_language(&l, &state.settings.languages)))
            .transpose()?,
    };
    let mut conn = state.db.get().await?;
    if let Some(name) = &changes.display_name
        && users::name_taken_by_other(&mut conn, name, Some(me.user_id)).await?
    {
        return Err(display_name_taken());
    }
    users::update_profile(&mut conn, me.user_id, &changes)
        .await?
        .map_err(|()| display_name_taken())?;
    Ok(HttpResponse::Ok().json(me_view(&state, &conn, me.user_id).await?))
}

async fn profile_of(
    state: &AppState,
    me: &AuthUser,
    user: Option<User>,
) -> AppResult<HttpResponse> {
    let user = user.ok_or_else(|| AppError::new(ErrorCode::NotFound, "no such user"))?;
    let (relation, stats) = state
        .reads
        .read(async |conn| {
            let relation = async {
                if user.id == me.user_id {
                    Ok(Relation::None)
                } else {
                    social::relation(conn, me.user_id, user.id).await
                }
            };
            Ok(futures_util::try_join!(
                relation,
                game::stats(conn, user.id)
            )?)
        })
        .await?;
    let presence = match relation {
        Relation::Blocking | Relation::BlockedBy => PresenceView::hidden(),
        _ => PresenceView::of(state, &user),
    };
    Ok(HttpResponse::Ok().json(ProfileView {
        bio: user.bio.clone(),
        user: UserView::from(&user),
        relation: relation.as_str(),
        presence,
        stats,
    }))
}

/// A user's public profile.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    responses(
        (status = 200, body = ProfileView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn by_id(
    state: web::Data<AppState>,
    me: AuthUser,
    id: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let user = state
        .reads
        .read(async |conn| Ok(users::find(conn, id).await?))
        .await?;
    profile_of(&state, &me, user).await
}

/// A user's public profile, by username (case-insensitive).
#[utoipa::path(get, path = "/api/users/by-username/{username}", tag = "users",
    security(("bearer" = [])),
    params(("username" = String, Path)),
    responses(
        (status = 200, body = ProfileView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn by_username(
    state: web::Data<AppState>,
    me: AuthUser,
    username: web::Path<String>,
) -> AppResult<HttpResponse> {
    // A name no account can have is not looked up.
    let user = if validate_username(&username).is_ok() {
        state
            .reads
            .read(async |conn| Ok(users::find_by_username(conn, &username).await?))
            .await?
    } else {
        None
    };
    profile_of(&state, &me, user).await
}

#[derive(Deserialize, IntoParams)]
pub struct SearchParams {
    /// At least 2 characters; matched as a substring of usernames and
    /// display names, case-insensitively.
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Finds users by name. Excludes the caller and anyone in a block with them.
#[utoipa::path(get, path = "/api/users", tag = "users",
    security(("bearer" = [])),
    params(SearchParams),
    responses(
        (status = 200, body = Page<UserView>),
        (status = 401, body = ErrorBody),
        (status = 422, description = "q shorter than 2 characters, bad limit or cursor", body = ErrorBody),
    ))]
pub async fn search(
    state: web::Data<AppState>,
    me: AuthUser,
    params: web::Query<SearchParams>,
) -> AppResult<HttpResponse> {
    let SearchParams { q, limit, cursor } = params.into_inner();
    let q = check(normalize_search(q.as_deref().unwrap_or("")))?;
    let page = PageParams { limit, cursor }.check()?;
    let mut conn = state.db.get().await?;
    let rows = users::search(
        &mut conn,
        me.user_id,
        &like_escape(&q),
        page.after_or_min(),
        page.fetch(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |u| u.id, UserView::from)))
}
