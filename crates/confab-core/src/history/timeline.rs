//! [`Timeline`]: history folded into what a chat window shows — messages with their edits,
//! deletions and reactions applied, and each member's current display name.
//!
//! Every rule is decided by [`OrderKey`], never by arrival order, so members holding the
//! same events show the same thing: an edit or delete counts only from the message's own
//! author (whose events arrive in chain order anyway); for reactions and names the event
//! latest in room order wins. Governance actions that took effect show as lines of their
//! own ([`GovernNotice`]: "Alice removed Dave", "Dave left").

use std::collections::{BTreeMap, HashMap};

use super::{Content, Event, OrderKey, UnixMillis, VerifiedEvent};
use crate::ids::{EventId, IdHash, MemberKey};
use crate::transfer::{FileMeta, safe_file_name, safe_mime};
use crate::wire::event::{KIND_FILE, KIND_TEXT};
use crate::wire::govern::{Govern, Settings};

/// One message as the timeline folds it (the app turns it into what it shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineMessage {
    /// Its event id (stable: list key).
    pub id: EventId,
    /// Its place in room order.
    pub key: OrderKey,
    /// Author.
    pub author: MemberKey,
    /// Author's clock when written.
    pub sent_at: UnixMillis,
    /// Current text (after edits; empty once deleted).
    pub text: String,
    /// The message it answers.
    pub reply_to: Option<EventId>,
    /// The members it mentions, in key order.
    pub mentions: Vec<MemberKey>,
    /// Edited at least once.
    pub edited: bool,
    /// Withdrawn by its author.
    pub deleted: bool,
    /// Its content is not here: a peer served it without (its redacted form) though its
    /// author did not delete it. Shown as unavailable until the content or a delete comes.
    pub unavailable: bool,
    /// Reactions, by emoji (sorted).
    pub reactions: Vec<Reaction>,
    /// The file this message offers, its name and type made safe to show and save
    /// ([`safe_file_name`], [`safe_mime`]); `text` is then a caption (empty unless edited).
    pub file: Option<FileMeta>,
    /// Not a message but a line saying what its author did to the room ("Alice removed
    /// Dave"): a governance action that took effect. `text` is then empty.
    pub notice: Option<GovernNotice>,
}

/// A governance action as the timeline tells it, in room order (its author did it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GovernNotice {
    /// "Alice removed Dave".
    Removed {
        /// Who was removed.
        member: MemberKey,
    },
    /// "Dave left" (removed themselves).
    Left,
    /// "Alice made Bob an admin".
    Promoted {
        /// Who.
        member: MemberKey,
    },
    /// "Alice made Bob a member again" (no longer an admin).
    Demoted {
        /// Who.
        member: MemberKey,
    },
    /// "Alice reset the invite link": a new epoch that is not the second half of a removal
    /// (the remover's next event; that one is told by "removed").
    LinkReset,
    /// "Alice turned on approval for newcomers": the room's settings from now on (what
    /// changed is told against the line of the change before it, in room order).
    Configured {
        /// The settings it set.
        settings: Settings,
    },
}

/// Everyone who reacted to a message with one emoji.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaction {
    /// The emoji.
    pub emoji: String,
    /// Who, in key order.
    pub by: Vec<MemberKey>,
}

/// What applying an event changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // returned once per event, never stored
pub enum TimelineChange {
    /// This message is new or changed: show it as it is now.
    Message(TimelineMessage),
    /// A member's display name changed.
    Name {
        /// Who.
        member: MemberKey,
        /// Their name now.
        name: String,
    },
}

/// Per (member, emoji): the key of the deciding event and whether it is on.
type ReactionVotes = BTreeMap<(MemberKey, String), (OrderKey, bool)>;

/// See the module documentation.
#[derive(Default)]
#[cfg_attr(any(test, fuzzing), derive(Clone))]
pub struct Timeline {
    messages: HashMap<EventId, TimelineMessage, IdHash>,
    /// Key of the edit or delete currently applied, per message.
    last_change: HashMap<EventId, OrderKey, IdHash>,
    /// Per message: (who, emoji) → (key of the deciding event, on).
    reactions: HashMap<EventId, ReactionVotes, IdHash>,
    names: HashMap<MemberKey, (OrderKey, String)>,
    /// Per author: the sequence number of their latest removal of someone (a rekey right
    /// after it is that removal's second half, not a reset).
    last_removal: HashMap<MemberKey, u64>,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// A message as currently shown.
    pub fn message(&self, id: &EventId) -> Option<&TimelineMessage> {
        self.messages.get(id)
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// No messages.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// A member's display name from their latest profile event.
    pub fn name(&self, member: &MemberKey) -> Option<&str> {
        self.names.get(member).map(|(_, name)| name.as_str())
    }

    /// Every named member.
    pub fn names(&self) -> impl Iterator<Item = (&MemberKey, &str)> {
        self.names
            .iter()
            .map(|(member, (_, name))| (member, name.as_str()))
    }

    /// Folds in one accepted event; returns what to redraw.
    pub fn apply(&mut self, event: &VerifiedEvent) -> Option<TimelineChange> {
        let id = event.id();
        let fields = event.event();
        let key = fields.order_key();
        match &fields.content {
            Content::Text {
                text,
                reply_to,
                mentions,
            } => {
                let mut view = TimelineMessage {
                    id,
                    key,
                    author: fields.author,
                    sent_at: fields.sent_at,
                    text: text.clone(),
                    reply_to: *reply_to,
                    mentions: mentions.clone(),
                    edited: false,
                    deleted: false,
                    unavailable: false,
                    reactions: Vec::new(),
                    file: None,
                    notice: None,
                };
                view.reactions = self.reactions_of(&id);
                self.messages.insert(id, view.clone());
                Some(TimelineChange::Message(view))
            }
            Content::File(file) => {
                let view = TimelineMessage {
                    file: Some(FileMeta {
                        name: safe_file_name(&file.name),
                        mime: safe_mime(&file.mime),
                        ..file.clone()
                    }),
                    ..self.empty_message(id, key, fields)
                };
                self.messages.insert(id, view.clone());
                Some(TimelineChange::Message(view))
            }
            Content::Edit { target, text } => {
                let applied = self.last_change.get(target).copied();
                let view = self.messages.get_mut(target)?;
                if view.author != fields.author || view.deleted || applied.is_some_and(|k| k > key)
                {
                    return None;
                }
                view.text = text.clone();
                view.edited = true;
                self.last_change.insert(*target, key);
                Some(TimelineChange::Message(view.clone()))
            }
            Content::Delete { target } => {
                let view = self.messages.get_mut(target)?;
                if view.author != fields.author || view.deleted {
                    return None;
                }
                view.text.clear();
                view.deleted = true;
                view.unavailable = false;
                self.last_change.insert(*target, key);
                Some(TimelineChange::Message(view.clone()))
            }
            Content::React { target, emoji, on } => {
                let entry = self
                    .reactions
                    .entry(*target)
                    .or_default()
                    .entry((fields.author, emoji.clone()))
                    .or_insert((key, *on));
                if entry.0 > key {
                    return None;
                }
                *entry = (key, *on);
                let reactions = self.reactions_of(target);
                let view = self.messages.get_mut(target)?;
                view.reactions = reactions;
                Some(TimelineChange::Message(view.clone()))
            }
            Content::Profile { name } => {
                let entry = self
                    .names
                    .entry(fields.author)
                    .or_insert((key, name.clone()));
                if entry.0 > key {
                    return None;
                }
                *entry = (key, name.clone());
                Some(TimelineChange::Name {
                    member: fields.author,
                    name: name.clone(),
                })
            }
            // The client applies only actions that took effect (`Client::counts`).
            Content::Govern(what) => {
                let notice = self.notice(fields, what)?;
                let view = TimelineMessage {
                    notice: Some(notice),
                    ..self.empty_message(id, key, fields)
                };
                self.messages.insert(id, view.clone());
                Some(TimelineChange::Message(view))
            }
            // A message whose content is erased: a delete follows it in its author's chain
            // (then it shows as deleted), or its full form is still to come. An erased
            // edit changes nothing (its message is deleted, or its full form is to come).
            Content::Redacted {
                kind: KIND_TEXT | KIND_FILE,
                ..
            } => {
                let view = TimelineMessage {
                    unavailable: true,
                    ..self.empty_message(id, key, fields)
                };
                self.messages.insert(id, view.clone());
                Some(TimelineChange::Message(view))
            }
            Content::Redacted { .. } => None,
        }
    }

    /// A message of `fields`'s author with nothing in it yet (a file's or a withheld
    /// message's row starts so).
    fn empty_message(&self, id: EventId, key: OrderKey, fields: &Event) -> TimelineMessage {
        TimelineMessage {
            id,
            key,
            author: fields.author,
            sent_at: fields.sent_at,
            text: String::new(),
            reply_to: None,
            mentions: Vec::new(),
            edited: false,
            deleted: false,
            unavailable: false,
            reactions: self.reactions_of(&id),
            file: None,
            notice: None,
        }
    }

    /// How the timeline tells `what`, done by `fields`' author (`None`: it does not; a
    /// join, say, or the rekey that completes its author's removal of someone).
    fn notice(&mut self, fields: &Event, what: &Govern) -> Option<GovernNotice> {
        let author = fields.author;
        match what {
            Govern::Remove { member, .. } if *member == author => Some(GovernNotice::Left),
            Govern::Remove { member, .. } => {
                self.last_removal.insert(author, fields.seq);
                Some(GovernNotice::Removed { member: *member })
            }
            Govern::Promote { member, .. } => Some(GovernNotice::Promoted { member: *member }),
            Govern::Demote { member, .. } => Some(GovernNotice::Demoted { member: *member }),
            Govern::Rekey(_) => {
                let completes_removal = self
                    .last_removal
                    .get(&author)
                    .is_some_and(|seq| seq.saturating_add(1) == fields.seq);
                (!completes_removal).then_some(GovernNotice::LinkReset)
            }
            Govern::Configure(settings) => Some(GovernNotice::Configured {
                settings: *settings,
            }),
            Govern::Create { .. }
            | Govern::Admit { .. }
            | Govern::Join { .. }
            | Govern::Handover { .. } => None,
        }
    }

    /// Shows `id` as gone: its content was erased without a delete (a disappearing
    /// message's timer ran out). Returns what to redraw.
    pub fn erase(&mut self, id: &EventId) -> Option<TimelineMessage> {
        let view = self.messages.get_mut(id)?;
        if view.deleted {
            return None;
        }
        view.text.clear();
        view.deleted = true;
        view.unavailable = false;
        Some(view.clone())
    }

    fn reactions_of(&self, target: &EventId) -> Vec<Reaction> {
        let Some(all) = self.reactions.get(target) else {
            return Vec::new();
        };
        let mut by_emoji: BTreeMap<&str, Vec<MemberKey>> = BTreeMap::new();
        for ((member, emoji), (_, on)) in all {
            if *on {
                by_emoji.entry(emoji).or_default().push(*member);
            }
        }
        by_emoji
            .into_iter()
            .map(|(emoji, mut by)| {
                by.sort_unstable();
                Reaction {
                    emoji: emoji.to_owned(),
                    by,
                }
            })
            .collect()
    }
}
