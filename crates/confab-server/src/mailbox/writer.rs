//! Deposits on their way to the store: queued per client address, taken round robin, and
//! written by one writer in one transaction per batch (group commit).
//!
//! A connection hands a checked deposit to [`Writer::submit`] and goes on reading; the
//! answer comes through the returned channel. The first deposit to find no writer running
//! starts one on a blocking thread; it takes batches until the queue is empty, then ends
//! (an idle server runs no writer and holds no store handle). A batch takes one deposit
//! from each address with deposits waiting, in turn, and again, up to [`MAX_BATCH`]
//! deposits or [`MAX_BATCH_BYTES`]; the turn goes on from where the last batch stopped. So
//! a deposit waits for at most one deposit of each other address before it is in a batch,
//! however many the others queued (a hundred flooders cannot put a room's deposit behind
//! thousands of theirs), and for the batch being written. Within an address deposits stay
//! in the order they came, so one connection's are stored (and answered) in order.
//!
//! What waits is bounded by the connections (each has a few deposits in flight, see
//! `limits`) and, in bytes for all together, by [`DepositBudget`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use confab_core::signal::MailboxSeq;
use tokio::sync::oneshot;

use super::store::{AddressTag, Deposit, Store};
use super::{MailboxError, MailboxMetrics, unix_ms};

/// Most deposits in one transaction.
pub(crate) const MAX_BATCH: usize = 256;
/// Most entry bytes in one transaction (a batch holds at least one deposit).
pub(crate) const MAX_BATCH_BYTES: usize = 8 << 20;
/// What a waiting deposit costs beyond its entry: its place in the queue, key, proof.
const DEPOSIT_OVERHEAD: usize = 256;

/// The answer to one deposit.
pub(crate) type Answer = oneshot::Receiver<Result<MailboxSeq, MailboxError>>;

/// The queue and whether a writer runs; shared by the connections and the writer.
#[derive(Default)]
pub(crate) struct Writer {
    state: Mutex<State>,
}

/// Bytes of deposits waiting to be stored, all connections together, within a share of
/// `--memory-budget`.
#[derive(Debug)]
pub(crate) struct DepositBudget {
    max_bytes: usize,
    held: AtomicUsize,
}

/// Bytes taken from the [`DepositBudget`]; given back when dropped (once the deposit is
/// written, or dropped).
#[derive(Debug)]
pub(crate) struct DepositPermit {
    budget: Arc<DepositBudget>,
    cost: usize,
}

#[derive(Default)]
struct State {
    /// Per address, its deposits in the order they came.
    queues: HashMap<AddressTag, VecDeque<Queued>>,
    /// Addresses with deposits waiting, in turn.
    turns: VecDeque<AddressTag>,
    /// A writer runs (and will see what is queued).
    is_writing: bool,
}

struct Queued {
    deposit: Deposit,
    answer: oneshot::Sender<Result<MailboxSeq, MailboxError>>,
    _permit: DepositPermit,
}

/// Ends the writer's turn however its thread ends: on a normal end the writer disarms it
/// under the lock; otherwise (a panic, or the runtime dropping the task before it ran)
/// what is queued is answered by dropping it, and the next deposit starts a writer.
struct WritingGuard {
    writer: Arc<Writer>,
    is_armed: bool,
}

impl Writer {
    /// Queues `deposit` for `store`, starting a writer if none runs. Never waits.
    pub(crate) fn submit(
        self: &Arc<Writer>,
        store: &Arc<Store>,
        metrics: &Arc<MailboxMetrics>,
        deposit: Deposit,
        permit: DepositPermit,
    ) -> Answer {
        let (answer, answered) = oneshot::channel();
        let mut state = self.lock();
        let address = deposit.depositor;
        let queue = state.queues.entry(address).or_default();
        queue.push_back(Queued {
            deposit,
            answer,
            _permit: permit,
        });
        if queue.len() == 1 {
            state.turns.push_back(address);
        }
        if !state.is_writing {
            state.is_writing = true;
            drop(state);
            let guard = WritingGuard {
                writer: Arc::clone(self),
                is_armed: true,
            };
            let (store, metrics) = (Arc::clone(store), Arc::clone(metrics));
            tokio::task::spawn_blocking(move || write(guard, &store, &metrics));
        }
        answered
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// The next batch: one deposit per address in turn, until the bounds or the queue end.
    fn take_batch(&mut self) -> Vec<Queued> {
        let mut batch = Vec::new();
        let mut n_bytes = 0usize;
        while batch.len() < MAX_BATCH && n_bytes < MAX_BATCH_BYTES {
            let Some(address) = self.turns.pop_front() else {
                break;
            };
            let Some(queue) = self.queues.get_mut(&address) else {
                continue;
            };
            let Some(queued) = queue.pop_front() else {
                self.queues.remove(&address);
                continue;
            };
            if queue.is_empty() {
                self.queues.remove(&address);
            } else {
                self.turns.push_back(address);
            }
            n_bytes = n_bytes.saturating_add(queued.deposit.entry.len());
            batch.push(queued);
        }
        batch
    }
}

/// The writer: batches until the queue is empty.
fn write(mut guard: WritingGuard, store: &Store, metrics: &MailboxMetrics) {
    loop {
        let batch = {
            let mut state = guard.writer.lock();
            let batch = state.take_batch();
            if batch.is_empty() {
                state.is_writing = false;
                guard.is_armed = false;
                return;
            }
            batch
        };
        let now_ms = unix_ms();
        let mut deposits = Vec::with_capacity(batch.len());
        let mut answers = Vec::with_capacity(batch.len());
        let mut permits = Vec::with_capacity(batch.len());
        for Queued {
            mut deposit,
            answer,
            _permit,
        } in batch
        {
            deposit.at_ms = now_ms;
            deposits.push(deposit);
            answers.push(answer);
            permits.push(_permit);
        }
        let outcomes = store.insert_all(&deposits);
        metrics.commits.fetch_add(1, Ordering::Relaxed);
        // The entries are written (or failed): their bytes go back before the answers,
        // so whoever has an answer sees them gone.
        let n_deposits = deposits.len();
        if tracing::enabled!(tracing::Level::DEBUG) {
            for (deposit, outcome) in deposits.iter().zip(outcomes.iter().flatten()) {
                tracing::debug!(room = %deposit.room, bytes = deposit.entry.len(), stored = outcome.is_ok(), "mailbox deposit");
            }
        }
        drop(deposits);
        drop(permits);
        match outcomes {
            Ok(outcomes) => {
                for (answer, outcome) in answers.into_iter().zip(outcomes) {
                    let outcome = match outcome {
                        Ok(stored) => Ok(metrics.stored(stored).unwrap_or_default()),
                        Err(err) => Err(metrics.refused(err)),
                    };
                    let _ = answer.send(outcome);
                }
            }
            Err(err) => {
                // Nothing of the batch is stored: each deposit gets the store's error.
                metrics.failed(&err, n_deposits);
                for answer in answers {
                    let _ = answer.send(Err(MailboxError::Unavailable));
                }
            }
        }
    }
}

impl Drop for WritingGuard {
    fn drop(&mut self) {
        if !self.is_armed {
            return;
        }
        let mut state = self.writer.lock();
        state.queues.clear();
        state.turns.clear();
        state.is_writing = false;
    }
}

impl DepositBudget {
    pub(crate) fn new(max_bytes: usize) -> DepositBudget {
        DepositBudget {
            max_bytes,
            held: AtomicUsize::new(0),
        }
    }

    /// Takes what a deposit of `entry_len` bytes costs while it waits, if it fits.
    pub(crate) fn try_take(self: &Arc<Self>, entry_len: usize) -> Option<DepositPermit> {
        let cost = deposit_cost(entry_len);
        self.held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(cost)
                    .filter(|&after| after <= self.max_bytes)
            })
            .ok()?;
        Some(DepositPermit {
            budget: Arc::clone(self),
            cost,
        })
    }

    /// Bytes held now.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

impl Drop for DepositPermit {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.cost, Ordering::Relaxed);
    }
}

/// What a waiting deposit of `entry_len` entry bytes costs.
pub(crate) fn deposit_cost(entry_len: usize) -> usize {
    entry_len.saturating_add(DEPOSIT_OVERHEAD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::RoomId;

    fn queued(depositor: u64, n: u8, budget: &Arc<DepositBudget>) -> Queued {
        let keys = confab_core::RoomSecret::from_bytes([n; 32]).mailbox_keys();
        Queued {
            deposit: Deposit {
                at_ms: 0,
                seq: None,
                room: RoomId::from_bytes([n; 32]),
                key: keys.deposit_key(),
                entry: vec![n; 10],
                depositor: AddressTag(depositor),
            },
            answer: oneshot::channel().0,
            _permit: budget.try_take(10).unwrap(),
        }
    }

    fn push(state: &mut State, queued: Queued) {
        let address = queued.deposit.depositor;
        let queue = state.queues.entry(address).or_default();
        queue.push_back(queued);
        if queue.len() == 1 {
            state.turns.push_back(address);
        }
    }

    fn order(batch: &[Queued]) -> Vec<(u64, u8)> {
        batch
            .iter()
            .map(|queued| (queued.deposit.depositor.0, queued.deposit.entry[0]))
            .collect()
    }

    #[test]
    fn batches_take_addresses_in_turn_and_each_address_in_order() {
        let budget = Arc::new(DepositBudget::new(usize::MAX));
        let mut state = State::default();
        // A flooder queues 600 deposits, then a room queues two.
        for n in 0..600u32 {
            push(&mut state, queued(1, (n % 200) as u8, &budget));
        }
        push(&mut state, queued(2, 201, &budget));
        push(&mut state, queued(2, 202, &budget));
        let first = state.take_batch();
        assert_eq!(first.len(), MAX_BATCH);
        assert_eq!(order(&first)[..4], [(1, 0), (2, 201), (1, 1), (2, 202)]);
        let second = state.take_batch();
        assert_eq!(second.len(), MAX_BATCH);
        assert!(order(&second).iter().all(|&(address, _)| address == 1));
        assert_eq!(state.take_batch().len(), 600 + 2 - 2 * MAX_BATCH);
        assert!(state.take_batch().is_empty());
        assert!(state.queues.is_empty() && state.turns.is_empty());
    }

    #[test]
    fn the_budget_bounds_waiting_bytes_and_permits_give_them_back() {
        let budget = Arc::new(DepositBudget::new(2 * deposit_cost(100)));
        let one = budget.try_take(100).unwrap();
        let two = budget.try_take(100).unwrap();
        assert!(budget.try_take(1).is_none());
        drop(one);
        assert_eq!(budget.held(), deposit_cost(100));
        assert!(budget.try_take(100).is_some());
        drop(two);
        assert_eq!(budget.held(), 0);
    }
}
