//! What core's events do to the page and the driver (`Driver::apply_event`): member rows,
//! messages, direct connections, calls and files, governance, and what waits to be
//! saved; and [`message_view`], core's message as the UI shows it.

use confab_core::{ClientEvent, FailReason, Instant, Path};
use leptos::prelude::*;

use super::Driver;
use crate::platform::clock::{self, log, now_ms};
use crate::platform::page;
use crate::state::{MemberStatus, MessageView};

impl Driver {
    pub(super) fn apply_event(&mut self, now: Instant, event: ClientEvent) {
        match event {
            ClientEvent::PeerVerified { peer, info } => {
                let fingerprint = info.identity.fingerprint().to_string();
                let path = self.client.path(peer).unwrap_or(Path::Pending);
                let key = info.identity.member_key();
                self.state
                    .member_verified(peer, key, info.display_name.clone(), fingerprint, path);
                self.meet(&info.identity, &info.display_name);
                self.show_governance();
                self.announce_dtls(now, peer);
                if !self.announced_ready && self.settings.on_screen {
                    self.announced_ready = true;
                    page::publish("readyAt", &now_ms().into());
                }
            }
            ClientEvent::PeerConnecting { peer } => self.state.member_connecting(peer),
            ClientEvent::OpenDirect {
                peer,
                generation,
                offerer,
            } => self.open_direct(now, peer, generation, offerer),
            ClientEvent::CloseDirect { peer, generation } => self.close_direct(peer, generation),
            ClientEvent::RemoteSignal {
                peer,
                generation,
                signal,
            } => self.remote_signal(peer, generation, signal),
            ClientEvent::Signal { message } => self.send_signal(&message),
            ClientEvent::PeerRejected { peer, reason } => {
                log(&format!("dropped a frame from {peer}: {reason}"))
            }
            ClientEvent::PeerFailed { peer, reason } => {
                log(&format!("link to {peer} failed: {reason}"));
                self.forget_call_peer(peer);
                match reason {
                    // Nobody answered: not a person the user needs to hear about. Removed
                    // from the room: the timeline says so, and they are no member now.
                    FailReason::Timeout | FailReason::Closed | FailReason::Removed => {
                        self.state.member_forget(peer)
                    }
                    _ => self
                        .state
                        .member_status(peer, MemberStatus::Failed(reason.to_string())),
                }
            }
            // The same person on another link, which stays.
            ClientEvent::PeerReplaced { peer } => {
                self.forget_call_peer(peer);
                self.state.member_forget(peer);
            }
            ClientEvent::PeerLeft { peer } => {
                self.forget_call_peer(peer);
                self.show_governance();
                self.state.member_status(peer, MemberStatus::Left);
                // "Last seen" is when they left.
                let key = self
                    .state
                    .members()
                    .with_untracked(|m| m.iter().find(|m| m.peer == peer).and_then(|m| m.key));
                let known = key.and_then(|key| self.contacts.contacts().get(&key).cloned());
                if let Some(contact) = known {
                    self.remember(&contact.identity, &contact.name);
                }
            }
            ClientEvent::Message(message) => {
                let me = self.client.identity().member_key();
                if let Some(file) = &message.file {
                    self.note_file_message(message.id, message.author == me, file.size);
                }
                self.note_message_for_expiry(&message);
                let view = message_view(&me, message);
                // A line about the room ("Alice removed Dave") is no message to notify.
                if view.notice.is_none() {
                    self.note_unread(&view);
                }
                self.state.upsert_message(view);
            }
            ClientEvent::Rebuilt => {
                let me = self.client.identity().member_key();
                // A proof that our own chain forked (this profile signs in another
                // browser too): say so before the next post is refused.
                if self.client.history().is_banned(&me) {
                    self.state.profile_forked();
                }
                let messages = self.client.messages();
                for message in &messages {
                    if let Some(file) = &message.file {
                        self.note_file_message(message.id, message.author == me, file.size);
                    }
                }
                self.state.set_messages(
                    messages
                        .into_iter()
                        .map(|message| message_view(&me, message))
                        .collect(),
                );
            }
            ClientEvent::Persist { id, bytes, .. } => self.unsaved.push((id, bytes)),
            ClientEvent::Rewrite { id, bytes, .. } => self.rewrite(now, id, bytes),
            ClientEvent::NotSent { events } => self.not_sent(events),
            // An epoch a member handed us is saved after the drain.
            ClientEvent::Governance => {
                self.governance_changed();
            }
            ClientEvent::Moved { room } => self.moved(room),
            ClientEvent::LinkSuperseded => self.state.link_was_superseded(),
            ClientEvent::Name { member, name } => {
                self.state.member_named(member, name.clone());
                let linked = self
                    .client
                    .verified_peers()
                    .find(|(_, info)| info.identity.member_key() == member)
                    .map(|(_, info)| info.identity);
                if let Some(identity) = linked {
                    self.meet(&identity, &name);
                }
            }
            ClientEvent::Delivered { member, up_to } => {
                self.state.update_progress(member, Some(up_to), None)
            }
            ClientEvent::Read { member, up_to } => {
                self.state.update_progress(member, None, Some(up_to))
            }
            ClientEvent::Typing { member, active } => self.state.set_typing(member, active),
            ClientEvent::Presence { member, presence } => {
                self.state.member_presence(member, presence)
            }
            ClientEvent::Pong { peer, nonce } => self.continue_bench(now, peer, nonce),
            ClientEvent::ChunkWanted { peer, file, index } => {
                self.chunk_wanted(now, peer, file, index)
            }
            ClientEvent::ChunkReceived { file, index, data } => {
                self.chunk_received(file, index, data)
            }
            ClientEvent::Transfer(update) => self.transfer_update(now, update),
            ClientEvent::Call { peer, member, data } => self.call_message(now, peer, member, &data),
            ClientEvent::MailboxDeposit { seq, room, entry } => self.deposit(now, seq, room, entry),
            ClientEvent::PersistOutbox { record } => self.mailbox.note_outbox(record),
            ClientEvent::PersistReceipts { record } => self.unsaved_receipts = Some(record),
        }
    }
}

/// Core's message as the UI shows it.
pub(crate) fn message_view(
    me: &confab_core::MemberKey,
    message: confab_core::TimelineMessage,
) -> MessageView {
    MessageView {
        id: message.id,
        key: message.key,
        author: message.author,
        mine: message.author == *me,
        time: clock::format_time(message.sent_at),
        datetime: clock::iso_time(message.sent_at),
        text: message.text,
        edited: message.edited,
        deleted: message.deleted,
        unavailable: message.unavailable,
        reply_to: message.reply_to,
        mentions_me: message.mentions.contains(me),
        reactions: message
            .reactions
            .into_iter()
            .map(|reaction| (reaction.emoji, reaction.by))
            .collect(),
        file: message.file.map(|file| crate::state::FileInfo {
            image: file.is_previewable_image(),
            name: file.name,
            mime: file.mime,
            size: file.size,
        }),
        notice: message.notice,
    }
}
