//! Inputs of the byte-processing benchmarks (design §9): the three
//! sizes `16KiB`, `1MiB`, `64MiB`, and deterministic chat-log-like text
//! (timestamps, senders, words from a small vocabulary). It compresses at
//! zlib level 1 roughly like a chat database does, which matters for
//! crypt15; v2 and the raw AEAD run on the same buffers.

use std::sync::OnceLock;

use criterion::measurement::WallTime;
use criterion::{Bencher, BenchmarkGroup, BenchmarkId, Throughput};

use super::settings::{Kind, Settings};

/// One buffer size; `label` is the criterion parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Size {
    /// Parameter string of the benchmark id.
    pub label: &'static str,
    /// Bytes.
    pub len: usize,
    index: usize,
}

impl Size {
    /// Settings kind: 64 MiB is a large input, the others are small.
    pub(crate) fn kind(self) -> Kind {
        if self.len >= 64 << 20 { Kind::Large } else { Kind::Small }
    }

    /// The length as criterion's byte throughput.
    pub(crate) fn bytes(self) -> u64 {
        self.len as u64
    }
}

/// The sizes every byte-processing benchmark runs at.
pub(crate) const SIZES: [Size; 3] = [
    Size { label: "16KiB", len: 16 << 10, index: 0 },
    Size { label: "1MiB", len: 1 << 20, index: 1 },
    Size { label: "64MiB", len: 64 << 20, index: 2 },
];

/// Adds `{name}/{size}` to `group` for every size of [`SIZES`], with the
/// size's settings and `Throughput::Bytes(size)`. `bench` gets the size, its
/// input (`input(size)`, built only when the benchmark runs) and an empty
/// output buffer of its own.
pub(crate) fn for_sizes<'a, I: ?Sized + 'a>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    settings: &Settings,
    name: &str,
    input: impl Fn(Size) -> &'a I,
    mut bench: impl FnMut(&mut Bencher<'_>, Size, &'a I, &mut Vec<u8>),
) {
    for size in SIZES {
        settings.apply(group, size.kind());
        group.throughput(Throughput::Bytes(size.bytes()));
        let mut out = Vec::new();
        group.bench_function(BenchmarkId::new(name, size.label), |b| bench(b, size, input(size), &mut out));
    }
}

/// One lazily built value per size: a benchmark left out by a filter never
/// pays for its input.
#[derive(Debug)]
pub(crate) struct PerSize<T> {
    cells: [OnceLock<T>; 3],
}

impl<T> Default for PerSize<T> {
    fn default() -> Self {
        Self { cells: [OnceLock::new(), OnceLock::new(), OnceLock::new()] }
    }
}

impl<T> PerSize<T> {
    /// The value for `size`, built by `make` the first time.
    pub(crate) fn get(&self, size: Size, make: impl FnOnce() -> T) -> &T {
        self.cells[size.index].get_or_init(make)
    }
}

/// The plaintexts, shared by every group.
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    plain: PerSize<Vec<u8>>,
}

impl Inputs {
    /// The plaintext of `size` (always the same bytes for the same size).
    pub(crate) fn get(&self, size: Size) -> &[u8] {
        self.plain.get(size, || chat_text(0x00e2_eb00_5eed, size.len))
    }
}

/// Deterministic text shaped like a chat export: one message per line,
/// `timestamp|sender|words`, from a xorshift generator seeded by `seed`.
pub(crate) fn chat_text(seed: u64, len: usize) -> Vec<u8> {
    const SENDERS: [&[u8]; 8] = [b"alice", b"bob", b"carol", b"dave", b"erin", b"frank", b"grace", b"heidi"];
    const WORDS: [&[u8]; 64] = [
        b"hello",
        b"backup",
        b"chat",
        b"message",
        b"photo",
        b"ok",
        b"see",
        b"you",
        b"tomorrow",
        b"at",
        b"the",
        b"station",
        b"thanks",
        b"for",
        b"sending",
        b"it",
        b"did",
        b"get",
        b"my",
        b"voice",
        b"note",
        b"call",
        b"me",
        b"when",
        b"are",
        b"free",
        b"love",
        b"this",
        b"picture",
        b"running",
        b"late",
        b"sorry",
        b"lunch",
        b"dinner",
        b"tonight",
        b"what",
        b"time",
        b"where",
        b"is",
        b"meeting",
        b"moved",
        b"to",
        b"friday",
        b"happy",
        b"birthday",
        b"great",
        b"news",
        b"congrats",
        b"on",
        b"new",
        b"job",
        b"flight",
        b"lands",
        b"9pm",
        b"address",
        b"please",
        b"yes",
        b"no",
        b"maybe",
        b"later",
        b"haha",
        b"lol",
        b"good",
        b"night",
    ];
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::with_capacity(len + 256);
    let mut clock = 1_700_000_000u64;
    while out.len() < len {
        clock += next() % 600;
        out.extend_from_slice(clock.to_string().as_bytes());
        out.push(b'|');
        out.extend_from_slice(SENDERS[(next() % 8) as usize]);
        out.push(b'|');
        let words = 2 + next() % 14;
        for i in 0..words {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(WORDS[(next() % 64) as usize]);
        }
        out.extend_from_slice(match next() % 8 {
            0 => b"!\n",
            1 => b"?\n",
            _ => b"\n",
        });
    }
    out.truncate(len);
    out
}
