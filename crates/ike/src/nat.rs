//! NAT detection (RFC 7296 §2.23): what the hashes exchanged in IKE_SA_INIT tell us.

use std::net::SocketAddr;

use ipsec_types::IkeSpi;

use crate::crypto::{NAT_DETECTION_HASH_LEN, nat_detection_hash};

/// What NAT detection found, and what we do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatState {
    /// The gateway sent NAT detection notifies (it supports NAT traversal).
    pub supported: bool,
    /// Our address as the gateway saw it differs from our local address: a NAT is in front of
    /// us. Computed from real addresses even when we fake our own hash.
    pub local_behind_nat: bool,
    /// The gateway's address differs from the one it hashed: a NAT is in front of it (or, like
    /// strongSwan with `encap = yes`, it fakes its hash to force UDP encapsulation).
    pub remote_behind_nat: bool,
    /// IKE moved to port 4500 and ESP is encapsulated in UDP (RFC 3948).
    pub udp_encapsulation: bool,
}

/// The NAT detection hash of one endpoint.
pub(crate) fn endpoint_hash(
    spi_i: IkeSpi,
    spi_r: IkeSpi,
    endpoint: SocketAddr,
) -> [u8; NAT_DETECTION_HASH_LEN] {
    nat_detection_hash(spi_i, spi_r, endpoint.ip(), endpoint.port())
}
