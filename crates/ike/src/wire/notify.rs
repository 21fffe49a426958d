//! The Notify payload (RFC 7296 §3.10) and the notify message types we know.

use core::fmt;

use super::{ProtocolId, Reader, WireError};

/// A notify message type. Types below 16384 report errors, the rest carry status; unknown
/// values are kept as numbers (unknown error types still mean failure, RFC 7296 §3.10.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NotifyType(pub u16);

macro_rules! notify_types {
    ($($(#[$doc:meta])* $name:ident = $value:expr,)*) => {
        impl NotifyType {
            $($(#[$doc])* pub const $name: Self = Self($value);)*

            /// The IANA name, if this is a type we know.
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

notify_types! {
    /// An unknown payload with the critical bit was received.
    UNSUPPORTED_CRITICAL_PAYLOAD = 1,
    /// A message arrived for an IKE SA the receiver does not know.
    INVALID_IKE_SPI = 4,
    /// The receiver does not support the major version.
    INVALID_MAJOR_VERSION = 5,
    /// The message was malformed.
    INVALID_SYNTAX = 7,
    /// A message ID outside the window.
    INVALID_MESSAGE_ID = 9,
    /// An ESP/AH packet arrived for an unknown SPI.
    INVALID_SPI = 11,
    /// None of the proposals was acceptable.
    NO_PROPOSAL_CHOSEN = 14,
    /// The KE payload used a group other than the one the responder wants; data = group.
    INVALID_KE_PAYLOAD = 17,
    /// Authentication failed.
    AUTHENTICATION_FAILED = 24,
    /// Only a single pair of selectors is acceptable.
    SINGLE_PAIR_REQUIRED = 34,
    /// No more CHILD_SAs are accepted on this IKE SA.
    NO_ADDITIONAL_SAS = 35,
    /// The responder could not assign an internal address.
    INTERNAL_ADDRESS_FAILURE = 36,
    /// The responder requires a CP payload.
    FAILED_CP_REQUIRED = 37,
    /// The proposed traffic selectors are unacceptable.
    TS_UNACCEPTABLE = 38,
    /// An ESP/AH packet's selectors did not match the SA.
    INVALID_SELECTORS = 39,
    /// The request collided with an ongoing operation; retry later.
    TEMPORARY_FAILURE = 43,
    /// A rekey or delete named a CHILD_SA the responder does not have.
    CHILD_SA_NOT_FOUND = 44,
    /// The sender has no other IKE SAs with us: delete stale state.
    INITIAL_CONTACT = 16384,
    /// Message window size.
    SET_WINDOW_SIZE = 16385,
    /// More traffic selectors would be acceptable in another CHILD_SA.
    ADDITIONAL_TS_POSSIBLE = 16386,
    /// IP compression offered.
    IPCOMP_SUPPORTED = 16387,
    /// Hash of the sender's SPIs, address and port (NAT detection).
    NAT_DETECTION_SOURCE_IP = 16388,
    /// Hash of the SPIs and the receiver's address and port, as the sender saw them.
    NAT_DETECTION_DESTINATION_IP = 16389,
    /// Stateless cookie: resend IKE_SA_INIT with it first.
    COOKIE = 16390,
    /// Transport mode requested.
    USE_TRANSPORT_MODE = 16391,
    /// Hash-and-URL certificates accepted.
    HTTP_CERT_LOOKUP_SUPPORTED = 16392,
    /// This CREATE_CHILD_SA rekeys the named CHILD_SA.
    REKEY_SA = 16393,
    /// The sender does not accept TFC padding.
    ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
    /// Non-first fragments also sent.
    NON_FIRST_FRAGMENTS_ALSO = 16395,
    /// MOBIKE (RFC 4555) supported.
    MOBIKE_SUPPORTED = 16396,
    /// MOBIKE: an additional IPv4 address.
    ADDITIONAL_IP4_ADDRESS = 16397,
    /// MOBIKE: an additional IPv6 address.
    ADDITIONAL_IP6_ADDRESS = 16398,
    /// MOBIKE: no additional addresses.
    NO_ADDITIONAL_ADDRESSES = 16399,
    /// MOBIKE: the sender's addresses changed.
    UPDATE_SA_ADDRESSES = 16400,
    /// MOBIKE return-routability cookie.
    COOKIE2 = 16401,
    /// MOBIKE: NATs not allowed.
    NO_NATS_ALLOWED = 16402,
    /// Seconds until re-authentication is required (RFC 4478).
    AUTH_LIFETIME = 16403,
    /// Multiple authentication rounds supported (RFC 4739).
    MULTIPLE_AUTH_SUPPORTED = 16404,
    /// Another authentication round follows (RFC 4739).
    ANOTHER_AUTH_FOLLOWS = 16405,
    /// Redirect supported (RFC 5685).
    REDIRECT_SUPPORTED = 16406,
    /// Redirect to another gateway (RFC 5685).
    REDIRECT = 16407,
    /// Redirected from another gateway (RFC 5685).
    REDIRECTED_FROM = 16408,
    /// EAP-only authentication supported (RFC 5998).
    EAP_ONLY_AUTHENTICATION = 16417,
    /// Childless IKE SA supported (RFC 6023).
    CHILDLESS_IKEV2_SUPPORTED = 16418,
    /// IKE fragmentation supported (RFC 7383).
    IKEV2_FRAGMENTATION_SUPPORTED = 16430,
    /// Supported signature hash algorithms (RFC 7427); data = list of 16-bit IDs.
    SIGNATURE_HASH_ALGORITHMS = 16431,
}

impl NotifyType {
    /// Whether this type reports an error (RFC 7296 §3.10.1: types below 16384).
    #[must_use]
    pub const fn is_error(self) -> bool {
        self.0 < 16384
    }
}

impl fmt::Debug for NotifyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "NotifyType({})", self.0),
        }
    }
}

impl fmt::Display for NotifyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "notify type {}", self.0),
        }
    }
}

/// A Notify payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyRepr {
    /// Protocol of the SA the notify is about (NONE for the IKE SA).
    pub protocol: ProtocolId,
    /// SPI of that SA (empty for the IKE SA).
    pub spi: Vec<u8>,
    /// The notify type.
    pub notify_type: NotifyType,
    /// Type-specific data.
    pub data: Vec<u8>,
}

impl NotifyRepr {
    /// A notify about the IKE SA (no protocol, no SPI).
    #[must_use]
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }

    /// Parses a Notify payload body.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(body, "Notify payload");
        let protocol = ProtocolId(r.u8()?);
        let spi_size = usize::from(r.u8()?);
        let notify_type = NotifyType(r.u16()?);
        let spi = r.take(spi_size)?.to_vec();
        Ok(Self {
            protocol,
            spi,
            notify_type,
            data: r.rest().to_vec(),
        })
    }

    /// Encoded body length.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        4 + self.spi.len() + self.data.len()
    }

    /// Appends the body.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.protocol.0);
        out.push(u8::try_from(self.spi.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.notify_type.0.to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
    }
}
