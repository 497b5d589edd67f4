//! Web adapters: the only code that knows browser APIs. Each wraps one API behind a small
//! app-owned type; JS callbacks only push onto the driver's channel, never touch core.

pub mod clock;
pub mod device;
pub mod entropy;
pub mod error;
pub mod file_worker;
pub mod files;
pub mod media;
pub mod net;
pub mod page;
pub mod push;
pub mod pwa;
pub mod rtc;
pub mod service_worker;
pub mod socket;
pub mod store;
pub mod tab_lock;
pub mod text_field;
pub mod viewport;

#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
