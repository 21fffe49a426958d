//! Which payloads each exchange may carry, in one table (after strongSwan's `message.c`).
//!
//! The state machine checks every received message against [`rules_for`] before looking at
//! its contents, so handlers can rely on presence and counts. Payload-level semantics (for
//! example "the SA holds exactly one proposal") stay with the handlers.

use super::{ExchangeType, HeaderRepr, MAX_PAYLOADS, NotifyType, Payload, PayloadType};

/// How a payload must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// May be absent.
    Optional,
    /// Must be present.
    Required,
    /// Must be present unless the message reports an error (an error notify, or a COOKIE
    /// request in an IKE_SA_INIT response).
    RequiredUnlessError,
}

/// The rule for one payload type within an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadRule {
    /// The payload type.
    pub payload: PayloadType,
    /// Whether it must be present.
    pub presence: Presence,
    /// How many may appear.
    pub max: usize,
}

/// The rules for one exchange in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeRules {
    /// The exchange.
    pub exchange: ExchangeType,
    /// Whether these are the rules for the response.
    pub response: bool,
    /// Whether every payload must be inside SK (or SKF).
    pub encrypted: bool,
    /// The payloads allowed; any type not listed is refused.
    pub payloads: &'static [PayloadRule],
}

const fn rule(payload: PayloadType, presence: Presence, max: usize) -> PayloadRule {
    PayloadRule {
        payload,
        presence,
        max,
    }
}

use Presence::{Optional, Required, RequiredUnlessError};

const MANY: usize = MAX_PAYLOADS;
/// Most certificates in one message.
const MAX_CERTS: usize = 8;

/// The table.
pub static EXCHANGE_RULES: [ExchangeRules; 8] = [
    ExchangeRules {
        exchange: ExchangeType::IKE_SA_INIT,
        response: false,
        encrypted: false,
        payloads: &[
            rule(PayloadType::SA, Required, 1),
            rule(PayloadType::KE, Required, 1),
            rule(PayloadType::NONCE, Required, 1),
            rule(PayloadType::NOTIFY, Optional, MANY),
            rule(PayloadType::VENDOR_ID, Optional, MANY),
        ],
    },
    ExchangeRules {
        exchange: ExchangeType::IKE_SA_INIT,
        response: true,
        encrypted: false,
        payloads: &[
            rule(PayloadType::SA, RequiredUnlessError, 1),
            rule(PayloadType::KE, RequiredUnlessError, 1),
            rule(PayloadType::NONCE, RequiredUnlessError, 1),
            rule(PayloadType::CERTREQ, Optional, MAX_CERTS),
            rule(PayloadType::NOTIFY, Optional, MANY),
            rule(PayloadType::VENDOR_ID, Optional, MANY),
        ],
    },
    ExchangeRules {
        exchange: ExchangeType::IKE_AUTH,
        response: false,
        encrypted: true,
        payloads: &[
            // Later IKE_AUTH rounds of EAP carry only EAP (and AUTH at the end).
            rule(PayloadType::IDI, Optional, 1),
            rule(PayloadType::CERT, Optional, MAX_CERTS),
            rule(PayloadType::CERTREQ, Optional, MAX_CERTS),
            rule(PayloadType::IDR, Optional, 1),
            rule(PayloadType::AUTH, Optional, 1),
            rule(PayloadType::EAP, Optional, 1),
            rule(PayloadType::CP, Optional, 1),
            rule(PayloadType::SA, Optional, 1),
            rule(PayloadType::TSI, Optional, 1),
            rule(PayloadType::TSR, Optional, 1),
            rule(PayloadType::NOTIFY, Optional, MANY),
            rule(PayloadType::VENDOR_ID, Optional, MANY),
        ],
    },
    ExchangeRules {
        exchange: ExchangeType::IKE_AUTH,
        response: true,
        encrypted: true,
        payloads: &[
            // AUTH and IDr are absent in an AUTHENTICATION_FAILED answer and in EAP rounds;
            // SA/TSi/TSr are absent when the CHILD_SA failed (the handler reports why).
            rule(PayloadType::IDR, Optional, 1),
            rule(PayloadType::CERT, Optional, MAX_CERTS),
            rule(PayloadType::AUTH, Optional, 1),
            rule(PayloadType::EAP, Optional, 1),
            rule(PayloadType::CP, Optional, 1),
            rule(PayloadType::SA, Optional, 1),
            rule(PayloadType::TSI, Optional, 1),
            rule(PayloadType::TSR, Optional, 1),
            rule(PayloadType::NOTIFY, Optional, MANY),
            rule(PayloadType::VENDOR_ID, Optional, MANY),
        ],
    },
    ExchangeRules {
        exchange: ExchangeType::CREATE_CHILD_SA,
        response: false,
        encrypted: true,
        payloads: &[
            rule(PayloadType::SA, Required, 1),
            rule(PayloadType::NONCE, Required, 1),
            rule(PayloadType::KE, Optional, 1),
            rule(PayloadType::TSI, Optional, 1),
            rule(PayloadType::TSR, Optional, 1),
            rule(PayloadType::NOTIFY, Optional, MANY),
            rule(PayloadType::VENDOR_ID, Optional, MANY),
        ],
    },
    ExchangeRules {
        exchange: ExchangeType::CREATE_CHILD_SA,
        response: true,
        encrypted: true,
        payloads: &[
            rule(PayloadType::SA, RequiredUnlessError, 1),
            rule(PayloadType::NONCE, RequiredUnlessError, 1),
            rule(PayloadType::KE, Optional, 1),
            rule(PayloadType::TSI, Optional, 1),
            rule(PayloadType::TSR, Optional, 1),
            rule(PayloadType::NOTIFY, Optional, MANY),
            rule(PayloadType::VENDOR_ID, Optional, MANY),
        ],
    },
    ExchangeRules {
        exchange: ExchangeType::INFORMATIONAL,
        response: false,
        encrypted: true,
        payloads: &[
            rule(PayloadType::NOTIFY, Optional, MANY),
            rule(PayloadType::DELETE, Optional, MANY),
            rule(PayloadType::CP, Optional, 1),
            rule(PayloadType::VENDOR_ID, Optional, MANY),
        ],
    },
    ExchangeRules {
        exchange: ExchangeType::INFORMATIONAL,
        response: true,
        encrypted: true,
        payloads: &[
            rule(PayloadType::NOTIFY, Optional, MANY),
            rule(PayloadType::DELETE, Optional, MANY),
            rule(PayloadType::CP, Optional, 1),
            rule(PayloadType::VENDOR_ID, Optional, MANY),
        ],
    },
];

/// The rules for an exchange and direction, if the exchange is one we know.
#[must_use]
pub fn rules_for(exchange: ExchangeType, response: bool) -> Option<&'static ExchangeRules> {
    EXCHANGE_RULES
        .iter()
        .find(|r| r.exchange == exchange && r.response == response)
}

/// How a message breaks the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    /// The exchange type is not one we know.
    #[error("unknown exchange type {0:?}")]
    UnknownExchange(ExchangeType),
    /// The exchange must be protected but the message has no SK payload, or it has payloads
    /// outside SK.
    #[error("{0:?} message is not (entirely) encrypted")]
    NotEncrypted(ExchangeType),
    /// An SK payload in an exchange that is never encrypted.
    #[error("{0:?} message must not be encrypted")]
    UnexpectedEncryption(ExchangeType),
    /// A payload type this exchange does not carry.
    #[error("{1:?} payload is not allowed in {0:?}")]
    NotAllowed(ExchangeType, PayloadType),
    /// More payloads of a type than allowed.
    #[error("too many {1:?} payloads in {0:?}")]
    TooMany(ExchangeType, PayloadType),
    /// A required payload is missing.
    #[error("{1:?} payload missing from {0:?}")]
    Missing(ExchangeType, PayloadType),
}

impl ExchangeRules {
    /// Checks the payloads a message carries: for encrypted exchanges pass the decrypted
    /// inner payloads, otherwise the message's payloads.
    pub fn check_payloads(&self, payloads: &[Payload]) -> Result<(), RuleViolation> {
        let error_reported = payloads.iter().any(|p| {
            matches!(p, Payload::Notify(n)
                if n.notify_type.is_error() || n.notify_type == NotifyType::COOKIE)
        });
        for payload in payloads {
            let ty = payload.payload_type();
            if !self.payloads.iter().any(|r| r.payload == ty) {
                return Err(RuleViolation::NotAllowed(self.exchange, ty));
            }
        }
        for rule in self.payloads {
            let count = payloads
                .iter()
                .filter(|p| p.payload_type() == rule.payload)
                .count();
            if count > rule.max {
                return Err(RuleViolation::TooMany(self.exchange, rule.payload));
            }
            let required = match rule.presence {
                Optional => false,
                Required => true,
                RequiredUnlessError => !error_reported,
            };
            if required && count == 0 {
                return Err(RuleViolation::Missing(self.exchange, rule.payload));
            }
        }
        Ok(())
    }

    /// Checks the outer (cleartext) payloads: for encrypted exchanges exactly one SK or SKF
    /// payload; otherwise no SK/SKF at all, and the per-payload rules.
    pub fn check_outer(&self, payloads: &[Payload]) -> Result<(), RuleViolation> {
        let is_sealed = |p: &Payload| matches!(p, Payload::Sk(_) | Payload::Skf(_));
        if self.encrypted {
            match payloads {
                [only] if is_sealed(only) => Ok(()),
                _ => Err(RuleViolation::NotEncrypted(self.exchange)),
            }
        } else if payloads.iter().any(is_sealed) {
            Err(RuleViolation::UnexpectedEncryption(self.exchange))
        } else {
            self.check_payloads(payloads)
        }
    }
}

/// Looks up the rules for `header` and checks the outer payloads.
pub fn check_outer(header: &HeaderRepr, payloads: &[Payload]) -> Result<(), RuleViolation> {
    rules_for(header.exchange_type, header.flags.response())
        .ok_or(RuleViolation::UnknownExchange(header.exchange_type))?
        .check_outer(payloads)
}

/// Looks up the rules for `header` and checks the decrypted inner payloads.
pub fn check_inner(header: &HeaderRepr, payloads: &[Payload]) -> Result<(), RuleViolation> {
    rules_for(header.exchange_type, header.flags.response())
        .ok_or(RuleViolation::UnknownExchange(header.exchange_type))?
        .check_payloads(payloads)
}
