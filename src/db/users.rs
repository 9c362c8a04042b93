//! Users: lookup by id, username or email (case-insensitive), creation, and
//! the credential columns (password, TOTP).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::users;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

#[derive(Debug, Clone, Queryable, Selectable)]
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
}

#[derive(Debug, Insertable)]
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

pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// Finds a user by username or email, whichever `login` is.
pub async fn find_by_login(conn: &mut AsyncPgConnection, login: &str) -> QueryResult<Option<User>> {
    let login = login.to_lowercase();
    let query = users::table.select(User::as_select());
    if login.contains('@') {
        query
            .filter(lower(users::email).eq(login))
            .first(conn)
            .await
    } else {
        query
            .filter(lower(users::username).eq(login))
            .first(conn)
            .await
    }
    .optional()
}

pub async fn username_exists(conn: &mut AsyncPgConnection, username: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table.filter(lower(users::username).eq(username.to_lowercase())),
    ))
    .get_result(conn)
    .await
}

pub async fn email_exists(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table.filter(lower(users::email).eq(email.to_lowercase())),
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

/// Promotes the pending secret to the active one.
pub async fn enable_totp(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    secret: &str,
    step: i64,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::totp_secret.eq(secret),
            users::totp_pending_secret.eq(None::<String>),
            users::totp_enabled.eq(true),
            users::totp_last_step.eq(step),
        ))
        .execute(conn)
        .await
        .map(drop)
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
