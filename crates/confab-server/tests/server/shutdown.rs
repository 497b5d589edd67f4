//! Graceful shutdown.

use std::time::Duration;

use confab_core::signal::ServerMessage;

use crate::harness::{Received, TestServer, room, within};

#[tokio::test]
async fn shutdown_closes_every_websocket_with_1001_and_returns_promptly() {
    let mut server = TestServer::start().await;
    let (mut a, mut b) = (server.client().await, server.client().await);
    a.join(room(1)).await;
    b.join(room(1)).await;
    a.expect(ServerMessage::PeerJoined {
        room: room(1),
        peer: b.peer,
    })
    .await;
    let addr = server.addr;

    // Both idle clients get the close frame and nothing else (no `peer-left` first).
    let (took, a_end, b_end) = tokio::join!(
        server.shutdown(),
        a.recv_until_closed(),
        b.recv_until_closed()
    );
    let shutting_down = Received::Closed(Some((1001, "server shutting down".into())));
    assert_eq!(a_end, (vec![], shutting_down.clone()));
    assert_eq!(b_end, (vec![], shutting_down));
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");

    // No longer accepting.
    let refused = within(
        "connect after shutdown",
        tokio::net::TcpStream::connect(addr),
    )
    .await;
    assert!(refused.is_err(), "still accepting after shutdown");
}
