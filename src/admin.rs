//! Administrative commands run from the command line (not over HTTP).

use std::io::Write;

use futures_util::{StreamExt, stream};
use secrecy::ExposeSecret;

use crate::auth::jwt::{JwtKeys, TokenType};
use crate::auth::password::PasswordHasher;
use crate::config::Settings;
use crate::db::{self, sessions, users};

/// Creates `count` users named `{prefix}{i}` (email `{prefix}{i}@load.invalid`)
/// sharing one password, each with a login session, and writes one line
/// per user, `id username access_token`, to `out`. Users that exist
/// already get a new session. For load tests with many users: logging in
/// 100,000 users through the API would spend hours in argon2.
pub async fn seed_users(
    settings: &Settings,
    count: usize,
    prefix: &str,
    password: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let url = settings.database_url.expose_secret();
    db::create_database_if_missing(url).await?;
    db::run_migrations(url).await?;
    let pool = db::build_pool(url, settings.db_pool_size)?;
    let hasher = PasswordHasher::new(1)?;
    // One hash for all: the users share the password.
    let hash = hasher.hash(password.to_string()).await?;
    let jwt = JwtKeys::new(&settings.jwt)?;
    let rows = stream::iter(0..count)
        .map(|i| {
            let (pool, hash, jwt) = (&pool, &hash, &jwt);
            async move {
                let username = format!("{prefix}{i}");
                let email = format!("{username}@load.invalid");
                let mut conn = pool.get().await?;
                let user = match users::insert(
                    &mut conn,
                    &users::NewUser {
                        username: &username,
                        email: &email,
                        password_hash: Some(hash),
                    },
                )
                .await?
                {
                    Ok(user) => user,
                    Err(_) => users::find_by_username(&conn, &username)
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("{username} exists with another email"))?,
                };
                let session =
                    sessions::create_session(&mut conn, user.id, Some("seed-users")).await?;
                let token = jwt.issue(TokenType::Access, user.id, session, chrono::Utc::now())?;
                anyhow::Ok(format!("{} {} {}", user.id, username, token.token))
            }
        })
        .buffered(settings.db_pool_size.max(1));
    futures_util::pin_mut!(rows);
    while let Some(row) = rows.next().await {
        writeln!(out, "{}", row?)?;
    }
    Ok(())
}
