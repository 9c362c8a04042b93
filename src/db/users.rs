//! Users: lookup by id, username or email (case-insensitive), creation, and
//! the credential columns (password, TOTP).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::users;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// No Debug: it carries the password hash and TOTP secrets.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub totp_pending_secret: Option<String>,
    pub totp_enabled: bool,
    pub totp_last_step: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub display_name: Option<String>,
    pub bio: String,
    pub language: String,
    pub avatar: Option<String>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

impl User {
    /// What others see as the name: the display name, or the username.
    pub fn shown_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.username)
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: Option<&'a str>,
}

/// Which unique column a failed insert collided with.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    Username,
    Email,
}

pub async fn find(mut conn: &AsyncPgConnection, id: i64) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// Finds a user by username or email, whichever `login` is.
pub async fn find_by_login(conn: &mut AsyncPgConnection, login: &str) -> QueryResult<Option<User>> {
    let query = users::table.select(User::as_select());
    if login.contains('@') {
        query
            .filter(lower(users::email).eq(lower(login)))
            .first(conn)
            .await
    } else {
        query
            .filter(lower(users::username).eq(lower(login)))
            .first(conn)
            .await
    }
    .optional()
}

pub async fn email_exists(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table.filter(lower(users::email).eq(lower(email))),
    ))
    .get_result(conn)
    .await
}

/// Inserts a user; a collision on a unique index comes back as [`Taken`]
/// rather than an error, so concurrent registrations of one name give one
/// 201 and one 409.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &NewUser<'_>,
) -> QueryResult<Result<User, Taken>> {
    use diesel::result::{DatabaseErrorKind, Error};
    match diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(conn)
        .await
    {
        Ok(user) => Ok(Ok(user)),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)) => {
            if info.constraint_name() == Some("users_email_lower_key") {
                Ok(Err(Taken::Email))
            } else {
                Ok(Err(Taken::Username))
            }
        }
        Err(e) => Err(e),
    }
}

pub async fn set_password_hash(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    hash: &str,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_pending_totp_secret(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    secret: &str,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::totp_pending_secret.eq(secret))
        .execute(conn)
        .await
        .map(drop)
}

/// Records `step` as the last accepted TOTP step, only if it is newer than
/// the one recorded. Returns false when the step was already used: a replay.
pub async fn claim_totp_step(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    step: i64,
) -> QueryResult<bool> {
    let updated = diesel::update(
        users::table.find(user_id).filter(
            users::totp_last_step
                .is_null()
                .or(users::totp_last_step.lt(step)),
        ),
    )
    .set(users::totp_last_step.eq(step))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// Promotes `secret` to the active one, only if 2FA is still off and
/// `secret` is still the pending one; false otherwise.
pub async fn enable_totp(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    secret: &str,
    step: i64,
) -> QueryResult<bool> {
    let updated = diesel::update(
        users::table
            .find(user_id)
            .filter(users::totp_enabled.eq(false))
            .filter(users::totp_pending_secret.eq(secret)),
    )
    .set((
        users::totp_secret.eq(secret),
        users::totp_pending_secret.eq(None::<String>),
        users::totp_enabled.eq(true),
        users::totp_last_step.eq(step),
    ))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

pub async fn disable_totp(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::totp_secret.eq(None::<String>),
            users::totp_pending_secret.eq(None::<String>),
            users::totp_enabled.eq(false),
            users::totp_last_step.eq(None::<i64>),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The profile fields a user may change; `None` leaves a field as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct ProfileChanges {
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub language: Option<String>,
}

/// Applies `changes`; a display name another user holds comes back as `Err(())`.
pub async fn update_profile(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    changes: &ProfileChanges,
) -> QueryResult<Result<User, ()>> {
    use diesel::result::{DatabaseErrorKind, Error};
    if changes.display_name.is_none() && changes.bio.is_none() && changes.language.is_none() {
        return find(conn, user_id).await?.ok_or(Error::NotFound).map(Ok);
    }
    match diesel::update(users::table.find(user_id))
        .set(changes)
        .returning(User::as_returning())
        .get_result(conn)
        .await
    {
        Ok(user) => Ok(Ok(user)),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(Err(())),
        Err(e) => Err(e),
    }
}

/// Whether a user (other than `except`) is called `name`, as username or as
/// display name, case-insensitively: names must not impersonate each other.
pub async fn name_taken_by_other(
    conn: &mut AsyncPgConnection,
    name: &str,
    except: Option<i64>,
) -> QueryResult<bool> {
    // Ids start at 1, so 0 excludes nobody.
    let except = except.unwrap_or(0);
    diesel::select(diesel::dsl::exists(
        users::table.filter(users::id.ne(except)).filter(
            lower(users::username)
                .eq(lower(name))
                .or(lower(users::display_name.assume_not_null()).eq(lower(name))),
        ),
    ))
    .get_result(conn)
    .await
}

pub async fn find_by_username(
    mut conn: &AsyncPgConnection,
    username: &str,
) -> QueryResult<Option<User>> {
    users::table
        .filter(lower(users::username).eq(lower(username)))
        .select(User::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// Users by id, in the order of `ids` (missing ones skipped).
pub async fn find_many(mut conn: &AsyncPgConnection, ids: &[i64]) -> QueryResult<Vec<User>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<User> = users::table
        .filter(users::id.eq_any(ids))
        .select(User::as_select())
        .load(&mut conn)
        .await?;
    Ok(ids
        .iter()
        .filter_map(|id| found.iter().find(|u| u.id == *id).cloned())
        .collect())
}

pub async fn set_avatar(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    avatar: Option<&str>,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::avatar.eq(avatar))
        .execute(conn)
        .await
        .map(drop)
}

/// Users whose username or display name contains `pattern` (LIKE-escaped;
/// case is folded here), except `me` and anyone in a block with
/// `me`; ids above `after`, ascending. The trigram indexes serve the LIKE.
pub async fn search(
    conn: &mut AsyncPgConnection,
    me: i64,
    pattern: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<User>> {
    use super::schema::blocks;
    let like = format!("%{pattern}%");
    let blocked_by_me = blocks::table
        .filter(blocks::blocker_id.eq(me))
        .select(blocks::blocked_id);
    let blocking_me = blocks::table
        .filter(blocks::blocked_id.eq(me))
        .select(blocks::blocker_id);
    users::table
        .filter(
            lower(users::username)
                .like(lower(&like))
                .or(lower(users::display_name.assume_not_null()).like(lower(&like))),
        )
        .filter(users::id.ne(me))
        .filter(users::id.gt(after))
        .filter(users::id.ne_all(blocked_by_me))
        .filter(users::id.ne_all(blocking_me))
        .order(users::id)
        .limit(limit)
        .select(User::as_select())
        .load(conn)
        .await
}

/// Records when the user was last seen online.
pub async fn set_last_seen(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::last_seen_at.eq(at))
        .execute(conn)
        .await
        .map(drop)
}
