//! The one bounds-checked reader every decoder in core uses: frames and bodies in `wire/`,
//! the vault's formats and the app store's records in `vault/`, contacts, and the client's
//! persisted records. It never panics and never reads past its input; each format maps
//! [`ReadError`] into its own error, so the layouts stay where they are documented.

/// Bytes missing or left over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The input ended `needed` bytes before a field did.
    Truncated {
        /// Missing bytes.
        needed: usize,
    },
    /// `extra` bytes followed the last field.
    Trailing {
        /// Bytes left over.
        extra: usize,
    },
}

/// A cursor over untrusted bytes, taking fields off the front.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let (head, tail) = self.bytes.split_at_checked(n).ok_or(ReadError::Truncated {
            needed: n.saturating_sub(self.bytes.len()),
        })?;
        self.bytes = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let (head, tail) = self
            .bytes
            .split_first_chunk::<N>()
            .ok_or(ReadError::Truncated {
                needed: N.saturating_sub(self.bytes.len()),
            })?;
        self.bytes = tail;
        Ok(*head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, ReadError> {
        let [byte] = self.array()?;
        Ok(byte)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, ReadError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ReadError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, ReadError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A `u32be` length, as `usize`; one that cannot fit in what is left is
    /// [`ReadError::Truncated`] (so no caller allocates for it).
    pub(crate) fn len32(&mut self) -> Result<usize, ReadError> {
        let len = self.u32()?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.bytes.len() {
            return Err(ReadError::Truncated {
                needed: len - self.bytes.len(),
            });
        }
        Ok(len)
    }

    /// How many bytes are left.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    /// Ok if nothing is left.
    pub(crate) fn finish(self) -> Result<(), ReadError> {
        match self.bytes.len() {
            0 => Ok(()),
            extra => Err(ReadError::Trailing { extra }),
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::{ReadError, Reader};

    #[test]
    fn fields_in_order_then_the_end() {
        let bytes = [
            1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 2, 9, 8, 7,
        ];
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u8(), Ok(1));
        assert_eq!(reader.u16(), Ok(2));
        assert_eq!(reader.u32(), Ok(3));
        assert_eq!(reader.u64(), Ok(4));
        let len = reader.len32().unwrap();
        assert_eq!(reader.take(len), Ok(&[9, 8][..]));
        assert_eq!(reader.remaining(), 1);
        assert_eq!(reader.finish(), Err(ReadError::Trailing { extra: 1 }));
    }

    #[test]
    fn short_input_says_how_much_is_missing_and_takes_nothing() {
        let mut reader = Reader::new(&[1, 2, 3]);
        assert_eq!(reader.u64(), Err(ReadError::Truncated { needed: 5 }));
        assert_eq!(reader.take(4), Err(ReadError::Truncated { needed: 1 }));
        assert_eq!(reader.array::<3>(), Ok([1, 2, 3]));
        assert_eq!(reader.u8(), Err(ReadError::Truncated { needed: 1 }));
        assert_eq!(
            reader.take(usize::MAX).err(),
            Some(ReadError::Truncated { needed: usize::MAX })
        );
        assert_eq!(reader.rest(), &[] as &[u8]);
        assert_eq!(reader.finish(), Ok(()));
    }

    #[test]
    fn a_length_longer_than_the_rest_is_truncated() {
        let mut reader = Reader::new(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert_eq!(
            reader.len32(),
            Err(ReadError::Truncated {
                needed: 0xffff_ffff - 1
            })
        );
    }
}
