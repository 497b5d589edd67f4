//! The offline mailbox through the public API: a writer alone deposits its events (at
//! publish, when the last member link drops before a member acknowledged them, and again
//! after a reload for what the server never confirmed), and a member who comes back after
//! the writer closed too reads them all from a modelled server mailbox that numbers,
//! pages, reorders and repeats entries.

use confab_core::client::OutboxRecord;
use confab_core::signal::{MailboxItem, MailboxSeq};
use confab_core::{ClientEvent, MemberKey, UnixMillis};

use crate::net::{Conditions, Net, seeds};

/// A model of the server's mailbox, as far as clients can tell: entries numbered in deposit
/// order.
#[derive(Default)]
struct MailboxModel {
    entries: Vec<MailboxItem>,
    /// How many of each node's events were already looked at for deposits.
    seen: Vec<usize>,
}

impl MailboxModel {
    /// Takes every deposit `node` asked for since the last call.
    fn collect(&mut self, net: &Net, node: usize) -> usize {
        self.take(net, node, true).len()
    }

    /// Takes every deposit `node` asked for since the last call, and confirms each to it
    /// as the app does on `mailbox-stored`; returns their numbers in its chain.
    fn collect_and_confirm(&mut self, net: &mut Net, node: usize) -> Vec<u64> {
        let stored = self.take(net, node, true);
        net.with(node, |client, _| {
            for seq in &stored {
                client.mailbox_stored(*seq);
            }
        });
        stored
    }

    /// Forgets every deposit `node` asked for since the last call (the server was
    /// unreachable and the tab closed); returns how many.
    fn lose(&mut self, net: &Net, node: usize) -> usize {
        self.take(net, node, false).len()
    }

    fn take(&mut self, net: &Net, node: usize, keep: bool) -> Vec<u64> {
        if self.seen.len() <= node {
            self.seen.resize(node + 1, 0);
        }
        let events = &net.nodes[node].events[self.seen[node]..];
        self.seen[node] = net.nodes[node].events.len();
        let mut deposited = Vec::new();
        for event in events {
            if let ClientEvent::MailboxDeposit { seq, entry, .. } = event {
                deposited.push(*seq);
                if keep {
                    let seq = MailboxSeq::new(self.entries.len() as u64 + 1);
                    self.entries.push(MailboxItem {
                        seq,
                        entry: entry.clone(),
                    });
                }
            }
        }
        deposited
    }

    /// One page after `after`, at most `limit` entries, and whether more follow.
    fn fetch(&self, after: MailboxSeq, limit: usize) -> (Vec<MailboxItem>, bool) {
        let rest: Vec<MailboxItem> = self
            .entries
            .iter()
            .filter(|item| item.seq > after)
            .cloned()
            .collect();
        let more = rest.len() > limit;
        (rest.into_iter().take(limit).collect(), more)
    }
}

/// Fetches everything after `cursor` in pages of `limit`, as the app does, handing each
/// page to `node` (shuffled and with a repeat when `scramble`); returns the new cursor.
fn read_mailbox(
    net: &mut Net,
    mailbox: &MailboxModel,
    node: usize,
    mut cursor: MailboxSeq,
    limit: usize,
    scramble: bool,
) -> MailboxSeq {
    loop {
        let (mut page, more) = mailbox.fetch(cursor, limit);
        if scramble && !page.is_empty() {
            let len = page.len() as u64;
            for idx in (1..page.len()).rev() {
                let pick = net.random(idx as u64 + 1) as usize;
                page.swap(idx, pick);
            }
            let repeat = page[net.random(len) as usize].clone();
            page.push(repeat);
        }
        let ingest = net.with(node, |client, now| {
            client.handle_mailbox_entries(now, &page)
        });
        assert_eq!((ingest.unreadable, ingest.refused), (0, 0));
        if let Some(up_to) = ingest.up_to {
            cursor = cursor.max(up_to);
        }
        if !more {
            return cursor;
        }
    }
}

/// The outbox record `node` last reported for persisting (none yet: the default).
fn last_record(net: &Net, node: usize) -> OutboxRecord {
    net.nodes[node]
        .events
        .iter()
        .rev()
        .find_map(|event| match event {
            ClientEvent::PersistOutbox { record } => Some(record.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// `node` reloads: its persisted events, then its last outbox record.
fn reload(net: &mut Net, node: usize) {
    let record = last_record(net, node);
    net.go_offline(node, true);
    net.come_back(node);
    net.with(node, |client, _| client.restore_outbox(record));
}

fn shown(net: &Net, node: usize) -> Vec<String> {
    texts(net, node).into_iter().map(|(_, text)| text).collect()
}

fn texts(net: &Net, node: usize) -> Vec<(MemberKey, String)> {
    net.nodes[node]
        .client
        .messages()
        .into_iter()
        .map(|message| (message.author, message.text))
        .collect()
}

#[test]
fn a_lone_writer_reaches_a_newcomer_through_the_mailbox() {
    let mut net = Net::new(3, 2, Conditions::default());
    let mut mailbox = MailboxModel::default();
    for idx in 0..5 {
        net.with(0, |client, now| {
            client
                .send_text(now, UnixMillis(1_000 + idx), &format!("note {idx}"))
                .unwrap()
        });
    }
    assert_eq!(mailbox.collect(&net, 0), 5);
    let cursor = read_mailbox(&mut net, &mailbox, 1, MailboxSeq::default(), 2, false);
    assert_eq!(cursor, MailboxSeq::new(5));
    let alice = net.nodes[0].client.identity().member_key();
    let expected: Vec<(MemberKey, String)> =
        (0..5).map(|idx| (alice, format!("note {idx}"))).collect();
    assert_eq!(texts(&net, 1), expected);
    // Nothing after the cursor: an empty page.
    let (page, more) = mailbox.fetch(cursor, 100);
    assert!(page.is_empty() && !more);
}

#[test]
fn an_away_member_reads_everything_after_the_writer_closed_too() {
    for seed in seeds(50) {
        let mut net = Net::new(seed, 2, Conditions::default());
        let mut mailbox = MailboxModel::default();
        // The first visit: the writer's name event is deposited while she is alone.
        net.with(0, |client, now| {
            client.set_display_name(now, UnixMillis(1), "Alice")
        });
        net.connect(1, 0);
        net.run_until(1_000, |net| net.verified(0) == 1 && net.verified(1) == 1);
        let cursor = read_mailbox(&mut net, &mailbox, 1, MailboxSeq::default(), 100, false);
        net.with(0, |client, now| {
            client.send_text(now, UnixMillis(2), "hello Bob").unwrap()
        });
        net.settle();
        // Bob's delivery receipt: "hello Bob" is in his hands, so it is never deposited.
        net.run_until(1_000, |net| last_record(net, 0).up_to() == 2);
        assert_eq!(
            mailbox.collect(&net, 0),
            1,
            "seed {seed}: only the lone name event"
        );

        // Bob closes his tab; Alice writes three messages alone, then closes hers.
        // (Without his receipt, "hello Bob" would go to the mailbox as he leaves: see
        // `what_the_last_member_never_acknowledged_goes_to_the_mailbox`.)
        net.go_offline(1, true);
        for idx in 0..3 {
            net.with(0, |client, now| {
                client
                    .send_text(now, UnixMillis(10 + idx), &format!("while away {idx}"))
                    .unwrap()
            });
        }
        assert_eq!(mailbox.collect(&net, 0), 3, "seed {seed}");
        net.go_offline(0, true);

        // Bob comes back (restored from his store), alone, and reads the mailbox.
        net.come_back(1);
        let cursor = read_mailbox(&mut net, &mailbox, 1, cursor, 2, true);
        assert_eq!(cursor, MailboxSeq::new(4), "seed {seed}");
        assert_eq!(
            net.nodes[1].client.history().ids().collect::<Vec<_>>(),
            net.nodes[0].client.history().ids().collect::<Vec<_>>(),
            "seed {seed}"
        );
        let shown: Vec<String> = texts(&net, 1).into_iter().map(|(_, text)| text).collect();
        assert_eq!(
            shown,
            ["hello Bob", "while away 0", "while away 1", "while away 2"],
            "seed {seed}"
        );
        assert_eq!(mailbox.collect(&net, 1), 0, "reading deposits nothing");
    }
}

#[test]
fn what_the_last_member_never_acknowledged_goes_to_the_mailbox() {
    for seed in seeds(50) {
        let mut net = Net::new(seed, 2, Conditions::default());
        let mut mailbox = MailboxModel::default();
        net.connect(1, 0);
        net.run_until(1_000, |net| net.verified(0) == 1 && net.verified(1) == 1);
        net.with(0, |client, now| {
            client.send_text(now, UnixMillis(1), "read by Bob").unwrap()
        });
        net.settle();
        // Wait for Bob's delivery receipt.
        net.run_until(1_000, |net| last_record(net, 0).up_to() == 1);
        // Alice writes to Bob, whose tab dies before the message arrives: she is alone
        // with it, and deposits it (only it: Bob acknowledged the first).
        net.with(0, |client, now| {
            client
                .send_text(now, UnixMillis(2), "lost with Bob")
                .unwrap()
        });
        net.go_offline(1, true);
        assert_eq!(mailbox.collect_and_confirm(&mut net, 0), [2], "seed {seed}");
        net.with(0, |client, now| {
            client.send_text(now, UnixMillis(3), "alone").unwrap()
        });
        assert_eq!(mailbox.collect_and_confirm(&mut net, 0), [3], "seed {seed}");
        assert_eq!(last_record(&net, 0).up_to(), 3, "seed {seed}");
        // Alice reloads: everything is in other hands, nothing goes again.
        reload(&mut net, 0);
        assert_eq!(mailbox.collect(&net, 0), 0, "seed {seed}");
        net.go_offline(0, true);

        // Bob comes back alone and reads the rest from the mailbox.
        net.come_back(1);
        read_mailbox(&mut net, &mailbox, 1, MailboxSeq::default(), 1, true);
        assert_eq!(
            shown(&net, 1),
            ["read by Bob", "lost with Bob", "alone"],
            "seed {seed}"
        );
    }
}

#[test]
fn deposits_lost_with_a_reload_go_again_and_confirmed_ones_never() {
    for seed in seeds(50) {
        let mut net = Net::new(seed, 2, Conditions::default());
        let mut mailbox = MailboxModel::default();
        // Alice writes alone while the server is unreachable, and reloads: the deposits
        // the tab held are gone.
        for idx in 0..3 {
            net.with(0, |client, now| {
                client
                    .send_text(now, UnixMillis(idx), &format!("offline {idx}"))
                    .unwrap()
            });
        }
        assert_eq!(mailbox.lose(&net, 0), 3, "seed {seed}");
        reload(&mut net, 0);
        // After the reload they go again; the server stores the first two, then the
        // connection drops before the third's answer.
        let again = mailbox.take(&net, 0, true);
        assert_eq!(again, [1, 2, 3], "seed {seed}");
        net.with(0, |client, _| {
            client.mailbox_stored(1);
            client.mailbox_stored(2);
        });
        // The next reload deposits only the unconfirmed one; once confirmed, none.
        reload(&mut net, 0);
        assert_eq!(mailbox.collect_and_confirm(&mut net, 0), [3], "seed {seed}");
        reload(&mut net, 0);
        assert_eq!(mailbox.collect(&net, 0), 0, "seed {seed}");
        net.go_offline(0, true);

        // Bob, who never met Alice, reads everything (the third twice: harmless).
        read_mailbox(&mut net, &mailbox, 1, MailboxSeq::default(), 2, true);
        assert_eq!(
            shown(&net, 1),
            ["offline 0", "offline 1", "offline 2"],
            "seed {seed}"
        );
    }
}
