//! Sending protected messages as RFC 7383 fragments. Once both sides announced
//! IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT, a request whose IP packet would exceed
//! [`InitiatorConfig::fragment_size`] goes out as SKF fragments, each sealed on its own and
//! small enough for that size; all of them are retransmitted together until the answer comes
//! (§2.6: the responder needs every fragment of the same fragmentation).
//!
//! Not done: shrinking the fragments after retransmissions went unanswered (the optional path
//! MTU discovery of §2.5.2); responses to the gateway's requests are sent whole (they are
//! small).

use std::time::Instant;

use super::{IkeSa, Initiator};
use crate::config::InitiatorConfig;
use crate::crypto::Random;
use crate::error::Error;
use crate::exchange::Path;
use crate::fragment::{DEFAULT_MAX_FRAGMENTS, fragment_capacity, ike_message_budget};
use crate::wire::{ExchangeType, Flags, HeaderRepr, Payload, emit_encrypted_fragments};

/// The smallest `fragment_size` accepted: every IPv4 host takes 576-byte datagrams
/// (RFC 791), and RFC 7383 §2.5.1 suggests it for IPv4 paths of unknown MTU.
pub(crate) const MIN_FRAGMENT_SIZE: usize = 576;

/// Whether our messages may be fragmented, and what was sent.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Fragmentation {
    /// Both sides announced RFC 7383 support in IKE_SA_INIT.
    pub(super) negotiated: bool,
    /// SKF fragments sent so far (first transmissions).
    pub(super) sent: u64,
}

/// Checks the fragmentation settings of a configuration.
pub(super) fn check_config(config: &InitiatorConfig) -> Result<(), Error> {
    if config.fragment_size < MIN_FRAGMENT_SIZE {
        return Err(Error::InvalidConfig(
            "the IKE fragment size must be at least 576 bytes",
        ));
    }
    Ok(())
}

/// Seals `inner` as one message of `ike_sa`: whole when it fits `max_packet` (an IP packet
/// size, or `None` when fragmentation was not negotiated), else as RFC 7383 fragments that each
/// fit it.
pub(super) fn seal_message(
    ike_sa: &IkeSa,
    rng: &mut dyn Random,
    (exchange, message_id, response): (ExchangeType, u32, bool),
    inner: &[Payload],
    max_packet: Option<usize>,
) -> Result<Vec<Vec<u8>>, Error> {
    let whole = ike_sa.seal(rng, exchange, message_id, response, inner)?;
    let Some(max_packet) = max_packet else {
        return Ok(vec![whole]);
    };
    let budget = message_budget(ike_sa.path, max_packet);
    if whole.len() <= budget {
        return Ok(vec![whole]);
    }
    let capacity = fragment_capacity(&ike_sa.outbound, budget, 0);
    let too_large = Error::InvalidConfig(
        "an IKE message is too large to send even in fragments; raise the IKE fragment size",
    );
    if capacity == 0 {
        return Err(too_large);
    }
    let header = HeaderRepr {
        initiator_spi: ike_sa.spi_i,
        responder_spi: ike_sa.spi_r,
        exchange_type: exchange,
        flags: Flags::new(ike_sa.role == ipsec_types::Role::Initiator, response),
        message_id,
    };
    let fragments = emit_encrypted_fragments(
        &header,
        inner,
        capacity,
        |n| ike_sa.outbound.body_len(n),
        |aad, plaintext| ike_sa.outbound.seal(aad, plaintext, rng),
    )
    .map_err(Error::Crypto)?;
    if fragments.len() > usize::from(DEFAULT_MAX_FRAGMENTS) {
        return Err(too_large);
    }
    Ok(fragments)
}

/// The largest IKE message (header included) that fits an IP packet of `max_packet` bytes on
/// `path`.
fn message_budget(path: Path, max_packet: usize) -> usize {
    ike_message_budget(
        max_packet,
        path.destination.ip().to_canonical().is_ipv6(),
        path.nat_t,
    )
}

impl Initiator {
    /// Seals `inner` as our next request of `exchange` and sends it reliably, fragmented if
    /// need be.
    pub(super) fn send_protected_request(
        &mut self,
        now: Instant,
        exchange: ExchangeType,
        inner: &[Payload],
    ) -> Result<(), Error> {
        let ike_sa = self
            .ike_sa
            .as_ref()
            .ok_or(Error::Internal("no IKE SA keys"))?;
        let max_packet = self
            .fragmentation
            .negotiated
            .then_some(self.config.fragment_size);
        let messages = seal_message(
            ike_sa,
            self.rng.as_mut(),
            (exchange, self.tasks.next_message_id(), false),
            inner,
            max_packet,
        )?;
        if messages.len() > 1 {
            self.fragmentation.sent += u64::try_from(messages.len()).unwrap_or(u64::MAX);
        }
        self.tasks
            .send_request_datagrams(now, exchange, &messages, ike_sa.path);
        Ok(())
    }

    /// How many RFC 7383 fragments we sent (first transmissions only) and how many authentic
    /// ones we received; for diagnostics ("did fragmentation happen?").
    #[must_use]
    pub fn fragment_counts(&self) -> (u64, u64) {
        (self.fragmentation.sent, self.reassembly.fragments_received)
    }
}
