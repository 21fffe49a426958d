//! IKE and ESP proposals, written in strongSwan's proposal syntax
//! (`aes256gcm16-prfsha384-ecp384`, several proposals separated by commas).
//!
//! Tern's own format stores proposals in this syntax too, so a profile file stays readable and
//! the one parser serves every format. Import is lenient about algorithms Tern knows but does not
//! implement (they are dropped and reported) and strict about tokens nobody knows (an error: a
//! typo must not silently weaken a proposal).

use core::fmt;
use std::str::FromStr;

use ipsec_types::{DhGroup, EncrAlgorithm, IntegAlgorithm, PrfAlgorithm};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// At most this many proposals per list.
pub const MAX_PROPOSALS: usize = 16;
/// At most this many algorithm tokens per proposal.
pub const MAX_TOKENS_PER_PROPOSAL: usize = 32;

/// One IKE SA proposal: every listed algorithm is acceptable for its transform type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeProposal {
    /// Encryption algorithms; all AEAD or all non-AEAD.
    pub encryption: Vec<EncrAlgorithm>,
    /// Integrity algorithms; empty exactly when the encryption algorithms are AEAD.
    pub integrity: Vec<IntegAlgorithm>,
    /// Pseudorandom functions; never empty.
    pub prf: Vec<PrfAlgorithm>,
    /// Key exchange groups; never empty.
    pub dh_groups: Vec<DhGroup>,
}

/// Whether extended sequence numbers are offered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EsnMode {
    /// 32-bit sequence numbers only (`noesn`).
    #[default]
    Off,
    /// 64-bit extended sequence numbers only (`esn`).
    On,
    /// Either; the responder picks (`esn-noesn`).
    Either,
}

/// One CHILD SA (ESP) proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EspProposal {
    /// Encryption algorithms; all AEAD or all non-AEAD.
    pub encryption: Vec<EncrAlgorithm>,
    /// Integrity algorithms; empty exactly when the encryption algorithms are AEAD.
    pub integrity: Vec<IntegAlgorithm>,
    /// Key exchange groups for perfect forward secrecy. Empty: no PFS.
    pub dh_groups: Vec<DhGroup>,
    /// Extended sequence numbers.
    pub esn: EsnMode,
}

/// Why a proposal string cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// No proposal at all.
    #[error("the proposal is empty")]
    Empty,
    /// A token that names no algorithm strongSwan or Tern knows.
    #[error("`{token}` is not a known algorithm name")]
    UnknownToken {
        /// The token as written.
        token: String,
    },
    /// A token that is valid for IKE only or ESP only, used in the other.
    #[error("`{token}` cannot be used in an {context} proposal")]
    WrongContext {
        /// The token as written.
        token: String,
        /// `IKE` or `ESP`.
        context: &'static str,
    },
    /// Too many proposals or tokens.
    #[error("too many proposals or algorithms (limit {limit})")]
    TooMany {
        /// The limit that was crossed.
        limit: usize,
    },
    /// After removing what Tern does not implement, nothing usable remains.
    #[error("no proposal is usable by Tern: {reason}")]
    NothingUsable {
        /// What was missing, for the first proposal.
        reason: String,
    },
    /// A proposal lacks a required transform type (strict parsing).
    #[error("proposal `{proposal}` is incomplete: {reason}")]
    Incomplete {
        /// The proposal as written.
        proposal: String,
        /// What is missing.
        reason: String,
    },
    /// An algorithm Tern does not implement (strict parsing).
    #[error("`{token}` is not implemented by Tern")]
    NotImplemented {
        /// The token as written.
        token: String,
    },
}

/// The outcome of a lenient parse: the usable proposals and what was removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedProposals<P> {
    /// Proposals Tern can offer, in the file's order.
    pub proposals: Vec<P>,
    /// Algorithm tokens Tern does not implement, removed from their proposals.
    pub dropped_algorithms: Vec<String>,
    /// Whole proposals removed because nothing usable was left of a required transform type,
    /// with the reason.
    pub dropped_proposals: Vec<(String, String)>,
}

#[derive(Clone, Copy)]
enum Token {
    Encr(EncrAlgorithm),
    Integ(IntegAlgorithm),
    Prf(PrfAlgorithm),
    Dh(DhGroup),
    Esn(EsnMode),
    /// Known to strongSwan, not implemented by Tern; the transform type it belongs to.
    Unsupported(Transform),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transform {
    Encr,
    Integ,
    Prf,
    Dh,
}

fn classify(token: &str) -> Option<Token> {
    use Token::{Dh, Encr, Esn, Integ, Prf, Unsupported};
    let token = token.to_ascii_lowercase();
    let known = match token.as_str() {
        "aes128gcm16" | "aes128gcm128" | "aes128gcm" => Encr(EncrAlgorithm::AesGcm16_128),
        "aes256gcm16" | "aes256gcm128" | "aes256gcm" => Encr(EncrAlgorithm::AesGcm16_256),
        "chacha20poly1305" => Encr(EncrAlgorithm::ChaCha20Poly1305),
        "aes128" | "aes" => Encr(EncrAlgorithm::AesCbc128),
        "aes256" => Encr(EncrAlgorithm::AesCbc256),
        "sha256" | "sha2_256" => Integ(IntegAlgorithm::HmacSha2_256_128),
        "sha384" | "sha2_384" => Integ(IntegAlgorithm::HmacSha2_384_192),
        "sha512" | "sha2_512" => Integ(IntegAlgorithm::HmacSha2_512_256),
        "prfsha256" => Prf(PrfAlgorithm::HmacSha2_256),
        "prfsha384" => Prf(PrfAlgorithm::HmacSha2_384),
        "prfsha512" => Prf(PrfAlgorithm::HmacSha2_512),
        "modp2048" => Dh(DhGroup::Modp2048),
        "modp3072" => Dh(DhGroup::Modp3072),
        "modp4096" => Dh(DhGroup::Modp4096),
        "ecp256" => Dh(DhGroup::Ecp256),
        "ecp384" => Dh(DhGroup::Ecp384),
        "curve25519" | "x25519" => Dh(DhGroup::Curve25519),
        "esn" => Esn(EsnMode::On),
        "noesn" => Esn(EsnMode::Off),
        // Known to strongSwan, not implemented by Tern.
        "3des" | "des" | "cast128" | "blowfish" | "null" | "aes192" | "aes192gcm16"
        | "aes192gcm" | "aes192gcm128" => Unsupported(Transform::Encr),
        "md5" | "md5_128" | "sha" | "sha1" | "sha1_160" | "aesxcbc" | "aescmac"
        | "camelliaxcbc" | "sha256_96" | "sha2_256_96" | "aes128gmac" | "aes192gmac"
        | "aes256gmac" => Unsupported(Transform::Integ),
        "prfmd5" | "prfsha1" | "prfaesxcbc" | "prfaescmac" | "prfcamelliaxcbc" => {
            Unsupported(Transform::Prf)
        }
        "modp768" | "modp1024" | "modp1536" | "modp6144" | "modp8192" | "modp1024s160"
        | "modp2048s224" | "modp2048s256" | "ecp192" | "ecp224" | "ecp521" | "ecp224bp"
        | "ecp256bp" | "ecp384bp" | "ecp512bp" | "curve448" | "x448" | "mlkem512" | "mlkem768"
        | "mlkem1024" => Unsupported(Transform::Dh),
        other => return classify_family(other),
    };
    Some(known)
}

/// Whole families of names strongSwan accepts that Tern does not implement.
fn classify_family(token: &str) -> Option<Token> {
    let encr_family = ["camellia", "serpent", "twofish", "blowfish", "aes", "3des"];
    // Additional key exchanges (RFC 9370), e.g. `ke1_mlkem768`.
    if token.len() > 4
        && token.starts_with("ke")
        && token.as_bytes().get(2).is_some_and(u8::is_ascii_digit)
        && token.as_bytes().get(3) == Some(&b'_')
    {
        return Some(Token::Unsupported(Transform::Dh));
    }
    // AES-CCM, AES-CTR, short-tag GCM and friends: `aes128ccm16`, `aes256ctr`, `aes128gcm8`.
    let is_cipher_family = encr_family.iter().any(|family| {
        token
            .strip_prefix(family)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
    });
    is_cipher_family.then_some(Token::Unsupported(Transform::Encr))
}

struct RawProposal {
    text: String,
    encryption: Vec<EncrAlgorithm>,
    integrity: Vec<IntegAlgorithm>,
    prf: Vec<PrfAlgorithm>,
    dh_groups: Vec<DhGroup>,
    esn: Vec<EsnMode>,
    /// Transform types for which the file named something, usable or not.
    named: Vec<Transform>,
}

fn split_list(text: &str) -> Result<Vec<&str>, ProposalError> {
    let proposals: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if proposals.is_empty() {
        return Err(ProposalError::Empty);
    }
    if proposals.len() > MAX_PROPOSALS {
        return Err(ProposalError::TooMany {
            limit: MAX_PROPOSALS,
        });
    }
    Ok(proposals)
}

fn tokenize(
    proposal: &str,
    context: &'static str,
    strict: bool,
    dropped: &mut Vec<String>,
) -> Result<RawProposal, ProposalError> {
    // strongSwan's ipsec.conf marks strict proposals with a trailing `!`; it means nothing here.
    let body = proposal.trim_end_matches('!');
    let tokens: Vec<&str> = body.split('-').map(str::trim).collect();
    if tokens.len() > MAX_TOKENS_PER_PROPOSAL {
        return Err(ProposalError::TooMany {
            limit: MAX_TOKENS_PER_PROPOSAL,
        });
    }
    let mut raw = RawProposal {
        text: proposal.to_owned(),
        encryption: Vec::new(),
        integrity: Vec::new(),
        prf: Vec::new(),
        dh_groups: Vec::new(),
        esn: Vec::new(),
        named: Vec::new(),
    };
    for token in tokens {
        let Some(kind) = classify(token) else {
            return Err(ProposalError::UnknownToken {
                token: token.to_owned(),
            });
        };
        let wrong_context = || ProposalError::WrongContext {
            token: token.to_owned(),
            context,
        };
        match kind {
            Token::Encr(a) => push_unique(&mut raw.encryption, a),
            Token::Integ(a) => push_unique(&mut raw.integrity, a),
            Token::Prf(a) if context == "IKE" => push_unique(&mut raw.prf, a),
            Token::Prf(_) => return Err(wrong_context()),
            Token::Dh(a) => push_unique(&mut raw.dh_groups, a),
            Token::Esn(mode) if context == "ESP" => push_unique(&mut raw.esn, mode),
            Token::Esn(_) => return Err(wrong_context()),
            Token::Unsupported(Transform::Prf) if context != "IKE" => return Err(wrong_context()),
            Token::Unsupported(_) if strict => {
                return Err(ProposalError::NotImplemented {
                    token: token.to_owned(),
                });
            }
            Token::Unsupported(transform) => {
                push_unique(&mut raw.named, transform);
                if !dropped.iter().any(|d| d.eq_ignore_ascii_case(token)) {
                    dropped.push(token.to_owned());
                }
            }
        }
        let transform = match kind {
            Token::Encr(_) => Some(Transform::Encr),
            Token::Integ(_) => Some(Transform::Integ),
            Token::Prf(_) => Some(Transform::Prf),
            Token::Dh(_) => Some(Transform::Dh),
            Token::Esn(_) | Token::Unsupported(_) => None,
        };
        if let Some(transform) = transform {
            push_unique(&mut raw.named, transform);
        }
    }
    Ok(raw)
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn prf_for(integ: IntegAlgorithm) -> PrfAlgorithm {
    match integ {
        IntegAlgorithm::HmacSha2_256_128 => PrfAlgorithm::HmacSha2_256,
        IntegAlgorithm::HmacSha2_384_192 => PrfAlgorithm::HmacSha2_384,
        IntegAlgorithm::HmacSha2_512_256 => PrfAlgorithm::HmacSha2_512,
    }
}

/// Splits a proposal's ciphers into an AEAD group and a classic group, as strongSwan does: one
/// IKEv2 proposal cannot mix them.
fn split_aead(encryption: &[EncrAlgorithm]) -> [Vec<EncrAlgorithm>; 2] {
    let aead = encryption.iter().copied().filter(|e| e.is_aead()).collect();
    let classic = encryption
        .iter()
        .copied()
        .filter(|e| !e.is_aead())
        .collect();
    [aead, classic]
}

fn ike_from_raw(raw: &RawProposal) -> Result<Vec<IkeProposal>, String> {
    if raw.encryption.is_empty() {
        return Err("no usable encryption algorithm".into());
    }
    if raw.dh_groups.is_empty() {
        return Err("no usable key exchange group".into());
    }
    let mut prf = raw.prf.clone();
    if prf.is_empty() {
        if raw.named.contains(&Transform::Prf) {
            return Err("no usable PRF".into());
        }
        // strongSwan derives the PRF from the integrity algorithms when none is given.
        for integ in &raw.integrity {
            push_unique(&mut prf, prf_for(*integ));
        }
        if prf.is_empty() {
            return Err("an AEAD proposal must name a PRF (e.g. prfsha256)".into());
        }
    }
    let mut out = Vec::new();
    let [aead, classic] = split_aead(&raw.encryption);
    if !aead.is_empty() {
        out.push(IkeProposal {
            encryption: aead,
            integrity: Vec::new(),
            prf: prf.clone(),
            dh_groups: raw.dh_groups.clone(),
        });
    }
    if !classic.is_empty() {
        if raw.integrity.is_empty() {
            if out.is_empty() {
                return Err("no usable integrity algorithm for a non-AEAD cipher".into());
            }
        } else {
            out.push(IkeProposal {
                encryption: classic,
                integrity: raw.integrity.clone(),
                prf,
                dh_groups: raw.dh_groups.clone(),
            });
        }
    }
    Ok(out)
}

fn esp_from_raw(raw: &RawProposal) -> Result<Vec<EspProposal>, String> {
    if raw.encryption.is_empty() {
        return Err("no usable encryption algorithm".into());
    }
    if raw.dh_groups.is_empty() && raw.named.contains(&Transform::Dh) {
        // Dropping the groups would silently turn off perfect forward secrecy.
        return Err("no usable key exchange group for perfect forward secrecy".into());
    }
    let esn = match raw.esn.as_slice() {
        [] | [EsnMode::Off] => EsnMode::Off,
        [EsnMode::On] => EsnMode::On,
        _ => EsnMode::Either,
    };
    let mut out = Vec::new();
    let [aead, classic] = split_aead(&raw.encryption);
    if !aead.is_empty() {
        out.push(EspProposal {
            encryption: aead,
            integrity: Vec::new(),
            dh_groups: raw.dh_groups.clone(),
            esn,
        });
    }
    if !classic.is_empty() {
        if raw.integrity.is_empty() {
            if out.is_empty() {
                return Err("no usable integrity algorithm for a non-AEAD cipher".into());
            }
        } else {
            out.push(EspProposal {
                encryption: classic,
                integrity: raw.integrity.clone(),
                dh_groups: raw.dh_groups.clone(),
                esn,
            });
        }
    }
    Ok(out)
}

fn parse_lenient<P>(
    text: &str,
    context: &'static str,
    build: fn(&RawProposal) -> Result<Vec<P>, String>,
) -> Result<ParsedProposals<P>, ProposalError> {
    let mut parsed = ParsedProposals {
        proposals: Vec::new(),
        dropped_algorithms: Vec::new(),
        dropped_proposals: Vec::new(),
    };
    for proposal in split_list(text)? {
        let raw = tokenize(proposal, context, false, &mut parsed.dropped_algorithms)?;
        match build(&raw) {
            Ok(list) => parsed.proposals.extend(list),
            Err(reason) => parsed.dropped_proposals.push((raw.text, reason)),
        }
    }
    if parsed.proposals.is_empty() {
        let reason = parsed
            .dropped_proposals
            .first()
            .map(|(text, reason)| format!("`{text}`: {reason}"))
            .unwrap_or_default();
        return Err(ProposalError::NothingUsable { reason });
    }
    parsed.proposals.truncate(MAX_PROPOSALS);
    Ok(parsed)
}

/// Parses a comma-separated list of IKE proposals, dropping what Tern does not implement.
pub fn parse_ike_proposals(text: &str) -> Result<ParsedProposals<IkeProposal>, ProposalError> {
    parse_lenient(text, "IKE", ike_from_raw)
}

/// Parses a comma-separated list of ESP proposals, dropping what Tern does not implement.
pub fn parse_esp_proposals(text: &str) -> Result<ParsedProposals<EspProposal>, ProposalError> {
    parse_lenient(text, "ESP", esp_from_raw)
}

fn parse_strict<P>(
    text: &str,
    context: &'static str,
    build: fn(&RawProposal) -> Result<Vec<P>, String>,
) -> Result<P, ProposalError> {
    let list = split_list(text)?;
    let [proposal] = list.as_slice() else {
        return Err(ProposalError::TooMany { limit: 1 });
    };
    let raw = tokenize(proposal, context, true, &mut Vec::new())?;
    let incomplete = |reason: String| ProposalError::Incomplete {
        proposal: (*proposal).to_owned(),
        reason,
    };
    let mut list = build(&raw).map_err(incomplete)?;
    match (list.pop(), list.is_empty()) {
        (Some(one), true) => Ok(one),
        _ => Err(incomplete("mixes AEAD and non-AEAD ciphers".into())),
    }
}

impl FromStr for IkeProposal {
    type Err = ProposalError;
    /// Parses exactly one proposal; every token must be implemented by Tern.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_strict(s, "IKE", ike_from_raw)
    }
}

impl FromStr for EspProposal {
    type Err = ProposalError;
    /// Parses exactly one proposal; every token must be implemented by Tern.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_strict(s, "ESP", esp_from_raw)
    }
}

fn write_joined<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    first: &mut bool,
    items: &[T],
) -> fmt::Result {
    for item in items {
        if !*first {
            f.write_str("-")?;
        }
        *first = false;
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for IkeProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        write_joined(f, &mut first, &self.encryption)?;
        write_joined(f, &mut first, &self.integrity)?;
        write_joined(f, &mut first, &self.prf)?;
        write_joined(f, &mut first, &self.dh_groups)
    }
}

impl fmt::Display for EspProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        write_joined(f, &mut first, &self.encryption)?;
        write_joined(f, &mut first, &self.integrity)?;
        write_joined(f, &mut first, &self.dh_groups)?;
        match self.esn {
            EsnMode::Off => Ok(()),
            EsnMode::On => f.write_str("-esn"),
            EsnMode::Either => f.write_str("-esn-noesn"),
        }
    }
}

impl IkeProposal {
    /// Checks the invariants the fields document; `None` when valid, else what is wrong.
    #[must_use]
    pub fn problem(&self) -> Option<&'static str> {
        common_problem(&self.encryption, &self.integrity).or(if self.prf.is_empty() {
            Some("no PRF")
        } else if self.dh_groups.is_empty() {
            Some("no key exchange group")
        } else {
            None
        })
    }
}

impl EspProposal {
    /// Checks the invariants the fields document; `None` when valid, else what is wrong.
    #[must_use]
    pub fn problem(&self) -> Option<&'static str> {
        common_problem(&self.encryption, &self.integrity)
    }
}

fn common_problem(encr: &[EncrAlgorithm], integ: &[IntegAlgorithm]) -> Option<&'static str> {
    let aead = encr.iter().filter(|e| e.is_aead()).count();
    if encr.is_empty() {
        Some("no encryption algorithm")
    } else if aead != 0 && aead != encr.len() {
        Some("mixes AEAD and non-AEAD ciphers")
    } else if aead != 0 && !integ.is_empty() {
        Some("an AEAD cipher takes no integrity algorithm")
    } else if aead == 0 && integ.is_empty() {
        Some("a non-AEAD cipher needs an integrity algorithm")
    } else {
        None
    }
}

macro_rules! serde_via_string {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_string!(IkeProposal);
serde_via_string!(EspProposal);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_strongswan_proposals() {
        let p = parse_ike_proposals("aes256gcm16-prfsha384-ecp384").unwrap();
        assert_eq!(p.proposals.len(), 1);
        assert_eq!(p.proposals[0].to_string(), "aes256gcm16-prfsha384-ecp384");
        let p = parse_ike_proposals("aes256-sha256-modp2048").unwrap();
        assert_eq!(
            p.proposals[0].to_string(),
            "aes256-sha256-prfsha256-modp2048"
        );
        let p = parse_esp_proposals("aes128gcm16-ecp256-esn").unwrap();
        assert_eq!(p.proposals[0].dh_groups, vec![DhGroup::Ecp256]);
        assert_eq!(p.proposals[0].esn, EsnMode::On);
    }

    #[test]
    fn mixed_ciphers_split_like_strongswan() {
        let p = parse_ike_proposals("aes256gcm16-aes256-sha384-prfsha384-curve25519").unwrap();
        let texts: Vec<String> = p.proposals.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "aes256gcm16-prfsha384-curve25519",
                "aes256-sha384-prfsha384-curve25519"
            ]
        );
    }

    #[test]
    fn unsupported_tokens_are_dropped_and_reported() {
        let p = parse_ike_proposals("aes256-sha1-sha256-modp1024-modp2048").unwrap();
        assert_eq!(p.dropped_algorithms, ["sha1", "modp1024"]);
        assert_eq!(
            p.proposals[0].to_string(),
            "aes256-sha256-prfsha256-modp2048"
        );
        let p = parse_ike_proposals("3des-sha1-modp1024,aes128-sha256-ecp256").unwrap();
        assert_eq!(p.dropped_proposals.len(), 1);
        assert_eq!(p.proposals.len(), 1);
        assert!(matches!(
            parse_ike_proposals("3des-sha1-modp1024"),
            Err(ProposalError::NothingUsable { .. })
        ));
        // PFS with only an unsupported group must not silently become "no PFS".
        assert!(parse_esp_proposals("aes256gcm16-modp1024").is_err());
        assert!(parse_esp_proposals("aes256gcm16-ke1_mlkem768-ecp256").is_ok());
    }

    #[test]
    fn unknown_tokens_are_errors() {
        assert_eq!(
            parse_ike_proposals("aes256gcm16-prfsha384-ecp38"),
            Err(ProposalError::UnknownToken {
                token: "ecp38".into()
            })
        );
        assert!(matches!(
            parse_esp_proposals("aes256gcm16-prfsha256"),
            Err(ProposalError::WrongContext { .. })
        ));
        assert!(parse_ike_proposals("").is_err());
        assert!(
            parse_ike_proposals("aes256gcm16-ecp256").is_err(),
            "AEAD needs a PRF"
        );
    }

    #[test]
    fn strict_round_trip() {
        for text in [
            "aes256gcm16-chacha20poly1305-prfsha512-prfsha256-curve25519-ecp384",
            "aes128-aes256-sha256-sha512-prfsha256-modp3072",
        ] {
            let p: IkeProposal = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
            assert!(p.problem().is_none());
        }
        for text in [
            "aes256gcm16",
            "aes256-sha384-ecp384-esn-noesn",
            "aes128-sha256-esn",
        ] {
            let p: EspProposal = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
        }
        assert!("aes256-sha1-modp2048".parse::<IkeProposal>().is_err());
    }
}
