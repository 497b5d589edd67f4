//! A whole `Client` driven by arbitrary bytes from its peers: one peer still handshaking,
//! one with an established session. Whatever arrives, nothing panics and the established
//! session keeps working.

#![no_main]

use confab_core::{
    Client, Config, Event, Identity, Instant, Output, PeerId, Role, RoomSecret, UnixMillis,
};
use libfuzzer_sys::fuzz_target;

fn drain(client: &mut Client) -> (Vec<(PeerId, Vec<u8>)>, Vec<Event>) {
    let (mut transmits, mut events) = (Vec::new(), Vec::new());
    loop {
        match client.poll_output() {
            Output::Transmit(t) => transmits.push((t.peer, t.bytes)),
            Output::Event(e) => events.push(e),
            Output::Timeout(_) => return (transmits, events),
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    let now = Instant::now();
    let room = RoomSecret::from_bytes([7; 32]);
    let mut victim = Client::new(
        Identity::from_seed([1; 32]),
        room.clone(),
        Config::default(),
        [2; 32],
    );
    let mut friend = Client::new(
        Identity::from_seed([3; 32]),
        room,
        Config::default(),
        [4; 32],
    );
    let (victim_id, friend_id, stranger_id) = (PeerId::new(1), PeerId::new(2), PeerId::new(3));

    // An honest handshake with the friend.
    victim.add_peer(now, friend_id, Role::Responder);
    friend.add_peer(now, victim_id, Role::Initiator);
    for _ in 0..4 {
        for (_, frame) in drain(&mut friend).0 {
            victim.handle_frame(now, friend_id, &frame);
        }
        for (_, frame) in drain(&mut victim).0 {
            friend.handle_frame(now, victim_id, &frame);
        }
    }
    assert_eq!(victim.verified_peers().count(), 1);

    // A stranger mid-handshake, and garbage from both: length-prefixed chunks.
    victim.add_peer(now, stranger_id, Role::Responder);
    let mut rest = bytes;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (chunk, tail) = tail.split_at(len);
        let from = if len % 2 == 0 { friend_id } else { stranger_id };
        victim.handle_frame(now, from, chunk);
        drain(&mut victim);
        rest = tail;
    }

    // The session with the friend still carries messages.
    friend.send_text(now, UnixMillis(1), "still here").unwrap();
    for (_, frame) in drain(&mut friend).0 {
        victim.handle_frame(now, friend_id, &frame);
    }
    let (_, events) = drain(&mut victim);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Message(m) if m.text == "still here"))
    );
});
