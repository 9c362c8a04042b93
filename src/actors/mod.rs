//! The actor tree of the real-time side. Every websocket is a
//! [`session::UserSession`] actor; the [`registry::SessionRegistry`] knows
//! each user's sockets on this node, and delivery reads it and sends to
//! those actors by address: no hub, no channel layer.
//!
//! [`presence::PresenceTracker`] knows who is online and tells friends.
//!
//! Still to come (see the open issues): per-domain supervisors (chat, game,
//! tournaments) and cross-node delivery and presence over Redis.

pub mod chat;
pub mod game;
pub mod notifications;
pub mod presence;
pub mod registry;
pub mod replay;
pub mod session;
pub mod supervisor;
pub mod tournament;
