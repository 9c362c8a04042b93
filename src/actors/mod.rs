//! The actor tree: one `UserSession` per websocket, and per domain a
//! supervisor that looks up, spawns and reaps its children (`ChatRoom`,
//! `PongMatch`, `Tournament`, `NotificationInbox`, presence, matchmaking).
//! Messages route by `Addr`, never through a channel layer.
//!
//! The accounts domain has no actor: it is plain request/response over
//! REST. The real-time domains arrive here with the websocket.
