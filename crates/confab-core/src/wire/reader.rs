//! What frames add to core's one byte reader ([`crate::bytes::Reader`]): the version
//! byte and size limit of a top-level message, and bounded UTF-8 text, as
//! [`DecodeError`]s.

use super::DecodeError;
use crate::bytes::{ReadError, Reader};

impl From<ReadError> for DecodeError {
    fn from(error: ReadError) -> DecodeError {
        match error {
            ReadError::Truncated { needed } => DecodeError::Truncated { needed },
            ReadError::Trailing { extra } => DecodeError::TrailingBytes(extra),
        }
    }
}

/// Frame-level reads on a [`Reader`].
pub(crate) trait WireRead<'a>: Sized {
    /// A reader past byte 0 of a top-level message, after checking its size and version.
    fn versioned(bytes: &'a [u8], what: &'static str, max: usize) -> Result<Self, DecodeError>;

    /// A UTF-8 string of `len` bytes, at most `max`.
    fn str(&mut self, len: usize, max: usize, what: &'static str) -> Result<&'a str, DecodeError>;
}

impl<'a> WireRead<'a> for Reader<'a> {
    fn versioned(bytes: &'a [u8], what: &'static str, max: usize) -> Result<Self, DecodeError> {
        if bytes.len() > max {
            return Err(DecodeError::TooLong {
                what,
                max,
                got: bytes.len(),
            });
        }
        let mut reader = Reader::new(bytes);
        let version = reader.u8()?;
        if version != super::VERSION {
            return Err(DecodeError::Version {
                expected: super::VERSION,
                got: version,
            });
        }
        Ok(reader)
    }

    fn str(&mut self, len: usize, max: usize, what: &'static str) -> Result<&'a str, DecodeError> {
        if len > max {
            return Err(DecodeError::TooLong {
                what,
                max,
                got: len,
            });
        }
        std::str::from_utf8(self.take(len)?).map_err(|_| DecodeError::Utf8)
    }
}
