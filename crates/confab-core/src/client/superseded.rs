//! A superseded invite link (issue 17, "This invite link is no longer valid"): what a
//! stranger learns who opens the link of an epoch the room has left.
//!
//! A link holder has the link secret (not the epoch secret: it cannot open the epoch's
//! mailbox) and the genesis. The member who rekeyed leaves a **notice** for it: the
//! genesis's `Create`, the `Promote` that made it an admin (unless it owns the room), and
//! its signature over the genesis, the left link's room id and its `Rekey`'s id (layout in
//! `wire/superseded.rs`). The `Rekey` itself stays out: its lockboxes name every member it
//! was sealed to, and the holder of an old link (a removed member among them) must not
//! learn who is in the room. The notice names only the owner and the signer, the authority
//! it needs; its signature, under a context nothing else is signed with, is the signer's
//! word that it rekeyed, which is what the `Rekey` proved before.
//!
//! The notice is sealed into a mailbox of its own, whose room id and keys derive from the
//! left link secret (`RoomSecret::notice`): only a holder of that link can put there
//! something that opens, and only for that link.
//! A client that holds no epoch secret of its governed room fetches that mailbox, and a
//! notice that verifies from the genesis alone makes it report
//! [`ClientEvent::LinkSuperseded`] once. A client that holds an epoch secret (a member
//! back from a closed tab with an old epoch) never reads notices: it follows its lockboxes.
//! Unless its own governance says it holds an epoch the room left and nobody let it in by
//! right (a member removed before its hand-over handed it the secret): no lockbox will ever
//! come, and it reads notices as a stranger does.
//!
//! What it proves, and against whom: that someone with authority over the room (the owner,
//! or an admin as the owner's `Promote` says) rekeyed away from *this* link. A stranger
//! with an old link, the server (it never holds a link secret) and anyone who replays a
//! genuine notice (it names one room id) cannot make another link look superseded. A
//! notice cannot show that its signer had not been demoted or removed before it signed:
//! a removed ex-admin could sign one for any room id, but can seal it only for links it
//! holds, and the rekey that removed it gave the room a link it never held. A rekey that
//! lost to a rival still left the same epoch, which the winner also left, so its notice is
//! true and shows. Notices live as long as mailbox entries (the server's `--mailbox-ttl`,
//! 7 days by default); after that an old link opens an empty room again.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::governance::{Govern, Outcome, genesis_of};
use crate::history::{Content, VerifiedEvent};
use crate::ids::{EventId, PeerId, RoomId};
use crate::mailbox::{MailboxKeys, SealedEntry};
use crate::room::{Commitment, RoomSecret};
use crate::signal::{ClientMessage, MailboxSeq};
use crate::wire::DecodeError;
use crate::wire::superseded::Notice;

use super::{Client, ClientEvent};

const NOTICE_CONTEXT: &[u8] = b"confab/v2/superseded";

/// Why a notice does not count.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoticeError {
    /// Not a notice's layout.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// It names another genesis or another link's room id.
    #[error("a notice for another room or link")]
    OtherRoom,
    /// One of its events does not verify over the genesis.
    #[error("an event of the notice does not verify")]
    Event,
    /// Its first event is not the `Create` the genesis names.
    #[error("the notice does not start at the genesis")]
    NotGenesis,
    /// The signer is neither the owner nor promoted by the owner in the notice.
    #[error("the notice's signer has no authority")]
    NoAuthority,
    /// The signature over the genesis, the room id and the rekey does not verify.
    #[error("the notice's signature does not verify")]
    Signature,
}

/// Checks `bytes` as a notice that the link of `room` in the governed room `genesis` was
/// superseded (see the module doc).
pub fn verify_notice(genesis: RoomId, room: RoomId, bytes: &[u8]) -> Result<(), NoticeError> {
    let notice = Notice::decode(bytes)?;
    if notice.genesis != genesis || notice.room != room {
        return Err(NoticeError::OtherRoom);
    }
    let events = notice
        .events
        .iter()
        .map(|bytes| VerifiedEvent::verify(&genesis, bytes))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| NoticeError::Event)?;
    let Some(create) = events.first() else {
        return Err(NoticeError::NotGenesis);
    };
    let owner = create.event().author;
    match create.event().content {
        Content::Govern(Govern::Create { nonce }) if genesis_of(&owner, &nonce) == genesis => {}
        _ => return Err(NoticeError::NotGenesis),
    }
    // The signer: the owner, or whom the owner's Promote names.
    let signer = match events.as_slice() {
        [_] => owner,
        [_, promote] if promote.event().author == owner => match promote.event().content {
            Content::Govern(Govern::Promote { member, .. }) if member != owner => member,
            _ => return Err(NoticeError::NoAuthority),
        },
        _ => return Err(NoticeError::NoAuthority),
    };
    let key = VerifyingKey::from_bytes(signer.as_bytes()).map_err(|_| NoticeError::Signature)?;
    key.verify_strict(
        &statement(genesis, room, notice.rekey),
        &Signature::from_bytes(&notice.signature),
    )
    .map_err(|_| NoticeError::Signature)
}

/// What the rekey's author signs: which link its rekey left.
fn statement(genesis: RoomId, room: RoomId, rekey: EventId) -> Vec<u8> {
    let mut message = NOTICE_CONTEXT.to_vec();
    message.extend_from_slice(genesis.as_bytes());
    message.extend_from_slice(room.as_bytes());
    message.extend_from_slice(rekey.as_bytes());
    message
}

/// The client's notices: whether ours was shown. (The notice mailboxes of the links we left,
/// to deposit into, are kept with the epochs we left: `govern/left.rs`.)
#[derive(Default)]
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub(super) struct Notices {
    shown: bool,
}

impl Client {
    /// The room id of the mailbox where the notice that our link was superseded would be:
    /// only in a governed room while we hold none of its epoch secrets (a stranger with a
    /// link), or only one the room left that nobody with the right to handed us.
    /// [`Client::mailbox_fetch`] reads it then.
    pub fn notice_room(&self) -> Option<RoomId> {
        self.notice_link().map(|(_, keys)| keys.room())
    }

    /// Whether a valid notice said our link was superseded
    /// ([`ClientEvent::LinkSuperseded`]).
    pub fn link_superseded(&self) -> bool {
        self.notices.shown
    }

    /// The link whose notice mailbox we read (see [`Client::notice_room`]), as its room id
    /// (what a notice for it names) and that mailbox's keys: the one we opened, while we
    /// hold no epoch; shut out, the link of the epoch handed to us past its hander's cut.
    /// That may not be the epoch we hold: before we learned of its removal we may have
    /// followed that member's rekeys, which count for nothing, into epochs whose links
    /// nobody ever left (sim seed 277: the newcomer read the notice mailbox of its removed
    /// hander's epoch 5 and never learned that the link it was let in with was void).
    fn notice_link(&self) -> Option<(RoomId, MailboxKeys)> {
        self.governance.genesis()?;
        let keys = |link: &RoomSecret| (link.room_id(), link.notice().mailbox_keys());
        if self.epoch.is_none() {
            return Some(keys(&self.room));
        }
        let handed = self.shut_out()?;
        let current = self.epoch.as_ref().map(|(_, secret)| secret.commitment());
        if current == Some(handed) {
            return Some(keys(&self.room));
        }
        self.left_mailboxes.link_of(handed).as_ref().map(keys)
    }

    /// We hold an epoch, and the member who handed one to us had been removed before (its
    /// hand-over is past its cut) while nobody else let us in by right (a `Join` alone
    /// entitles nobody): no rekey is sealed to us, ever. What waits for us is the notice
    /// that our link was superseded (sim seed 202: such a newcomer waited in epoch 0 for
    /// good). The commitment of the epoch it handed us. Cheap for everyone else: a member
    /// is entitled.
    fn shut_out(&self) -> Option<Commitment> {
        let me = self.public.member_key();
        if self.epoch.is_none()
            || self.governance.removed(&me).is_some()
            || self.governance.entitled(&me)
        {
            return None;
        }
        self.handovers_past_cut()
            .find(|(_, newcomer, _)| *newcomer == me)
            .map(|(_, _, handed)| handed)
    }

    /// The `mailbox-fetch` of our link's notice mailbox (see [`Client::notice_room`]).
    /// It is read whole each time (a notice or two, one page), whatever the room's cursor.
    pub(super) fn notice_fetch(&self, server_peer: PeerId) -> Option<ClientMessage> {
        let (_, keys) = self.notice_link()?;
        Some(ClientMessage::MailboxFetch {
            room: keys.room(),
            after: MailboxSeq::new(0),
            proof: keys.prove_access(server_peer),
        })
    }

    /// A bundle left in our link's notice mailbox (`govern/left.rs`: for a newcomer let in
    /// with the link whose secret never came), to take in like any bundle.
    pub(super) fn notice_bundle(&self, entry: &SealedEntry) -> Option<Vec<u8>> {
        let (_, keys) = self.notice_link()?;
        let bytes = keys.open(entry).ok()?;
        crate::wire::bundle::is_bundle(&bytes).then_some(bytes)
    }

    /// A mailbox entry that did not open with the room's keys: if it is a notice for our
    /// link, whether it verified (`None`: not one of ours). A valid one is reported once.
    pub(super) fn take_notice(&mut self, entry: &SealedEntry) -> Option<bool> {
        let genesis = self.governance.genesis()?;
        let (link, keys) = self.notice_link()?;
        let bytes = keys.open(entry).ok()?;
        if verify_notice(genesis, link, &bytes).is_err() {
            return Some(false);
        }
        if !std::mem::replace(&mut self.notices.shown, true) {
            self.events.push_back(ClientEvent::LinkSuperseded);
        }
        Some(true)
    }

    /// We rekeyed away from `left` with our event `seq`: leaves the notice for its holders
    /// in its notice mailbox ([`ClientEvent::MailboxDeposit`] under that room id).
    pub(super) fn deposit_notice(&mut self, left: &RoomSecret, seq: u64) {
        let Some(notice) = self.notice_for(left.room_id(), seq) else {
            return;
        };
        let keys = left.notice().mailbox_keys();
        let room = keys.room();
        let mut nonce = [0; crate::mailbox::NONCE_LEN];
        self.mailbox_rng.fill_bytes(&mut nonce);
        let Ok(entry) = keys.seal(nonce, &notice.encode()) else {
            return;
        };
        self.events
            .push_back(ClientEvent::MailboxDeposit { seq, room, entry });
    }

    /// The notice that our rekey `seq` left the link of `room`, if history holds what it
    /// needs: the genesis's `Create` and, unless we own the room, the owner's applied
    /// `Promote` of us.
    fn notice_for(&self, room: RoomId, seq: u64) -> Option<Notice> {
        let genesis = self.governance.genesis()?;
        let me = self.public.member_key();
        let owner = self.governance.owner()?;
        let bytes_of = |id: &EventId| self.history.get(id).map(|event| event.bytes().to_vec());
        let rekey = self.history.id_at(&me, seq)?;
        debug_assert!(matches!(
            self.history.get(&rekey).map(|event| &event.event().content),
            Some(Content::Govern(Govern::Rekey(_)))
        ));
        let applied = |id: &EventId| self.governance.outcome(id) == Some(Outcome::Applied);
        let mut create = None;
        let mut promote = None;
        for event in self.history.iter() {
            let author = event.event().author;
            match event.event().content {
                Content::Govern(Govern::Create { nonce })
                    if genesis_of(&author, &nonce) == genesis =>
                {
                    create = Some(event.id());
                }
                Content::Govern(Govern::Promote { member, .. })
                    if member == me && author == owner && applied(&event.id()) =>
                {
                    promote = Some(event.id());
                }
                _ => {}
            }
        }
        let mut events = vec![bytes_of(&create?)?];
        if me != owner {
            events.push(bytes_of(&promote?)?);
        }
        let signature = self.identity.sign_raw(&statement(genesis, room, rekey));
        Some(Notice {
            genesis,
            room,
            events,
            rekey,
            signature,
        })
    }
}

#[cfg(test)]
mod tests;
