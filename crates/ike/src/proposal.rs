//! Turning configured proposals into SA payloads, and checking that what the gateway chose is
//! one of them (RFC 7296 §2.7, §3.3.6): exactly one proposal, numbered as one of ours, with one
//! transform of each type, each of which we offered in that proposal.

use ipsec_types::{DhGroup, EncrAlgorithm, EspSuite, IntegAlgorithm, PrfAlgorithm, transform_type};

use crate::config::{EspProposal, IkeProposal};
use crate::crypto::IkeSuite;
use crate::error::{Error, PeerMisbehaved};
use crate::wire::{ProposalRepr, ProtocolId, SaRepr, TransformRepr};

/// ESN transform IDs (RFC 7296 §3.3.2, type 5).
const ESN_NONE: u16 = 0;
const ESN_ON: u16 = 1;

fn encr_transform(e: EncrAlgorithm) -> TransformRepr {
    TransformRepr::with_key_length(
        transform_type::ENCR,
        e.transform_id(),
        e.key_length_attribute(),
    )
}

/// Checks a configured IKE proposal list.
pub(crate) fn check_ike_proposals(proposals: &[IkeProposal]) -> Result<(), Error> {
    if proposals.is_empty() {
        return Err(Error::InvalidConfig("no IKE proposals configured"));
    }
    for p in proposals {
        if p.encr.is_empty() || p.prf.is_empty() || p.dh.is_empty() {
            return Err(Error::InvalidConfig(
                "an IKE proposal lacks an encryption algorithm, PRF or DH group",
            ));
        }
        let aead = p.encr.iter().filter(|e| e.is_aead()).count();
        if aead != 0 && aead != p.encr.len() {
            return Err(Error::InvalidConfig(
                "an IKE proposal mixes AEAD and non-AEAD encryption",
            ));
        }
        if (aead == 0) == p.integ.is_empty() {
            return Err(Error::InvalidConfig(
                "integrity algorithms are required with CBC and forbidden with AEAD",
            ));
        }
    }
    Ok(())
}

/// Checks a configured ESP proposal list.
pub(crate) fn check_esp_proposals(proposals: &[EspProposal]) -> Result<(), Error> {
    if proposals.is_empty() {
        return Err(Error::InvalidConfig("no ESP proposals configured"));
    }
    for p in proposals {
        let aead = p.encr.iter().filter(|e| e.is_aead()).count();
        if p.encr.is_empty() || (aead != 0 && aead != p.encr.len()) {
            return Err(Error::InvalidConfig(
                "an ESP proposal is empty or mixes AEAD and non-AEAD encryption",
            ));
        }
        if (aead == 0) == p.integ.is_empty() {
            return Err(Error::InvalidConfig(
                "integrity algorithms are required with CBC and forbidden with AEAD",
            ));
        }
    }
    Ok(())
}

/// The SA payload offering `proposals` for the IKE SA (no SPI: this is the first exchange).
pub(crate) fn ike_sa_payload(proposals: &[IkeProposal]) -> SaRepr {
    SaRepr {
        proposals: proposals
            .iter()
            .zip(1u8..)
            .map(|(p, number)| {
                let mut transforms: Vec<TransformRepr> =
                    p.encr.iter().copied().map(encr_transform).collect();
                transforms.extend(
                    p.prf
                        .iter()
                        .map(|a| TransformRepr::new(transform_type::PRF, a.transform_id())),
                );
                transforms.extend(
                    p.integ
                        .iter()
                        .map(|a| TransformRepr::new(transform_type::INTEG, a.transform_id())),
                );
                transforms.extend(
                    p.dh.iter()
                        .map(|a| TransformRepr::new(transform_type::DH, a.transform_id())),
                );
                ProposalRepr {
                    number,
                    protocol: ProtocolId::IKE,
                    spi: Vec::new(),
                    transforms,
                }
            })
            .collect(),
    }
}

/// The SA payload offering `proposals` for an ESP CHILD_SA with our inbound `spi`.
pub(crate) fn esp_sa_payload(proposals: &[EspProposal], spi: u32) -> SaRepr {
    SaRepr {
        proposals: proposals
            .iter()
            .zip(1u8..)
            .map(|(p, number)| {
                let mut transforms: Vec<TransformRepr> =
                    p.encr.iter().copied().map(encr_transform).collect();
                transforms.extend(
                    p.integ
                        .iter()
                        .map(|a| TransformRepr::new(transform_type::INTEG, a.transform_id())),
                );
                if p.esn {
                    transforms.push(TransformRepr::new(transform_type::ESN, ESN_ON));
                }
                transforms.push(TransformRepr::new(transform_type::ESN, ESN_NONE));
                ProposalRepr {
                    number,
                    protocol: ProtocolId::ESP,
                    spi: spi.to_be_bytes().to_vec(),
                    transforms,
                }
            })
            .collect(),
    }
}

/// Whether `group` appears in any proposal.
pub(crate) fn offers_group(proposals: &[IkeProposal], group: DhGroup) -> bool {
    proposals.iter().any(|p| p.dh.contains(&group))
}

/// The chosen proposal, after checking it against what we sent: one proposal, the number and
/// protocol of one of ours, at most one transform per type, every transform offered in that
/// proposal, and every type we offered present.
fn chosen<'a>(
    offered: &SaRepr,
    answer: &'a SaRepr,
    what: &'static str,
) -> Result<&'a ProposalRepr, Error> {
    let unoffered = || Error::from(PeerMisbehaved::UnofferedProposal { what });
    let [chosen] = answer.proposals.as_slice() else {
        return Err(unoffered());
    };
    let ours = offered
        .proposals
        .iter()
        .find(|p| p.number == chosen.number)
        .ok_or_else(unoffered)?;
    if ours.protocol != chosen.protocol {
        return Err(unoffered());
    }
    for (i, t) in chosen.transforms.iter().enumerate() {
        if !ours.transforms.contains(t)
            || chosen.transforms[..i]
                .iter()
                .any(|u| u.transform_type == t.transform_type)
        {
            return Err(unoffered());
        }
    }
    for t in &ours.transforms {
        if !chosen
            .transforms
            .iter()
            .any(|c| c.transform_type == t.transform_type)
        {
            return Err(unoffered());
        }
    }
    Ok(chosen)
}

fn find(p: &ProposalRepr, ty: u8) -> Option<&TransformRepr> {
    p.transforms.iter().find(|t| t.transform_type == ty)
}

/// Verifies the gateway's IKE SA choice and returns the suite.
pub(crate) fn select_ike(offered: &SaRepr, answer: &SaRepr) -> Result<IkeSuite, Error> {
    let unoffered = || Error::from(PeerMisbehaved::UnofferedProposal { what: "IKE" });
    let p = chosen(offered, answer, "IKE")?;
    if !p.spi.is_empty() {
        return Err(unoffered());
    }
    let encr = find(p, transform_type::ENCR)
        .and_then(|t| EncrAlgorithm::from_transform(t.transform_id, t.key_length()))
        .ok_or_else(unoffered)?;
    let prf = find(p, transform_type::PRF)
        .and_then(|t| PrfAlgorithm::from_transform_id(t.transform_id))
        .ok_or_else(unoffered)?;
    let dh = find(p, transform_type::DH)
        .and_then(|t| DhGroup::from_transform_id(t.transform_id))
        .ok_or_else(unoffered)?;
    let integ = find(p, transform_type::INTEG)
        .map(|t| IntegAlgorithm::from_transform_id(t.transform_id).ok_or_else(unoffered))
        .transpose()?;
    let suite = IkeSuite {
        encr,
        integ,
        prf,
        dh,
    };
    if !suite.is_valid() {
        return Err(unoffered());
    }
    Ok(suite)
}

/// Verifies the gateway's ESP choice; returns the suite and the gateway's inbound SPI.
pub(crate) fn select_esp(offered: &SaRepr, answer: &SaRepr) -> Result<(EspSuite, u32), Error> {
    let unoffered = || Error::from(PeerMisbehaved::UnofferedProposal { what: "ESP" });
    let p = chosen(offered, answer, "ESP")?;
    let spi = <[u8; 4]>::try_from(p.spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| PeerMisbehaved::InvalidEspSpi)?;
    if spi < 256 {
        // 0 is invalid and 1–255 are reserved (RFC 4303 §2.1).
        return Err(PeerMisbehaved::InvalidEspSpi.into());
    }
    let encr = find(p, transform_type::ENCR)
        .and_then(|t| EncrAlgorithm::from_transform(t.transform_id, t.key_length()))
        .ok_or_else(unoffered)?;
    let integ = find(p, transform_type::INTEG)
        .map(|t| IntegAlgorithm::from_transform_id(t.transform_id).ok_or_else(unoffered))
        .transpose()?;
    let esn = find(p, transform_type::ESN).is_some_and(|t| t.transform_id == ESN_ON);
    let suite = EspSuite { encr, integ, esn };
    if !suite.is_valid() {
        return Err(unoffered());
    }
    Ok((suite, spi))
}

/// What we answer, as the responder of a CREATE_CHILD_SA, to the gateway's ESP proposals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResponderChoice {
    /// A proposal we accept: the answer (SPI still to be filled in), its suite, the gateway's
    /// SPI and the PFS group, if any.
    Chosen {
        answer: ProposalRepr,
        suite: EspSuite,
        peer_spi: u32,
        dh: Option<DhGroup>,
    },
    /// Nothing acceptable.
    NoProposal,
    /// Acceptable only with a KE payload of this group.
    InvalidKe(DhGroup),
}

/// Picks, in the gateway's order, the first ESP proposal our configuration allows. PFS groups
/// are accepted if our crypto supports them and the KE payload uses one of them.
pub(crate) fn choose_esp_as_responder(
    ours: &[EspProposal],
    offer: &SaRepr,
    ke_group: Option<u16>,
) -> ResponderChoice {
    let mut wanted_group = None;
    for p in &offer.proposals {
        let Ok(spi) = <[u8; 4]>::try_from(p.spi.as_slice()).map(u32::from_be_bytes) else {
            continue;
        };
        if p.protocol != ProtocolId::ESP || spi < 256 {
            continue;
        }
        let of_type = |ty: u8| p.transforms.iter().filter(move |t| t.transform_type == ty);
        for o in ours {
            let Some((encr_t, encr)) = of_type(transform_type::ENCR).find_map(|t| {
                EncrAlgorithm::from_transform(t.transform_id, t.key_length())
                    .filter(|e| o.encr.contains(e))
                    .map(|e| (t, e))
            }) else {
                continue;
            };
            let integ = if encr.is_aead() {
                if of_type(transform_type::INTEG).any(|t| t.transform_id != 0) {
                    continue;
                }
                None
            } else {
                match of_type(transform_type::INTEG).find_map(|t| {
                    IntegAlgorithm::from_transform_id(t.transform_id)
                        .filter(|i| o.integ.contains(i))
                }) {
                    Some(i) => Some(i),
                    None => continue,
                }
            };
            let esn_offered = |id| of_type(transform_type::ESN).any(|t| t.transform_id == id);
            let esn = if o.esn && esn_offered(ESN_ON) {
                Some(true)
            } else if esn_offered(ESN_NONE) || of_type(transform_type::ESN).next().is_none() {
                Some(false)
            } else {
                None
            };
            let Some(esn) = esn else { continue };
            let groups: Vec<DhGroup> = of_type(transform_type::DH)
                .filter_map(|t| DhGroup::from_transform_id(t.transform_id))
                .collect();
            let pfs_offered = of_type(transform_type::DH).any(|t| t.transform_id != 0);
            let dh = if pfs_offered {
                match groups
                    .iter()
                    .copied()
                    .find(|g| Some(g.transform_id()) == ke_group)
                {
                    Some(g) => Some(g),
                    None => {
                        wanted_group = wanted_group.or_else(|| groups.first().copied());
                        continue;
                    }
                }
            } else {
                None
            };
            let mut transforms = vec![encr_t.clone()];
            transforms
                .extend(integ.map(|i| TransformRepr::new(transform_type::INTEG, i.transform_id())));
            transforms.extend(dh.map(|g| TransformRepr::new(transform_type::DH, g.transform_id())));
            if of_type(transform_type::ESN).next().is_some() {
                transforms.push(TransformRepr::new(
                    transform_type::ESN,
                    if esn { ESN_ON } else { ESN_NONE },
                ));
            }
            return ResponderChoice::Chosen {
                answer: ProposalRepr {
                    number: p.number,
                    protocol: ProtocolId::ESP,
                    spi: Vec::new(),
                    transforms,
                },
                suite: EspSuite { encr, integ, esn },
                peer_spi: spi,
                dh,
            };
        }
    }
    wanted_group.map_or(ResponderChoice::NoProposal, ResponderChoice::InvalidKe)
}

/// What we answer, as the responder of a CREATE_CHILD_SA that rekeys the IKE SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IkeResponderChoice {
    /// A proposal we accept: the answer (SPI still to be filled in), the suite and the
    /// gateway's new SPI.
    Chosen {
        answer: ProposalRepr,
        suite: IkeSuite,
        peer_spi: [u8; 8],
    },
    /// Nothing acceptable.
    NoProposal,
    /// Acceptable only with a KE payload of this group.
    InvalidKe(DhGroup),
}

/// Picks, in the gateway's order, the first IKE proposal our configuration allows; the KE
/// payload must use its group (a new Diffie-Hellman is mandatory, RFC 7296 §2.18).
pub(crate) fn choose_ike_as_responder(
    ours: &[IkeProposal],
    offer: &SaRepr,
    ke_group: Option<u16>,
) -> IkeResponderChoice {
    let mut wanted_group = None;
    for p in &offer.proposals {
        let Ok(peer_spi) = <[u8; 8]>::try_from(p.spi.as_slice()) else {
            continue;
        };
        if p.protocol != ProtocolId::IKE || peer_spi == [0; 8] {
            continue;
        }
        let of_type = |ty: u8| p.transforms.iter().filter(move |t| t.transform_type == ty);
        for o in ours {
            let Some((encr_t, encr)) = of_type(transform_type::ENCR).find_map(|t| {
                EncrAlgorithm::from_transform(t.transform_id, t.key_length())
                    .filter(|e| o.encr.contains(e))
                    .map(|e| (t, e))
            }) else {
                continue;
            };
            let Some(prf) = of_type(transform_type::PRF).find_map(|t| {
                PrfAlgorithm::from_transform_id(t.transform_id).filter(|a| o.prf.contains(a))
            }) else {
                continue;
            };
            let integ = if encr.is_aead() {
                None
            } else {
                match of_type(transform_type::INTEG).find_map(|t| {
                    IntegAlgorithm::from_transform_id(t.transform_id)
                        .filter(|i| o.integ.contains(i))
                }) {
                    Some(i) => Some(i),
                    None => continue,
                }
            };
            let groups: Vec<DhGroup> = of_type(transform_type::DH)
                .filter_map(|t| DhGroup::from_transform_id(t.transform_id))
                .filter(|g| o.dh.contains(g))
                .collect();
            let Some(dh) = groups
                .iter()
                .copied()
                .find(|g| Some(g.transform_id()) == ke_group)
            else {
                wanted_group = wanted_group.or_else(|| groups.first().copied());
                continue;
            };
            let mut transforms = vec![
                encr_t.clone(),
                TransformRepr::new(transform_type::PRF, prf.transform_id()),
            ];
            transforms
                .extend(integ.map(|i| TransformRepr::new(transform_type::INTEG, i.transform_id())));
            transforms.push(TransformRepr::new(transform_type::DH, dh.transform_id()));
            return IkeResponderChoice::Chosen {
                answer: ProposalRepr {
                    number: p.number,
                    protocol: ProtocolId::IKE,
                    spi: Vec::new(),
                    transforms,
                },
                suite: IkeSuite {
                    encr,
                    integ,
                    prf,
                    dh,
                },
                peer_spi,
            };
        }
    }
    wanted_group.map_or(
        IkeResponderChoice::NoProposal,
        IkeResponderChoice::InvalidKe,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_from(offered: &SaRepr, number: u8, pick: &[usize]) -> SaRepr {
        let ours = &offered.proposals[usize::from(number) - 1];
        SaRepr {
            proposals: vec![ProposalRepr {
                number,
                protocol: ours.protocol,
                spi: ours.spi.clone(),
                transforms: pick.iter().map(|&i| ours.transforms[i].clone()).collect(),
            }],
        }
    }

    #[test]
    fn default_proposals_are_valid() {
        check_ike_proposals(&IkeProposal::defaults()).unwrap();
        check_esp_proposals(&EspProposal::defaults()).unwrap();
        let bad = IkeProposal {
            encr: vec![EncrAlgorithm::AesGcm16_128, EncrAlgorithm::AesCbc128],
            integ: vec![],
            prf: vec![PrfAlgorithm::HmacSha2_256],
            dh: vec![DhGroup::Ecp256],
        };
        assert!(check_ike_proposals(&[bad]).is_err());
    }

    #[test]
    fn selects_what_we_offered() {
        let offered = ike_sa_payload(&IkeProposal::defaults());
        // Proposal 2: AES-CBC-128 (index 1), PRF 256 (2), INTEG 256 (5), MODP2048 (8).
        let answer = answer_from(&offered, 2, &[1, 2, 5, 8]);
        let suite = select_ike(&offered, &answer).unwrap();
        assert_eq!(suite.encr, EncrAlgorithm::AesCbc128);
        assert_eq!(suite.integ, Some(IntegAlgorithm::HmacSha2_256_128));
        assert_eq!(suite.dh, DhGroup::Modp2048);
    }

    #[test]
    fn rejects_unoffered_choices() {
        let offered = ike_sa_payload(&IkeProposal::defaults());
        let err = |a: &SaRepr| select_ike(&offered, a).unwrap_err();
        let expected = Error::PeerMisbehaved(PeerMisbehaved::UnofferedProposal { what: "IKE" });
        // Missing DH.
        assert_eq!(err(&answer_from(&offered, 1, &[0, 3])), expected);
        // Two ENCR transforms.
        assert_eq!(err(&answer_from(&offered, 1, &[0, 1, 3, 6])), expected);
        // A transform from proposal 2 under proposal 1's number.
        let mut mixed = answer_from(&offered, 1, &[0, 3, 6]);
        mixed.proposals[0].transforms[2] = TransformRepr::new(transform_type::DH, 14);
        assert_eq!(err(&mixed), expected);
        // Key length changed.
        let mut keylen = answer_from(&offered, 1, &[0, 3, 6]);
        keylen.proposals[0].transforms[0] =
            TransformRepr::with_key_length(transform_type::ENCR, 20, Some(192));
        assert_eq!(err(&keylen), expected);
        // Unknown proposal number, or two proposals.
        let mut number = answer_from(&offered, 1, &[0, 3, 6]);
        number.proposals[0].number = 7;
        assert_eq!(err(&number), expected);
        let mut two = answer_from(&offered, 1, &[0, 3, 6]);
        two.proposals.push(two.proposals[0].clone());
        assert_eq!(err(&two), expected);
    }

    #[test]
    fn responder_choice_follows_the_gateway_order_and_our_limits() {
        let ours = EspProposal::defaults();
        let mut offer = esp_sa_payload(&EspProposal::defaults(), 0xc000_0001);
        offer.proposals.reverse();
        let ResponderChoice::Chosen {
            answer,
            suite,
            peer_spi,
            dh,
        } = choose_esp_as_responder(&ours, &offer, None)
        else {
            panic!()
        };
        assert_eq!(peer_spi, 0xc000_0001);
        assert_eq!(dh, None);
        assert_eq!(suite.encr, EncrAlgorithm::AesCbc256);
        assert_eq!(suite.integ, Some(IntegAlgorithm::HmacSha2_256_128));
        assert!(suite.esn);
        assert_eq!(answer.number, 2);
        assert_eq!(answer.transforms.len(), 3);
        // With PFS: the KE group decides, or we ask for the first group offered.
        offer.proposals[0]
            .transforms
            .push(TransformRepr::new(transform_type::DH, 14));
        offer.proposals[1].transforms.clear();
        assert_eq!(
            choose_esp_as_responder(&ours, &offer, Some(31)),
            ResponderChoice::InvalidKe(DhGroup::Modp2048)
        );
        assert!(matches!(
            choose_esp_as_responder(&ours, &offer, Some(14)),
            ResponderChoice::Chosen {
                dh: Some(DhGroup::Modp2048),
                ..
            }
        ));
        offer.proposals.truncate(0);
        assert_eq!(
            choose_esp_as_responder(&ours, &offer, None),
            ResponderChoice::NoProposal
        );
    }

    #[test]
    fn esp_with_esn_fallback() {
        let offered = esp_sa_payload(&EspProposal::defaults(), 0x1234_5678);
        let p1 = &offered.proposals[0].transforms;
        assert_eq!(p1[p1.len() - 2], TransformRepr::new(transform_type::ESN, 1));
        assert_eq!(p1[p1.len() - 1], TransformRepr::new(transform_type::ESN, 0));
        let mut answer = answer_from(&offered, 1, &[0, 4]);
        answer.proposals[0].spi = vec![0xc0, 0, 0, 1];
        let (suite, spi) = select_esp(&offered, &answer).unwrap();
        assert_eq!(spi, 0xc000_0001);
        assert!(!suite.esn);
        assert_eq!(suite.encr, EncrAlgorithm::AesGcm16_256);
        answer.proposals[0].spi = vec![0, 0, 0, 1];
        assert!(select_esp(&offered, &answer).is_err());
    }
}
