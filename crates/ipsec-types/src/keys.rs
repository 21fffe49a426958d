//! CHILD_SA key material, as IKE derives it and ESP consumes it.

use core::fmt;

use zeroize::Zeroizing;

use crate::{EspSuite, Spi};

/// Which end of the IKE SA we are; it decides which half of KEYMAT is ours (RFC 7296 §2.17).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent the first IKE_SA_INIT request.
    Initiator,
    /// We answered it.
    Responder,
}

/// The keys of one direction of a CHILD_SA: one ESP SA.
pub struct DirectionalKeys {
    /// The SPI carried in this direction's ESP packets (chosen by the receiving side).
    pub spi: Spi,
    /// Encryption key followed by the salt for AEAD algorithms.
    pub encr_key: Zeroizing<Vec<u8>>,
    /// Integrity key; empty for AEAD algorithms.
    pub integ_key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for DirectionalKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the bytes: only what helps debugging.
        f.debug_struct("DirectionalKeys")
            .field("spi", &self.spi)
            .field("encr_key_len", &self.encr_key.len())
            .field("integ_key_len", &self.integ_key.len())
            .finish()
    }
}

/// Both directions of a CHILD_SA with the suite they run: what ESP needs to build its SAs.
/// The key buffers are zeroized when this value is dropped.
#[derive(Debug)]
pub struct ChildSaKeys {
    /// Negotiated algorithms.
    pub suite: EspSuite,
    /// Keys for packets we send (SPI chosen by the peer).
    pub outbound: DirectionalKeys,
    /// Keys for packets we receive (SPI chosen by us).
    pub inbound: DirectionalKeys,
}

/// Why KEYMAT could not be split into CHILD_SA keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymatError {
    /// The suite combines an AEAD with an integrity algorithm, or CBC without one.
    #[error("ESP suite {0} is not a valid combination")]
    InvalidSuite(EspSuite),
    /// The caller passed fewer bytes than the suite needs.
    #[error("KEYMAT has {got} bytes but the suite needs {needed}")]
    TooShort {
        /// Bytes needed for both directions.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
}

impl ChildSaKeys {
    /// Splits KEYMAT (`prf+(SK_d, …)`) into the two directions, in the order RFC 7296 §2.17
    /// fixes: initiator-to-responder encryption key, its integrity key, then the
    /// responder-to-initiator keys.
    ///
    /// `inbound_spi` is the SPI we chose (carried by the packets we receive); `outbound_spi` is
    /// the one the peer chose.
    pub fn from_keymat(
        suite: EspSuite,
        role: Role,
        inbound_spi: Spi,
        outbound_spi: Spi,
        keymat: &[u8],
    ) -> Result<Self, KeymatError> {
        if !suite.is_valid() {
            return Err(KeymatError::InvalidSuite(suite));
        }
        let per_direction = suite.keymat_len_per_direction();
        let needed = 2 * per_direction;
        if keymat.len() < needed {
            return Err(KeymatError::TooShort {
                needed,
                got: keymat.len(),
            });
        }
        let encr_len = suite.encr.keymat_len();
        let split = |block: &[u8], spi: Spi| DirectionalKeys {
            spi,
            encr_key: Zeroizing::new(block[..encr_len].to_vec()),
            integ_key: Zeroizing::new(block[encr_len..per_direction].to_vec()),
        };
        let initiator_to_responder = &keymat[..per_direction];
        let responder_to_initiator = &keymat[per_direction..needed];
        let (outbound, inbound) = match role {
            Role::Initiator => (
                split(initiator_to_responder, outbound_spi),
                split(responder_to_initiator, inbound_spi),
            ),
            Role::Responder => (
                split(responder_to_initiator, outbound_spi),
                split(initiator_to_responder, inbound_spi),
            ),
        };
        Ok(Self {
            suite,
            outbound,
            inbound,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EncrAlgorithm, IntegAlgorithm};

    fn spi(v: u32) -> Spi {
        Spi::new(v).unwrap()
    }

    #[test]
    fn initiator_and_responder_mirror_each_other() {
        let suite = EspSuite {
            encr: EncrAlgorithm::AesCbc128,
            integ: Some(IntegAlgorithm::HmacSha2_256_128),
            esn: false,
        };
        let keymat: Vec<u8> = (0..=255).collect();
        let ini =
            ChildSaKeys::from_keymat(suite, Role::Initiator, spi(0x1000), spi(0x2000), &keymat)
                .unwrap();
        let res =
            ChildSaKeys::from_keymat(suite, Role::Responder, spi(0x2000), spi(0x1000), &keymat)
                .unwrap();
        assert_eq!(*ini.outbound.encr_key, (0..16).collect::<Vec<u8>>());
        assert_eq!(*ini.outbound.integ_key, (16..48).collect::<Vec<u8>>());
        assert_eq!(*ini.inbound.encr_key, (48..64).collect::<Vec<u8>>());
        assert_eq!(*ini.outbound.encr_key, *res.inbound.encr_key);
        assert_eq!(*ini.inbound.integ_key, *res.outbound.integ_key);
        assert_eq!(ini.outbound.spi, res.inbound.spi);
    }

    #[test]
    fn aead_keys_carry_salt_and_no_integrity_key() {
        let suite = EspSuite {
            encr: EncrAlgorithm::ChaCha20Poly1305,
            integ: None,
            esn: true,
        };
        let keymat = [7u8; 72];
        let keys =
            ChildSaKeys::from_keymat(suite, Role::Initiator, spi(0x100), spi(0x200), &keymat)
                .unwrap();
        assert_eq!(keys.outbound.encr_key.len(), 36);
        assert!(keys.outbound.integ_key.is_empty());
        assert!(!format!("{keys:?}").contains("7, 7"));
    }

    #[test]
    fn short_keymat_is_an_error() {
        let suite = EspSuite {
            encr: EncrAlgorithm::AesGcm16_128,
            integ: None,
            esn: false,
        };
        let err =
            ChildSaKeys::from_keymat(suite, Role::Initiator, spi(0x100), spi(0x200), &[0; 39])
                .unwrap_err();
        assert_eq!(
            err,
            KeymatError::TooShort {
                needed: 40,
                got: 39
            }
        );
    }
}
