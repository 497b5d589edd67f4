//! The checks the fuzz targets run on arbitrary bytes, shared with the tests that replay
//! their corpora (`fuzz/corpus/<target>/`), so a committed input is checked on every
//! `cargo test`. Built only for tests and with `--cfg fuzzing` (cargo-fuzz sets it).

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use crate::socket::{Decoded, Decoder, Message};

/// The `socket` target: the WebSocket frame decoder ([`Decoder`], what every connection's
/// socket parses client bytes with) on arbitrary bytes. `bytes[0]` picks the size limit,
/// `bytes[1]` how the rest is cut into reads; the rest is the stream.
///
/// Whatever arrives: nothing panics; the stream decodes to the same frames (and the same
/// error) whether it arrives whole or in small reads; nothing decoded is longer than the
/// limit; nothing stays buffered once a frame ends the input; and every frame decoded,
/// masked again as a client would, decodes to the same frame (decode → encode → decode).
pub fn check_socket_frames(bytes: &[u8]) {
    let [limit, cut, stream @ ..] = bytes else {
        return;
    };
    let max_len = 1 + usize::from(*limit) * 8;
    let whole = decode_all(max_len, [stream]);
    let read = 1 + usize::from(*cut % 32);
    let pieces = decode_all(max_len, stream.chunks(read));
    assert_eq!(whole, pieces, "cut into reads of {read} bytes");
    for decoded in whole.frames.iter() {
        match decoded {
            Decoded::Message(Message::Text(text)) => assert!(text.len() <= max_len),
            Decoded::Message(Message::Binary(binary)) => assert!(binary.len() <= max_len),
            Decoded::Ping(payload) => assert!(payload.len() <= 125),
            // The decoder gives pings as `Decoded::Ping`; the socket makes them messages.
            Decoded::Message(Message::Ping(payload)) => assert!(payload.len() <= 125),
            Decoded::Pong | Decoded::Close(_) | Decoded::Fragment => {}
        }
        let Some(again) = client_frame(decoded, [0xa5, 0x5a, 0x00, 0xff]) else {
            continue;
        };
        let mut decoder = Decoder::new(max_len);
        decoder.extend(&again);
        assert_eq!(decoder.decode().ok().flatten().as_ref(), Some(decoded));
        assert_eq!(decoder.buffered(), 0);
    }
}

/// What a socket makes of a stream that arrives in `reads`: the frames up to the first
/// error, a close or the end of the stream, and the error if one ended it.
#[derive(Debug, PartialEq, Eq)]
struct Decoding {
    frames: Vec<Decoded>,
    error: Option<String>,
}

fn decode_all<'a>(max_len: usize, reads: impl IntoIterator<Item = &'a [u8]>) -> Decoding {
    let mut decoder = Decoder::new(max_len);
    let mut decoding = Decoding {
        frames: Vec::new(),
        error: None,
    };
    for read in reads {
        decoder.extend(read);
        loop {
            match decoder.decode() {
                Ok(None) => break,
                Ok(Some(decoded)) => {
                    // The socket reads nothing after the peer's close.
                    let is_close = matches!(decoded, Decoded::Close(_));
                    if decoder.buffered() == 0 && matches!(decoded, Decoded::Message(_)) {
                        // A message that ends the input leaves no buffer behind.
                        assert_eq!(decoder.capacity(), 0);
                    }
                    decoding.frames.push(decoded);
                    if is_close {
                        return decoding;
                    }
                }
                Err(err) => {
                    decoding.error = Some(format!("{err:?}"));
                    return decoding;
                }
            }
        }
    }
    decoding
}

/// `decoded` as one final client frame masked with `mask`; `None` for a fragment.
fn client_frame(decoded: &Decoded, mask: [u8; 4]) -> Option<Vec<u8>> {
    let code;
    let (opcode, payload): (OpCode, &[u8]) = match decoded {
        Decoded::Message(Message::Text(text)) => (OpCode::Data(Data::Text), text.as_bytes()),
        Decoded::Message(Message::Binary(binary)) => (OpCode::Data(Data::Binary), binary),
        Decoded::Ping(payload) => (OpCode::Control(Control::Ping), payload),
        Decoded::Message(Message::Ping(payload)) => (OpCode::Control(Control::Ping), payload),
        Decoded::Pong => (OpCode::Control(Control::Pong), &[]),
        Decoded::Close(None) => (OpCode::Control(Control::Close), &[]),
        Decoded::Close(Some(close)) => {
            code = close.to_be_bytes();
            (OpCode::Control(Control::Close), &code)
        }
        Decoded::Fragment => return None,
    };
    let header = FrameHeader {
        opcode,
        mask: Some(mask),
        ..FrameHeader::default()
    };
    let mut out = Vec::new();
    header.format(payload.len() as u64, &mut out).ok()?;
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every input of `fuzz/corpus/<target>/` (at least one: a corpus that vanished must
    /// not pass by checking nothing).
    fn corpus(target: &str) -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus")
            .join(target);
        let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{} is empty", dir.display());
        inputs
    }

    #[test]
    fn the_socket_corpus_replays() {
        for input in corpus("socket") {
            super::check_socket_frames(&input);
        }
    }
}
