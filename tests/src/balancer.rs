//! A sticky load balancer in front of several `confab-server` nodes, as an operator runs
//! one (HAProxy's `cookie` persistence, nginx's `hash $cookie_…`): a connection whose
//! request carries the cookie `confab-node=<n>` goes to node `n` while it accepts
//! connections, otherwise to the next node that does; a request without it goes to the
//! first node up. It reads only the head of a connection's first request and then copies
//! bytes both ways, so WebSocket upgrades pass through untouched. Loopback only.

use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The cookie that pins a browser to a node.
pub const NODE_COOKIE: &str = "confab-node";

/// The longest request head read before choosing a node.
const MAX_HEAD: usize = 16 * 1024;

/// A running balancer; stops accepting when dropped.
pub struct Balancer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    accept: JoinHandle<()>,
}

impl Balancer {
    /// Listens on a free loopback port in front of the nodes listening on `nodes`.
    pub async fn start(nodes: Vec<u16>) -> anyhow::Result<Balancer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let nodes = nodes.clone();
                tokio::spawn(async move {
                    // A connection that fails ends like one to a crashed server.
                    let _ = serve(client, &nodes).await;
                });
            }
        });
        Ok(Balancer { url, accept })
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(mut client: TcpStream, nodes: &[u16]) -> anyhow::Result<()> {
    let head = read_head(&mut client).await?;
    let preferred = pinned_node(&head).filter(|n| *n < nodes.len()).unwrap_or(0);
    let mut upstream = None;
    for offset in 0..nodes.len() {
        let port = nodes[(preferred + offset) % nodes.len()];
        let connect = TcpStream::connect(("127.0.0.1", port));
        if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(2), connect).await {
            upstream = Some(stream);
            break;
        }
    }
    let mut upstream = upstream.context("no node is up")?;
    upstream.write_all(&head).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// Reads until the end of the first request's head (or what arrived by then, at most
/// [`MAX_HEAD`] bytes).
async fn read_head(client: &mut TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = tokio::time::timeout(Duration::from_secs(10), client.read(&mut buf))
            .await
            .context("the request head did not arrive")??;
        if n == 0 {
            anyhow::bail!("closed before a request");
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

/// The node the request's `Cookie` header pins it to.
fn pinned_node(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    head.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("cookie").then_some(value)
        })
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == NODE_COOKIE).then(|| value.parse().ok()).flatten()
        })
}

#[cfg(test)]
mod tests {
    use super::pinned_node;

    #[test]
    fn the_cookie_pins_a_request_to_its_node() {
        let head = b"GET /ws HTTP/1.1\r\nHost: x\r\nCookie: a=b; confab-node=1; c=d\r\n\r\n";
        assert_eq!(pinned_node(head), Some(1));
        assert_eq!(pinned_node(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), None);
        assert_eq!(
            pinned_node(b"GET / HTTP/1.1\r\ncookie: confab-node=x\r\n\r\n"),
            None
        );
    }
}
