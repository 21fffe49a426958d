//! Fuzzes the coalescing of decrypted inbound packets before they are written to the TUN device
//! (`ternd::platform::batch`): the inner IP/TCP headers come from the gateway, so any bytes must
//! be planned without a panic, every packet written exactly once and in order, and a coalesced
//! packet's rewritten length fields must describe exactly the bytes written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ternd::platform::batch::{TunSendBatch, coalesce_for_fuzzing};

/// Packets as the datapath queues them: up to 128 per batch, each a slice of a receive area.
const CAPACITY: usize = 128;

fuzz_target!(|data: &[u8]| {
    let mut batch = TunSendBatch::new(1, data.len().max(1), CAPACITY);
    batch.area_mut(0)[..data.len()].copy_from_slice(data);
    // Packets are split at a two-byte length prefix each, so one input describes a batch whose
    // packets sit back to back in one area, as a GRO train does.
    let mut at = 0;
    let mut packets = Vec::new();
    while at + 2 <= data.len() && packets.len() < CAPACITY {
        let len = usize::from(u16::from_be_bytes([data[at], data[at + 1]]));
        let start = at + 2;
        let end = (start + len).min(data.len());
        assert!(batch.push_in_place(0, start..end));
        packets.push(data[start..end].to_vec());
        at = end;
    }
    let counts = coalesce_for_fuzzing(&mut batch);
    assert_eq!(counts.iter().sum::<usize>(), packets.len());
    let mut first = 0;
    for count in counts {
        assert!(count >= 1);
        if count > 1 {
            let head = batch.packet(first);
            let payloads: usize = (first + 1..first + count)
                .map(|i| {
                    let headers = head.len() - (packets[first].len() - header_len(head));
                    batch.packet(i).len() - headers
                })
                .sum();
            let total = head.len() + payloads;
            assert!(total <= 65_535);
            let claimed = match head[0] >> 4 {
                4 => usize::from(u16::from_be_bytes([head[2], head[3]])),
                6 => 40 + usize::from(u16::from_be_bytes([head[4], head[5]])),
                other => panic!("coalesced a non-IP packet (version {other})"),
            };
            assert_eq!(claimed, total);
        } else {
            // A packet written alone is written as it came.
            assert_eq!(batch.packet(first), packets[first].as_slice());
        }
        first += count;
    }
});

/// The IP plus TCP header length of a packet `coalesce_for_fuzzing` merged (so it parsed).
fn header_len(packet: &[u8]) -> usize {
    let ip = if packet[0] >> 4 == 4 { 20 } else { 40 };
    ip + usize::from(packet[ip + 12] >> 4) * 4
}
