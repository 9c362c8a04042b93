//! A websocket test client that always waits with a timeout.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TestApp;

const WAIT: Duration = Duration::from_secs(10);

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl TestApp {
    pub async fn ws_ticket(&self, token: &str) -> String {
        let reply = self
            .post("/api/auth/ws-ticket", serde_json::json!({}), Some(token))
            .await;
        assert_eq!(reply.body["expires_in"], 30);
        reply.str("ticket")
    }

    /// Opens `/ws` + `query` with extra headers; the HTTP status on refusal.
    pub async fn ws_connect(&self, query: &str, headers: &[(&str, &str)]) -> Result<WsClient, u16> {
        let url = format!("{}/ws{query}", self.address.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        for (name, value) in headers {
            let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            request.headers_mut().insert(name, value.parse().unwrap());
        }
        match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("websocket connect timed out")
        {
            Ok((stream, _)) => Ok(WsClient { stream }),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// A socket for `token`'s user, past its `hello`.
    pub async fn ws(&self, token: &str) -> WsClient {
        self.ws_since(token, None).await
    }

    pub async fn ws_since(&self, token: &str, since: Option<i64>) -> WsClient {
        let ticket = self.ws_ticket(token).await;
        let query = match since {
            Some(since) => format!("?ticket={ticket}&since={since}"),
            None => format!("?ticket={ticket}"),
        };
        let mut ws = self.ws_connect(&query, &[]).await.expect("upgrade refused");
        ws.expect("hello").await;
        ws
    }
}

impl WsClient {
    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.unwrap();
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.stream.send(Message::binary(bytes)).await.unwrap();
    }

    /// The next JSON event (pings are answered by the library on read).
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("no event within the timeout")
                .expect("socket ended")
                .expect("socket error");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected an event, got {other:?}"),
            }
        }
    }

    /// The next event, which must be of `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let event = self.next().await;
        assert_eq!(event["type"], kind, "{event}");
        event
    }

    /// Reads until the server closes; the close code.
    pub async fn closed(&mut self) -> u16 {
        loop {
            let message = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("the socket was not closed within the timeout");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(Message::Close(None))) => return u16::from(CloseCode::Status),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("socket error before close: {e}"),
                None => panic!("socket ended without a close frame"),
            }
        }
    }

    /// Reads until the connection ends: the close code if a close frame got
    /// through, `None` if the connection simply went (a client that did not
    /// read may have its unread data reset away).
    pub async fn ended(&mut self) -> Option<u16> {
        loop {
            let message = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("the connection did not end within the timeout");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => return Some(u16::from(frame.code)),
                Some(Ok(Message::Close(None))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Nothing arrives within `quiet`.
    pub async fn silent_for(&mut self, quiet: Duration) {
        if let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(quiet, self.stream.next()).await
        {
            panic!("unexpected event {text}");
        }
    }
}

impl WsClient {
    /// The next event, or the close code if the server closes first.
    pub async fn next_or_close(&mut self) -> Result<Value, u16> {
        loop {
            let message = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("nothing within the timeout")
                .expect("socket ended")
                .expect("socket error");
            match message {
                Message::Text(text) => return Ok(serde_json::from_str(&text).unwrap()),
                Message::Close(Some(frame)) => return Err(u16::from(frame.code)),
                Message::Close(None) => return Err(u16::from(CloseCode::Status)),
                _ => {}
            }
        }
    }
}

impl WsClient {
    /// A websocket-level ping frame.
    pub async fn send_ping(&mut self) {
        self.stream
            .send(Message::Ping(Vec::new().into()))
            .await
            .unwrap();
    }
}

impl TestApp {
    /// A socket whose client keeps a tiny receive buffer, past its `hello`:
    /// when the test stops reading, the server's writes back up quickly.
    pub async fn ws_tiny_buffer(&self, token: &str) -> WsClient {
        let ticket = self.ws_ticket(token).await;
        let host = self.address.trim_start_matches("http://");
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(host.parse().unwrap()).await.unwrap();
        let url = format!("ws://{host}/ws?ticket={ticket}");
        let (stream, _) = tokio::time::timeout(
            WAIT,
            tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)),
        )
        .await
        .expect("websocket connect timed out")
        .expect("websocket connect failed");
        let mut ws = WsClient { stream };
        ws.expect("hello").await;
        ws
    }
}

impl WsClient {
    /// For long-lived clients (bots): the next event, `Ok(None)` when
    /// nothing came within `wait`, `Err(())` when the connection ended.
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<Value>, ()> {
        loop {
            match tokio::time::timeout(wait, self.stream.next()).await {
                Err(_) => return Ok(None),
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Ok(Some(serde_json::from_str(&text).unwrap()));
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => return Err(()),
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}
