//! A bounds-checked cursor over untrusted bytes.

use super::DecodeError;

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    /// A reader past byte 0 of a top-level message, after checking its size and version.
    pub(crate) fn versioned(
        bytes: &'a [u8],
        what: &'static str,
        max: usize,
    ) -> Result<Reader<'a>, DecodeError> {
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

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Truncated {
                needed: n - self.bytes.len(),
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A UTF-8 string of `len` bytes, at most `max`.
    pub(crate) fn str(
        &mut self,
        len: usize,
        max: usize,
        what: &'static str,
    ) -> Result<&'a str, DecodeError> {
        if len > max {
            return Err(DecodeError::TooLong {
                what,
                max,
                got: len,
            });
        }
        std::str::from_utf8(self.take(len)?).map_err(|_| DecodeError::Utf8)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.bytes.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}
