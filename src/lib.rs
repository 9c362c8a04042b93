//! transcendence: the backend of an online Pong platform, as one binary.
//!
//! # Layout
//!
//! ```text
//! main.rs      thin: parse the command line, load settings, run
//! app.rs       wiring: database, migrations, shared services, HttpServer
//! config.rs    typed settings from the environment (and a TOML file)
//! error.rs     AppError + stable ErrorCode, one vocabulary for REST and WS
//! telemetry.rs tracing setup (text or JSON)
//! domain/      pure rules (validation, throttling policy, …); depends on nothing
//! auth/        JWT, argon2id, TOTP, the 42 OAuth client, the live-session cache
//! db/          diesel + diesel-async: pool, migrations, query functions
//! http/        route table, extractors, middleware, one module per domain
//! protocol/    websocket wire types and DTOs shared with REST, tests and the harness
//! actors/      the actor tree of the real-time side
//! ```
//!
//! Dependencies point one way: `domain` depends on nothing, `http` on
//! everything, and nothing on `http`. The same domain names recur in
//! `domain/`, `db/` and `http/`, so a feature is found in predictable places.

pub mod actors;
pub mod admin;
pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod metrics;
pub mod protocol;
pub mod telemetry;
