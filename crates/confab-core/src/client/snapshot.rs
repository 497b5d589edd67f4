//! A copy of a client, for fuzz targets and tests only (`--cfg fuzzing`, `cfg(test)`): a
//! target starts every run from one prepared client (handshakes done, a history held)
//! instead of paying for the handshakes again, which cost far more than the run itself.

use super::{Client, PeerState, link::Link};

impl Client {
    /// An independent copy of this client, minus its peers still handshaking (a Noise
    /// handshake in progress cannot be copied). Established sessions are copied whole
    /// (counters and replay windows); their keys are shared, read-only.
    #[doc(hidden)]
    pub fn snapshot_for_fuzzing(&self) -> Client {
        // Every field named: a field added to `Client` breaks the tests' build until it is
        // copied here too.
        let Client {
            identity,
            public,
            own_card,
            room,
            config,
            rng,
            links,
            generation,
            server_peer,
            history,
            governance,
            blocked,
            timeline,
            sync,
            typing_sent,
            typing,
            presence,
            read_up_to,
            files,
            mailbox,
            epoch,
            left_mailboxes,
            rekey_needed_since,
            notices,
            mailbox_rng,
            signal_seal,
            outbox,
            own,
            latest_now,
            wall,
            transmits,
            events,
        } = self;
        // Routes and timers of the links left out go with them.
        let links = links
            .iter()
            .filter_map(|(id, link)| match &link.channel {
                Some(PeerState::Established { session, info }) => Some((
                    *id,
                    Link {
                        route: link.route.clone(),
                        channel: Some(PeerState::Established {
                            session: session.clone(),
                            info: info.clone(),
                        }),
                        timers: link.timers,
                        keyed_for: link.keyed_for,
                    },
                )),
                Some(PeerState::Handshaking { .. }) | None => None,
            })
            .collect();
        Client {
            identity: identity.clone(),
            public: *public,
            own_card: own_card.clone(),
            room: room.clone(),
            config: config.clone(),
            rng: rng.clone(),
            links,
            generation: *generation,
            server_peer: *server_peer,
            history: history.clone(),
            governance: governance.clone(),
            blocked: blocked.clone(),
            timeline: timeline.clone(),
            sync: sync.clone(),
            typing_sent: *typing_sent,
            typing: typing.clone(),
            presence: *presence,
            read_up_to: *read_up_to,
            files: files.clone(),
            mailbox: mailbox.clone(),
            epoch: epoch.clone(),
            left_mailboxes: left_mailboxes.clone(),
            rekey_needed_since: *rekey_needed_since,
            notices: notices.clone(),
            mailbox_rng: mailbox_rng.clone(),
            signal_seal: signal_seal.clone(),
            outbox: outbox.clone(),
            own: own.clone(),
            latest_now: *latest_now,
            wall: *wall,
            transmits: transmits.clone(),
            events: events.clone(),
        }
    }
}
