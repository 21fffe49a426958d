//! ESP datapath benchmark: our encapsulate/decapsulate against the raw crypto on the same bytes.
//!
//! For each transform and inner-packet size it measures
//! (a) the raw primitive: ring AEAD seal/open, or AES-CBC (RustCrypto) + HMAC (ring),
//! (b) `OutboundSa::encapsulate`, (c) `InboundSa::decapsulate` with the replay check,
//! first through criterion, then again in interleaved rounds (same closures, same process) to
//! print the throughput ratios (b)/(a) and (c)/(a). The table is also written as JSON to
//! `$CARGO_TARGET_DIR/bench/esp.json` (else `<workspace>/target/bench/esp.json`).
//!
//! Packets that are opened are prepared in untimed batches of [`BATCH`] (fresh sequence numbers,
//! so the replay window accepts them), for the raw and our path alike.

#![allow(
    clippy::unwrap_used,
    reason = "benchmark harness: a failure must abort the run"
)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use criterion::{Criterion, Throughput};
use esp::{EspSaConfig, InboundSa, OutboundSa, manual_keys};
use ipsec_types::{EncrAlgorithm, EspSuite, IntegAlgorithm, Spi};
use ring::{aead, hmac};
use subtle::ConstantTimeEq;

const SIZES: [usize; 4] = [64, 512, 1400, 8192];
const BATCH: usize = 64;
const TRANSFORMS: [(&str, EncrAlgorithm, Option<IntegAlgorithm>); 4] = [
    ("aes128gcm16", EncrAlgorithm::AesGcm16_128, None),
    ("aes256gcm16", EncrAlgorithm::AesGcm16_256, None),
    ("chacha20poly1305", EncrAlgorithm::ChaCha20Poly1305, None),
    (
        "aes128cbc-sha256",
        EncrAlgorithm::AesCbc128,
        Some(IntegAlgorithm::HmacSha2_256_128),
    ),
];

/// The raw primitive the transform is built from, keyed like the SA.
#[allow(clippy::large_enum_variant, reason = "one per benchmark case")]
enum Raw {
    Aead(aead::LessSafeKey),
    Cbc {
        enc: aes::Aes128Enc,
        dec: aes::Aes128Dec,
        mac: hmac::Key,
    },
}

/// Everything one (transform, size) pair needs; each `run_*` does `iters` operations and returns
/// the time spent in the measured part only.
struct Case {
    size: usize,
    out: OutboundSa,
    inb: InboundSa,
    raw: Raw,
    /// Staging buffer for encapsulation (inner packet after the headroom).
    buf: Vec<u8>,
    at: usize,
    /// Raw buffer for sealing (the inner bytes, rounded up to the block for CBC).
    raw_buf: Vec<u8>,
    inner: Vec<u8>,
    /// Packets prepared for opening: buffers, the packet's range, and the raw nonce or tag.
    batch: Vec<(Vec<u8>, core::ops::Range<usize>, [u8; 16])>,
    nonce: u64,
}

fn inner_packet(len: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| i as u8).collect();
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

fn nonce_bytes(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

const AAD: [u8; 12] = [0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 1];

impl Case {
    fn new(encr: EncrAlgorithm, integ: Option<IntegAlgorithm>, size: usize) -> Self {
        let suite = EspSuite {
            encr,
            integ,
            esn: true,
        };
        let encr_key = vec![0x42; encr.keymat_len()];
        let integ_key = vec![0x17; integ.map_or(0, IntegAlgorithm::key_len)];
        let keys = manual_keys(Spi::new(0x1000).unwrap(), &encr_key, &integ_key);
        let config = EspSaConfig::default();
        let out = OutboundSa::new(suite, &keys, &config).unwrap();
        let inb = InboundSa::new(suite, &keys, &config).unwrap();
        let key = &encr_key[..encr.cipher_key_len()];
        let raw = match encr {
            EncrAlgorithm::AesGcm16_128 => Raw::Aead(aead::LessSafeKey::new(
                aead::UnboundKey::new(&aead::AES_128_GCM, key).unwrap(),
            )),
            EncrAlgorithm::AesGcm16_256 => Raw::Aead(aead::LessSafeKey::new(
                aead::UnboundKey::new(&aead::AES_256_GCM, key).unwrap(),
            )),
            EncrAlgorithm::ChaCha20Poly1305 => Raw::Aead(aead::LessSafeKey::new(
                aead::UnboundKey::new(&aead::CHACHA20_POLY1305, key).unwrap(),
            )),
            EncrAlgorithm::AesCbc128 | EncrAlgorithm::AesCbc256 => Raw::Cbc {
                enc: aes::Aes128Enc::new_from_slice(key).unwrap(),
                dec: aes::Aes128Dec::new_from_slice(key).unwrap(),
                mac: hmac::Key::new(hmac::HMAC_SHA256, &integ_key),
            },
        };
        let inner = inner_packet(size);
        let at = out.headroom();
        let mut buf = vec![0u8; at + size + out.max_tailroom()];
        buf[at..at + size].copy_from_slice(&inner);
        let raw_len = match raw {
            Raw::Aead(_) => size,
            Raw::Cbc { .. } => size.next_multiple_of(16),
        };
        let batch = (0..BATCH).map(|_| (buf.clone(), 0..0, [0u8; 16])).collect();
        Self {
            size,
            out,
            inb,
            raw,
            buf,
            at,
            raw_buf: vec![0x33; raw_len],
            inner,
            batch,
            nonce: 0,
        }
    }

    fn run_raw_seal(&mut self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.nonce += 1;
            match &self.raw {
                Raw::Aead(key) => {
                    let tag = key
                        .seal_in_place_separate_tag(
                            aead::Nonce::assume_unique_for_key(nonce_bytes(self.nonce)),
                            aead::Aad::from(AAD),
                            &mut self.raw_buf,
                        )
                        .unwrap();
                    let _ = black_box(tag);
                }
                Raw::Cbc { enc, mac, .. } => {
                    let iv = aes::Block::default();
                    cbc_encrypt(enc, &iv, &mut self.raw_buf);
                    black_box(hmac::sign(mac, &self.raw_buf));
                }
            }
        }
        start.elapsed()
    }

    fn run_encapsulate(&mut self, iters: u64) -> Duration {
        let range = self.at..self.at + self.size;
        let start = Instant::now();
        for _ in 0..iters {
            // The previous round left ciphertext here; only the version nibble is checked.
            self.buf[self.at] = 0x45;
            let _ = black_box(self.out.encapsulate(&mut self.buf, range.clone()).unwrap());
        }
        start.elapsed()
    }

    fn run_raw_open(&mut self, iters: u64) -> Duration {
        self.batched(iters, Self::prepare_raw, |case, i| {
            let (buf, _, tag) = &mut case.batch[i];
            match &case.raw {
                Raw::Aead(key) => {
                    let nonce = u64::from_be_bytes(tag[..8].try_into().unwrap());
                    let plain = key
                        .open_in_place(
                            aead::Nonce::assume_unique_for_key(nonce_bytes(nonce)),
                            aead::Aad::from(AAD),
                            buf,
                        )
                        .unwrap();
                    black_box(plain);
                }
                Raw::Cbc { dec, mac, .. } => {
                    let computed = hmac::sign(mac, buf);
                    assert!(bool::from(computed.as_ref()[..16].ct_eq(&tag[..])));
                    cbc_decrypt(dec, &aes::Block::default(), buf);
                    black_box(buf);
                }
            }
        })
    }

    fn prepare_raw(&mut self, i: usize) {
        self.nonce += 1;
        let nonce = self.nonce;
        let (buf, _, tag) = &mut self.batch[i];
        buf.clear();
        buf.extend_from_slice(&self.raw_buf);
        match &self.raw {
            Raw::Aead(key) => {
                let t = key
                    .seal_in_place_separate_tag(
                        aead::Nonce::assume_unique_for_key(nonce_bytes(nonce)),
                        aead::Aad::from(AAD),
                        buf,
                    )
                    .unwrap();
                buf.extend_from_slice(t.as_ref());
                tag[..8].copy_from_slice(&nonce.to_be_bytes());
            }
            Raw::Cbc { enc, mac, .. } => {
                cbc_encrypt(enc, &aes::Block::default(), buf);
                tag.copy_from_slice(&hmac::sign(mac, buf).as_ref()[..16]);
            }
        }
    }

    fn run_decapsulate(&mut self, iters: u64) -> Duration {
        self.batched(iters, Self::prepare_esp, |case, i| {
            let (buf, range, _) = &mut case.batch[i];
            let _ = black_box(case.inb.decapsulate(&mut buf[range.clone()]).unwrap());
        })
    }

    fn prepare_esp(&mut self, i: usize) {
        let (buf, range, _) = &mut self.batch[i];
        buf.resize(self.buf.len(), 0);
        buf[self.at..self.at + self.size].copy_from_slice(&self.inner);
        *range = self
            .out
            .encapsulate(buf, self.at..self.at + self.size)
            .unwrap()
            .packet;
    }

    /// Runs `op` `iters` times over batches prepared (untimed) by `prepare`.
    fn batched(
        &mut self,
        iters: u64,
        prepare: fn(&mut Self, usize),
        op: fn(&mut Self, usize),
    ) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(BATCH as u64) as usize;
            for i in 0..n {
                prepare(self, i);
            }
            let start = Instant::now();
            for i in 0..n {
                op(self, i);
            }
            total += start.elapsed();
            left -= n as u64;
        }
        total
    }

    fn run(&mut self, op: Op, iters: u64) -> Duration {
        match op {
            Op::RawSeal => self.run_raw_seal(iters),
            Op::Encapsulate => self.run_encapsulate(iters),
            Op::RawOpen => self.run_raw_open(iters),
            Op::Decapsulate => self.run_decapsulate(iters),
        }
    }
}

fn cbc_encrypt(key: &aes::Aes128Enc, iv: &aes::Block, buf: &mut [u8]) {
    let (blocks, _) = aes::cipher::inout::InOutBuf::from(buf).into_chunks();
    cbc::Encryptor::inner_iv_init(key.clone(), iv).encrypt_blocks_mut(blocks.into_out());
}

fn cbc_decrypt(key: &aes::Aes128Dec, iv: &aes::Block, buf: &mut [u8]) {
    let (blocks, _) = aes::cipher::inout::InOutBuf::from(buf).into_chunks();
    cbc::Decryptor::inner_iv_init(key.clone(), iv).decrypt_blocks_mut(blocks.into_out());
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    RawSeal,
    Encapsulate,
    RawOpen,
    Decapsulate,
}

impl Op {
    const ALL: [Self; 4] = [
        Self::RawSeal,
        Self::Encapsulate,
        Self::RawOpen,
        Self::Decapsulate,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::RawSeal => "raw_seal",
            Self::Encapsulate => "encapsulate",
            Self::RawOpen => "raw_open",
            Self::Decapsulate => "decapsulate",
        }
    }
}

fn criterion_benches(c: &mut Criterion) {
    for (name, encr, integ) in TRANSFORMS {
        let mut group = c.benchmark_group(name);
        for size in SIZES {
            group.throughput(Throughput::Bytes(size as u64));
            let mut case = Case::new(encr, integ, size);
            for op in Op::ALL {
                group.bench_function(format!("{}/{size}", op.name()), |b| {
                    b.iter_custom(|iters| case.run(op, iters));
                });
            }
        }
        group.finish();
    }
}

/// Interleaved rounds of all four operations; the fastest round of each counts (other load on
/// the machine only ever adds time).
fn ratio_table() {
    const ROUNDS: usize = 40;
    let mut records = Vec::new();
    println!();
    println!(
        "{:<18} {:>5}  {:>10} {:>10} {:>7}  {:>10} {:>10} {:>7}",
        "transform", "size", "seal MB/s", "encap MB/s", "ratio", "open MB/s", "decap MB/s", "ratio"
    );
    for (name, encr, integ) in TRANSFORMS {
        for size in SIZES {
            let mut case = Case::new(encr, integ, size);
            let iters = (2_000_000 / (size as u64 + 200)).max(BATCH as u64);
            let mut best = [f64::INFINITY; 4];
            for _ in 0..ROUNDS {
                for (k, op) in Op::ALL.into_iter().enumerate() {
                    let ns = case.run(op, iters).as_nanos() as f64 / iters as f64;
                    best[k] = best[k].min(ns);
                }
            }
            let mbps = |ns: f64| size as f64 / ns * 1000.0;
            let encap_ratio = best[0] / best[1];
            let decap_ratio = best[2] / best[3];
            println!(
                "{name:<18} {size:>5}  {:>10.0} {:>10.0} {:>6.1}%  {:>10.0} {:>10.0} {:>6.1}%",
                mbps(best[0]),
                mbps(best[1]),
                encap_ratio * 100.0,
                mbps(best[2]),
                mbps(best[3]),
                decap_ratio * 100.0
            );
            for (operation, raw, ours, ratio) in [
                ("encapsulate", best[0], best[1], encap_ratio),
                ("decapsulate", best[2], best[3], decap_ratio),
            ] {
                records.push(serde_json::json!({
                    "transform": name,
                    "size": size,
                    "operation": operation,
                    "raw_ns_per_packet": raw,
                    "esp_ns_per_packet": ours,
                    "raw_mb_per_s": mbps(raw),
                    "esp_mb_per_s": mbps(ours),
                    "ratio": ratio,
                }));
            }
        }
    }
    let dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let dir = dir.join("bench");
    let path = dir.join("esp.json");
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&serde_json::Value::Array(records)).unwrap_or_default(),
        )
    });
    match written {
        Ok(()) => println!(
            "\nratio = our throughput / raw crypto throughput; written to {}",
            path.display()
        ),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500))
        .configure_from_args();
    criterion_benches(&mut criterion);
    criterion.final_summary();
    // `cargo test --benches` runs this binary without `--bench`: skip the long table there.
    if std::env::args().any(|a| a == "--bench") {
        ratio_table();
    }
}
