//! What views may use of the browser, beside `state` and `commands`: the [`Device`] handle
//! the app puts in context (`use_device`), the DOM helpers views hold ([`TextField`], the
//! message box; [`SizeWatch`], from [`Device::on_size_change`]) and the plain facts
//! `Device` reports ([`Permission`], [`BuildStatus`]). Components import this module, never
//! `platform` (`cargo xtask tidy` checks), so this list is all of the browser they see.

pub use crate::platform::device::Device;
pub use crate::platform::page::SizeWatch;
pub use crate::platform::pwa::{BuildStatus, Permission};
pub use crate::platform::text_field::TextField;
