//! [`BrowserError`]: what the browser said when it refused something, read once from the
//! thrown `JsValue` (a `DOMException`'s name and message, an `Error`'s message, or a
//! thrown string). Each adapter's error enum wraps it in the variant that says which
//! refusal it was (`files::FileError`, `rtc::RtcError`, `media::CaptureError`, ...), so no
//! caller formats a `JsValue` or matches on text.

use wasm_bindgen::{JsCast as _, JsValue};

/// The name of the `DOMException` a browser throws when a site's storage is full.
const QUOTA_EXCEEDED: &str = "QuotaExceededError";

/// A refusal from the browser, as text for logs and the "(…)" detail users see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserError {
    /// The `DOMException`'s name ("NotAllowedError", "QuotaExceededError", ...), if it was
    /// one.
    name: Option<String>,
    /// Its message, if it had one.
    message: Option<String>,
}

impl BrowserError {
    /// A refusal with no exception behind it (`what` says what was missing).
    pub fn because(what: &str) -> BrowserError {
        BrowserError {
            name: None,
            message: Some(what.to_owned()),
        }
    }

    /// The `DOMException`'s name, if it was one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether the browser said this site's storage is full.
    pub fn is_quota_exceeded(&self) -> bool {
        self.name() == Some(QUOTA_EXCEEDED)
    }

    /// " (name: message)", " (message)", or nothing when the browser gave no reason: the
    /// detail after a sentence such as "the file could not be saved".
    pub fn in_parens(&self) -> String {
        if self.name.is_none() && self.message.is_none() {
            return String::new();
        }
        format!(" ({self})")
    }
}

impl From<JsValue> for BrowserError {
    fn from(value: JsValue) -> BrowserError {
        if let Some(exception) = value.dyn_ref::<web_sys::DomException>() {
            return BrowserError {
                name: Some(exception.name()),
                message: Some(exception.message()).filter(|m| !m.is_empty()),
            };
        }
        let message = match value.dyn_ref::<js_sys::Error>() {
            Some(error) => Some(String::from(error.message())),
            None => value.as_string(),
        };
        BrowserError {
            name: None,
            message: message.filter(|m| !m.is_empty()),
        }
    }
}

impl std::fmt::Display for BrowserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.name, &self.message) {
            (Some(name), Some(message)) => write!(f, "{name}: {message}"),
            (Some(text), None) | (None, Some(text)) => f.write_str(text),
            (None, None) => f.write_str("no reason given"),
        }
    }
}

impl std::error::Error for BrowserError {}
