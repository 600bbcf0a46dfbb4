//! Raw HTTP/2 (RFC 9113) over TLS for conformance tests: frames are written byte by byte,
//! so malformed ones can be sent, with a minimal HPACK encoder (RFC 7541: literal fields
//! without indexing, no Huffman) and just enough decoding to read a response's status.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::TlsClient;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
}

/// SETTINGS identifiers (RFC 9113 §6.5.2).
pub mod setting {
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
}

/// Error codes (RFC 9113 §7).
pub mod code {
    pub const PROTOCOL_ERROR: u32 = 0x1;
    pub const FLOW_CONTROL_ERROR: u32 = 0x3;
    pub const FRAME_SIZE_ERROR: u32 = 0x6;
    pub const CANCEL: u32 = 0x8;
    pub const COMPRESSION_ERROR: u32 = 0x9;
    pub const ENHANCE_YOUR_CALM: u32 = 0xb;
}

/// One received frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// A frame's bytes: 9-byte header (24-bit length, type, flags, 31-bit stream id) + payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A frame header claiming `len` payload bytes (for frames whose payload is sent apart).
pub fn frame_head(len: u32, kind: u8, flags: u8, stream: u32) -> Vec<u8> {
    let mut out = frame(kind, flags, stream, &[]);
    out[..3].copy_from_slice(&len.to_be_bytes()[1..]);
    out
}

/// SETTINGS payload from (identifier, value) pairs.
pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, v) in pairs {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

/// An HPACK integer with an `n`-bit prefix; `first` holds the bits above the prefix.
fn hpack_int(out: &mut Vec<u8>, n: u32, first: u8, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// A header block: every field a literal without indexing with a literal name, no
/// Huffman (RFC 7541 §6.2.2), so names are sent exactly as given (upper case included).
pub fn hpack(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        hpack_int(&mut out, 7, 0, name.len());
        out.extend_from_slice(name.as_bytes());
        hpack_int(&mut out, 7, 0, value.len());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// The pseudo-header fields of `GET path` on this test server.
pub fn get(path: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "GET".into()),
        (":scheme", "https".into()),
        (":authority", "localhost".into()),
        (":path", path.into()),
    ]
}

/// `hpack` for owned fields plus extra ones.
pub fn block(fields: &[(&str, String)], extra: &[(&str, &str)]) -> Vec<u8> {
    let mut all: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    hpack(&all)
}

/// The status of a response header block, if its first field is `:status` in a form this
/// decoder knows: indexed from the static table (200, 204, 206, 304, 400, 404, 500) or a
/// literal with the static name `:status` and a plain or Huffman-coded value.
pub fn status(block: &[u8]) -> Option<u16> {
    let first = *block.first()?;
    if first & 0x80 != 0 {
        return match first & 0x7f {
            8 => Some(200),
            9 => Some(204),
            10 => Some(206),
            11 => Some(304),
            12 => Some(400),
            13 => Some(404),
            14 => Some(500),
            _ => None,
        };
    }
    // Literal with incremental indexing (01xxxxxx, 6-bit index), without indexing
    // (0000xxxx) or never indexed (0001xxxx): name index 8 is `:status`.
    let name = if first & 0x40 != 0 {
        first & 0x3f
    } else {
        first & 0x0f
    };
    if name != 8 {
        return None;
    }
    let len_byte = *block.get(1)?;
    let len = usize::from(len_byte & 0x7f);
    let raw = block.get(2..2 + len)?;
    let digits = if len_byte & 0x80 != 0 {
        huffman_digits(raw)?
    } else {
        String::from_utf8(raw.to_vec()).ok()?
    };
    digits.parse().ok()
}

/// Decodes a Huffman-coded string of ASCII digits (RFC 7541 Appendix B: `0`–`2` are 5-bit
/// codes 00000–00010, `3`–`9` 6-bit codes 011001–011111; padding is all ones).
fn huffman_digits(raw: &[u8]) -> Option<String> {
    let bits: Vec<u8> = raw
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let take = |at: usize, n: usize| -> Option<u32> {
        let s = bits.get(at..at + n)?;
        Some(s.iter().fold(0u32, |a, b| a << 1 | u32::from(*b)))
    };
    let mut out = String::new();
    let mut at = 0;
    while at < bits.len() {
        if bits[at..].iter().all(|b| *b == 1) && bits.len() - at < 8 {
            break; // padding
        }
        let five = take(at, 5)?;
        if five <= 2 {
            out.push(char::from(b'0' + five as u8));
            at += 5;
            continue;
        }
        let six = take(at, 6)?;
        if (0b011001..=0b011111).contains(&six) {
            out.push(char::from(b'3' + (six - 0b011001) as u8));
            at += 6;
        } else {
            return None;
        }
    }
    Some(out)
}

/// What the server did next, as the conformance tests judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// GOAWAY: last stream id, error code.
    GoAway { last: u32, code: u32 },
    /// RST_STREAM on a stream, error code.
    Reset { stream: u32, code: u32 },
    /// A response head on a stream (status, when `status` could read it).
    Response { stream: u32, status: Option<u16> },
    /// The connection ended without a GOAWAY.
    Closed,
    /// Nothing within the deadline.
    Silent,
}

/// One raw HTTP/2 connection over TLS.
pub struct Conn {
    pub tls: TlsStream<TcpStream>,
    buf: Vec<u8>,
    /// The server's SETTINGS_MAX_FRAME_SIZE (16,384 unless it says otherwise).
    pub max_frame_size: u32,
}

impl Conn {
    /// TLS with ALPN `h2`; nothing sent yet.
    pub async fn open(client: &TlsClient, addr: SocketAddr) -> Self {
        let tls = client.connect(addr, &[b"h2"]).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        Self {
            tls,
            buf: Vec::new(),
            max_frame_size: 16_384,
        }
    }

    /// `open`, then the preface and an empty SETTINGS; waits for the server's SETTINGS
    /// (and acknowledges it) and for the ACK of ours.
    pub async fn ready(client: &TlsClient, addr: SocketAddr) -> Self {
        let mut c = Self::open(client, addr).await;
        c.send(&[PREFACE, &frame(kind::SETTINGS, 0, 0, &[])].concat())
            .await
            .expect("preface");
        let (mut theirs, mut acked) = (false, false);
        while !(theirs && acked) {
            let f = c
                .read_frame(Duration::from_secs(5))
                .await
                .expect("server SETTINGS");
            if f.kind == kind::SETTINGS && f.flags & flag::ACK != 0 {
                acked = true;
            } else if f.kind == kind::SETTINGS {
                theirs = true;
            }
        }
        c
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tls.write_all(bytes).await?;
        self.tls.flush().await
    }

    /// The next frame, or `None` when the connection ends or `wait` passes. Server
    /// SETTINGS are acknowledged and remembered on the way.
    pub async fn read_frame(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let f = Frame {
                        kind: self.buf[3],
                        flags: self.buf[4],
                        stream: u32::from_be_bytes([
                            self.buf[5],
                            self.buf[6],
                            self.buf[7],
                            self.buf[8],
                        ]) & 0x7fff_ffff,
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    if f.kind == kind::SETTINGS && f.flags & flag::ACK == 0 {
                        for s in f.payload.chunks(6).filter(|s| s.len() == 6) {
                            if u16::from_be_bytes([s[0], s[1]]) == setting::MAX_FRAME_SIZE {
                                self.max_frame_size = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
                            }
                        }
                        let _ = self.send(&frame(kind::SETTINGS, flag::ACK, 0, &[])).await;
                    }
                    return Some(f);
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.tls.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads until the server says something that matters: a GOAWAY, a RST_STREAM, a
    /// response head, the end of the connection, or nothing for `wait`. SETTINGS,
    /// WINDOW_UPDATE, PING and DATA are passed over.
    pub async fn signal(&mut self, wait: Duration) -> Signal {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            // Tell "closed" from "silent": read_frame returns None for both.
            let Some(f) = self.read_frame(left).await else {
                return if tokio::time::Instant::now() >= deadline {
                    Signal::Silent
                } else {
                    Signal::Closed
                };
            };
            match f.kind {
                kind::GOAWAY if f.payload.len() >= 8 => {
                    let p = &f.payload;
                    return Signal::GoAway {
                        last: u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff,
                        code: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
                    };
                }
                kind::RST_STREAM if f.payload.len() == 4 => {
                    let p = &f.payload;
                    return Signal::Reset {
                        stream: f.stream,
                        code: u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
                    };
                }
                kind::HEADERS => {
                    return Signal::Response {
                        stream: f.stream,
                        status: status(&f.payload),
                    }
                }
                _ => {}
            }
        }
    }

    /// After a GOAWAY the server must close: reads until the end (or `wait`), true if it
    /// ended.
    pub async fn closes(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if self.read_frame(left).await.is_none() {
                return tokio::time::Instant::now() < deadline;
            }
        }
    }
}
