//! The soak's checkers: pure code, no runtime, so that each can be shown to
//! fail on bad input (see the tests at the bottom).
//!
//! - [`fnv1a`]: the checksum (64-bit FNV-1a) of frames, files and
//!   blocking-pool results;
//! - [`Frame`] and [`FrameChecker`]: the echo protocol. The client sends
//!   frames `magic | len | seq | payload | checksum` and tells its reader,
//!   through a channel, the `(seq, len, checksum)` of every frame it wrote;
//!   the reader parses the echoed byte stream back into frames and compares.
//!   A flipped byte breaks a checksum, a lost frame leaves a gap in `seq`, a
//!   duplicated one repeats a `seq`, and lost or extra bytes break the
//!   framing;
//! - [`SeqChecker`]: channel messages `(producer, seq)` arrive, per
//!   producer, in order, each once, and all of them;
//! - [`Rng`]: a seeded SplitMix64, so a soak's choices (sizes, timeouts,
//!   pauses) replay from its printed seed.

use std::fmt;

/// 64-bit FNV-1a offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// 64-bit FNV-1a prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The FNV-1a checksum of `bytes`, continuing from `state` (start with
/// [`fnv1a_start`]).
pub fn fnv1a_update(mut state: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        state ^= u64::from(byte);
        state = state.wrapping_mul(FNV_PRIME);
    }
    state
}

/// The state before any byte.
pub fn fnv1a_start() -> u64 {
    FNV_OFFSET
}

/// The FNV-1a checksum of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_update(fnv1a_start(), bytes)
}

/// First word of every frame: "RWSK".
pub const FRAME_MAGIC: u32 = 0x5257_534b;
/// Bytes before the payload: magic (4), payload length (4), seq (8).
pub const FRAME_HEADER: usize = 16;
/// Bytes after the payload: the checksum.
pub const FRAME_TRAILER: usize = 8;
/// Largest payload a frame may carry; a header claiming more is corrupt.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// What the writer tells the reader about a frame it sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Position of the frame in its connection, from 0.
    pub seq: u64,
    /// Payload bytes.
    pub len: u32,
    /// FNV-1a of the seq (little endian) followed by the payload.
    pub checksum: u64,
}

impl Frame {
    /// Encodes a frame carrying `payload` as the `seq`th of its connection:
    /// the bytes to send and their description.
    ///
    /// # Panics
    /// If `payload` is longer than [`MAX_PAYLOAD`] (a caller bug).
    pub fn encode(seq: u64, payload: &[u8]) -> (Vec<u8>, Frame) {
        assert!(payload.len() <= MAX_PAYLOAD, "payload over MAX_PAYLOAD");
        let checksum = fnv1a_update(fnv1a(&seq.to_le_bytes()), payload);
        let len = payload.len() as u32;
        let mut bytes = Vec::with_capacity(FRAME_HEADER + payload.len() + FRAME_TRAILER);
        bytes.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&seq.to_le_bytes());
        bytes.extend_from_slice(payload);
        bytes.extend_from_slice(&checksum.to_le_bytes());
        (bytes, Frame { seq, len, checksum })
    }
}

/// How a byte stream failed to be the frames that were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// The stream does not start a frame where one should start (lost,
    /// extra or shifted bytes).
    BadMagic { offset: u64, found: u32 },
    /// A header claims a payload over [`MAX_PAYLOAD`].
    BadLength { offset: u64, len: u32 },
    /// A frame's trailer does not match its own seq and payload (corrupted
    /// bytes).
    Corrupt { seq: u64, offset: u64 },
    /// A frame arrived out of turn: lost (`found > expected`) or duplicated
    /// (`found < expected`) frames.
    OutOfOrder { expected: u64, found: u64 },
    /// A well-formed frame that is not the one that was sent in its place.
    NotWhatWasSent { sent: Frame, received: Frame },
    /// A frame arrived that was never sent (duplicated data at the end).
    NeverSent { received: Frame },
    /// The stream ended with frames still owed (lost data).
    Missing { next: u64 },
    /// The stream ended inside a frame.
    Truncated { trailing: usize },
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::BadMagic { offset, found } => write!(
                f,
                "no frame starts at byte {offset} (found {found:#010x}, expected \
                 {FRAME_MAGIC:#010x}): bytes were lost, duplicated or shifted"
            ),
            StreamError::BadLength { offset, len } => write!(
                f,
                "frame at byte {offset} claims {len} payload bytes (at most {MAX_PAYLOAD}): \
                 corrupt header"
            ),
            StreamError::Corrupt { seq, offset } => write!(
                f,
                "checksum mismatch in frame {seq} at byte {offset}: corrupted data"
            ),
            StreamError::OutOfOrder { expected, found } if found > expected => write!(
                f,
                "frame {found} arrived where frame {expected} was due: frames lost"
            ),
            StreamError::OutOfOrder { expected, found } => write!(
                f,
                "frame {found} arrived again where frame {expected} was due: duplicated data"
            ),
            StreamError::NotWhatWasSent { sent, received } => write!(
                f,
                "frame {} differs from what was sent (sent {} bytes, checksum {:#018x}; \
                 received {} bytes, checksum {:#018x})",
                sent.seq, sent.len, sent.checksum, received.len, received.checksum
            ),
            StreamError::NeverSent { received } => write!(
                f,
                "frame {} arrived but was never sent: duplicated data",
                received.seq
            ),
            StreamError::Missing { next } => write!(
                f,
                "the stream ended before frame {next}, which was sent: lost data"
            ),
            StreamError::Truncated { trailing } => write!(
                f,
                "the stream ended {trailing} bytes into a frame: lost data"
            ),
        }
    }
}

/// Parses an echoed byte stream back into frames and checks each against
/// what was sent.
#[derive(Debug, Default)]
pub struct FrameChecker {
    /// Bytes received but not yet parsed, from `start`.
    pending: Vec<u8>,
    start: usize,
    /// Stream offset of `pending[start]`.
    offset: u64,
    /// The seq the next frame must carry.
    next_seq: u64,
}

impl FrameChecker {
    /// A checker expecting frame 0 at byte 0.
    pub fn new() -> FrameChecker {
        FrameChecker::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.pending.len() {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend_from_slice(bytes);
    }

    /// The next whole frame, checked for framing, checksum and order;
    /// `None` until one has fully arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        let buf = &self.pending[self.start..];
        if buf.len() < FRAME_HEADER {
            return Ok(None);
        }
        let word = |at: usize| u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"));
        let magic = word(0);
        if magic != FRAME_MAGIC {
            return Err(StreamError::BadMagic {
                offset: self.offset,
                found: magic,
            });
        }
        let len = word(4);
        if len as usize > MAX_PAYLOAD {
            return Err(StreamError::BadLength {
                offset: self.offset,
                len,
            });
        }
        let total = FRAME_HEADER + len as usize + FRAME_TRAILER;
        if buf.len() < total {
            return Ok(None);
        }
        let seq = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
        let payload = &buf[FRAME_HEADER..FRAME_HEADER + len as usize];
        let trailer = u64::from_le_bytes(
            buf[total - FRAME_TRAILER..total]
                .try_into()
                .expect("8 bytes"),
        );
        let checksum = fnv1a_update(fnv1a(&seq.to_le_bytes()), payload);
        if checksum != trailer {
            return Err(StreamError::Corrupt {
                seq,
                offset: self.offset,
            });
        }
        if seq != self.next_seq {
            return Err(StreamError::OutOfOrder {
                expected: self.next_seq,
                found: seq,
            });
        }
        self.next_seq += 1;
        self.start += total;
        self.offset += total as u64;
        Ok(Some(Frame { seq, len, checksum }))
    }

    /// Compares a parsed frame with the writer's description of frame
    /// `received.seq` (`None`: the writer sent no such frame).
    pub fn compare(sent: Option<Frame>, received: Frame) -> Result<(), StreamError> {
        match sent {
            None => Err(StreamError::NeverSent { received }),
            Some(sent) if sent != received => Err(StreamError::NotWhatWasSent { sent, received }),
            Some(_) => Ok(()),
        }
    }

    /// At end of stream: no partial frame may remain, and `frames_sent`
    /// frames must have been parsed.
    pub fn finish(&self, frames_sent: u64) -> Result<(), StreamError> {
        let trailing = self.pending.len() - self.start;
        if trailing > 0 {
            return Err(StreamError::Truncated { trailing });
        }
        if self.next_seq < frames_sent {
            return Err(StreamError::Missing {
                next: self.next_seq,
            });
        }
        Ok(())
    }

    /// Frames parsed so far.
    pub fn frames(&self) -> u64 {
        self.next_seq
    }
}

/// Checks that each producer's messages `0, 1, 2, ...` arrive in order,
/// each exactly once.
#[derive(Debug)]
pub struct SeqChecker {
    next: Vec<u64>,
}

impl SeqChecker {
    /// A checker for `producers` producers.
    pub fn new(producers: usize) -> SeqChecker {
        SeqChecker {
            next: vec![0; producers],
        }
    }

    /// Records message `seq` of `producer`.
    pub fn observe(&mut self, producer: usize, seq: u64) -> Result<(), String> {
        let Some(next) = self.next.get_mut(producer) else {
            return Err(format!("message from unknown producer {producer}"));
        };
        if seq != *next {
            let what = if seq > *next { "lost" } else { "duplicated" };
            return Err(format!(
                "producer {producer}: message {seq} arrived where {} was due ({what})",
                *next
            ));
        }
        *next += 1;
        Ok(())
    }

    /// After the channel closed: every producer's `sent[p]` messages arrived.
    pub fn finish(&self, sent: &[u64]) -> Result<(), String> {
        for (producer, (&got, &sent)) in self.next.iter().zip(sent).enumerate() {
            if got != sent {
                return Err(format!(
                    "producer {producer} sent {sent} messages, {got} arrived (lost)"
                ));
            }
        }
        Ok(())
    }
}

/// SplitMix64: small, fast, and good enough to pick sizes and pauses.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator; streams from different seeds are unrelated.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        debug_assert!(low <= high);
        let span = high - low;
        if span == u64::MAX {
            return self.next_u64();
        }
        low + self.next_u64() % (span + 1)
    }

    /// Uniform in `low..=high`, as a `usize`.
    pub fn range_usize(&mut self, low: usize, high: usize) -> usize {
        self.range(low as u64, high as u64) as usize
    }

    /// True once in `n` times on average.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64() % n.max(1) == 0
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// A new generator for a sub-task, derived from this one.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(count: u64, rng: &mut Rng) -> (Vec<u8>, Vec<Frame>) {
        let mut stream = Vec::new();
        let mut sent = Vec::new();
        for seq in 0..count {
            let len = rng.range_usize(0, 3000);
            let (bytes, frame) = Frame::encode(seq, &rng.bytes(len));
            stream.extend_from_slice(&bytes);
            sent.push(frame);
        }
        (stream, sent)
    }

    /// Feeds `stream` in random pieces; the first error, or the count of
    /// frames that matched.
    fn check(stream: &[u8], sent: &[Frame], rng: &mut Rng) -> Result<u64, StreamError> {
        let mut checker = FrameChecker::new();
        let mut at = 0;
        while at < stream.len() {
            let piece = rng.range_usize(1, 5000).min(stream.len() - at);
            checker.push(&stream[at..at + piece]);
            at += piece;
            while let Some(frame) = checker.next_frame()? {
                FrameChecker::compare(sent.get(frame.seq as usize).copied(), frame)?;
            }
        }
        checker.finish(sent.len() as u64)?;
        Ok(checker.frames())
    }

    #[test]
    fn an_intact_stream_passes_in_any_pieces() {
        let mut rng = Rng::new(1);
        let (stream, sent) = frames(200, &mut rng);
        for _ in 0..20 {
            assert_eq!(check(&stream, &sent, &mut rng), Ok(200));
        }
    }

    #[test]
    fn a_flipped_payload_byte_is_a_checksum_mismatch() {
        let mut rng = Rng::new(2);
        let (mut stream, sent) = frames(50, &mut rng);
        // Inside frame 0's payload or later: never in a header of frame 0.
        let at = FRAME_HEADER + rng.range_usize(0, stream.len() - FRAME_HEADER - 1);
        stream[at] ^= 0x40;
        let err = check(&stream, &sent, &mut rng).unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::Corrupt { .. }
                    | StreamError::BadMagic { .. }
                    | StreamError::BadLength { .. }
                    | StreamError::OutOfOrder { .. }
                    | StreamError::Truncated { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_corrupted_payload_with_a_matching_trailer_differs_from_what_was_sent() {
        // The corruption rewrote the trailer too: only the writer's own
        // record of the frame catches it.
        let mut rng = Rng::new(3);
        let (stream, sent) = frames(3, &mut rng);
        let (forged, _) = Frame::encode(1, b"not what was sent");
        let first = FRAME_HEADER + sent[0].len as usize + FRAME_TRAILER;
        let second = first + FRAME_HEADER + sent[1].len as usize + FRAME_TRAILER;
        let mut tampered = stream[..first].to_vec();
        tampered.extend_from_slice(&forged);
        tampered.extend_from_slice(&stream[second..]);
        let err = check(&tampered, &sent, &mut rng).unwrap_err();
        assert!(matches!(err, StreamError::NotWhatWasSent { .. }), "{err:?}");
    }

    #[test]
    fn a_lost_frame_and_a_duplicated_frame_are_out_of_order() {
        let mut rng = Rng::new(4);
        let (stream, sent) = frames(3, &mut rng);
        let first = FRAME_HEADER + sent[0].len as usize + FRAME_TRAILER;
        let second = first + FRAME_HEADER + sent[1].len as usize + FRAME_TRAILER;

        let mut lost = stream[..first].to_vec();
        lost.extend_from_slice(&stream[second..]);
        assert_eq!(
            check(&lost, &sent, &mut rng),
            Err(StreamError::OutOfOrder {
                expected: 1,
                found: 2
            })
        );

        let mut duplicated = stream[..first].to_vec();
        duplicated.extend_from_slice(&stream[..first]);
        duplicated.extend_from_slice(&stream[first..]);
        assert_eq!(
            check(&duplicated, &sent, &mut rng),
            Err(StreamError::OutOfOrder {
                expected: 1,
                found: 0
            })
        );
    }

    #[test]
    fn lost_bytes_break_the_framing_and_a_short_stream_is_missing_frames() {
        let mut rng = Rng::new(5);
        let (stream, sent) = frames(10, &mut rng);
        let mut shifted = stream.clone();
        shifted.remove(FRAME_HEADER + sent[0].len as usize + FRAME_TRAILER + 3);
        assert!(check(&shifted, &sent, &mut rng).is_err());

        let last = FRAME_HEADER + sent[9].len as usize + FRAME_TRAILER;
        assert_eq!(
            check(&stream[..stream.len() - last], &sent, &mut rng),
            Err(StreamError::Missing { next: 9 })
        );
        assert_eq!(
            check(&stream[..stream.len() - 1], &sent, &mut rng),
            Err(StreamError::Truncated { trailing: last - 1 })
        );
    }

    #[test]
    fn an_extra_frame_was_never_sent() {
        let mut rng = Rng::new(6);
        let (mut stream, sent) = frames(4, &mut rng);
        let (extra, _) = Frame::encode(4, b"extra");
        stream.extend_from_slice(&extra);
        assert!(matches!(
            check(&stream, &sent, &mut rng),
            Err(StreamError::NeverSent { .. })
        ));
    }

    #[test]
    fn the_seq_checker_catches_loss_duplication_and_missing_tails() {
        let mut checker = SeqChecker::new(2);
        checker.observe(0, 0).unwrap();
        checker.observe(1, 0).unwrap();
        checker.observe(0, 1).unwrap();
        assert!(checker.observe(0, 1).unwrap_err().contains("duplicated"));
        assert!(checker.observe(1, 2).unwrap_err().contains("lost"));
        assert!(checker.observe(2, 0).is_err());
        checker.observe(1, 1).unwrap();
        checker.finish(&[2, 2]).unwrap();
        assert!(checker.finish(&[2, 3]).unwrap_err().contains("lost"));
    }

    #[test]
    fn fnv_differs_on_one_flipped_bit_and_continues_in_pieces() {
        let data = Rng::new(7).bytes(4096);
        let mut flipped = data.clone();
        flipped[1234] ^= 1;
        assert_ne!(fnv1a(&data), fnv1a(&flipped));
        let pieces = fnv1a_update(fnv1a_update(fnv1a_start(), &data[..100]), &data[100..]);
        assert_eq!(pieces, fnv1a(&data));
    }

    #[test]
    fn rng_ranges_stay_in_bounds_and_replay_from_the_seed() {
        let mut rng = Rng::new(8);
        for _ in 0..10_000 {
            let x = rng.range(3, 7);
            assert!((3..=7).contains(&x));
        }
        assert_eq!(Rng::new(9).bytes(33), Rng::new(9).bytes(33));
        assert_eq!(rng.range(5, 5), 5);
        let _ = rng.range(0, u64::MAX);
    }
}
