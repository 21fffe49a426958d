//! NAT detection hashes (RFC 7296 §2.23).

use std::net::IpAddr;

use ring::digest;

use ipsec_types::IkeSpi;

/// Length of a NAT_DETECTION_SOURCE_IP / NAT_DETECTION_DESTINATION_IP notify's data.
pub const NAT_DETECTION_HASH_LEN: usize = 20;

/// The data of a NAT_DETECTION_SOURCE_IP or NAT_DETECTION_DESTINATION_IP notify
/// (RFC 7296 §2.23): `SHA-1(SPIi | SPIr | IP address | port)`, the address in network order (4
/// or 16 bytes), the port big-endian. In the first IKE_SA_INIT request SPIr is zero.
///
/// SHA-1 is what the RFC fixes for this hash; it is not used for any security property here.
#[must_use]
pub fn nat_detection_hash(
    spi_i: IkeSpi,
    spi_r: IkeSpi,
    addr: IpAddr,
    port: u16,
) -> [u8; NAT_DETECTION_HASH_LEN] {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&spi_i.0);
    ctx.update(&spi_r.0);
    match addr {
        IpAddr::V4(v4) => ctx.update(&v4.octets()),
        IpAddr::V6(v6) => ctx.update(&v6.octets()),
    }
    ctx.update(&port.to_be_bytes());
    let mut out = [0u8; NAT_DETECTION_HASH_LEN];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_spis_address_and_port() {
        let spi_i = IkeSpi([1, 2, 3, 4, 5, 6, 7, 8]);
        // Expected values computed independently with Python's hashlib.sha1.
        let v4 = nat_detection_hash(spi_i, IkeSpi::ZERO, "192.0.2.1".parse().unwrap(), 500);
        assert_eq!(hex::encode(v4), V4_EXPECTED);
        let v6 = nat_detection_hash(spi_i, IkeSpi([9; 8]), "2001:db8::1".parse().unwrap(), 4500);
        assert_eq!(hex::encode(v6), V6_EXPECTED);
    }

    const V4_EXPECTED: &str = "644b4575455bd6fcc1efe2be8162a9218e448e5f";
    const V6_EXPECTED: &str = "915fca19c5a81a4f20d051ce14542c800e75e235";
}
