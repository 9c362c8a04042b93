//! A TCP relay between a test server and the real PostgreSQL, which a test
//! can cut (every connection reset, new ones refused), hang (every
//! connection open but silent, as behind a dead peer) and restore: the
//! database "goes down" without stopping the shared PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

pub struct DbProxy {
    pub port: u16,
    down: Arc<AtomicBool>,
    hung: watch::Sender<bool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl DbProxy {
    /// Relays 127.0.0.1:<port> to `upstream` (host:port).
    pub async fn start(upstream: String) -> DbProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let (hung, _) = watch::channel(false);
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let down = down.clone();
            let hung = hung.clone();
            let links = links.clone();
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if down.load(Ordering::SeqCst) {
                        continue; // dropped: the connection is refused/reset
                    }
                    let upstream = upstream.clone();
                    let mut hang = hung.subscribe();
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&upstream).await {
                            let relay = tokio::io::copy_bidirectional(&mut client, &mut server);
                            let stop = async { hang.wait_for(|h| *h).await.is_ok() };
                            let hung = tokio::select! {
                                _ = relay => false,
                                hung = stop => hung,
                            };
                            if hung {
                                // Both sockets stay open, and nothing passes.
                                std::future::pending::<()>().await;
                            }
                        }
                    });
                    links.lock().await.push(link);
                }
            })
        };
        DbProxy {
            port,
            down,
            hung,
            links,
            accept,
        }
    }

    /// Resets every relayed connection and refuses new ones.
    pub async fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    /// Stops relaying on every open connection, leaving them open (new
    /// connections hang too).
    pub fn hang(&self) {
        self.hung.send_replace(true);
    }

    /// New connections are relayed again (hung ones stay hung).
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
        self.hung.send_replace(false);
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
