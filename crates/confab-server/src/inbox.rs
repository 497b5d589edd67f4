//! One connection's outbound queue (what other connections send it) and its kick signal.
//!
//! Bounded like a channel, but it holds memory only while it holds messages: an idle
//! connection's queue is an empty `VecDeque` (no allocation), where a tokio bounded channel
//! allocates its first block of 32 slots and a cache-padded header up front (about 2 KiB,
//! the largest part of an idle connection after the socket's read buffer). A queue that
//! empties gives back what a burst made it grow to.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Message;
use tokio::sync::Notify;

/// Capacity an emptied queue may keep; beyond it, emptying frees the buffer.
const KEPT_CAPACITY: usize = 8;

/// The queue; shared by the hub (pushing, under its lock) and the connection task.
pub(crate) struct Inbox {
    queue: Mutex<VecDeque<Message>>,
    capacity: usize,
    /// A message was queued.
    ready: Notify,
    /// The connection must go (its queue overflowed).
    kick: Notify,
}

/// The queue holds `capacity` messages already; the message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Full;

impl Inbox {
    /// An empty queue for at most `capacity` messages (at least one).
    pub(crate) fn new(capacity: usize) -> Inbox {
        Inbox {
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            ready: Notify::new(),
            kick: Notify::new(),
        }
    }

    /// Queues `message` unless the queue is full.
    pub(crate) fn try_push(&self, message: Message) -> Result<(), Full> {
        {
            let mut queue = self.lock();
            if queue.len() >= self.capacity {
                return Err(Full);
            }
            queue.push_back(message);
        }
        // A permit is stored if the task is not waiting, so the wake-up is never lost.
        self.ready.notify_one();
        Ok(())
    }

    /// The oldest queued message, if any.
    pub(crate) fn try_pop(&self) -> Option<Message> {
        let mut queue = self.lock();
        let message = queue.pop_front();
        if queue.is_empty() && queue.capacity() > KEPT_CAPACITY {
            *queue = VecDeque::new();
        }
        message
    }

    /// The oldest queued message, waiting for one. Cancel-safe: a message is taken only
    /// when this returns it.
    pub(crate) async fn recv(&self) -> Message {
        loop {
            if let Some(message) = self.try_pop() {
                return message;
            }
            self.ready.notified().await;
        }
    }

    /// Tells the connection task to go.
    pub(crate) fn kick(&self) {
        self.kick.notify_one();
    }

    /// Resolves once [`Inbox::kick`] was called (before or while waiting).
    pub(crate) async fn kicked(&self) {
        self.kick.notified().await;
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Message>> {
        // Nothing panics while holding it; a poisoned queue is still a valid queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded_and_in_order() {
        let inbox = Inbox::new(3);
        for n in 0..3 {
            assert_eq!(inbox.try_push(Message::binary(vec![n])), Ok(()));
        }
        assert_eq!(inbox.try_push(Message::binary(vec![3])), Err(Full));
        let drained: Vec<_> = std::iter::from_fn(|| inbox.try_pop()).collect();
        assert_eq!(
            drained,
            (0..3).map(|n| Message::binary(vec![n])).collect::<Vec<_>>()
        );
        assert_eq!(inbox.try_push(Message::binary(vec![4])), Ok(()));
    }

    #[test]
    fn an_emptied_queue_gives_its_buffer_back() {
        let inbox = Inbox::new(1024);
        assert_eq!(inbox.lock().capacity(), 0);
        for n in 0..100 {
            inbox.try_push(Message::binary(vec![n])).unwrap();
        }
        while inbox.try_pop().is_some() {}
        assert_eq!(inbox.lock().capacity(), 0);
    }

    #[tokio::test]
    async fn recv_waits_for_a_message_pushed_later() {
        let inbox = std::sync::Arc::new(Inbox::new(4));
        let pusher = std::sync::Arc::clone(&inbox);
        let task = tokio::spawn(async move { inbox.recv().await });
        tokio::task::yield_now().await;
        pusher.try_push(Message::binary(vec![9])).unwrap();
        let received = tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(received, Message::binary(vec![9]));
    }

    #[tokio::test]
    async fn a_kick_before_waiting_is_kept() {
        let inbox = Inbox::new(4);
        inbox.kick();
        tokio::time::timeout(std::time::Duration::from_secs(5), inbox.kicked())
            .await
            .unwrap();
    }
}
