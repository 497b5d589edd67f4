//! The reading half of the WebSocket transport, sans-IO: bytes in, frames out. It owns the
//! parsing of what a client sends (the internet's bytes): the frame header (tungstenite's
//! [`FrameHeader`] codec), limits, unmasking, reassembly of fragments and the checks on
//! control frames. [`super::Socket`] feeds it what it reads and acts on what comes out
//! (answers pings, runs the close handshake); the fuzz target `socket` drives this same
//! code (see [`crate::fuzzing`]).

use std::io::Cursor;

use bytes::Bytes;
use tungstenite::Utf8Bytes;
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};

use super::{Error, MAX_CONTROL_LEN, Message};

/// Parses client frames out of the bytes read so far.
#[derive(Debug)]
pub struct Decoder {
    /// The longest frame and the longest reassembled message accepted.
    max_len: usize,
    /// Bytes read that do not make a whole frame yet. Empty, with no allocation, between
    /// messages.
    input: Vec<u8>,
    /// A fragmented message being reassembled: whether it is text, and its payload so far.
    fragments: Option<(bool, Vec<u8>)>,
}

/// One frame taken off the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole text or binary message (unfragmented, or the last of its fragments).
    Message(Message),
    /// A ping: answer with a pong carrying this payload (at most 125 bytes).
    Ping(Vec<u8>),
    /// A pong: nothing to do.
    Pong,
    /// The peer's close frame, with its status code if it gave one (an allowed code,
    /// followed by a UTF-8 reason).
    Close(Option<u16>),
    /// A fragment of a message still being reassembled.
    Fragment,
}

impl Decoder {
    /// A decoder that refuses frames and messages longer than `max_len`.
    pub fn new(max_len: usize) -> Decoder {
        Decoder {
            max_len,
            input: Vec::new(),
            fragments: None,
        }
    }

    /// Appends bytes read from the socket.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Bytes buffered that do not make a whole frame yet.
    #[cfg(any(test, fuzzing))]
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// Bytes held on the heap (the input buffer and a fragmented message so far).
    #[cfg(any(test, fuzzing))]
    pub fn capacity(&self) -> usize {
        self.input.capacity()
            + self
                .fragments
                .as_ref()
                .map_or(0, |(_, so_far)| so_far.capacity())
    }

    /// Takes the first whole frame off the input; `None` if the input holds none yet.
    /// After an error the connection is over: decode no more.
    pub fn decode(&mut self) -> Result<Option<Decoded>, Error> {
        let mut cursor = Cursor::new(&self.input[..]);
        let Some((header, len)) =
            FrameHeader::parse(&mut cursor).map_err(|_| Error::Protocol("invalid opcode"))?
        else {
            return Ok(None);
        };
        if len > self.max_len as u64 {
            return Err(Error::TooBig);
        }
        let Some(mask) = header.mask else {
            return Err(Error::Protocol("unmasked client frame"));
        };
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(Error::Protocol("reserved bits set"));
        }
        let start = cursor.position() as usize;
        let end = start + len as usize;
        if self.input.len() < end {
            // The buffer grows as bytes arrive, not by what a header claims: a header
            // alone reserves nothing.
            return Ok(None);
        }
        unmask(&mut self.input[start..end], mask);
        let decoded = match header.opcode {
            OpCode::Control(control) => self.control(control, header.is_final, start, end),
            OpCode::Data(data) => self.data(data, header.is_final, start, end),
        };
        // The frame is consumed whatever it was.
        if end == self.input.len() {
            self.input = Vec::new();
        } else {
            self.input.drain(..end);
        }
        decoded.map(Some)
    }

    /// A control frame whose payload is `input[start..end]`.
    fn control(
        &mut self,
        control: Control,
        is_final: bool,
        start: usize,
        end: usize,
    ) -> Result<Decoded, Error> {
        if !is_final || (end - start) as u64 > MAX_CONTROL_LEN {
            return Err(Error::Protocol("fragmented or long control frame"));
        }
        let payload = &self.input[start..end];
        match control {
            Control::Ping => Ok(Decoded::Ping(payload.to_vec())),
            Control::Pong => Ok(Decoded::Pong),
            Control::Close => {
                let code = match payload.len() {
                    0 => None,
                    1 => return Err(Error::Protocol("one-byte close payload")),
                    _ => {
                        let code = u16::from_be_bytes([payload[0], payload[1]]);
                        if !CloseCode::from(code).is_allowed() {
                            return Err(Error::Protocol("close code not allowed"));
                        }
                        if std::str::from_utf8(&payload[2..]).is_err() {
                            return Err(Error::InvalidUtf8);
                        }
                        Some(code)
                    }
                };
                Ok(Decoded::Close(code))
            }
            Control::Reserved(_) => Err(Error::Protocol("invalid opcode")),
        }
    }

    /// A data frame whose payload is `input[start..end]`.
    fn data(
        &mut self,
        data: Data,
        is_final: bool,
        start: usize,
        end: usize,
    ) -> Result<Decoded, Error> {
        let payload = &self.input[start..end];
        let (is_text, whole) = match (data, self.fragments.take()) {
            (Data::Text | Data::Binary, Some(_)) => {
                return Err(Error::Protocol("a new message inside a fragmented one"));
            }
            (Data::Continue, None) => return Err(Error::Protocol("continuation of nothing")),
            (Data::Reserved(_), _) => return Err(Error::Protocol("invalid opcode")),
            (Data::Text | Data::Binary, None) if is_final => {
                (data == Data::Text, Bytes::copy_from_slice(payload))
            }
            (Data::Text | Data::Binary, None) => {
                self.fragments = Some((data == Data::Text, payload.to_vec()));
                return Ok(Decoded::Fragment);
            }
            (Data::Continue, Some((is_text, mut so_far))) => {
                if so_far.len() + payload.len() > self.max_len {
                    return Err(Error::TooBig);
                }
                so_far.extend_from_slice(payload);
                if !is_final {
                    self.fragments = Some((is_text, so_far));
                    return Ok(Decoded::Fragment);
                }
                (is_text, Bytes::from(so_far))
            }
        };
        if is_text {
            let text = Utf8Bytes::try_from(whole).map_err(|_| Error::InvalidUtf8)?;
            Ok(Decoded::Message(Message::Text(text)))
        } else {
            Ok(Decoded::Message(Message::Binary(whole)))
        }
    }
}

/// XORs `payload` with the 4-byte `mask` repeated, eight bytes at a time: every relayed
/// byte passes through here, and a byte-wise loop is several times slower.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let word = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = payload.chunks_exact_mut(8);
    for chunk in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    // The remainder starts at a multiple of eight, so at the mask's first byte.
    for (byte, mask) in words.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmasking_by_words_equals_unmasking_by_bytes() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        for len in 0..40 {
            let original: Vec<u8> = (0..len).map(|n| (n * 7) as u8).collect();
            let mut fast = original.clone();
            unmask(&mut fast, mask);
            let slow: Vec<u8> = original
                .iter()
                .enumerate()
                .map(|(idx, byte)| byte ^ mask[idx % 4])
                .collect();
            assert_eq!(fast, slow, "{len}");
        }
    }
}
