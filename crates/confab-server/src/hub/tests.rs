//! Hub tests: joining and leaving, room limits, forwarding, log redaction, remote
//! members' presence, deposit notices, and full queues against the budget.

use std::time::Duration;

use super::*;

fn room(n: u8) -> RoomId {
    RoomId::from_bytes([n; 32])
}

fn hub() -> Arc<Hub> {
    Arc::new(Hub::new(
        2,
        3,
        budget(4, usize::MAX, usize::MAX),
        None,
        None,
    ))
}

fn budget(max_messages: usize, max_bytes: usize, max_total: usize) -> Arc<QueueBudget> {
    budget_with(max_messages, max_bytes, max_total, Duration::from_secs(30))
}

fn budget_with(
    max_messages: usize,
    max_bytes: usize,
    max_total: usize,
    stall: Duration,
) -> Arc<QueueBudget> {
    Arc::new(QueueBudget::new(max_messages, max_bytes, max_total, stall))
}

/// Everything queued for `registration`, decoded.
fn drain(registration: &mut Registration) -> Vec<ServerMessage> {
    drain_as(registration)
}

/// Everything queued for `registration`, decoded as `T` (the mailbox's frames are
/// `MailboxReply`s).
fn drain_as<T: serde::de::DeserializeOwned>(registration: &mut Registration) -> Vec<T> {
    let inbox = registration.inbox();
    std::iter::from_fn(|| inbox.try_pop())
        .map(|message| match message {
            Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn join_reports_earlier_members_and_tells_them() {
    let hub = hub();
    let mut a = hub.register();
    let mut b = hub.register();
    assert_ne!(a.peer(), b.peer());
    assert_eq!(hub.join(a.peer(), room(1)), Ok(vec![]));
    assert_eq!(hub.join(b.peer(), room(1)), Ok(vec![a.peer()]));
    assert_eq!(
        drain(&mut a),
        [ServerMessage::PeerJoined {
            room: room(1),
            peer: b.peer()
        }]
    );
    // Joining again repeats the answer and tells nobody.
    assert_eq!(hub.join(b.peer(), room(1)), Ok(vec![a.peer()]));
    assert_eq!(drain(&mut a), []);
    assert_eq!(drain(&mut b), []);
}

#[test]
fn limits_on_rooms_per_connection_and_room_capacity() {
    let hub = hub();
    let a = hub.register();
    assert!(hub.join(a.peer(), room(1)).is_ok());
    assert!(hub.join(a.peer(), room(2)).is_ok());
    assert_eq!(
        hub.join(a.peer(), room(3)),
        Err(HubError::TooManyRooms { max: 2 })
    );
    assert!(
        hub.join(a.peer(), room(2)).is_ok(),
        "rejoining is not a new room"
    );

    let others: Vec<Registration> = (0..2).map(|_| hub.register()).collect();
    for other in &others {
        assert!(hub.join(other.peer(), room(1)).is_ok());
    }
    let late = hub.register();
    assert_eq!(
        hub.join(late.peer(), room(1)),
        Err(HubError::RoomFull { capacity: 3 })
    );
    assert!(hub.leave(a.peer(), room(1)));
    assert!(hub.join(late.peer(), room(1)).is_ok());
}

#[test]
fn leaving_and_dropping_tell_the_others_and_empty_rooms_vanish() {
    let hub = hub();
    let a = hub.register();
    let mut b = hub.register();
    let a_peer = a.peer();
    hub.join(a_peer, room(1)).unwrap();
    hub.join(a_peer, room(2)).unwrap();
    hub.join(b.peer(), room(1)).unwrap();
    assert!(!hub.leave(b.peer(), room(2)), "not a member");
    assert_eq!(hub.lock().peers.len(), 2);
    drop(a);
    assert_eq!(
        drain(&mut b),
        [ServerMessage::PeerLeft {
            room: room(1),
            peer: a_peer
        }]
    );
    assert_eq!(hub.lock().peers.len(), 1);
    assert!(!hub.lock().rooms.contains_key(&room(2)));
    assert!(hub.leave(b.peer(), room(1)));
    assert!(hub.lock().rooms.is_empty());
}

#[test]
fn forward_needs_a_shared_room() {
    let hub = hub();
    let a = hub.register();
    let b = hub.register();
    let c = hub.register();
    hub.join(a.peer(), room(1)).unwrap();
    hub.join(b.peer(), room(1)).unwrap();
    hub.join(c.peer(), room(2)).unwrap();
    assert_eq!(
        hub.forward(a.peer(), c.peer(), Message::binary(vec![1])),
        Err(HubError::UnknownPeer)
    );
    assert_eq!(
        hub.forward(a.peer(), a.peer(), Message::binary(vec![1])),
        Err(HubError::UnknownPeer)
    );
    assert_eq!(
        hub.forward(a.peer(), PeerId::new(0), Message::binary(vec![1])),
        Err(HubError::UnknownPeer)
    );
    assert_eq!(
        hub.forward(a.peer(), b.peer(), Message::binary(vec![7])),
        Ok(())
    );
    assert_eq!(b.inbox().try_pop(), Some(Message::binary(vec![7])));
}

#[test]
fn logs_show_only_a_prefix_of_room_ids() {
    use std::sync::Mutex;
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let room = RoomId::from_bytes(*b"0123456789abcdef0123456789abcdef");
    tracing::subscriber::with_default(subscriber, || {
        let hub = hub();
        let a = hub.register();
        let b = hub.register();
        hub.join(a.peer(), room).unwrap();
        hub.join(b.peer(), room).unwrap();
        drop(a);
    });
    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let hex = room.to_string();
    assert!(logs.contains(&format!("RoomId({}…)", &hex[..8])), "{logs}");
    assert!(!logs.contains(&hex[..9]), "{logs}");
}

#[test]
fn a_remote_member_is_announced_as_earlier_or_newcomer_by_its_presence() {
    let hub = Arc::new(Hub::new(
        2,
        4,
        budget(4, usize::MAX, usize::MAX),
        None,
        None,
    ));
    let mut a = hub.register();
    hub.join(a.peer(), room(1)).unwrap();
    let ours = hub.local_members(room(1))[0];
    let node = NodeId(7);
    let earlier = Arrival {
        peer: PeerId::new(1),
        since: ours.since - 1,
    };
    let later = Arrival {
        peer: PeerId::new(2),
        since: ours.since + 1,
    };
    hub.remote_joined(room(1), node, earlier);
    hub.remote_joined(room(1), node, later);
    // Announced again (a `present` after a `joined`): nothing new to say.
    hub.remote_present(room(1), node, &[earlier, later]);
    assert_eq!(
        drain(&mut a),
        [
            ServerMessage::PeerPresent {
                room: room(1),
                peer: earlier.peer
            },
            ServerMessage::PeerJoined {
                room: room(1),
                peer: later.peer
            },
        ]
    );
    // Whoever joins next is later than everything its node knew, whatever the clock.
    let b = hub.register();
    let listed = hub.join(b.peer(), room(1)).unwrap();
    assert_eq!(listed, [a.peer(), earlier.peer, later.peer]);
    let theirs = hub.local_members(room(1))[1];
    assert!(later.is_before(&theirs));
}

#[test]
fn a_deposit_is_announced_to_the_room_s_other_members_only() {
    let hub = hub();
    let mut a = hub.register();
    let mut b = hub.register();
    let mut c = hub.register();
    hub.join(a.peer(), room(1)).unwrap();
    hub.join(b.peer(), room(1)).unwrap();
    hub.join(c.peer(), room(2)).unwrap();
    drain(&mut a);
    let seq = MailboxSeq::new(7);
    hub.mailbox_deposited(room(1), seq, Some(a.peer()));
    let notices = drain_as::<MailboxReply>;
    let new = MailboxReply::MailboxNew { room: room(1), seq };
    assert_eq!(notices(&mut b), std::slice::from_ref(&new));
    assert_eq!(notices(&mut a), [], "not the depositor");
    assert_eq!(notices(&mut c), [], "not another room");
    // Deposited on another node (or by a connection not in the room): every member.
    hub.mailbox_deposited(room(1), seq, None);
    assert_eq!(notices(&mut a), std::slice::from_ref(&new));
    assert_eq!(notices(&mut b), [new]);
    // A room with no member here: nobody.
    hub.mailbox_deposited(room(3), seq, None);
    assert_eq!(notices(&mut c), []);
}

#[tokio::test]
async fn a_full_queue_drops_forwarded_messages_and_kicks_only_a_stuck_recipient() {
    for (stall, is_kicked) in [(Duration::from_secs(3600), false), (Duration::ZERO, true)] {
        // Four messages a queue, three of them for forwarded ones.
        let hub = Arc::new(Hub::new(
            2,
            3,
            budget_with(4, usize::MAX, usize::MAX, stall),
            None,
            None,
        ));
        let (a, b) = (hub.register(), hub.register());
        hub.join(a.peer(), room(1)).unwrap();
        hub.join(b.peer(), room(1)).unwrap();
        let inbox = b.inbox();
        for n in 0..3 {
            assert_eq!(
                hub.forward(a.peer(), b.peer(), Message::binary(vec![n])),
                Ok(())
            );
        }
        let sent = hub.forward(a.peer(), b.peer(), Message::binary(vec![3]));
        if is_kicked {
            assert_eq!(
                sent,
                Ok(()),
                "the recipient is gone, not the sender's fault"
            );
            let ended = tokio::time::timeout(Duration::from_secs(1), inbox.ended());
            assert_eq!(ended.await.expect("kicked"), Ended::Kicked);
            assert_eq!(
                inbox.try_pop(),
                None,
                "a kicked connection's queue is dropped"
            );
        } else {
            assert_eq!(sent, Err(HubError::RecipientBusy));
            // The notices' quarter is still free, and what was queued still goes.
            hub.leave(a.peer(), room(1));
            let queued: Vec<_> = std::iter::from_fn(|| inbox.try_pop()).collect();
            assert_eq!(queued.len(), 4, "{queued:?}");
            assert!(
                matches!(queued[3], Message::Text(_)),
                "peer-left: {queued:?}"
            );
            let ended = tokio::time::timeout(Duration::from_millis(10), inbox.ended());
            assert!(ended.await.is_err(), "not kicked");
        }
    }
}

#[tokio::test]
async fn at_the_budget_forwarded_messages_are_dropped_unless_the_largest_is_stuck() {
    for (stall, is_kicked) in [(Duration::from_secs(3600), false), (Duration::ZERO, true)] {
        // 8 KiB per connection (6 KiB for forwarded), 6 KiB in all; each message
        // costs 1 KiB.
        let payload = 1024 - 64;
        let hub = Arc::new(Hub::new(
            2,
            4,
            budget_with(100, 8192, 6144, stall),
            None,
            None,
        ));
        let (a, b, c) = (hub.register(), hub.register(), hub.register());
        for member in [&a, &b, &c] {
            hub.join(member.peer(), room(1)).unwrap();
        }
        while a.inbox().try_pop().is_some() || b.inbox().try_pop().is_some() {}
        let send =
            |to: &Registration| hub.forward(c.peer(), to.peer(), Message::binary(vec![0; payload]));
        for _ in 0..4 {
            send(&b).unwrap();
        }
        send(&a).unwrap();
        send(&a).unwrap();
        assert_eq!(hub.budget().total(), 6144);
        let ended = tokio::time::timeout(Duration::from_millis(10), b.inbox().ended());
        if is_kicked {
            // b, holding the most and stuck, goes, and a's message fits.
            assert_eq!(send(&a), Ok(()));
            assert_eq!(ended.await.expect("b kicked"), Ended::Kicked);
            assert_eq!(a.inbox().queued_bytes(), 3 * 1024);
            assert_eq!(hub.budget().total(), 3 * 1024);
        } else {
            assert_eq!(send(&a), Err(HubError::RecipientBusy));
            assert!(ended.await.is_err(), "b, reading, stays");
            assert_eq!(hub.budget().total(), 6144);
        }
    }
}
