//! Integration tests: every test starts a server on a loopback port with a
//! fresh PostgreSQL database of its own, dropped when the test ends.

mod accounts;
mod avatars;
mod binary;
mod browser;
mod chat;
mod errors;
mod game;
mod gateway;
mod health;
mod migrations;
mod notifications;
mod oauth;
mod openapi;
mod presence;
mod realtime;
mod social;
mod support;
mod throttling;
mod tokens;
mod tournaments;
mod two_factor;
mod users;
