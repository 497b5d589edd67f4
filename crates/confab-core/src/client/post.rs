//! Posting: what we may post (length, targets that exist and are ours), then signing it
//! into our chain and sending it (once the store has it: see `own`).

use super::{Client, SendError};
use crate::Instant;
use crate::history::{Content, CreateError, UnixMillis};
use crate::ids::EventId;
use crate::wire::{MAX_EMOJI_LEN, MAX_MENTIONS, MAX_NAME_LEN, MAX_TEXT_LEN, truncate_utf8};

impl Client {
    /// Writes a new event (message, reply, edit, delete, reaction) to history, sends it to
    /// every verified peer, and reports it as [`ClientEvent::Message`] and [`ClientEvent::Persist`].
    /// Members not connected now get it when they catch up.
    pub fn post(
        &mut self,
        now: Instant,
        sent_at: UnixMillis,
        content: Content,
    ) -> Result<EventId, SendError> {
        let now = self.monotonic(now);
        let content = self.check_post(content)?;
        self.check_own_head(now)?;
        self.publish(now, sent_at, content)
    }

    /// Posts a plain message.
    pub fn send_text(
        &mut self,
        now: Instant,
        sent_at: UnixMillis,
        text: &str,
    ) -> Result<EventId, SendError> {
        let content = Content::Text {
            text: text.to_owned(),
            reply_to: None,
            mentions: Vec::new(),
        };
        self.post(now, sent_at, content)
    }

    pub(super) fn check_post(&self, content: Content) -> Result<Content, SendError> {
        let check_text = |text: &str| -> Result<String, SendError> {
            let text = text.trim();
            if text.is_empty() {
                return Err(SendError::Empty);
            }
            if text.len() > MAX_TEXT_LEN {
                return Err(SendError::TooLong {
                    got: text.len(),
                    max: MAX_TEXT_LEN,
                });
            }
            Ok(text.to_owned())
        };
        let own_message = |target: &EventId| -> Result<(), SendError> {
            let view = self
                .timeline
                .message(target)
                .ok_or(SendError::UnknownTarget)?;
            if view.author != self.public.member_key() {
                return Err(SendError::NotYours);
            }
            if view.deleted {
                return Err(SendError::Deleted);
            }
            Ok(())
        };
        Ok(match content {
            Content::Text {
                text,
                reply_to,
                mut mentions,
            } => {
                if let Some(target) = &reply_to
                    && self.timeline.message(target).is_none()
                {
                    return Err(SendError::UnknownTarget);
                }
                // One encoding per set (wire/event.rs): in key order, once each.
                mentions.sort_unstable();
                mentions.dedup();
                if mentions.len() > MAX_MENTIONS {
                    return Err(SendError::TooManyMentions {
                        got: mentions.len(),
                        max: MAX_MENTIONS,
                    });
                }
                Content::Text {
                    text: check_text(&text)?,
                    reply_to,
                    mentions,
                }
            }
            Content::Edit { target, text } => {
                own_message(&target)?;
                Content::Edit {
                    target,
                    text: check_text(&text)?,
                }
            }
            Content::Delete { target } => {
                own_message(&target)?;
                Content::Delete { target }
            }
            Content::React { target, emoji, on } => {
                if self.timeline.message(&target).is_none() {
                    return Err(SendError::UnknownTarget);
                }
                let emoji = emoji.trim();
                if emoji.is_empty() {
                    return Err(SendError::Empty);
                }
                if emoji.len() > MAX_EMOJI_LEN {
                    return Err(SendError::TooLong {
                        got: emoji.len(),
                        max: MAX_EMOJI_LEN,
                    });
                }
                Content::React {
                    target,
                    emoji: emoji.to_owned(),
                    on,
                }
            }
            Content::Profile { name } => Content::Profile {
                name: truncate_utf8(name.trim(), MAX_NAME_LEN).to_owned(),
            },
            // Files go through `post_file`, which also starts serving them.
            Content::File(_) => return Err(SendError::UseFilePost),
            // Governance actions are checked against the room's governance first.
            Content::Govern(_) => return Err(SendError::UseGovern),
            // Only ever decoded (a redacted form): there is nothing to post.
            Content::Redacted { .. } => return Err(SendError::Empty),
        })
    }

    /// Signs one of our events and asks for it to be stored; it goes out (to every
    /// verified peer, and to the mailbox if nobody is linked) once the store has it
    /// ([`Client::handle_persisted`]), at once without a store.
    pub(super) fn publish(
        &mut self,
        now: Instant,
        sent_at: UnixMillis,
        content: Content,
    ) -> Result<EventId, SendError> {
        self.note_wall(now, sent_at);
        // A newcomer to a governed room who holds nothing of it yet may only say it is
        // here (its Join): anything else would come before it in its chain, and where
        // joining needs approval members take nothing else of it.
        if self.governance.genesis().is_some()
            && self.epoch.is_none()
            && self.governance.owner().is_none()
            && !matches!(
                content,
                Content::Govern(
                    crate::governance::Govern::Join { .. }
                        | crate::governance::Govern::Create { .. }
                )
            )
        {
            return Err(SendError::NotLetIn);
        }
        let event = self
            .history
            .create(&self.identity, sent_at, content)
            .map_err(|error| match error {
                CreateError::Forked => SendError::ProfileForked,
                _ => SendError::HistoryExhausted,
            })?;
        self.note_accepted(&event);
        // A delete erases the content of the message it withdraws.
        self.note_rewritten();
        if !self.own.write_ahead {
            self.own.stored.insert(event.event().seq);
            self.send_stored_own(now);
        }
        Ok(event.id())
    }
}
