//! Web Push, driver side: on every `welcome` that states a push key (and when the user
//! turns notifications on), this room registers the browser's push subscription with the
//! server (`push-subscribe`, proven with the room's deposit key by core), so the server
//! pushes the room's tag when someone else deposits into its mailbox while Confab is
//! closed. The subscription is made in the page (`platform::push`); its result comes back
//! as an input and goes out only on the connection it was made for.

use confab_core::PeerId;
use confab_core::signal::PushSubscription;

use super::{Driver, Input, log};
use crate::platform::push;

impl Driver {
    /// `welcome`: keep the server's push key, and subscribe if notifications are on.
    pub(super) fn push_welcome(&mut self, push_key: Option<String>) {
        self.push_key = push_key;
        self.push_subscribe();
    }

    /// Makes (or reuses) the browser's subscription for this room, if the server pushes and
    /// notifications are allowed; registers it once made.
    pub(super) fn push_subscribe(&mut self) {
        let (Some(push_key), Some(peer)) = (self.push_key.clone(), self.client.server_peer())
        else {
            return;
        };
        let address = self.client.room_address(&self.home).to_string();
        let inbox = self.inbox.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(subscription) = push::subscription_for(&push_key, &address).await {
                let _ = inbox.unbounded_send(Input::PushSubscription { peer, subscription });
            }
        });
    }

    /// Tells the service worker whether this room is muted (it notifies of pushes for
    /// unmuted rooms only).
    pub(super) fn push_mirror_muted(&self, muted: bool) {
        let address = self.client.room_address(&self.home).to_string();
        wasm_bindgen_futures::spawn_local(async move { push::mirror_muted(&address, muted).await });
    }

    /// The subscription for connection `peer` is ready: register it, if that connection
    /// is still the current one (the next `welcome` subscribes again otherwise).
    pub(super) fn push_subscribed(&mut self, peer: PeerId, subscription: PushSubscription) {
        if self.client.server_peer() != Some(peer) {
            return;
        }
        log("registering this browser's push subscription for the room");
        // A governed room's newcomer holds no mailbox keys yet: nothing to be pushed about.
        if let Some(request) = self.client.push_subscribe(peer, subscription) {
            self.send_signal(&request);
        }
    }
}
