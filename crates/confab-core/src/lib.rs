//! Confab's protocol as a sans-IO library.
//!
//! Nothing here performs I/O: there are no sockets, no storage, no clock reads and no OS
//! randomness. Bytes, the current time (`now`) and random seeds come in as arguments;
//! bytes to send, events and the next deadline come out. The browser app and the native
//! tests drive the same code.
//!
//! # Run loop
//!
//! [`Client`] is the façade. After every call that mutates it (`add_peer`, `handle_frame`,
//! `send_text`, `handle_timeout`, ...) the caller drains [`Client::poll_output`] until it
//! returns [`Output::Timeout`], then waits for the next input or for that deadline:
//!
//! ```
//! # use confab_core::*;
//! # let now = Instant::now();
//! let identity = Identity::from_seed([7; 32]);
//! let room = RoomSecret::from_bytes([9; 32]);
//! let mut client = Client::new(identity, room, Config::default(), [1; 32]);
//! client.add_peer(now, PeerId::new(2), Role::Initiator);
//! loop {
//!     match client.poll_output() {
//!         Output::Transmit(t) => { /* send t.bytes to t.peer */ }
//!         Output::Event(e) => { /* update the UI */ }
//!         Output::Timeout(_deadline) => break, // wait for input or the deadline
//!     }
//! }
//! ```

mod bytes;
pub mod client;
pub mod contacts;
// What the fuzz targets in `fuzz/` run (and the tests that replay their corpora): built
// with `--cfg fuzzing` by cargo-fuzz, and in this crate's tests.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub mod governance;
pub mod history;
pub mod identity;
pub mod ids;
pub mod lockbox;
pub mod mailbox;
pub mod peek;
mod rng;
pub mod room;
pub mod session;
pub mod signal;
pub mod transfer;
pub mod units;
pub mod vault;
pub mod wire;

pub use client::{
    Channel, Client, ClientEvent, Config, Direction, FailReason, Generation, Output, Path,
    PeerInfo, RejectReason, Restored, Role, RtcSignal, SendError, TransferState, TransferUpdate,
    Transmit, Via,
};
pub use history::{Content, OrderKey, TimelineMessage, UnixMillis};
pub use identity::{Fingerprint, Identity, PublicIdentity, RoomAddress};
pub use ids::{CallId, EventId, MemberKey, PeerId, RoomId};
pub use room::{RoomSecret, RoomSecretError};
pub use wire::Presence;

/// The one spelling of time in core: `std` natively, `web_time` on wasm32
/// (where `std::time::Instant::now` panics).
#[cfg(not(target_arch = "wasm32"))]
pub use std::time::Instant;
#[cfg(target_arch = "wasm32")]
pub use web_time::Instant;

pub use std::time::Duration;
