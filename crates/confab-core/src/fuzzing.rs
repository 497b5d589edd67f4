//! The checks the fuzz targets of `fuzz/` run on arbitrary bytes, shared with the tests
//! that replay their corpora (`fuzz/corpus/<target>/`, see `tests` below), so every
//! committed input is checked again on each `cargo test`. Built only for tests and with
//! `--cfg fuzzing` (cargo-fuzz sets it); not an API.
//!
//! Decoders of stored records must be stable: whatever decodes re-encodes to bytes that
//! decode to the same value, and where the format has one encoding per value, to the very
//! bytes read.

// A harness, not protocol code: a failed check must panic (that is what a fuzzer looks
// for), its inputs are its own, and the prepared client needs a clock reading.
#![allow(
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    clippy::disallowed_methods
)]

use std::sync::OnceLock;

use crate::Instant;
use crate::client::{CallEvent, Calls};
use crate::client::{Client, ClientEvent, Config, OutboxRecord, Output, ReceiptsRecord, Role};
use crate::history::UnixMillis;
use crate::identity::Identity;
use crate::ids::{MemberKey, PeerId};
use crate::mailbox::{self, MailboxKeys, SealedEntry};
use crate::room::RoomSecret;
use crate::signal::{SignalRefusal, SignalSeal};
use crate::vault::records::{self, FileRecord, Profile, ReadMarks, SavedRoom};
use crate::vault::{self, KdfParams, Record, Vault, WrappedKey, layout};
use crate::wire::call::{CallMessage, MAX_CALL_MESSAGE_LEN, fingerprints};
use crate::wire::signal::{self as sealed_signal, SealedSignal};

/// The `records` target: the persisted plain records ([`OutboxRecord`],
/// [`ReceiptsRecord`], and the app store's [`Profile`], [`SavedRoom`], [`ReadMarks`],
/// mailbox cursor and [`FileRecord`]), and the store's keys and import check ([`layout`]). Each has one
/// encoding per value, except read marks (authors in any order) and a saved room (its
/// secret's text form, and version 1, which re-encodes as version 2 with the same kind).
pub fn check_records(bytes: &[u8]) {
    if let Ok(record) = OutboxRecord::decode(bytes) {
        assert_eq!(record.encode(), bytes);
        assert_eq!(OutboxRecord::decode(&record.encode()), Ok(record));
    }
    if let Ok(record) = ReceiptsRecord::decode(bytes) {
        assert_eq!(record.encode(), bytes);
        assert_eq!(ReceiptsRecord::decode(&record.encode()), Ok(record));
    }
    if let Ok(profile) = Profile::decode(bytes) {
        assert_eq!(&profile.encode()[..], bytes);
    }
    if let Ok(room) = SavedRoom::decode(bytes) {
        let encoded = room.encode();
        let again = SavedRoom::decode(&encoded).ok();
        let again = again.as_ref().map(|again| {
            (
                again.home(),
                again.kind,
                again.title.as_str(),
                again.last_opened_ms,
            )
        });
        assert_eq!(
            again,
            Some((
                room.home(),
                room.kind,
                room.title.as_str(),
                room.last_opened_ms
            ))
        );
        assert_eq!(
            SavedRoom::decode(&encoded).map(|again| again.encode()),
            Ok(encoded)
        );
    }
    if let Ok(marks) = ReadMarks::decode(bytes) {
        let encoded = marks.encode();
        assert_eq!(encoded.len(), bytes.len());
        assert_eq!(ReadMarks::decode(&encoded), Ok(marks));
    }
    if let Ok(cursor) = records::decode_cursor(bytes) {
        assert_eq!(records::encode_cursor(cursor), bytes);
    }
    if let Ok(record) = FileRecord::decode(bytes) {
        assert_eq!(record.encode(), bytes);
    }
    // The store's keys: one encoding per value.
    if let Ok((room, seq)) = layout::decode_event_key(bytes) {
        assert_eq!(layout::event_key(room, seq), bytes);
    }
    if let Ok((file, index)) = layout::decode_chunk_key(bytes) {
        assert_eq!(layout::chunk_key(file, index), bytes);
    }
    // An imported record with these bytes as its value: only a profile or a room under
    // its own id is taken, and what is taken decodes.
    for store in [layout::META, layout::ROOMS] {
        let key = match store {
            layout::META => layout::KEY_PROFILE.to_vec(),
            _ => bytes.get(..32).unwrap_or(bytes).to_vec(),
        };
        let record = Record {
            store: store.to_owned(),
            key,
            value: bytes.to_vec(),
        };
        if layout::check_imported(&record) == Ok(layout::META) {
            assert!(Profile::decode(bytes).is_ok());
        }
        if layout::check_imported(&record) == Ok(layout::ROOMS) {
            assert_eq!(
                SavedRoom::decode(bytes).map(|room| room.home().as_bytes().to_vec()),
                Ok(record.key.clone())
            );
        }
    }
}

/// The `mailbox` target: a sealed mailbox entry as the server hands it back (bytes, and
/// the base64 text of signalling JSON) never panics a client; what parses re-encodes to
/// the same bytes and text; nothing forged opens; and whatever is sealed opens to itself
/// and fails to open once any byte of it changes.
pub fn check_mailbox_entry(bytes: &[u8]) {
    let keys = mailbox_keys();
    if let Ok(entry) = SealedEntry::from_bytes(bytes.to_vec()) {
        assert_eq!(entry.as_bytes(), bytes);
        // Nobody without the room secret can seal for it: arbitrary bytes never open.
        assert!(keys.open(&entry).is_err());
        let text = String::from(entry);
        let again = SealedEntry::try_from(text.clone()).map(String::from);
        assert_eq!(again, Ok(text));
    }
    let text = std::str::from_utf8(bytes).ok();
    if let Some(Ok(entry)) = text.map(|text| SealedEntry::try_from(text.to_owned())) {
        // One text per entry (no padding, no stray bits).
        assert_eq!(Some(String::from(entry).as_str()), text);
    }
    // Seal the input (its first bytes as the nonce), open it, and flip a byte.
    let Some((nonce, payload)) = bytes.split_first_chunk::<{ mailbox::NONCE_LEN }>() else {
        return;
    };
    let Ok(entry) = keys.seal(*nonce, payload) else {
        assert!(payload.len() > mailbox::MAX_PAYLOAD_LEN);
        return;
    };
    assert_eq!(entry.len(), payload.len() + mailbox::ENTRY_OVERHEAD);
    assert_eq!(keys.open(&entry).as_deref(), Ok(payload));
    let mut altered = entry.into_bytes();
    let at = usize::from(nonce[0]) * 257 % altered.len();
    altered[at] ^= 1 << (nonce[1] % 8);
    if let Ok(altered) = SealedEntry::from_bytes(altered) {
        assert!(keys.open(&altered).is_err(), "byte {at} altered");
    }
}

/// The `vault` target: the vault's stored forms (a sealed record, a wrapped key, an
/// export's header and body) on arbitrary bytes. Nothing panics; a wrapped key and an
/// export body re-encode to the bytes read; nothing forged opens; whatever is sealed or
/// exported opens to itself.
pub fn check_vault(bytes: &[u8]) {
    if let Ok(wrapped) = WrappedKey::decode(bytes) {
        assert_eq!(&wrapped.encode()[..], bytes);
    }
    if let Ok(records) = vault::decode_export_body(bytes) {
        let body = vault::encode_export_body(&records);
        assert_eq!(body.as_deref().map(|body| &body[..]), Ok(bytes));
    }
    // An export: only with cheap Argon2 costs (a crafted file may ask for 256 MiB and 16
    // passes, which is allowed and takes seconds: not what a fuzzer should spend time on).
    let is_cheap =
        |params: &[u8]| params[..4] <= [0, 0, 0, 64][..] && params[4..8] <= [0, 0, 0, 1][..];
    if bytes.get(15..27).is_some_and(is_cheap) {
        // Arbitrary bytes hold no valid tag.
        assert!(vault::import_profile(bytes, "passphrase").is_err());
    }
    let mut vault = Vault::create([9; 32]);
    // Arbitrary bytes never open as a sealed record.
    let context_len = usize::from(bytes.first().copied().unwrap_or(0) % 40);
    let (context, plaintext) = bytes.split_at(context_len.min(bytes.len()));
    assert!(vault.open(context, plaintext).is_err());
    let Ok(sealed) = vault.seal(context, plaintext) else {
        return;
    };
    assert_eq!(vault.open(context, &sealed).as_deref(), Ok(plaintext));
    let mut altered = sealed.clone();
    let at = plaintext.len() * 31 % altered.len();
    altered[at] ^= 0x80;
    assert!(vault.open(context, &altered).is_err(), "byte {at} altered");
    let mut other_context = context.to_vec();
    other_context.push(0);
    assert!(vault.open(&other_context, &sealed).is_err());
    // A short body read from the input exports and imports back (cheapest Argon2 costs).
    let records = (bytes.len() <= 256).then(|| vault::decode_export_body(plaintext));
    if let Some(Ok(records)) = records {
        let cheap = KdfParams {
            m_cost_kib: 8,
            t_cost: 1,
            p_cost: 1,
        };
        let export = vault::export_profile(&records, "fuzzing passphrase", cheap, [3; 32]);
        let imported =
            export.and_then(|export| vault::import_profile(&export, "fuzzing passphrase"));
        assert!(imported.as_deref() == Ok(&records[..]));
    }
}

/// The `client` target: a whole [`Client`] driven by arbitrary bytes from its peers, one
/// still handshaking (a stranger) and one with an established session (a friend). The
/// input is length-prefixed chunks, each a frame from the friend (even lengths) or the
/// stranger (odd). Whatever arrives, nothing panics, no accepted event is lost, and the
/// established session still carries a message afterwards.
///
/// Every run starts from the same prepared client: handshake done, a history of messages
/// both ways, and the friend's next message sealed but not yet delivered. Each run copies
/// it ([`Client::snapshot_for_fuzzing`]) instead of running the handshakes again, which
/// cost far more than a run (about 4.5 ms here under the fuzzer's instrumentation).
pub fn check_client(bytes: &[u8]) {
    thread_local! {
        static PREPARED: PreparedClient = prepare_client();
    }
    let mut prepared = PREPARED.with(PreparedClient::copy);
    let PreparedClient {
        victim,
        now,
        friend_id,
        stranger_id,
        ..
    } = &mut prepared;
    let now = *now;
    let history_len = victim.history().len();
    victim.add_peer(now, *stranger_id, Role::Responder);
    let mut rest = bytes;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (chunk, tail) = tail.split_at(len);
        let from = if len % 2 == 0 {
            *friend_id
        } else {
            *stranger_id
        };
        victim.handle_frame(now, from, chunk);
        drain(victim);
        rest = tail;
    }
    // Nobody can forge the friend's signature: nothing accepted is lost.
    assert!(victim.history().len() >= history_len);
    for frame in &prepared.friend_next {
        prepared.victim.handle_frame(now, prepared.friend_id, frame);
    }
    let events = drain(&mut prepared.victim);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::Message(m) if m.text == "still here")),
        "the established session no longer carries messages"
    );
}

/// The `client` target's starting point.
struct PreparedClient {
    /// The client under test: one established peer, a history.
    victim: Client,
    now: Instant,
    friend_id: PeerId,
    stranger_id: PeerId,
    /// The friend's next frames (a message, "still here"), sealed but not delivered.
    friend_next: Vec<Vec<u8>>,
}

impl PreparedClient {
    fn copy(&self) -> PreparedClient {
        PreparedClient {
            victim: self.victim.snapshot_for_fuzzing(),
            now: self.now,
            friend_id: self.friend_id,
            stranger_id: self.stranger_id,
            friend_next: self.friend_next.clone(),
        }
    }
}

/// An honest handshake between the victim and a friend, three messages from each, and the
/// friend's next message sealed.
fn prepare_client() -> PreparedClient {
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
    // No store: their events go out as soon as they are signed (no write-ahead wait).
    victim.run_without_store();
    friend.run_without_store();
    let (victim_id, friend_id, stranger_id) = (PeerId::new(1), PeerId::new(2), PeerId::new(3));
    victim.add_peer(now, friend_id, Role::Responder);
    friend.add_peer(now, victim_id, Role::Initiator);
    let exchange = |victim: &mut Client, friend: &mut Client| {
        for _ in 0..4 {
            for frame in transmits(friend) {
                victim.handle_frame(now, friend_id, &frame);
            }
            for frame in transmits(victim) {
                friend.handle_frame(now, victim_id, &frame);
            }
        }
    };
    exchange(&mut victim, &mut friend);
    assert_eq!(victim.verified_peers().count(), 1);
    for n in 0..3u64 {
        let sent_at = UnixMillis(1_000 + n);
        let sent = friend.send_text(now, sent_at, &format!("hello {n}"));
        assert!(sent.is_ok());
        let sent = victim.send_text(now, sent_at, &format!("hi {n}"));
        assert!(sent.is_ok());
        exchange(&mut victim, &mut friend);
    }
    assert_eq!(victim.history().len(), 6);
    let sent = friend.send_text(now, UnixMillis(2_000), "still here");
    assert!(sent.is_ok());
    PreparedClient {
        friend_next: transmits(&mut friend),
        victim,
        now,
        friend_id,
        stranger_id,
    }
}

/// Drains `client`, returning its events.
fn drain(client: &mut Client) -> Vec<ClientEvent> {
    let mut events = Vec::new();
    loop {
        match client.poll_output() {
            Output::Transmit(_) => {}
            Output::Event(event) => events.push(event),
            Output::Timeout(_) => return events,
        }
    }
}

/// Drains `client`, returning the frames it sends.
fn transmits(client: &mut Client) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    loop {
        match client.poll_output() {
            Output::Transmit(transmit) => frames.push(transmit.bytes),
            Output::Event(_) => {}
            Output::Timeout(_) => return frames,
        }
    }
}

/// The `signal` target: sealed signalling (what members send each other through the
/// server, [`SignalSeal`]) on arbitrary bytes. The sealed layout and the plaintext
/// re-encode to the bytes read; nothing forged opens (as text, or as the base64 of the
/// bytes), and a refusal changes nothing: the sender's genuine signals still open after
/// it, once each; whatever is sealed opens to itself for its recipient only.
pub fn check_signal(bytes: &[u8]) {
    const ALICE: PeerId = PeerId::new(0x0a);
    const BOB: PeerId = PeerId::new(0x0b);
    if let Ok(sealed) = SealedSignal::decode(bytes) {
        assert_eq!(sealed.encode(), bytes);
    }
    if let Ok((counter, payload)) = sealed_signal::decode_plaintext(bytes) {
        assert_eq!(sealed_signal::encode_plaintext(counter, payload), bytes);
    }
    let room = RoomSecret::from_bytes([7; 32]);
    let mut alice = SignalSeal::new(&room, [1; 32]);
    let mut bob = SignalSeal::new(&room, [2; 32]);
    let first = alice.seal(ALICE, BOB, "first").unwrap();
    let second = alice.seal(ALICE, BOB, "second").unwrap();
    let text = String::from_utf8_lossy(bytes);
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
    for forged in [&text[..], &encoded[..]] {
        assert!(bob.open(ALICE, BOB, forged).is_err());
    }
    assert_eq!(bob.open(ALICE, BOB, &second).as_deref(), Ok("second"));
    assert_eq!(bob.open(ALICE, BOB, &first).as_deref(), Ok("first"));
    assert_eq!(bob.open(ALICE, BOB, &first), Err(SignalRefusal::Replay));
    // The input as a payload.
    let Ok(sealed) = alice.seal(ALICE, BOB, &text) else {
        assert!(text.len() > sealed_signal::MAX_PAYLOAD_LEN);
        return;
    };
    let mut carol = SignalSeal::new(&room, [3; 32]);
    assert_eq!(
        carol.open(ALICE, PeerId::new(0x0c), &sealed),
        Err(SignalRefusal::Open)
    );
    assert_eq!(bob.open(BOB, ALICE, &sealed), Err(SignalRefusal::Open));
    let mut altered = sealed.clone().into_bytes();
    let at = text.len() * 7 % altered.len();
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    if let Ok(altered) = String::from_utf8(altered) {
        assert!(bob.open(ALICE, BOB, &altered).is_err(), "byte {at} altered");
    }
    assert_eq!(bob.open(ALICE, BOB, &sealed).as_deref(), Ok(&text[..]));
}

/// The `call` target: a call message from a member whose fingerprints matched, to a
/// machine in a call with it. What decodes re-encodes to the same message; what does not
/// changes nothing; an offer or answer for the call is taken exactly when it declares the
/// vouched fingerprints, and fails the link otherwise; the input read as a session
/// description is vouched for exactly when its fingerprints are the vouched ones.
pub fn check_call(bytes: &[u8]) {
    const BOB: PeerId = PeerId::new(0x0b);
    let bob_key = MemberKey::from_bytes([0x0b; 32]);
    let bob_sdp = "v=0\r\na=fingerprint:sha-256 0B:0B\r\n";
    let vouched = fingerprints(bob_sdp);
    let decoded = CallMessage::decode(bytes);
    if let Ok(message) = &decoded {
        let encoded = message.encode();
        let again = CallMessage::decode(&encoded).unwrap();
        assert_eq!(&again, message);
        assert_eq!(again.encode(), encoded);
    }
    let text = String::from_utf8_lossy(bytes);
    let found = fingerprints(&text);
    assert!(found.iter().all(|f| *f == f.to_ascii_uppercase()));
    assert!(found.windows(2).all(|pair| pair[0] != pair[1]));

    let prepared = || {
        let mut calls = Calls::new(MemberKey::from_bytes([0x0a; 32]), [1; 32]);
        calls.handle_direct_link(BOB, "v=0\r\na=fingerprint:sha-256 0A:0A\r\n", bob_sdp);
        let dtls = CallMessage::Dtls {
            fingerprints: fingerprints(bob_sdp),
        };
        calls.handle_message(BOB, bob_key, &dtls.encode()).unwrap();
        let call = calls.start_call(true).unwrap();
        calls.handle_media_ready();
        while calls.poll_transmit().is_some() {}
        while calls.poll_event().is_some() {}
        (calls, call)
    };

    let (mut calls, call) = prepared();
    assert_eq!(calls.vouches_for(BOB, &text), found == vouched);
    let result = calls.handle_message(BOB, bob_key, bytes);
    assert_eq!(result.is_ok(), decoded.is_ok());
    if decoded.is_err() {
        assert_eq!(calls.poll_event(), None);
        assert!(calls.poll_transmit().is_none());
        assert_eq!(calls.current().map(|(id, _)| id), Some(call));
        assert_eq!(calls.callable(), [BOB]);
    }

    // The same description as an offer and as an answer in our call (the fuzzer cannot
    // guess the call's id): taken exactly when its fingerprints are the vouched ones.
    let sdp = match decoded {
        Ok(CallMessage::Offer { sdp, .. } | CallMessage::Answer { sdp, .. }) => sdp,
        _ => text.into_owned(),
    };
    for answer in [false, true] {
        let (mut calls, call) = prepared();
        let message = if answer {
            CallMessage::Answer {
                call,
                sdp: sdp.clone(),
            }
        } else {
            CallMessage::Offer {
                call,
                sdp: sdp.clone(),
            }
        };
        let encoded = message.encode();
        if encoded.len() > MAX_CALL_MESSAGE_LEN {
            return;
        }
        calls.handle_message(BOB, bob_key, &encoded).unwrap();
        let events: Vec<CallEvent> = std::iter::from_fn(|| calls.poll_event()).collect();
        let took = events.iter().any(|event| {
            matches!(
                event,
                CallEvent::TakeOffer { .. } | CallEvent::TakeAnswer { .. }
            )
        });
        let tampered = events
            .iter()
            .any(|event| matches!(event, CallEvent::Tampered { .. }));
        assert_eq!(took, fingerprints(&sdp) == vouched);
        assert_eq!(tampered, !took);
        assert_eq!(calls.callable().is_empty(), tampered);
    }
}

fn mailbox_keys() -> &'static MailboxKeys {
    static KEYS: OnceLock<MailboxKeys> = OnceLock::new();
    KEYS.get_or_init(|| RoomSecret::from_bytes([7; 32]).mailbox_keys())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::path::Path;

    /// Every input of `fuzz/corpus/<target>/` (at least one: a corpus that vanished must
    /// not pass by checking nothing).
    fn corpus(target: &str) -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus")
            .join(target);
        let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{} is empty", dir.display());
        inputs
    }

    /// A copy evolves on its own: a frame it takes leaves the original as it was, and the
    /// original still takes that frame (its replay window did not see it).
    #[test]
    fn a_prepared_client_copy_is_independent() {
        let mut original = super::prepare_client();
        let mut copy = original.copy();
        let history_len = original.victim.history().len();
        for prepared in [&mut copy, &mut original] {
            for frame in &prepared.friend_next {
                prepared
                    .victim
                    .handle_frame(prepared.now, prepared.friend_id, frame);
            }
            super::drain(&mut prepared.victim);
            assert_eq!(prepared.victim.history().len(), history_len + 1);
        }
    }

    #[test]
    fn the_records_corpus_replays() {
        corpus("records")
            .iter()
            .for_each(|input| super::check_records(input));
    }

    #[test]
    fn the_mailbox_corpus_replays() {
        corpus("mailbox")
            .iter()
            .for_each(|input| super::check_mailbox_entry(input));
    }

    #[test]
    fn the_client_corpus_replays() {
        corpus("client")
            .iter()
            .for_each(|input| super::check_client(input));
    }

    #[test]
    fn the_signal_corpus_replays() {
        corpus("signal")
            .iter()
            .for_each(|input| super::check_signal(input));
    }

    #[test]
    fn the_call_corpus_replays() {
        corpus("call")
            .iter()
            .for_each(|input| super::check_call(input));
    }

    #[test]
    fn the_vault_corpus_replays() {
        corpus("vault")
            .iter()
            .for_each(|input| super::check_vault(input));
    }
}
