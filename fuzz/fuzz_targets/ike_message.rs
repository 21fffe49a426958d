//! Parses arbitrary bytes as an IKE message: header, payload chain, every payload's Repr, the
//! exchange rules, and (treating the SK body as if it were plaintext) the inner chain.
#![no_main]

use ike::wire::{Message, Payload, PayloadType, parse_payload_chain, rules};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::parse(data) {
        let _ = rules::check_outer(&msg.header, &msg.payloads);
        if let Some(parts) = msg.encrypted(data) {
            if let Ok(inner) = parse_payload_chain(parts.first_inner, parts.body) {
                let _ = rules::check_inner(&msg.header, &inner);
            }
        }
        // Whatever parsed must emit and parse back to the same thing.
        let again = Message::parse(&msg.emit()).expect("re-parse of emitted message");
        assert_eq!(again, msg);
    }
    // Each payload body parser on its own, keyed by the first byte.
    if let Some((&ty, body)) = data.split_first() {
        if let Ok(Some(p)) = Payload::parse(PayloadType(ty), body) {
            let mut out = Vec::new();
            p.emit_body(&mut out);
            assert_eq!(out.len(), p.body_len());
        }
    }
});
