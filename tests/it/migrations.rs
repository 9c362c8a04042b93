//! Every migration reverses cleanly: up, down, up.

use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use transcendence::db;

use crate::support::{assert_test_database, drop_database, fresh_database_name, server_url};

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

async fn tables(url: &str) -> Vec<String> {
    let mut conn = AsyncPgConnection::establish(url).await.unwrap();
    let mut names: Vec<String> = diesel::sql_query(
        "SELECT table_name AS name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load::<Name>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|n| n.name)
    .collect();
    names.sort();
    names
}

#[actix_web::test]
async fn migrations_go_up_down_and_up_again() {
    let name = fresh_database_name();
    assert_test_database(&name);
    let url = format!("{}/{name}", server_url());
    db::create_database_if_missing(&url).await.unwrap();
    // Creating it again is a no-op.
    db::create_database_if_missing(&url).await.unwrap();

    let applied = db::run_migrations(&url).await.unwrap();
    assert!(!applied.is_empty());
    let up = tables(&url).await;
    assert!(up.contains(&"users".to_string()), "{up:?}");
    assert!(db::run_migrations(&url).await.unwrap().is_empty());

    db::revert_all_migrations(&url).await.unwrap();
    assert_eq!(tables(&url).await, Vec::<String>::new());

    db::run_migrations(&url).await.unwrap();
    assert_eq!(tables(&url).await, up);
    drop_database(&name).await;
}

#[actix_web::test]
async fn two_nodes_migrating_at_once_both_succeed() {
    let name = fresh_database_name();
    let url = format!("{}/{name}", server_url());
    db::create_database_if_missing(&url).await.unwrap();
    let (a, b) = futures_util::join!(db::run_migrations(&url), db::run_migrations(&url));
    let (a, b) = (a.unwrap(), b.unwrap());
    // Exactly one of them did the work.
    assert!(a.is_empty() != b.is_empty(), "{a:?} {b:?}");
    drop_database(&name).await;
}

#[test]
#[should_panic(expected = "refusing to touch database")]
fn the_guard_refuses_databases_not_named_for_tests() {
    assert_test_database("transcendence");
}
