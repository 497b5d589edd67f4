//! [`Contacts`]: the people we have met, by key, with the name they used and when we last
//! saw them, and the check that catches a newcomer using a known contact's name with
//! another key (someone else, or the same person on a fresh profile: either way the user
//! must compare safety numbers before trusting them).
//!
//! Stored form (the app's store seals it), version byte first:
//!
//! ```text
//! contact = version:u8 (=2) signing_key[32] dh_key[32] first_seen_ms:u64be
//!           last_seen_ms:u64be name_len:u8 name (UTF-8, <= MAX_NAME_LEN) flags:u8
//! flags   = bit 0: blocked (issue 17: their messages are hidden); other bits 0
//! ```
//!
//! Version 1 (written before blocking existed) is the same without `flags`: it reads as
//! not blocked.

use std::collections::BTreeMap;

use crate::bytes::Reader;
use crate::history::UnixMillis;
use crate::identity::{Identity, PublicIdentity, RoomAddress};
use crate::ids::MemberKey;
use crate::room::RoomSecret;
use crate::vault::records::{RoomKind, SavedRoom};
use crate::wire::{DecodeError, MAX_NAME_LEN, truncate_utf8};

const VERSION: u8 = 2;
/// The stored form before `flags`.
const VERSION_UNFLAGGED: u8 = 1;
/// `flags` bit: blocked.
const FLAG_BLOCKED: u8 = 1;

/// Someone we met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Their keys.
    pub identity: PublicIdentity,
    /// The name they last used.
    pub name: String,
    /// When we first verified them.
    pub first_seen: UnixMillis,
    /// When we last verified or heard from them.
    pub last_seen: UnixMillis,
    /// The user blocked them: their messages are hidden everywhere, no one-to-one room
    /// with them connects, and they are not told.
    pub blocked: bool,
}

/// What [`Contacts::observe`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Someone new (now a contact).
    New,
    /// Known; the name or the time changed (save it again).
    Updated,
}

/// The people we have met; see the module documentation.
#[derive(Clone, Default)]
pub struct Contacts {
    by_key: BTreeMap<MemberKey, Contact>,
}

impl Contact {
    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let name = truncate_utf8(&self.name, MAX_NAME_LEN);
        let mut out = Vec::with_capacity(82 + name.len());
        out.push(VERSION);
        out.extend_from_slice(&self.identity.signing_key_bytes());
        out.extend_from_slice(&self.identity.dh_key_bytes());
        out.extend_from_slice(&self.first_seen.0.to_be_bytes());
        out.extend_from_slice(&self.last_seen.0.to_be_bytes());
        out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(name.as_bytes());
        out.push(if self.blocked { FLAG_BLOCKED } else { 0 });
        out
    }

    /// Parses the stored form. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Contact, DecodeError> {
        let mut reader = Reader::new(bytes);
        let version = reader.u8()?;
        if version != VERSION && version != VERSION_UNFLAGGED {
            return Err(DecodeError::Version {
                expected: VERSION,
                got: version,
            });
        }
        let signing: [u8; 32] = reader.array()?;
        let dh: [u8; 32] = reader.array()?;
        let first_seen = UnixMillis(reader.u64()?);
        let last_seen = UnixMillis(reader.u64()?);
        let len = usize::from(reader.u8()?);
        if len > MAX_NAME_LEN {
            return Err(DecodeError::TooLong {
                what: "display name",
                max: MAX_NAME_LEN,
                got: len,
            });
        }
        let name = reader.take(len)?.to_vec();
        let flags = if version == VERSION { reader.u8()? } else { 0 };
        if flags & !FLAG_BLOCKED != 0 {
            return Err(DecodeError::Invalid("contact flags"));
        }
        reader.finish()?;
        let identity =
            PublicIdentity::from_keys(&signing, &dh).ok_or(DecodeError::Invalid("signing key"))?;
        Ok(Contact {
            identity,
            name: String::from_utf8(name).map_err(|_| DecodeError::Utf8)?,
            first_seen,
            last_seen,
            blocked: flags & FLAG_BLOCKED != 0,
        })
    }
}

impl Contacts {
    /// No contacts.
    pub fn new() -> Contacts {
        Contacts::default()
    }

    /// Adds a contact loaded from storage.
    pub fn insert(&mut self, contact: Contact) {
        self.by_key.insert(contact.identity.member_key(), contact);
    }

    /// Every contact, by key.
    pub fn iter(&self) -> impl Iterator<Item = &Contact> {
        self.by_key.values()
    }

    /// A contact by key.
    pub fn get(&self, key: &MemberKey) -> Option<&Contact> {
        self.by_key.get(key)
    }

    /// Blocks (`blocked`) or unblocks the contact `key`; returns it if that changed it
    /// (to store again), `None` if it was already so or is no contact.
    pub fn set_blocked(&mut self, key: &MemberKey, blocked: bool) -> Option<&Contact> {
        let contact = self.by_key.get_mut(key)?;
        if contact.blocked == blocked {
            return None;
        }
        contact.blocked = blocked;
        Some(contact)
    }

    /// The keys of the contacts the user blocked.
    pub fn blocked(&self) -> impl Iterator<Item = MemberKey> + '_ {
        self.by_key
            .iter()
            .filter(|(_, contact)| contact.blocked)
            .map(|(key, _)| *key)
    }

    /// A *different* contact already known by `name` (compared without case and outer
    /// spaces): the person behind `key` may be impersonating them, or be them on a new
    /// profile. Check before [`Contacts::observe`] records `key`.
    pub fn namesake(&self, key: &MemberKey, name: &str) -> Option<&Contact> {
        let wanted = normalize(name);
        if wanted.is_empty() {
            return None;
        }
        self.by_key
            .iter()
            .find(|(other, contact)| *other != key && normalize(&contact.name) == wanted)
            .map(|(_, contact)| contact)
    }

    /// We verified `identity` using `name` at `now`: records it; returns the contact and
    /// what changed.
    pub fn observe(
        &mut self,
        identity: &PublicIdentity,
        name: &str,
        now: UnixMillis,
    ) -> (Seen, &Contact) {
        let name = truncate_utf8(name.trim(), MAX_NAME_LEN).to_owned();
        let key = identity.member_key();
        let seen = if self.by_key.contains_key(&key) {
            Seen::Updated
        } else {
            Seen::New
        };
        let contact = self.by_key.entry(key).or_insert_with(|| Contact {
            identity: *identity,
            name: name.clone(),
            first_seen: now,
            last_seen: now,
            blocked: false,
        });
        contact.name = name;
        contact.last_seen = contact.last_seen.max(now);
        (seen, contact)
    }
}

/// The room of ours at `address`: a saved one (named by its [`SavedRoom::home`], so a
/// governed room keeps its address through epochs; its current link is returned), our
/// contact room or the one-to-one room with a contact (`None`: a room this profile does
/// not know). The page opening a `#room-…` link and the service worker opening a push
/// resolve addresses alike.
pub fn room_at(
    saved: &[SavedRoom],
    me: &Identity,
    contacts: &Contacts,
    address: RoomAddress,
) -> Option<RoomSecret> {
    let ours = [me.contact_room()]
        .into_iter()
        .chain(contacts.iter().map(|c| me.direct_room_with(&c.identity)))
        .map(|room| (room.room_id(), room));
    saved
        .iter()
        .map(|room| (room.home(), room.secret.clone()))
        .chain(ours)
        .find(|(home, _)| me.room_address(home) == address)
        .map(|(_, room)| room)
}

/// What kind of room `room` is to us: our contact room, our one-to-one room with a
/// contact, or a group (any other room). For a room not saved yet; a saved one says.
pub fn kind_of(room: &RoomSecret, me: &Identity, contacts: &Contacts) -> RoomKind {
    let id = room.room_id();
    if me.contact_room().room_id() == id {
        return RoomKind::Contact;
    }
    contacts
        .iter()
        .find(|c| me.direct_room_with(&c.identity).room_id() == id)
        .map_or(RoomKind::Group, |c| RoomKind::Direct {
            with: Some(c.identity.member_key()),
        })
}

/// What our contact room is called.
pub const CONTACT_ROOM_TITLE: &str = "Your contact room";

/// What the rooms list (and a notification) calls `room`, by its kind: a group its title;
/// a one-to-one room `Direct: ` and the name its contact last used (the name saved with
/// the room while the contacts do not know them); our contact room
/// [`CONTACT_ROOM_TITLE`].
pub fn room_title(room: &SavedRoom, contacts: &Contacts) -> String {
    match room.kind {
        RoomKind::Group => room.title.clone(),
        RoomKind::Direct { with } => {
            let name = with
                .and_then(|key| contacts.get(&key))
                .map_or(room.title.as_str(), |contact| contact.name.as_str());
            format!("Direct: {name}")
        }
        RoomKind::Contact => CONTACT_ROOM_TITLE.to_owned(),
    }
}

fn normalize(name: &str) -> String {
    name.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ids::RoomId;

    fn public(n: u8) -> PublicIdentity {
        Identity::from_seed([n; 32]).public()
    }

    #[test]
    fn an_address_names_a_saved_room_our_contact_room_or_a_direct_room_and_nothing_else() {
        let me = Identity::from_seed([7; 32]);
        let (bob, stranger) = (public(1), public(2));
        let mut contacts = Contacts::new();
        contacts.observe(&bob, "Bob", UnixMillis(1));
        let saved = SavedRoom {
            secret: RoomSecret::from_bytes([9; 32]),
            kind: RoomKind::Group,
            title: "Plans".into(),
            last_opened_ms: 0,
            genesis: None,
            epoch: None,
            first_epoch: None,
            untitled: Vec::new(),
        };
        let saved = [saved];
        let at = |room: &RoomSecret| me.room_address(&room.room_id());
        let found = |address| room_at(&saved, &me, &contacts, address).map(|r| r.room_id());
        for room in [
            saved[0].secret.clone(),
            me.contact_room(),
            me.direct_room_with(&bob),
        ] {
            assert_eq!(found(at(&room)), Some(room.room_id()));
        }
        // Not ours: a room we never saved, a direct room with a stranger, another
        // profile's address for our own saved room.
        let unknown = RoomSecret::from_bytes([8; 32]);
        assert_eq!(found(at(&unknown)), None);
        assert_eq!(found(at(&me.direct_room_with(&stranger))), None);
        let other = Identity::from_seed([6; 32]);
        assert_eq!(found(other.room_address(&saved[0].secret.room_id())), None);
        // A governed room is at its genesis's address whatever its epoch (its current link
        // is returned); not at its current room id's.
        let genesis = RoomId::from_bytes([4; 32]);
        let governed = [SavedRoom {
            genesis: Some(genesis),
            ..saved[0].clone()
        }];
        let found = |address| room_at(&governed, &me, &contacts, address).map(|r| r.room_id());
        assert_eq!(
            found(me.room_address(&genesis)),
            Some(saved[0].secret.room_id())
        );
        assert_eq!(found(at(&saved[0].secret)), None);
    }

    #[test]
    fn a_room_is_titled_by_its_kind_and_a_direct_room_by_its_contact_s_current_name() {
        let me = Identity::from_seed([7; 32]);
        let (bob, stranger) = (public(1), public(2));
        let mut contacts = Contacts::new();
        contacts.observe(&bob, "Bob", UnixMillis(1));
        let room = |secret: RoomSecret, title: &str| SavedRoom {
            kind: kind_of(&secret, &me, &contacts),
            secret,
            title: title.into(),
            last_opened_ms: 0,
            genesis: None,
            epoch: None,
            first_epoch: None,
            untitled: Vec::new(),
        };
        let group = room(RoomSecret::from_bytes([9; 32]), "Direct: Eve");
        let contact_room = room(me.contact_room(), "");
        let with_bob = room(me.direct_room_with(&bob), "Robert");
        let with_stranger = room(me.direct_room_with(&stranger), "Stranger");
        assert_eq!(group.kind, RoomKind::Group);
        assert_eq!(contact_room.kind, RoomKind::Contact);
        let bob_key = Some(bob.member_key());
        assert_eq!(with_bob.kind, RoomKind::Direct { with: bob_key });
        // Not a contact: nothing says it is ours with them.
        assert_eq!(with_stranger.kind, RoomKind::Group);
        let titles = |contacts: &Contacts| {
            [&group, &contact_room, &with_bob].map(|room| room_title(room, contacts))
        };
        assert_eq!(
            titles(&contacts),
            ["Direct: Eve", "Your contact room", "Direct: Bob"]
        );
        // Bob renames: his room follows; without him among the contacts, the name saved
        // with the room shows.
        contacts.observe(&bob, "Bobby", UnixMillis(2));
        assert_eq!(titles(&contacts)[2], "Direct: Bobby");
        assert_eq!(titles(&Contacts::new())[2], "Direct: Robert");
        // A room from a version 1 record (with whom unknown) shows its saved name.
        let legacy = SavedRoom {
            kind: RoomKind::Direct { with: None },
            ..with_bob.clone()
        };
        assert_eq!(room_title(&legacy, &contacts), "Direct: Robert");
    }

    #[test]
    fn meeting_records_and_a_namesake_with_another_key_is_flagged() {
        let mut contacts = Contacts::new();
        let (bob, impostor) = (public(1), public(2));
        assert_eq!(contacts.observe(&bob, " Bob ", UnixMillis(5)).0, Seen::New);
        assert_eq!(contacts.namesake(&bob.member_key(), "Bob"), None);
        let clash = contacts.namesake(&impostor.member_key(), "bob").unwrap();
        assert_eq!(clash.identity, bob);
        assert_eq!(contacts.namesake(&impostor.member_key(), "Carol"), None);
        let (seen, contact) = contacts.observe(&bob, "Bobby", UnixMillis(9));
        assert_eq!(seen, Seen::Updated);
        assert_eq!(
            (contact.name.as_str(), contact.first_seen, contact.last_seen),
            ("Bobby", UnixMillis(5), UnixMillis(9))
        );
    }

    #[test]
    fn blocking_changes_a_contact_once_and_lists_it() {
        let mut contacts = Contacts::new();
        let (bob, carol) = (public(1), public(2));
        contacts.observe(&bob, "Bob", UnixMillis(5));
        contacts.observe(&carol, "Carol", UnixMillis(5));
        assert!(contacts.set_blocked(&bob.member_key(), true).is_some());
        assert!(contacts.set_blocked(&bob.member_key(), true).is_none());
        assert!(
            contacts
                .set_blocked(&public(9).member_key(), true)
                .is_none()
        );
        assert_eq!(contacts.blocked().collect::<Vec<_>>(), [bob.member_key()]);
        // Meeting them again keeps them blocked.
        contacts.observe(&bob, "Bobby", UnixMillis(9));
        assert!(contacts.get(&bob.member_key()).unwrap().blocked);
        assert!(contacts.set_blocked(&bob.member_key(), false).is_some());
        assert_eq!(contacts.blocked().count(), 0);
    }

    #[test]
    fn contacts_round_trip_and_bad_bytes_say_why() {
        let contact = Contact {
            identity: public(3),
            name: "Zoë".into(),
            first_seen: UnixMillis(1),
            last_seen: UnixMillis(2),
            blocked: true,
        };
        let bytes = contact.encode();
        assert_eq!(Contact::decode(&bytes), Ok(contact.clone()));
        assert_eq!(
            Contact::decode(&[3]),
            Err(DecodeError::Version {
                expected: 2,
                got: 3
            })
        );
        // Unknown flags are refused, not dropped.
        let mut flagged = bytes.clone();
        *flagged.last_mut().unwrap() = 0b10;
        assert_eq!(
            Contact::decode(&flagged),
            Err(DecodeError::Invalid("contact flags"))
        );
        // Version 1, as stored before blocking existed: the same without flags, not
        // blocked; stored again, it is version 2.
        let mut v1 = bytes[..bytes.len() - 1].to_vec();
        v1[0] = 1;
        let read = Contact::decode(&v1).unwrap();
        assert_eq!(
            read,
            Contact {
                blocked: false,
                ..contact
            }
        );
        assert_eq!((read.encode()[0], read.encode().len()), (2, bytes.len()));
        assert!(matches!(
            Contact::decode(&bytes[..40]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(Contact::decode(&extra), Err(DecodeError::TrailingBytes(1)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(contact) = Contact::decode(&bytes) {
                prop_assert_eq!(Contact::decode(&contact.encode()), Ok(contact));
            }
        }
    }
}
