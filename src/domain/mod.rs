//! Pure rules, one module per domain, unit-tested without a runtime. Depends
//! on nothing else in the crate.

pub mod auth;
pub mod avatars;
pub mod chat;
pub mod game;
pub mod notifications;
pub mod realtime;
pub mod social;
pub mod tournament;
pub mod users;
