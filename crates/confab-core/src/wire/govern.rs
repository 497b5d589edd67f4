//! Governance actions (issue 17): the content of a `govern` history event, and the types
//! [`crate::governance`] judges.
//!
//! ```text
//! govern    = kind 7, action:u8 fields
//!   create    1: nonce[32]                    (genesis = SHA-256(context ‖ author ‖ nonce))
//!   promote   2: member[32] seen:u64be        demote 3: member[32] seen:u64be
//!   remove    4: member[32] seen:u64be        admit  5: member[32] seen:u64be
//!   rekey     6: epoch:u64be(≥1) commitment[32] count:u16be(1..=128)
//!                (member[32] lockbox[80])*     (members ascending: one encoding per set)
//!   configure 7: joining:u8(1 open, 2 approval) backlog:u8(1 all, 2 since joining)
//!                disappear_after_secs:u32be(0 never)
//!   join      8: dh_key[32]                    (the author's X25519 key: lockboxes are sealed to it)
//!   handover  9: member[32] epoch:u64be commitment[32]
//!                                              (the author hands `member` that epoch's secret)
//! ```
//!
//! `seen` is the sequence number of the member's last event the author held (0: none); a
//! lockbox is the epoch secret sealed to that member (see `room/epoch.rs`).

use std::collections::BTreeMap;

use super::{DecodeError, Reader};
use crate::ids::MemberKey;

/// A lockbox's length: an X25519 ephemeral key, the 32-byte secret and an AEAD tag.
pub const LOCKBOX_LEN: usize = 32 + 32 + 16;
/// Most members one rekey seals to (the longest rekey event stays under
/// [`super::MAX_EVENT_LEN`]).
pub const MAX_LOCKBOXES: usize = 128;

const CREATE: u8 = 1;
const PROMOTE: u8 = 2;
const DEMOTE: u8 = 3;
const REMOVE: u8 = 4;
const ADMIT: u8 = 5;
const REKEY: u8 = 6;
const CONFIGURE: u8 = 7;
const JOIN: u8 = 8;
const HANDOVER: u8 = 9;

/// What a governance action does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Govern {
    /// The room's first action: its author owns the room. The room's lasting id (its
    /// genesis, in the invite link) is the hash of the author's key and `nonce`.
    Create {
        /// Drawn at random when the room is made.
        nonce: [u8; 32],
    },
    /// Makes `member` an admin (owner only).
    Promote {
        /// Who.
        member: MemberKey,
        /// Their last event the author held (0: none).
        seen: u64,
    },
    /// Makes an admin a member again (owner only).
    Demote {
        /// Who.
        member: MemberKey,
        /// Their last event the author held.
        seen: u64,
    },
    /// Removes `member` from the room: their events after `seen` are refused.
    Remove {
        /// Who.
        member: MemberKey,
        /// Their last event the author held.
        seen: u64,
    },
    /// Lets `member` in, where joining needs approval.
    Admit {
        /// Who.
        member: MemberKey,
        /// Their last event the author held (0: none).
        seen: u64,
    },
    /// Starts a new epoch.
    Rekey(Rekey),
    /// The room's settings from now on.
    Configure(Settings),
    /// The author is here: every member's first action in a governed room. It names the
    /// X25519 key new epochs' secrets are sealed to for them (the signature binds it to the
    /// author), and where joining needs approval it is the request an admin answers.
    Join {
        /// The author's X25519 public key.
        dh_key: [u8; 32],
    },
    /// The author hands `member` the secret of epoch `epoch` (posted before it does, by the
    /// member who lets a newcomer in where joining is open). Whoever a rekey was not sealed
    /// to is sealed the next only if a member in good standing handed them a secret: a
    /// `Join` alone says nothing of who let its author in (see `crate::governance`).
    Handover {
        /// Who.
        member: MemberKey,
        /// The epoch whose secret it is.
        epoch: u64,
        /// The secret's commitment (which of rival epochs of that number it is).
        commitment: [u8; 32],
    },
}

/// A new epoch: its number, a commitment to its secret, and the secret sealed to each holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rekey {
    /// One more than the current epoch.
    pub epoch: u64,
    /// SHA-256 of the secret under its context (every holder checks it).
    pub commitment: [u8; 32],
    /// The secret sealed to each holder (1..=[`MAX_LOCKBOXES`]).
    pub lockboxes: BTreeMap<MemberKey, [u8; LOCKBOX_LEN]>,
}

/// Who may join.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Joining {
    /// Anyone with the link (the default).
    #[default]
    Open,
    /// An owner or admin approves each newcomer.
    Approval,
}

/// What newcomers may read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backlog {
    /// Everything said before they came (the default).
    #[default]
    All,
    /// Only what is said from when they joined.
    SinceJoining,
}

/// A room's settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// Who may join.
    pub joining: Joining,
    /// What newcomers may read.
    pub backlog: Backlog,
    /// Each member erases a message's content this many seconds after it was sent (`None`:
    /// never).
    pub disappear_after_secs: Option<u32>,
}

impl Govern {
    /// The member an action is about and how much of them its author had seen.
    pub fn cut(&self) -> Option<(MemberKey, u64)> {
        match *self {
            Govern::Promote { member, seen }
            | Govern::Demote { member, seen }
            | Govern::Remove { member, seen }
            | Govern::Admit { member, seen } => Some((member, seen)),
            Govern::Create { .. }
            | Govern::Rekey(_)
            | Govern::Configure(_)
            | Govern::Join { .. }
            | Govern::Handover { .. } => None,
        }
    }
}

/// Appends the action (after the event's kind byte).
pub(crate) fn encode(action: &Govern, out: &mut Vec<u8>) {
    let mut about = |tag: u8, member: &MemberKey, seen: u64| {
        out.push(tag);
        out.extend_from_slice(member.as_bytes());
        out.extend_from_slice(&seen.to_be_bytes());
    };
    match action {
        Govern::Create { nonce } => {
            out.push(CREATE);
            out.extend_from_slice(nonce);
        }
        Govern::Promote { member, seen } => about(PROMOTE, member, *seen),
        Govern::Demote { member, seen } => about(DEMOTE, member, *seen),
        Govern::Remove { member, seen } => about(REMOVE, member, *seen),
        Govern::Admit { member, seen } => about(ADMIT, member, *seen),
        Govern::Rekey(rekey) => {
            out.push(REKEY);
            out.extend_from_slice(&rekey.epoch.to_be_bytes());
            out.extend_from_slice(&rekey.commitment);
            let lockboxes = rekey.lockboxes.iter().take(MAX_LOCKBOXES);
            let count = rekey.lockboxes.len().min(MAX_LOCKBOXES);
            out.extend_from_slice(&u16::try_from(count).unwrap_or(u16::MAX).to_be_bytes());
            for (member, lockbox) in lockboxes {
                out.extend_from_slice(member.as_bytes());
                out.extend_from_slice(lockbox);
            }
        }
        Govern::Configure(settings) => {
            out.push(CONFIGURE);
            out.push(match settings.joining {
                Joining::Open => 1,
                Joining::Approval => 2,
            });
            out.push(match settings.backlog {
                Backlog::All => 1,
                Backlog::SinceJoining => 2,
            });
            out.extend_from_slice(&settings.disappear_after_secs.unwrap_or(0).to_be_bytes());
        }
        Govern::Join { dh_key } => {
            out.push(JOIN);
            out.extend_from_slice(dh_key);
        }
        Govern::Handover {
            member,
            epoch,
            commitment,
        } => {
            out.push(HANDOVER);
            out.extend_from_slice(member.as_bytes());
            out.extend_from_slice(&epoch.to_be_bytes());
            out.extend_from_slice(commitment);
        }
    }
}

/// Reads an action (after the event's kind byte); the caller checks nothing follows.
pub(crate) fn decode(reader: &mut Reader<'_>) -> Result<Govern, DecodeError> {
    let about = |reader: &mut Reader<'_>| -> Result<(MemberKey, u64), DecodeError> {
        Ok((MemberKey(reader.array()?), reader.u64()?))
    };
    Ok(match reader.u8()? {
        CREATE => Govern::Create {
            nonce: reader.array()?,
        },
        PROMOTE => {
            let (member, seen) = about(reader)?;
            Govern::Promote { member, seen }
        }
        DEMOTE => {
            let (member, seen) = about(reader)?;
            Govern::Demote { member, seen }
        }
        REMOVE => {
            let (member, seen) = about(reader)?;
            Govern::Remove { member, seen }
        }
        ADMIT => {
            let (member, seen) = about(reader)?;
            Govern::Admit { member, seen }
        }
        REKEY => {
            let epoch = reader.u64()?;
            if epoch == 0 {
                return Err(DecodeError::Invalid("rekey to epoch 0"));
            }
            let commitment = reader.array()?;
            let count = usize::from(reader.u16()?);
            if count == 0 || count > MAX_LOCKBOXES {
                return Err(DecodeError::Invalid("lockbox count"));
            }
            let mut lockboxes = BTreeMap::new();
            let mut last: Option<MemberKey> = None;
            for _ in 0..count {
                let member = MemberKey(reader.array()?);
                if last.is_some_and(|last| last >= member) {
                    return Err(DecodeError::Invalid("lockboxes out of order"));
                }
                last = Some(member);
                lockboxes.insert(member, reader.array()?);
            }
            Govern::Rekey(Rekey {
                epoch,
                commitment,
                lockboxes,
            })
        }
        CONFIGURE => {
            let joining = match reader.u8()? {
                1 => Joining::Open,
                2 => Joining::Approval,
                _ => return Err(DecodeError::Invalid("joining setting")),
            };
            let backlog = match reader.u8()? {
                1 => Backlog::All,
                2 => Backlog::SinceJoining,
                _ => return Err(DecodeError::Invalid("backlog setting")),
            };
            let secs = reader.u32()?;
            Govern::Configure(Settings {
                joining,
                backlog,
                disappear_after_secs: (secs != 0).then_some(secs),
            })
        }
        JOIN => Govern::Join {
            dh_key: reader.array()?,
        },
        HANDOVER => Govern::Handover {
            member: MemberKey(reader.array()?),
            epoch: reader.u64()?,
            commitment: reader.array()?,
        },
        got => {
            return Err(DecodeError::UnknownKind {
                what: "governance action",
                got,
            });
        }
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip(action: &Govern) -> Result<Govern, DecodeError> {
        let mut bytes = Vec::new();
        encode(action, &mut bytes);
        let mut reader = Reader::new(&bytes);
        let decoded = decode(&mut reader)?;
        reader.finish()?;
        Ok(decoded)
    }

    fn read(bytes: &[u8]) -> Result<Govern, DecodeError> {
        let mut reader = Reader::new(bytes);
        let decoded = decode(&mut reader)?;
        reader.finish()?;
        Ok(decoded)
    }

    #[test]
    fn the_layout_is_pinned() {
        let member = MemberKey([0xaa; 32]);
        let mut bytes = Vec::new();
        encode(&Govern::Remove { member, seen: 258 }, &mut bytes);
        let mut expected = vec![4];
        expected.extend_from_slice(&[0xaa; 32]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(bytes, expected);

        let mut bytes = Vec::new();
        encode(
            &Govern::Configure(Settings {
                joining: Joining::Approval,
                backlog: Backlog::SinceJoining,
                disappear_after_secs: Some(3600),
            }),
            &mut bytes,
        );
        assert_eq!(bytes, [7, 2, 2, 0, 0, 0x0e, 0x10]);

        let mut bytes = Vec::new();
        let rekey = Rekey {
            epoch: 1,
            commitment: [3; 32],
            lockboxes: [(member, [5; LOCKBOX_LEN])].into(),
        };
        encode(&Govern::Rekey(rekey), &mut bytes);
        assert_eq!(bytes.len(), 1 + 8 + 32 + 2 + 32 + LOCKBOX_LEN);
        assert_eq!(bytes.get(..9), Some(&[6, 0, 0, 0, 0, 0, 0, 0, 1][..]));
        assert_eq!(bytes.get(41..43), Some(&[0, 1][..]));
    }

    #[test]
    fn malformed_actions_are_refused() {
        let cases: [(&[u8], &str); 10] = [
            (&[], "empty"),
            (&[10], "unknown action"),
            (&[9, 1, 2], "truncated hand-over"),
            (&[8, 1], "short key"),
            (&[2, 1, 2], "truncated member"),
            (&[7, 3, 1, 0, 0, 0, 0], "joining 3"),
            (&[7, 1, 0, 0, 0, 0, 0], "backlog 0"),
            (&[1, 0], "short nonce"),
            (&[6, 0, 0, 0, 0, 0, 0, 0, 0], "epoch 0"),
            (&[6, 0, 0, 0, 0, 0, 0, 0, 1], "no commitment"),
        ];
        for (bytes, why) in cases {
            assert!(read(bytes).is_err(), "{why}");
        }
        // Lockboxes: none, or out of order.
        let mut none = vec![6, 0, 0, 0, 0, 0, 0, 0, 1];
        none.extend_from_slice(&[0; 32]);
        none.extend_from_slice(&[0, 0]);
        assert_eq!(read(&none), Err(DecodeError::Invalid("lockbox count")));
        let mut twice = none.clone();
        twice.truncate(twice.len() - 2);
        twice.extend_from_slice(&[0, 2]);
        for _ in 0..2 {
            twice.extend_from_slice(&[1; 32]);
            twice.extend_from_slice(&[0; LOCKBOX_LEN]);
        }
        assert_eq!(
            read(&twice),
            Err(DecodeError::Invalid("lockboxes out of order"))
        );
    }

    pub(crate) fn arb_govern() -> impl Strategy<Value = Govern> {
        let member = any::<[u8; 32]>().prop_map(MemberKey);
        prop_oneof![
            any::<[u8; 32]>().prop_map(|nonce| Govern::Create { nonce }),
            any::<[u8; 32]>().prop_map(|dh_key| Govern::Join { dh_key }),
            (member.clone(), any::<u64>(), any::<[u8; 32]>()).prop_map(
                |(member, epoch, commitment)| Govern::Handover {
                    member,
                    epoch,
                    commitment
                }
            ),
            (member.clone(), any::<u64>())
                .prop_map(|(member, seen)| Govern::Promote { member, seen }),
            (member.clone(), any::<u64>())
                .prop_map(|(member, seen)| Govern::Demote { member, seen }),
            (member.clone(), any::<u64>())
                .prop_map(|(member, seen)| Govern::Remove { member, seen }),
            (member.clone(), any::<u64>())
                .prop_map(|(member, seen)| Govern::Admit { member, seen }),
            (
                1..u64::MAX,
                any::<[u8; 32]>(),
                proptest::collection::btree_map(member, any::<u8>(), 1..4)
            )
                .prop_map(|(epoch, commitment, boxes)| Govern::Rekey(Rekey {
                    epoch,
                    commitment,
                    lockboxes: boxes
                        .into_iter()
                        .map(|(m, b)| (m, [b; LOCKBOX_LEN]))
                        .collect(),
                })),
            (
                any::<bool>(),
                any::<bool>(),
                proptest::option::of(1..u32::MAX)
            )
                .prop_map(|(approval, since, disappear_after_secs)| Govern::Configure(
                    Settings {
                        joining: if approval {
                            Joining::Approval
                        } else {
                            Joining::Open
                        },
                        backlog: if since {
                            Backlog::SinceJoining
                        } else {
                            Backlog::All
                        },
                        disappear_after_secs,
                    }
                )),
        ]
    }

    proptest! {
        #[test]
        fn actions_round_trip(action in arb_govern()) {
            prop_assert_eq!(round_trip(&action), Ok(action));
        }

        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = read(&bytes);
        }
    }
}
