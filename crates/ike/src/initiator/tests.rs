//! Handshake scenarios against a scripted, test-only responder on a virtual clock. The
//! responder uses the same codec and crypto, and can be told to misbehave.

use core::time::Duration;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use ipsec_types::{
    ChildSaKeys, DhGroup, EncrAlgorithm, EspSuite, IkeSpi, IntegAlgorithm, IpPrefix, PrfAlgorithm,
    Role, Spi, TrafficSelector, transform_type,
};

use super::*;
use crate::config::AuthConfig;
use crate::crypto::{psk_auth, signed_octets};
use crate::error::AuthFailure;
use crate::wire::{AuthMethod, AuthRepr, ProposalRepr, TransformRepr, parse_payload_chain};

/// A deterministic random source (splitmix64).
struct TestRng(u64);

impl Random for TestRng {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        for chunk in out.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

const PSK: &[u8] = b"correct horse battery staple";

fn gateway() -> SocketAddr {
    "203.0.113.1:500".parse().unwrap()
}

fn client_ip() -> IpAddr {
    "192.0.2.10".parse().unwrap()
}

/// What the scripted responder should do wrong.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Misbehave {
    None,
    UnofferedIkeTransform,
    UnofferedEspTransform,
    BadAuth,
    WideTrafficSelectors,
    InvalidKeForUnofferedGroup,
}

struct ResponderConfig {
    encr: EncrAlgorithm,
    integ: Option<IntegAlgorithm>,
    prf: PrfAlgorithm,
    dh: DhGroup,
    esp_encr: EncrAlgorithm,
    esp_integ: Option<IntegAlgorithm>,
    psk: Vec<u8>,
    require_cookie: bool,
    narrow_tsi: Option<TrafficSelector>,
    misbehave: Misbehave,
    /// The client's address as the responder sees it (a NAT rewrites it).
    client_seen_as: Option<SocketAddr>,
    /// Send the IKE_AUTH response as RFC 7383 fragments of this many plaintext bytes.
    fragment_auth_response: Option<usize>,
    /// Deliver fragments in reverse order.
    reverse_fragments: bool,
    /// Authenticate with a certificate and run EAP-MSCHAPv2 instead of using the PSK.
    eap: Option<Box<eap::EapGateway>>,
    /// Announce IKEV2_FRAGMENTATION_SUPPORTED (and reassemble fragmented requests).
    fragmentation: bool,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        Self {
            encr: EncrAlgorithm::AesGcm16_256,
            integ: None,
            prf: PrfAlgorithm::HmacSha2_256,
            dh: DhGroup::Curve25519,
            esp_encr: EncrAlgorithm::AesGcm16_256,
            esp_integ: None,
            psk: PSK.to_vec(),
            require_cookie: false,
            narrow_tsi: None,
            misbehave: Misbehave::None,
            client_seen_as: None,
            fragment_auth_response: None,
            reverse_fragments: false,
            eap: None,
            fragmentation: true,
        }
    }
}

struct ResponderSa {
    spi_i: IkeSpi,
    spi_r: IkeSpi,
    keys: IkeSaKeys,
    outbound: SkCipher,
    inbound: SkCipher,
    ni: Vec<u8>,
    nr: Vec<u8>,
    request: Vec<u8>,
    response: Vec<u8>,
}

struct Responder {
    cfg: ResponderConfig,
    rng: TestRng,
    sa: Option<ResponderSa>,
    last_response: Option<(u32, Vec<Vec<u8>>)>,
    next_request_id: u32,
    child_keys: Option<ChildSaKeys>,
    requests_seen: Vec<ExchangeType>,
    /// Whether we are the original initiator of our current IKE SA (after rekeying it).
    role_initiator: bool,
    /// The IKE SA our rekey replaced, and its next request ID.
    old_sa: Option<ResponderSa>,
    old_next_request_id: u32,
    /// Reassembles fragmented requests (RFC 7383).
    reassembler: crate::fragment::Reassembler,
    /// Every request fragment received: (message ID, number, total, datagram length).
    fragments_seen: Vec<(u32, u16, u16, usize)>,
    /// Our role in the old IKE SA.
    old_role_initiator: bool,
    /// The initiator's responses to our requests, as received.
    responses_received: Vec<Vec<u8>>,
    /// Error notifies to answer the initiator's next CREATE_CHILD_SA requests with.
    refuse_create_child: VecDeque<NotifyType>,
    /// Refuse CHILD_SA rekeys that offer a key exchange.
    refuse_pfs: bool,
    /// The nonce of our next CREATE_CHILD_SA answer, instead of a random one.
    answer_nonce: Option<Vec<u8>>,
    /// The nonce of our next rekey request, instead of a random one.
    request_nonce: Option<Vec<u8>>,
    /// The IKE SA the initiator's rekey created, switched to once the answer is out.
    pending_switch: Option<ResponderSa>,
    /// Extra payloads for the IKE_AUTH response (AUTH_LIFETIME, MOBIKE_SUPPORTED ...).
    ike_auth_extra: Vec<Payload>,
    /// Echo a wrong COOKIE2 to UPDATE_SA_ADDRESSES.
    corrupt_cookie2: bool,
}

fn ike_auth_ok(v: &[Payload]) -> bool {
    v.iter().any(|p| matches!(p, Payload::Auth(_)))
}

impl Responder {
    fn new(cfg: ResponderConfig) -> Self {
        Self {
            cfg,
            rng: TestRng(0xfeed),
            sa: None,
            last_response: None,
            next_request_id: 0,
            child_keys: None,
            requests_seen: Vec::new(),
            role_initiator: false,
            old_sa: None,
            old_next_request_id: 0,
            reassembler: crate::fragment::Reassembler::default(),
            fragments_seen: Vec::new(),
            old_role_initiator: false,
            responses_received: Vec::new(),
            refuse_create_child: VecDeque::new(),
            refuse_pfs: false,
            answer_nonce: None,
            request_nonce: None,
            pending_switch: None,
            ike_auth_extra: Vec::new(),
            corrupt_cookie2: false,
        }
    }

    /// Stores one fragment of a request; the whole inner chain once complete.
    fn reassemble(
        &mut self,
        datagram_len: usize,
        data: &[u8],
        msg: &Message,
    ) -> Option<Vec<Payload>> {
        let parts = msg.encrypted(data).unwrap();
        let (number, total) = parts.fragment.unwrap();
        let id = msg.header.message_id;
        self.fragments_seen.push((id, number, total, datagram_len));
        let plain = self
            .sa
            .as_ref()
            .unwrap()
            .inbound
            .open(parts.aad, parts.body)
            .unwrap();
        let outcome = self
            .reassembler
            .handle(
                Instant::now(),
                id,
                number,
                total,
                parts.first_inner.0,
                &plain,
            )
            .unwrap();
        match outcome {
            crate::fragment::Reassembly::Complete {
                first_payload,
                inner,
            } => Some(parse_payload_chain(PayloadType(first_payload), &inner).unwrap()),
            _ => None,
        }
    }

    fn random(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.rng.fill(&mut v).unwrap();
        v
    }

    /// Handles one datagram; returns the datagrams to send back.
    fn handle(&mut self, from: SocketAddr, datagram: &[u8]) -> Vec<Vec<u8>> {
        let (marker, data) = match datagram.strip_prefix(&NON_ESP_MARKER) {
            Some(rest) => (true, rest),
            None => (false, datagram),
        };
        let msg = Message::parse(data).unwrap();
        let on_old_sa = self.old_sa.as_ref().is_some_and(|old| {
            old.spi_i == msg.header.initiator_spi && old.spi_r == msg.header.responder_spi
        });
        if on_old_sa {
            return self.on_old(|r| r.handle(from, datagram));
        }
        let mut out = Vec::new();
        if msg.header.flags.response() {
            self.responses_received.push(datagram.to_vec());
            return out;
        }
        let fragment = msg.encrypted(data).and_then(|p| p.fragment);
        let retransmitted = self
            .last_response
            .as_ref()
            .is_some_and(|(id, _)| *id == msg.header.message_id)
            && msg.header.exchange_type != ExchangeType::IKE_SA_INIT;
        let mut reassembled = None;
        if let Some((number, _)) = fragment {
            assert!(self.cfg.fragmentation, "fragment without negotiation");
            if retransmitted {
                // Answer a retransmitted request once, on its first fragment.
                self.fragments_seen
                    .push((msg.header.message_id, number, 0, datagram.len()));
                if number != 1 {
                    return out;
                }
            } else {
                match self.reassemble(datagram.len(), data, &msg) {
                    Some(inner) => reassembled = Some(inner),
                    None => return out,
                }
            }
        }
        self.requests_seen.push(msg.header.exchange_type);
        if let Some((_, bytes)) = self.last_response.as_ref().filter(|_| retransmitted) {
            out.extend(bytes.iter().cloned());
        } else {
            let reply = match msg.header.exchange_type {
                ExchangeType::IKE_SA_INIT => {
                    self.on_sa_init(from, data, &msg).into_iter().collect()
                }
                _ => self.on_encrypted(data, &msg, reassembled),
            };
            self.last_response = Some((msg.header.message_id, reply.clone()));
            out.extend(reply);
            if let Some(new) = self.pending_switch.take() {
                // The initiator rekeyed the IKE SA: we stay its responder.
                self.old_sa = self.sa.replace(new);
                self.old_role_initiator = self.role_initiator;
                self.old_next_request_id = self.next_request_id;
                self.next_request_id = 0;
                self.last_response = None;
            }
        }
        if marker {
            for o in &mut out {
                o.splice(0..0, NON_ESP_MARKER);
            }
        }
        out
    }

    fn header(&self, exchange: ExchangeType, message_id: u32, response: bool) -> HeaderRepr {
        let sa = self.sa.as_ref().unwrap();
        HeaderRepr {
            initiator_spi: sa.spi_i,
            responder_spi: sa.spi_r,
            exchange_type: exchange,
            flags: Flags::new(self.role_initiator, response),
            message_id,
        }
    }

    fn choose_ike(&self, offered: &SaRepr) -> Option<ProposalRepr> {
        let c = &self.cfg;
        let want = [
            Some(TransformRepr::with_key_length(
                transform_type::ENCR,
                c.encr.transform_id(),
                c.encr.key_length_attribute(),
            )),
            Some(TransformRepr::new(
                transform_type::PRF,
                c.prf.transform_id(),
            )),
            c.integ
                .map(|i| TransformRepr::new(transform_type::INTEG, i.transform_id())),
            Some(TransformRepr::new(transform_type::DH, c.dh.transform_id())),
        ];
        offered.proposals.iter().find_map(|p| {
            let transforms: Vec<TransformRepr> = want.iter().flatten().cloned().collect();
            transforms
                .iter()
                .all(|t| p.transforms.contains(t))
                .then(|| ProposalRepr {
                    number: p.number,
                    protocol: p.protocol,
                    spi: vec![],
                    transforms,
                })
        })
    }

    fn on_sa_init(&mut self, from: SocketAddr, data: &[u8], msg: &Message) -> Option<Vec<u8>> {
        let spi_i = msg.header.initiator_spi;
        let plain = |payloads: Vec<Payload>, spi_r: IkeSpi| {
            Message {
                header: HeaderRepr {
                    initiator_spi: spi_i,
                    responder_spi: spi_r,
                    exchange_type: ExchangeType::IKE_SA_INIT,
                    flags: Flags::new(false, true),
                    message_id: 0,
                },
                payloads,
            }
            .emit()
        };
        if self.cfg.require_cookie {
            let cookie_ok = matches!(msg.payloads.first(),
                Some(Payload::Notify(n)) if n.notify_type == NotifyType::COOKIE && n.data == [0xc0; 16]);
            if !cookie_ok {
                return Some(plain(
                    vec![Payload::Notify(NotifyRepr::new(
                        NotifyType::COOKIE,
                        vec![0xc0; 16],
                    ))],
                    IkeSpi::ZERO,
                ));
            }
        }
        let Some(Payload::Sa(offered)) = msg.find(PayloadType::SA) else {
            panic!("no SA")
        };
        let Some(Payload::Ke(ke)) = msg.find(PayloadType::KE) else {
            panic!("no KE")
        };
        let Some(Payload::Nonce(ni)) = msg.find(PayloadType::NONCE) else {
            panic!("no nonce")
        };
        if self.cfg.misbehave == Misbehave::InvalidKeForUnofferedGroup {
            // Ask for MODP-1024 (group 2), which we never offer.
            return Some(plain(
                vec![Payload::Notify(NotifyRepr::new(
                    NotifyType::INVALID_KE_PAYLOAD,
                    2u16.to_be_bytes().to_vec(),
                ))],
                IkeSpi::ZERO,
            ));
        }
        let Some(mut chosen) = self.choose_ike(offered) else {
            return Some(plain(
                vec![Payload::Notify(NotifyRepr::new(
                    NotifyType::NO_PROPOSAL_CHOSEN,
                    vec![],
                ))],
                IkeSpi::ZERO,
            ));
        };
        if ke.group != self.cfg.dh.transform_id() {
            return Some(plain(
                vec![Payload::Notify(NotifyRepr::new(
                    NotifyType::INVALID_KE_PAYLOAD,
                    self.cfg.dh.transform_id().to_be_bytes().to_vec(),
                ))],
                IkeSpi::ZERO,
            ));
        }
        if self.cfg.misbehave == Misbehave::UnofferedIkeTransform {
            // PRF-HMAC-SHA1 (2) was never offered.
            chosen.transforms[1] = TransformRepr::new(transform_type::PRF, 2);
        }
        let mut spi_r = [0u8; 8];
        spi_r.copy_from_slice(&self.random(8));
        let spi_r = IkeSpi(spi_r);
        let our_ke = KeyExchange::generate(self.cfg.dh, &mut self.rng).unwrap();
        let public = our_ke.public_value().to_vec();
        let shared = our_ke.agree(&ke.data).unwrap();
        let nr = self.random(32);
        let suite = IkeSuite {
            encr: self.cfg.encr,
            integ: self.cfg.integ,
            prf: self.cfg.prf,
            dh: self.cfg.dh,
        };
        let keys = IkeSaKeys::derive(suite, &shared, &ni.nonce, &nr, spi_i, spi_r).unwrap();
        let (outbound, inbound) = keys.sk_ciphers(Role::Responder).unwrap();
        let client = self.cfg.client_seen_as.unwrap_or(from);
        let response = plain(
            vec![
                Payload::Sa(SaRepr {
                    proposals: vec![chosen],
                }),
                Payload::Ke(KeRepr {
                    group: self.cfg.dh.transform_id(),
                    data: public,
                }),
                Payload::Nonce(NonceRepr { nonce: nr.clone() }),
                Payload::Notify(NotifyRepr::new(
                    NotifyType::NAT_DETECTION_SOURCE_IP,
                    nat_detection_hash(spi_i, spi_r, gateway()).to_vec(),
                )),
                Payload::Notify(NotifyRepr::new(
                    NotifyType::NAT_DETECTION_DESTINATION_IP,
                    nat_detection_hash(spi_i, spi_r, client).to_vec(),
                )),
            ]
            .into_iter()
            .chain(
                self.cfg
                    .eap
                    .as_ref()
                    .filter(|g| g.script == eap::Script::RefuseEapAfterCertificateRequest)
                    .map(|_| {
                        Payload::CertReq(CertRepr {
                            encoding: CertEncoding(CERT_ENCODING_X509_SIGNATURE),
                            data: vec![0x5a; 20],
                        })
                    }),
            )
            .chain(self.cfg.fragmentation.then(|| {
                Payload::Notify(NotifyRepr::new(
                    NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                    vec![],
                ))
            }))
            .collect(),
            spi_r,
        );
        self.sa = Some(ResponderSa {
            spi_i,
            spi_r,
            keys,
            outbound,
            inbound,
            ni: ni.nonce.clone(),
            nr,
            request: data.to_vec(),
            response: response.clone(),
        });
        Some(response)
    }

    fn seal(&mut self, header: &HeaderRepr, inner: &[Payload]) -> Vec<u8> {
        let sa = self.sa.as_ref().unwrap();
        let rng = &mut self.rng;
        emit_encrypted(
            header,
            &[],
            inner,
            |n| sa.outbound.body_len(n),
            |aad, pt| sa.outbound.seal(aad, pt, rng),
        )
        .unwrap()
    }

    fn open(&self, data: &[u8], msg: &Message) -> Vec<Payload> {
        let sa = self.sa.as_ref().unwrap();
        let parts = msg.encrypted(data).unwrap();
        let plain = sa.inbound.open(parts.aad, parts.body).unwrap();
        parse_payload_chain(parts.first_inner, &plain).unwrap()
    }

    fn on_encrypted(
        &mut self,
        data: &[u8],
        msg: &Message,
        reassembled: Option<Vec<Payload>>,
    ) -> Vec<Vec<u8>> {
        let inner = reassembled.unwrap_or_else(|| self.open(data, msg));
        let id = msg.header.message_id;
        let reply = match msg.header.exchange_type {
            ExchangeType::IKE_AUTH if self.cfg.eap.is_some() => self.on_eap_auth(&inner),
            ExchangeType::IKE_AUTH => {
                let mut reply = self.on_ike_auth(&inner);
                reply.extend(self.ike_auth_extra.iter().cloned());
                reply
            }
            ExchangeType::CREATE_CHILD_SA => self.on_create_child_sa(&inner),
            ExchangeType::INFORMATIONAL => self.on_informational(&inner),
            _ => vec![],
        };
        let header = self.header(msg.header.exchange_type, id, true);
        match self.cfg.fragment_auth_response {
            Some(chunk) if msg.header.exchange_type == ExchangeType::IKE_AUTH => {
                let sa = self.sa.as_ref().unwrap();
                let rng = &mut self.rng;
                let mut fragments = crate::wire::emit_encrypted_fragments(
                    &header,
                    &reply,
                    chunk,
                    |n| sa.outbound.body_len(n),
                    |aad, pt| sa.outbound.seal(aad, pt, rng),
                )
                .unwrap();
                if self.cfg.reverse_fragments {
                    fragments.reverse();
                }
                fragments
            }
            _ => vec![self.seal(&header, &reply)],
        }
    }

    fn on_ike_auth(&mut self, inner: &[Payload]) -> Vec<Payload> {
        assert!(ike_auth_ok(inner));
        let sa = self.sa.as_ref().unwrap();
        let prf = sa.keys.suite.prf;
        let mut idi = None;
        let mut auth = None;
        let mut esp = None;
        let mut tsi = None;
        let mut tsr = None;
        for p in inner {
            match p {
                Payload::IdI(i) => idi = Some(i),
                Payload::Auth(a) => auth = Some(a),
                Payload::Sa(s) => esp = Some(s),
                Payload::TsI(t) => tsi = Some(t),
                Payload::TsR(t) => tsr = Some(t),
                _ => {}
            }
        }
        let expected = psk_auth(
            prf,
            &self.cfg.psk,
            &signed_octets(
                prf,
                &sa.keys.sk_pi,
                &sa.request,
                &sa.nr,
                &idi.unwrap().to_body(),
            ),
        );
        if *expected != *auth.unwrap().data {
            return vec![Payload::Notify(NotifyRepr::new(
                NotifyType::AUTHENTICATION_FAILED,
                vec![],
            ))];
        }
        let idr = Identity::Fqdn("gw.example.net".into()).to_repr();
        let mut our_auth = psk_auth(
            prf,
            &self.cfg.psk,
            &signed_octets(prf, &sa.keys.sk_pr, &sa.response, &sa.ni, &idr.to_body()),
        )
        .to_vec();
        if self.cfg.misbehave == Misbehave::BadAuth {
            our_auth[0] ^= 1;
        }
        // ESP: the first offered proposal with our algorithm, ESN off.
        let esp = esp.unwrap();
        let encr = TransformRepr::with_key_length(
            transform_type::ENCR,
            self.cfg.esp_encr.transform_id(),
            self.cfg.esp_encr.key_length_attribute(),
        );
        let integ = self
            .cfg
            .esp_integ
            .map(|i| TransformRepr::new(transform_type::INTEG, i.transform_id()));
        let Some(offer) = esp.proposals.iter().find(|p| {
            p.transforms.contains(&encr) && integ.as_ref().is_none_or(|i| p.transforms.contains(i))
        }) else {
            // The IKE SA is fine, only the CHILD_SA failed: IDr and AUTH come along.
            return vec![
                Payload::IdR(idr),
                Payload::Auth(AuthRepr {
                    method: AuthMethod::SHARED_KEY_MIC,
                    data: our_auth,
                }),
                Payload::Notify(NotifyRepr::new(NotifyType::NO_PROPOSAL_CHOSEN, vec![])),
            ];
        };
        let mut transforms = vec![encr];
        transforms.extend(integ);
        transforms.push(TransformRepr::new(transform_type::ESN, 0));
        if self.cfg.misbehave == Misbehave::UnofferedEspTransform {
            transforms[0] = TransformRepr::with_key_length(transform_type::ENCR, 20, Some(192));
        }
        let our_spi: u32 = 0xc0de_0001;
        let initiator_spi = u32::from_be_bytes(offer.spi.as_slice().try_into().unwrap());
        let chosen = ProposalRepr {
            number: offer.number,
            protocol: ProtocolId::ESP,
            spi: our_spi.to_be_bytes().to_vec(),
            transforms,
        };
        let esp_suite = EspSuite {
            encr: self.cfg.esp_encr,
            integ: self.cfg.esp_integ,
            esn: false,
        };
        let keymat = child_sa_keymat(
            prf,
            &sa.keys.sk_d,
            None,
            &sa.ni,
            &sa.nr,
            2 * esp_suite.keymat_len_per_direction(),
        )
        .unwrap();
        self.child_keys = Some(
            ChildSaKeys::from_keymat(
                esp_suite,
                Role::Responder,
                Spi::new(our_spi).unwrap(),
                Spi::new(initiator_spi).unwrap(),
                &keymat,
            )
            .unwrap(),
        );
        let mut tsi = tsi.unwrap().clone();
        if let Some(narrow) = self.cfg.narrow_tsi {
            tsi.selectors = vec![narrow];
        }
        let mut tsr = tsr.unwrap().clone();
        if self.cfg.misbehave == Misbehave::WideTrafficSelectors {
            // Port-restricted TSr in the request, answered with all ports.
            tsr.selectors = vec![TrafficSelector::ipv4_any()];
        }
        vec![
            Payload::IdR(idr),
            Payload::Auth(AuthRepr {
                method: AuthMethod::SHARED_KEY_MIC,
                data: our_auth,
            }),
            Payload::Cp(CpRepr {
                cfg_type: CfgType::REPLY,
                attributes: vec![
                    ConfigAttribute::Ip4Address(Some(Ipv4Addr::new(10, 9, 0, 2))),
                    ConfigAttribute::Ip4Dns(Some(Ipv4Addr::new(10, 9, 0, 1))),
                    ConfigAttribute::Ip6Address(Some(("fd00::2".parse().unwrap(), 128))),
                    ConfigAttribute::DnsDomain(Some("corp.example".into())),
                ],
            }),
            Payload::Sa(SaRepr {
                proposals: vec![chosen],
            }),
            Payload::TsI(tsi),
            Payload::TsR(tsr),
        ]
    }

    /// A request from the responder to the initiator (liveness check, delete ...).
    fn request(&mut self, inner: &[Payload]) -> Vec<u8> {
        self.request_of(ExchangeType::INFORMATIONAL, inner)
    }

    fn request_of(&mut self, exchange: ExchangeType, inner: &[Payload]) -> Vec<u8> {
        let id = self.next_request_id;
        self.next_request_id += 1;
        let header = self.header(exchange, id, false);
        let mut out = NON_ESP_MARKER.to_vec();
        out.extend(self.seal(&header, inner));
        out
    }

    /// Decrypts a response the initiator sent to one of our requests.
    fn read_response(&self, datagram: &[u8]) -> (HeaderRepr, Vec<Payload>) {
        let data = datagram.strip_prefix(&NON_ESP_MARKER).unwrap();
        let msg = Message::parse(data).unwrap();
        assert!(msg.header.flags.response());
        assert_eq!(msg.header.flags.initiator(), !self.role_initiator);
        (msg.header, self.open(data, &msg))
    }
}

/// Initiator + responder + virtual clock + a lossy, duplicating "network".
struct Net {
    now: Instant,
    start: Instant,
    initiator: Initiator,
    responder: Responder,
    events: Vec<Event>,
    sent: Vec<Transmit>,
    /// Return true to drop the n-th datagram (counting initiator-sent ones from 0).
    drop_outbound: Box<dyn FnMut(usize) -> bool>,
    drop_inbound: Box<dyn FnMut(usize) -> bool>,
    duplicate_responses: bool,
    inbound_count: usize,
    /// Virtual time each request takes to be answered.
    rtt: Duration,
}

fn config() -> InitiatorConfig {
    let mut config = InitiatorConfig::new(
        gateway(),
        Identity::Email("alice@example.com".into()),
        AuthConfig::Psk(Zeroizing::new(PSK.to_vec())),
    );
    // No rekey timers: `Net::run` runs until nothing is left to do.
    config.lifecycle.child_rekey = None;
    config.lifecycle.ike_rekey = None;
    config
}

impl Net {
    fn new(config: InitiatorConfig, responder: ResponderConfig) -> Self {
        let start = Instant::now();
        Self {
            now: start,
            start,
            initiator: Initiator::new(config, start, Box::new(TestRng(42))).unwrap(),
            responder: Responder::new(responder),
            events: Vec::new(),
            sent: Vec::new(),
            drop_outbound: Box::new(|_| false),
            drop_inbound: Box::new(|_| false),
            duplicate_responses: false,
            inbound_count: 0,
            rtt: Duration::ZERO,
        }
    }

    fn local_for(t: &Transmit) -> SocketAddr {
        SocketAddr::new(client_ip(), if t.nat_t { 4500 } else { 500 })
    }

    /// Delivers a datagram from the gateway to the initiator.
    fn deliver(&mut self, port: u16, local_port: u16, bytes: &[u8]) {
        let n = self.inbound_count;
        self.inbound_count += 1;
        if (self.drop_inbound)(n) {
            return;
        }
        let from = SocketAddr::new(gateway().ip(), port);
        let local = SocketAddr::new(client_ip(), local_port);
        self.initiator.handle_datagram(self.now, from, local, bytes);
        if self.duplicate_responses {
            self.initiator.handle_datagram(self.now, from, local, bytes);
        }
    }

    /// Exchanges datagrams and fires timers until the initiator is established or closed, or
    /// nothing is left to do.
    fn run(&mut self) {
        loop {
            while let Some(t) = self.initiator.poll_transmit() {
                let n = self.sent.len();
                self.sent.push(t.clone());
                if (self.drop_outbound)(n) {
                    continue;
                }
                let local = Self::local_for(&t);
                self.now += self.rtt;
                for reply in self.responder.handle(local, &t.payload) {
                    self.deliver(t.destination.port(), local.port(), &reply);
                }
            }
            let mut done = false;
            while let Some(e) = self.initiator.poll_event() {
                done |= matches!(e, Event::Stage(Stage::Established) | Event::Closed { .. });
                self.events.push(e);
            }
            if done {
                return;
            }
            match self.initiator.poll_timeout() {
                Some(t) => {
                    self.now = self.now.max(t);
                    self.initiator.handle_timeout(self.now);
                }
                None => return,
            }
        }
    }

    fn established(&self) -> &ChildSaEstablished {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::ChildSaEstablished(c) => Some(c.as_ref()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("not established: {:?}", self.events))
    }

    fn close_reason(&self) -> &CloseReason {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::Closed { reason } => Some(reason),
                _ => None,
            })
            .unwrap_or_else(|| panic!("not closed: {:?}", self.events))
    }

    fn stages(&self) -> Vec<Stage> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Stage(s) => Some(*s),
                _ => None,
            })
            .collect()
    }

    fn failure(&self) -> &Error {
        match self.close_reason() {
            CloseReason::Failed(e) => e,
            other => panic!("closed without failure: {other:?}"),
        }
    }
}

fn assert_keys_match(net: &Net) {
    let ours = &net.established().keys;
    let theirs = net.responder.child_keys.as_ref().unwrap();
    assert_eq!(ours.outbound.spi, theirs.inbound.spi);
    assert_eq!(ours.inbound.spi, theirs.outbound.spi);
    assert_eq!(*ours.outbound.encr_key, *theirs.inbound.encr_key);
    assert_eq!(*ours.inbound.encr_key, *theirs.outbound.encr_key);
    assert_eq!(*ours.outbound.integ_key, *theirs.inbound.integ_key);
    assert_eq!(*ours.inbound.integ_key, *theirs.outbound.integ_key);
}

#[test]
fn establishes_with_aes_gcm_and_x25519() {
    let mut net = Net::new(config(), ResponderConfig::default());
    net.run();
    let est = net.established();
    assert_eq!(
        est.ike_suite,
        IkeSuite {
            encr: EncrAlgorithm::AesGcm16_256,
            integ: None,
            prf: PrfAlgorithm::HmacSha2_256,
            dh: DhGroup::Curve25519
        }
    );
    assert_eq!(est.esp_suite.encr, EncrAlgorithm::AesGcm16_256);
    assert!(!est.esp_suite.esn);
    assert_eq!(est.remote_id, Identity::Fqdn("gw.example.net".into()));
    assert_eq!(est.config.ipv4_addresses, [Ipv4Addr::new(10, 9, 0, 2)]);
    assert_eq!(
        est.config.dns_servers,
        [IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1))]
    );
    assert_eq!(
        est.config.ipv6_addresses,
        [("fd00::2".parse().unwrap(), 128)]
    );
    assert_eq!(est.config.dns_domains, ["corp.example"]);
    assert_eq!(
        est.ts_local,
        [TrafficSelector::ipv4_any(), TrafficSelector::ipv6_any()]
    );
    // Forced encapsulation: no real NAT, but IKE floated to 4500 and ESP goes there too.
    assert_eq!(
        est.nat,
        NatState {
            supported: true,
            local_behind_nat: false,
            remote_behind_nat: false,
            udp_encapsulation: true
        }
    );
    assert_eq!(est.esp_destination.port(), 4500);
    assert_keys_match(&net);
    assert_eq!(
        net.stages(),
        [
            Stage::SendingIkeSaInit,
            Stage::Authenticating,
            Stage::Established
        ]
    );
    // IKE_SA_INIT on 500 without marker; IKE_AUTH floated to 4500 with the marker.
    assert_eq!(net.sent.len(), 2);
    assert!(!net.sent[0].nat_t && net.sent[0].destination.port() == 500);
    assert!(net.sent[1].nat_t && net.sent[1].destination.port() == 4500);
    assert_eq!(net.sent[1].payload[..4], NON_ESP_MARKER);
    assert_eq!(net.initiator.poll_timeout(), None);
}

#[test]
fn sa_init_request_carries_the_expected_payloads() {
    let mut net = Net::new(config(), ResponderConfig::default());
    let first = net.initiator.poll_transmit().unwrap();
    let msg = Message::parse(&first.payload).unwrap();
    let types: Vec<PayloadType> = msg.payloads.iter().map(Payload::payload_type).collect();
    assert_eq!(
        types[..3],
        [PayloadType::SA, PayloadType::KE, PayloadType::NONCE]
    );
    let notify_types: Vec<NotifyType> = notifies(&msg.payloads).map(|n| n.notify_type).collect();
    assert_eq!(
        notify_types,
        [
            NotifyType::NAT_DETECTION_SOURCE_IP,
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            NotifyType::SIGNATURE_HASH_ALGORITHMS
        ]
    );
    let src = notify(&msg.payloads, NotifyType::NAT_DETECTION_SOURCE_IP).unwrap();
    for port in [500, 4500] {
        let real = nat_detection_hash(
            msg.header.initiator_spi,
            IkeSpi::ZERO,
            SocketAddr::new(client_ip(), port),
        );
        assert_ne!(src.data, real, "forced encapsulation fakes the source hash");
    }
    let Some(Payload::Ke(ke)) = msg.find(PayloadType::KE) else {
        panic!()
    };
    assert_eq!(ke.group, 31);
    assert_eq!(ke.data.len(), 32);
    let Some(Payload::Nonce(n)) = msg.find(PayloadType::NONCE) else {
        panic!()
    };
    assert_eq!(n.nonce.len(), 32);
    net.sent.push(first);
}

#[test]
fn reports_real_nat_when_the_gateway_sees_another_address() {
    let mut net = Net::new(
        config(),
        ResponderConfig {
            client_seen_as: Some("198.51.100.7:31000".parse().unwrap()),
            ..ResponderConfig::default()
        },
    );
    net.run();
    let nat = net.established().nat;
    assert!(nat.local_behind_nat && !nat.remote_behind_nat && nat.udp_encapsulation);
}

#[test]
fn establishes_with_aes_cbc_hmac_and_modp2048_after_invalid_ke() {
    let mut net = Net::new(
        config(),
        ResponderConfig {
            encr: EncrAlgorithm::AesCbc256,
            integ: Some(IntegAlgorithm::HmacSha2_256_128),
            prf: PrfAlgorithm::HmacSha2_256,
            dh: DhGroup::Modp2048,
            esp_encr: EncrAlgorithm::AesCbc128,
            esp_integ: Some(IntegAlgorithm::HmacSha2_256_128),
            ..ResponderConfig::default()
        },
    );
    net.run();
    let est = net.established();
    assert_eq!(est.ike_suite.dh, DhGroup::Modp2048);
    assert_eq!(est.ike_suite.integ, Some(IntegAlgorithm::HmacSha2_256_128));
    assert_eq!(
        est.esp_suite,
        EspSuite {
            encr: EncrAlgorithm::AesCbc128,
            integ: Some(IntegAlgorithm::HmacSha2_256_128),
            esn: false
        }
    );
    assert_keys_match(&net);
    assert_eq!(
        net.stages(),
        [
            Stage::SendingIkeSaInit,
            Stage::RetryingWithGroup(DhGroup::Modp2048),
            Stage::Authenticating,
            Stage::Established
        ]
    );
}

/// The exchanges (requests) the responder saw, in order.
fn exchanges(net: &Net) -> Vec<ExchangeType> {
    net.responder.requests_seen.clone()
}

#[test]
fn psk_takes_the_protocol_minimum_of_two_exchanges() {
    let mut net = Net::new(config(), ResponderConfig::default());
    net.run();
    net.established();
    assert_eq!(
        exchanges(&net),
        [ExchangeType::IKE_SA_INIT, ExchangeType::IKE_AUTH]
    );
}

/// A gateway that only accepts `dh`, with the suites of the proposal that offers it.
fn only_group(dh: DhGroup) -> ResponderConfig {
    if dh == DhGroup::Modp2048 {
        ResponderConfig {
            encr: EncrAlgorithm::AesCbc256,
            integ: Some(IntegAlgorithm::HmacSha2_256_128),
            esp_encr: EncrAlgorithm::AesCbc128,
            esp_integ: Some(IntegAlgorithm::HmacSha2_256_128),
            dh,
            ..ResponderConfig::default()
        }
    } else {
        ResponderConfig {
            dh,
            ..ResponderConfig::default()
        }
    }
}

#[test]
fn the_group_the_gateway_chose_last_time_goes_first_and_saves_a_round_trip() {
    const RTT: Duration = Duration::from_millis(30);
    for group in [DhGroup::Ecp384, DhGroup::Modp2048] {
        // First connect: the default KE group is refused, the retry with the wanted one works.
        let mut first = Net::new(config(), only_group(group));
        first.rtt = RTT;
        first.run();
        let chosen = first.established().ike_suite.dh;
        assert_eq!(chosen, group);
        assert_eq!(
            exchanges(&first),
            [
                ExchangeType::IKE_SA_INIT,
                ExchangeType::IKE_SA_INIT,
                ExchangeType::IKE_AUTH
            ]
        );
        // Next connect with the remembered group: the protocol minimum.
        let mut hinted = config();
        hinted.first_ke_group = Some(chosen);
        let mut next = Net::new(hinted, only_group(group));
        next.rtt = RTT;
        next.run();
        assert_eq!(next.established().ike_suite.dh, group);
        assert_keys_match(&next);
        assert_eq!(
            exchanges(&next),
            [ExchangeType::IKE_SA_INIT, ExchangeType::IKE_AUTH]
        );
        assert_eq!(
            next.stages(),
            [
                Stage::SendingIkeSaInit,
                Stage::Authenticating,
                Stage::Established
            ]
        );
        // On the virtual clock, one round trip less.
        assert_eq!(first.now - first.start, RTT * 3);
        assert_eq!(next.now - next.start, RTT * 2);
        // The SA payload still offers every proposal, in the configured order.
        let offered = |net: &Net| {
            let msg = Message::parse(&net.sent[0].payload).unwrap();
            let Some(Payload::Sa(sa)) = msg.find(PayloadType::SA) else {
                panic!("no SA")
            };
            sa.clone()
        };
        assert_eq!(offered(&next), offered(&first));
        assert_eq!(
            offered(&next),
            proposal::ike_sa_payload(&config().ike_proposals)
        );
        let ke_group = |net: &Net| {
            let msg = Message::parse(&net.sent[0].payload).unwrap();
            let Some(Payload::Ke(ke)) = msg.find(PayloadType::KE) else {
                panic!("no KE")
            };
            ke.group
        };
        assert_eq!(ke_group(&first), DhGroup::Curve25519.transform_id());
        assert_eq!(ke_group(&next), group.transform_id());
    }
}

#[test]
fn a_remembered_group_no_proposal_offers_is_ignored() {
    let mut config = config();
    config.ike_proposals.truncate(1);
    // MODP-2048 is only in the second default proposal, which is gone now.
    config.first_ke_group = Some(DhGroup::Modp2048);
    let mut net = Net::new(config, ResponderConfig::default());
    net.run();
    assert_eq!(net.established().ike_suite.dh, DhGroup::Curve25519);
    assert_eq!(
        exchanges(&net),
        [ExchangeType::IKE_SA_INIT, ExchangeType::IKE_AUTH]
    );
}

#[test]
fn follows_a_cookie_request() {
    let mut net = Net::new(
        config(),
        ResponderConfig {
            require_cookie: true,
            ..ResponderConfig::default()
        },
    );
    net.run();
    net.established();
    assert_eq!(net.stages()[1], Stage::RetryingWithCookie);
    let retry = Message::parse(&net.sent[1].payload).unwrap();
    assert!(
        matches!(&retry.payloads[0], Payload::Notify(n) if n.notify_type == NotifyType::COOKIE)
    );
    assert_eq!(retry.header.message_id, 0);
}

#[test]
fn cookie_and_invalid_ke_together() {
    let mut net = Net::new(
        config(),
        ResponderConfig {
            require_cookie: true,
            dh: DhGroup::Ecp256,
            ..ResponderConfig::default()
        },
    );
    net.run();
    assert_eq!(net.established().ike_suite.dh, DhGroup::Ecp256);
    assert_keys_match(&net);
}

#[test]
fn invalid_ke_for_a_group_we_never_offered_fails() {
    let mut net = Net::new(
        config(),
        ResponderConfig {
            misbehave: Misbehave::InvalidKeForUnofferedGroup,
            ..ResponderConfig::default()
        },
    );
    net.run();
    assert_eq!(
        *net.failure(),
        Error::PeerMisbehaved(PeerMisbehaved::UnofferedGroup(2))
    );
}

#[test]
fn retransmits_lost_packets() {
    let mut net = Net::new(config(), ResponderConfig::default());
    // Lose the first IKE_SA_INIT and the first IKE_AUTH response.
    net.drop_outbound = Box::new(|n| n == 0);
    net.drop_inbound = Box::new(|n| n == 1);
    net.run();
    net.established();
    assert_keys_match(&net);
    // INIT, INIT again after 1 s, AUTH, AUTH again after 1 s (answered from the cache).
    assert_eq!(net.sent.len(), 4);
    assert_eq!(net.sent[0].payload, net.sent[1].payload);
    assert_eq!(net.sent[2].payload, net.sent[3].payload);
    assert_eq!(net.now - net.start, Duration::from_secs(2));
}

#[test]
fn backs_off_and_times_out() {
    let mut net = Net::new(config(), ResponderConfig::default());
    net.drop_outbound = Box::new(|_| true);
    net.run();
    assert_eq!(
        *net.failure(),
        Error::Timeout {
            exchange: ExchangeType::IKE_SA_INIT,
            attempts: 6
        }
    );
    // Sent at 0, 1, 3, 7, 15, 31; gave up at the 60 s total limit.
    assert_eq!(net.sent.len(), 6);
    assert_eq!(net.now - net.start, Duration::from_secs(60));
    assert!(net.initiator.is_closed());
    assert_eq!(net.initiator.poll_timeout(), None);
}

#[test]
fn duplicate_responses_are_dropped() {
    let mut net = Net::new(config(), ResponderConfig::default());
    net.duplicate_responses = true;
    net.run();
    net.established();
    assert_keys_match(&net);
    assert_eq!(net.initiator.stale_responses(), 2);
    // A late copy of the IKE_SA_INIT response changes nothing.
    let init_response = net.responder.sa.as_ref().unwrap().response.clone();
    net.deliver(500, 500, &init_response);
    assert!(net.initiator.poll_event().is_none());
    assert!(net.initiator.poll_transmit().is_none());
}

#[test]
fn unoffered_ike_proposal_fails() {
    let mut net = Net::new(
        config(),
        ResponderConfig {
            misbehave: Misbehave::UnofferedIkeTransform,
            ..ResponderConfig::default()
        },
    );
    net.run();
    assert_eq!(
        *net.failure(),
        Error::PeerMisbehaved(PeerMisbehaved::UnofferedProposal { what: "IKE" })
    );
}

#[test]
fn unoffered_esp_proposal_fails() {
    let mut net = Net::new(
        config(),
        ResponderConfig {
            misbehave: Misbehave::UnofferedEspTransform,
            ..ResponderConfig::default()
        },
    );
    net.run();
    assert_eq!(
        *net.failure(),
        Error::PeerMisbehaved(PeerMisbehaved::UnofferedProposal { what: "ESP" })
    );
    // We tell the gateway we are gone.
    let last = net.sent.last().unwrap();
    let (_, inner) = net.responder.read_request(&last.payload);
    assert!(matches!(&inner[..], [Payload::Delete(d)] if d.protocol == ProtocolId::IKE));
}

#[test]
fn bad_gateway_auth_fails() {
    let mut net = Net::new(
        config(),
        ResponderConfig {
            misbehave: Misbehave::BadAuth,
            ..ResponderConfig::default()
        },
    );
    net.run();
    assert_eq!(
        *net.failure(),
        Error::AuthenticationFailed(AuthFailure::PeerAuthInvalid)
    );
    assert!(
        !net.events
            .iter()
            .any(|e| matches!(e, Event::ChildSaEstablished(_)))
    );
}

#[test]
fn rejected_psk_fails() {
    let mut net = Net::new(
        config(),
        ResponderConfig {
            psk: b"another key".to_vec(),
            ..ResponderConfig::default()
        },
    );
    net.run();
    assert_eq!(
        *net.failure(),
        Error::AuthenticationFailed(AuthFailure::RejectedByPeer)
    );
}

#[test]
fn no_common_ike_proposal_fails() {
    let mut cfg = config();
    cfg.ike_proposals.truncate(1);
    let mut net = Net::new(
        cfg,
        ResponderConfig {
            encr: EncrAlgorithm::AesCbc128,
            integ: Some(IntegAlgorithm::HmacSha2_256_128),
            ..ResponderConfig::default()
        },
    );
    net.run();
    assert_eq!(
        *net.failure(),
        Error::PeerIncompatible(PeerIncompatible::NoIkeProposalChosen)
    );
}

#[test]
fn no_common_esp_proposal_fails() {
    let mut cfg = config();
    cfg.esp_proposals.truncate(1);
    let mut net = Net::new(
        cfg,
        ResponderConfig {
            esp_encr: EncrAlgorithm::AesCbc128,
            esp_integ: Some(IntegAlgorithm::HmacSha2_256_128),
            ..ResponderConfig::default()
        },
    );
    net.run();
    assert_eq!(
        *net.failure(),
        Error::PeerIncompatible(PeerIncompatible::NoEspProposalChosen)
    );
}

#[test]
fn accepts_narrowed_traffic_selectors() {
    let lan = TrafficSelector::from_prefix(IpPrefix::new("10.9.0.2".parse().unwrap(), 32).unwrap());
    let mut net = Net::new(
        config(),
        ResponderConfig {
            narrow_tsi: Some(lan),
            ..ResponderConfig::default()
        },
    );
    net.run();
    assert_eq!(net.established().ts_local, [lan]);
}

#[test]
fn rejects_widened_traffic_selectors() {
    let mut cfg = config();
    let https = TrafficSelector::new(
        6,
        443,
        443,
        "0.0.0.0".parse().unwrap(),
        "255.255.255.255".parse().unwrap(),
    )
    .unwrap();
    cfg.ts_remote = vec![https];
    let mut net = Net::new(
        cfg,
        ResponderConfig {
            misbehave: Misbehave::WideTrafficSelectors,
            ..ResponderConfig::default()
        },
    );
    net.run();
    assert_eq!(
        *net.failure(),
        Error::PeerMisbehaved(PeerMisbehaved::TrafficSelectorsNotNarrowed)
    );
}

impl Responder {
    /// Decrypts a request the initiator sent (e.g. its final Delete).
    fn read_request(&self, datagram: &[u8]) -> (HeaderRepr, Vec<Payload>) {
        let data = datagram.strip_prefix(&NON_ESP_MARKER).unwrap();
        let msg = Message::parse(data).unwrap();
        assert!(!msg.header.flags.response());
        assert_eq!(msg.header.flags.initiator(), !self.role_initiator);
        (msg.header, self.open(data, &msg))
    }
}

fn established_net() -> Net {
    let mut net = Net::new(config(), ResponderConfig::default());
    net.run();
    net.established();
    net
}

#[test]
fn answers_liveness_checks_and_their_retransmissions() {
    let mut net = established_net();
    let request = net.responder.request(&[]);
    net.deliver(4500, 4500, &request);
    let reply = net.initiator.poll_transmit().unwrap();
    assert!(reply.nat_t);
    let (header, inner) = net.responder.read_response(&reply.payload);
    assert_eq!(header.message_id, 0);
    assert_eq!(header.exchange_type, ExchangeType::INFORMATIONAL);
    assert!(inner.is_empty());
    // The same request again gets the same bytes back.
    net.deliver(4500, 4500, &request);
    assert_eq!(net.initiator.poll_transmit().unwrap(), reply);
    // The next one gets a new answer with the next ID.
    let second = net.responder.request(&[]);
    net.deliver(4500, 4500, &second);
    let (header, _) = net
        .responder
        .read_response(&net.initiator.poll_transmit().unwrap().payload);
    assert_eq!(header.message_id, 1);
    assert!(net.initiator.poll_event().is_none());
}

#[test]
fn gateway_delete_closes_the_sa() {
    let mut net = established_net();
    let request = net.responder.request(&[Payload::Delete(DeleteRepr::ike())]);
    net.deliver(4500, 4500, &request);
    let reply = net.initiator.poll_transmit().unwrap();
    let (_, inner) = net.responder.read_response(&reply.payload);
    assert!(inner.is_empty());
    assert!(matches!(
        net.initiator.poll_event(),
        Some(Event::Closed {
            reason: CloseReason::DeletedByPeer
        })
    ));
    assert!(net.initiator.is_closed());
}

#[test]
fn gateway_child_delete_is_answered_and_closes() {
    let mut net = established_net();
    let outbound = net.established().keys.outbound.spi.get();
    let inbound = net.established().keys.inbound.spi.get();
    let request = net
        .responder
        .request(&[Payload::Delete(DeleteRepr::esp(&[outbound]))]);
    net.deliver(4500, 4500, &request);
    let reply = net.initiator.poll_transmit().unwrap();
    let (_, inner) = net.responder.read_response(&reply.payload);
    assert_eq!(inner, [Payload::Delete(DeleteRepr::esp(&[inbound]))]);
    let delete = net.initiator.poll_transmit().unwrap();
    let (_, inner) = net.responder.read_request(&delete.payload);
    assert_eq!(inner, [Payload::Delete(DeleteRepr::ike())]);
    assert!(net.initiator.is_closed());
}

#[test]
fn forged_and_corrupted_messages_are_ignored() {
    let mut net = established_net();
    let mut request = net.responder.request(&[]);
    let last = request.len() - 1;
    request[last] ^= 0x55;
    net.deliver(4500, 4500, &request);
    // From another address.
    let good = net.responder.request(&[]);
    net.initiator.handle_datagram(
        net.now,
        "198.51.100.99:4500".parse().unwrap(),
        "192.0.2.10:4500".parse().unwrap(),
        &good,
    );
    // ESP on the NAT-T port.
    net.deliver(4500, 4500, &[0xc0, 0xde, 0, 1, 0, 0, 0, 1, 9, 9, 9]);
    net.deliver(4500, 4500, &[]);
    assert!(net.initiator.poll_transmit().is_none());
    assert!(net.initiator.poll_event().is_none());
    assert!(!net.initiator.is_closed());
}

#[test]
fn close_deletes_the_ike_sa() {
    let mut net = established_net();
    let now = net.now;
    net.initiator.close(now);
    net.run();
    assert_eq!(*net.close_reason(), CloseReason::Closed);
    assert_eq!(
        net.responder.requests_seen.last(),
        Some(&ExchangeType::INFORMATIONAL)
    );
}

#[test]
fn close_times_out_quietly() {
    let mut net = established_net();
    net.drop_outbound = Box::new(|_| true);
    let now = net.now;
    net.initiator.close(now);
    net.run();
    assert_eq!(*net.close_reason(), CloseReason::Closed);
}

#[test]
fn rejects_bad_configuration() {
    let mut cfg = config();
    cfg.ike_proposals.clear();
    assert!(matches!(
        Initiator::new(cfg, Instant::now(), Box::new(TestRng(1))),
        Err(Error::InvalidConfig(_))
    ));
    let mut cfg = config();
    cfg.auth = AuthConfig::Psk(Zeroizing::new(Vec::new()));
    assert!(Initiator::new(cfg, Instant::now(), Box::new(TestRng(1))).is_err());
    assert!(!format!("{:?}", config().auth).contains("horse"));
}

#[test]
fn reassembles_a_fragmented_ike_auth_response() {
    for reverse in [false, true] {
        let mut net = Net::new(
            config(),
            ResponderConfig {
                fragment_auth_response: Some(100),
                reverse_fragments: reverse,
                ..ResponderConfig::default()
            },
        );
        net.run();
        assert_eq!(net.established().config.dns_domains, ["corp.example"]);
        assert_keys_match(&net);
    }
}

/// A configuration whose IKE_AUTH request is far larger than 576 bytes: many remote selectors.
fn config_with_a_large_ike_auth() -> InitiatorConfig {
    let mut config = config();
    config.fragment_size = 576;
    config.ts_remote = (0..30u16)
        .map(|i| {
            TrafficSelector::from_prefix(
                IpPrefix::new(IpAddr::V6(Ipv6Addr::new(0xfd00, i, 0, 0, 0, 0, 0, 0)), 48).unwrap(),
            )
        })
        .collect();
    config
}

/// The IKE_AUTH datagrams the initiator sent (after the IKE_SA_INIT request).
fn ike_auth_datagrams(net: &Net) -> Vec<&Transmit> {
    net.sent
        .iter()
        .filter(|t| {
            let data = t
                .payload
                .strip_prefix(&NON_ESP_MARKER)
                .unwrap_or(&t.payload);
            IkeHeader::new_checked(data).unwrap().exchange_type() == ExchangeType::IKE_AUTH
        })
        .collect()
}

#[test]
fn sends_a_large_ike_auth_request_in_fragments_that_fit() {
    let mut net = Net::new(config_with_a_large_ike_auth(), ResponderConfig::default());
    net.run();
    assert_keys_match(&net);
    let sent = ike_auth_datagrams(&net);
    assert!(sent.len() >= 3, "{} datagrams", sent.len());
    for t in &sent {
        // IPv4 (20) + UDP (8) + the datagram (with its non-ESP marker) fit 576 bytes.
        assert!(t.nat_t);
        assert!(20 + 8 + t.payload.len() <= 576, "{} bytes", t.payload.len());
    }
    let seen = &net.responder.fragments_seen;
    let total = usize::from(seen[0].2);
    assert_eq!(seen.len(), total);
    assert!(seen.iter().all(|f| f.0 == 1 && usize::from(f.2) == total));
    assert_eq!(net.initiator.fragment_counts().0, total as u64);
}

#[test]
fn all_fragments_are_retransmitted_when_one_is_lost() {
    let mut net = Net::new(config_with_a_large_ike_auth(), ResponderConfig::default());
    // Datagram 0 is IKE_SA_INIT; lose the second fragment of IKE_AUTH once.
    net.drop_outbound = Box::new(|n| n == 2);
    net.run();
    assert_keys_match(&net);
    let sent = ike_auth_datagrams(&net);
    let total = sent.len() / 2;
    assert!(
        total >= 3 && sent.len() == 2 * total,
        "{} datagrams",
        sent.len()
    );
    assert_eq!(
        sent[..total].iter().map(|t| &t.payload).collect::<Vec<_>>(),
        sent[total..].iter().map(|t| &t.payload).collect::<Vec<_>>(),
        "the retransmission repeats the same fragments"
    );
    assert_eq!(net.now - net.start, Duration::from_secs(1));
}

#[test]
fn large_messages_go_whole_without_negotiated_fragmentation() {
    let mut net = Net::new(
        config_with_a_large_ike_auth(),
        ResponderConfig {
            fragmentation: false,
            ..ResponderConfig::default()
        },
    );
    net.run();
    assert_keys_match(&net);
    let sent = ike_auth_datagrams(&net);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].payload.len() > 1000);
    assert_eq!(net.initiator.fragment_counts(), (0, 0));
}

#[test]
fn small_messages_are_not_fragmented() {
    let mut net = Net::new(config(), ResponderConfig::default());
    net.run();
    assert_keys_match(&net);
    assert_eq!(ike_auth_datagrams(&net).len(), 1);
    assert!(net.responder.fragments_seen.is_empty());
}

#[test]
fn fragments_both_ways_with_a_lost_response_fragment() {
    let mut net = Net::new(
        config_with_a_large_ike_auth(),
        ResponderConfig {
            fragment_auth_response: Some(200),
            ..ResponderConfig::default()
        },
    );
    // Lose the first response fragment of IKE_AUTH once (datagram 0 is IKE_SA_INIT's answer):
    // the partial message waits, our retransmission brings all fragments again.
    net.drop_inbound = Box::new(|n| n == 1);
    net.run();
    assert_keys_match(&net);
    let (sent, received) = net.initiator.fragment_counts();
    assert!(sent >= 3);
    assert!(received >= 4, "{received}");
    assert_eq!(net.initiator.reassembly.poll_timeout(), None);
}

#[test]
fn rejects_a_fragment_size_below_576() {
    let mut cfg = config();
    cfg.fragment_size = 575;
    assert!(matches!(
        Initiator::new(cfg, Instant::now(), Box::new(TestRng(1))),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn initiator_is_send() {
    fn is_send<T: Send>() {}
    is_send::<Initiator>();
}

mod robustness {
    use proptest::prelude::*;

    use super::*;

    /// A datagram the gateway would plausibly send in each state, then damaged.
    fn damaged(
        base: &[u8],
        flips: &[(prop::sample::Index, u8)],
        cut: prop::sample::Index,
    ) -> Vec<u8> {
        let mut bytes = base.to_vec();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn damaged_input_never_panics_nor_kills_an_established_sa(
            flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..), 1..6),
            cut in any::<prop::sample::Index>(),
            garbage in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            // During IKE_SA_INIT: a damaged copy of a real response, then garbage.
            let mut net = Net::new(config(), ResponderConfig::default());
            let first = net.initiator.poll_transmit().unwrap();
            let local = Net::local_for(&first);
            let response = net.responder.handle(local, &first.payload).remove(0);
            let bad = damaged(&response, &flips, cut);
            net.deliver(500, 500, &bad);
            net.deliver(500, 500, &garbage);
            let mut marked = NON_ESP_MARKER.to_vec();
            marked.extend_from_slice(&garbage);
            net.deliver(4500, 4500, &marked);
            while net.initiator.poll_event().is_some() {}
            while net.initiator.poll_transmit().is_some() {}

            // Established: damaged requests are dropped (integrity), garbage too.
            let mut net = established_net();
            let request = net.responder.request(&[]);
            let bad = damaged(&request, &flips, cut);
            net.deliver(4500, 4500, &bad);
            net.deliver(4500, 4500, &garbage);
            net.deliver(4500, 4500, &marked);
            if bad != request {
                prop_assert!(net.initiator.poll_transmit().is_none());
            }
            prop_assert!(!net.initiator.is_closed());
        }
    }
}

#[test]
fn wrong_gateway_identity_fails() {
    let mut cfg = config();
    cfg.remote_id = Some(Identity::Fqdn("vpn.example.org".into()));
    let mut net = Net::new(cfg, ResponderConfig::default());
    net.run();
    assert_eq!(
        *net.failure(),
        Error::AuthenticationFailed(AuthFailure::PeerIdMismatch {
            expected: "vpn.example.org".into(),
            got: "gw.example.net".into()
        })
    );
    // The request carried the IDr we asked for.
    let auth = &net.sent[1];
    let sa = net.responder.sa.as_ref().unwrap();
    let data = auth.payload.strip_prefix(&NON_ESP_MARKER).unwrap();
    let msg = Message::parse(data).unwrap();
    let parts = msg.encrypted(data).unwrap();
    let plain = sa.inbound.open(parts.aad, parts.body).unwrap();
    let inner = parse_payload_chain(parts.first_inner, &plain).unwrap();
    assert!(inner.contains(&Payload::IdR(
        Identity::Fqdn("vpn.example.org".into()).to_repr()
    )));
}

#[test]
fn child_sa_errors_map_to_actionable_failures() {
    let ex = ExchangeType::IKE_AUTH;
    assert_eq!(
        Error::from_notify(ex, NotifyType::TS_UNACCEPTABLE, true),
        Error::PeerIncompatible(PeerIncompatible::TrafficSelectorsUnacceptable)
    );
    assert_eq!(
        Error::from_notify(ex, NotifyType::INTERNAL_ADDRESS_FAILURE, true),
        Error::PeerIncompatible(PeerIncompatible::InternalAddressFailure)
    );
    assert_eq!(
        Error::from_notify(ex, NotifyType::FAILED_CP_REQUIRED, true),
        Error::PeerIncompatible(PeerIncompatible::ConfigurationRequired)
    );
    assert_eq!(
        Error::from_notify(ex, NotifyType(8000), true),
        Error::PeerError {
            exchange: ex,
            notify: NotifyType(8000)
        }
    );
    let text = Error::from_notify(ex, NotifyType::TS_UNACCEPTABLE, true).to_string();
    assert!(text.contains("subnets"), "{text}");
}

#[test]
fn without_forced_encapsulation_and_without_nat_ike_stays_on_port_500() {
    let mut cfg = config();
    cfg.force_udp_encapsulation = false;
    cfg.local_addr = Some(SocketAddr::new(client_ip(), 500));
    let mut net = Net::new(cfg, ResponderConfig::default());
    let first = net.initiator.poll_transmit().unwrap();
    let msg = Message::parse(&first.payload).unwrap();
    let src = notify(&msg.payloads, NotifyType::NAT_DETECTION_SOURCE_IP).unwrap();
    assert_eq!(
        src.data,
        nat_detection_hash(
            msg.header.initiator_spi,
            IkeSpi::ZERO,
            SocketAddr::new(client_ip(), 500)
        )
    );
    net.sent.push(first.clone());
    let local = Net::local_for(&first);
    for reply in net.responder.handle(local, &first.payload) {
        net.deliver(500, 500, &reply);
    }
    net.run();
    let est = net.established();
    assert_eq!(
        est.nat,
        NatState {
            supported: true,
            ..NatState::default()
        }
    );
    assert_eq!(est.esp_destination, gateway());
    assert!(
        net.sent
            .iter()
            .all(|t| !t.nat_t && t.destination.port() == 500)
    );
}

/// The gateway's half of a CHILD_SA rekey it started.
struct GatewayRekey {
    ni: Vec<u8>,
    ke: Option<KeyExchange>,
    new_spi: u32,
}

impl Responder {
    /// A CREATE_CHILD_SA request rekeying the CHILD_SA whose gateway-inbound SPI is `old`.
    fn rekey_request(&mut self, old: u32, pfs: Option<DhGroup>) -> (Vec<u8>, GatewayRekey) {
        let ni = self.request_nonce.take().unwrap_or_else(|| self.random(32));
        let new_spi: u32 = 0xc0de_0002;
        let mut transforms = vec![TransformRepr::with_key_length(
            transform_type::ENCR,
            20,
            Some(256),
        )];
        if let Some(g) = pfs {
            transforms.push(TransformRepr::new(transform_type::DH, g.transform_id()));
        }
        transforms.push(TransformRepr::new(transform_type::ESN, 0));
        let ke = pfs.map(|g| KeyExchange::generate(g, &mut self.rng).unwrap());
        let mut inner = vec![
            Payload::Notify(NotifyRepr {
                protocol: ProtocolId::ESP,
                spi: old.to_be_bytes().to_vec(),
                notify_type: NotifyType::REKEY_SA,
                data: vec![],
            }),
            Payload::Sa(SaRepr {
                proposals: vec![ProposalRepr {
                    number: 1,
                    protocol: ProtocolId::ESP,
                    spi: new_spi.to_be_bytes().to_vec(),
                    transforms,
                }],
            }),
            Payload::Nonce(NonceRepr { nonce: ni.clone() }),
        ];
        if let Some(ke) = &ke {
            inner.push(Payload::Ke(KeRepr {
                group: ke.group().transform_id(),
                data: ke.public_value().to_vec(),
            }));
        }
        inner.push(Payload::TsI(TsRepr {
            selectors: vec![TrafficSelector::ipv4_any()],
        }));
        inner.push(Payload::TsR(TsRepr {
            selectors: vec![TrafficSelector::ipv4_any()],
        }));
        let datagram = self.request_of(ExchangeType::CREATE_CHILD_SA, &inner);
        (datagram, GatewayRekey { ni, ke, new_spi })
    }

    /// The gateway's keys for the new CHILD_SA, from the initiator's answer.
    fn rekey_finish(&self, rekey: GatewayRekey, reply: &[u8]) -> ChildSaKeys {
        let (header, inner) = self.read_response(reply);
        assert_eq!(header.exchange_type, ExchangeType::CREATE_CHILD_SA);
        let (mut nr, mut ker, mut spi) = (None, None, None);
        for p in &inner {
            match p {
                Payload::Nonce(n) => nr = Some(n.nonce.clone()),
                Payload::Ke(k) => ker = Some(k.data.clone()),
                Payload::Sa(sa) => {
                    spi = Some(u32::from_be_bytes(
                        sa.proposals[0].spi.as_slice().try_into().unwrap(),
                    ));
                }
                _ => {}
            }
        }
        let shared = rekey.ke.map(|ke| ke.agree(&ker.unwrap()).unwrap());
        let sa = self.sa.as_ref().unwrap();
        let suite = EspSuite {
            encr: EncrAlgorithm::AesGcm16_256,
            integ: None,
            esn: false,
        };
        let keymat = child_sa_keymat(
            sa.keys.suite.prf,
            &sa.keys.sk_d,
            shared.as_ref(),
            &rekey.ni,
            &nr.unwrap(),
            2 * suite.keymat_len_per_direction(),
        )
        .unwrap();
        ChildSaKeys::from_keymat(
            suite,
            Role::Initiator,
            Spi::new(rekey.new_spi).unwrap(),
            Spi::new(spi.unwrap()).unwrap(),
            &keymat,
        )
        .unwrap()
    }
}

fn rekey_scenario(pfs: Option<DhGroup>) {
    let mut net = established_net();
    child_rekey_on(&mut net, pfs);
}

/// The gateway rekeys the newest CHILD_SA and deletes the old one; checks both ends agree.
fn child_rekey_on(net: &mut Net, pfs: Option<DhGroup>) {
    let old_out = net.established().keys.outbound.spi;
    let old_in = net.established().keys.inbound.spi;
    let (request, rekey) = net.responder.rekey_request(old_out.get(), pfs);
    net.deliver(4500, 4500, &request);
    let reply = net.initiator.poll_transmit().unwrap();
    let theirs = net.responder.rekey_finish(rekey, &reply.payload);
    let Some(Event::ChildSaRekeyed { replaces, child }) = net.initiator.poll_event() else {
        panic!("no rekey event")
    };
    assert_eq!(replaces, old_in);
    let ours = &child.keys;
    assert_eq!(ours.outbound.spi, theirs.inbound.spi);
    assert_eq!(ours.inbound.spi, theirs.outbound.spi);
    assert_eq!(*ours.outbound.encr_key, *theirs.inbound.encr_key);
    assert_eq!(*ours.inbound.encr_key, *theirs.outbound.encr_key);
    assert_ne!(
        *ours.inbound.encr_key,
        *net.established().keys.inbound.encr_key
    );
    assert_eq!(child.config.dns_domains, ["corp.example"]);
    assert_eq!(child.ts_local, [TrafficSelector::ipv4_any()]);
    // The gateway deletes the old CHILD_SA; we answer with ours and stay up.
    let delete = net
        .responder
        .request(&[Payload::Delete(DeleteRepr::esp(&[old_out.get()]))]);
    net.deliver(4500, 4500, &delete);
    let reply = net.initiator.poll_transmit().unwrap();
    let (_, inner) = net.responder.read_response(&reply.payload);
    assert_eq!(inner, [Payload::Delete(DeleteRepr::esp(&[old_in.get()]))]);
    // Only now do we send with the new SA (the gateway has surely installed it).
    let new_in = child.keys.inbound.spi;
    assert!(matches!(
        net.initiator.poll_event(),
        Some(Event::ChildSaActive { inbound_spi }) if inbound_spi == new_in
    ));
    assert!(matches!(
        net.initiator.poll_event(),
        Some(Event::ChildSaDeleted { inbound_spi }) if inbound_spi == old_in
    ));
    assert!(!net.initiator.is_closed());
    assert!(net.initiator.poll_transmit().is_none());
}

#[test]
fn gateway_rekeys_the_child_sa() {
    rekey_scenario(None);
}

#[test]
fn gateway_rekeys_the_child_sa_with_pfs() {
    rekey_scenario(Some(DhGroup::Ecp256));
}

#[test]
fn rekey_of_an_unknown_child_sa_is_refused() {
    let mut net = established_net();
    let (request, _) = net.responder.rekey_request(0x1234_5678, None);
    net.deliver(4500, 4500, &request);
    let reply = net.initiator.poll_transmit().unwrap();
    let (_, inner) = net.responder.read_response(&reply.payload);
    assert!(
        matches!(&inner[..], [Payload::Notify(n)] if n.notify_type == NotifyType::CHILD_SA_NOT_FOUND)
    );
    assert!(net.initiator.poll_event().is_none());
}

#[test]
fn new_child_sas_and_unacceptable_ike_rekeys_are_refused() {
    let mut net = established_net();
    let mut ask = |protocol: ProtocolId, spi: Vec<u8>| {
        let request = net.responder.request_of(
            ExchangeType::CREATE_CHILD_SA,
            &[
                Payload::Sa(SaRepr {
                    proposals: vec![ProposalRepr {
                        number: 1,
                        protocol,
                        spi,
                        transforms: vec![TransformRepr::new(transform_type::ENCR, 20)],
                    }],
                }),
                Payload::Nonce(NonceRepr { nonce: vec![1; 32] }),
            ],
        );
        net.deliver(4500, 4500, &request);
        let reply = net.initiator.poll_transmit().unwrap();
        let (_, inner) = net.responder.read_response(&reply.payload);
        match &inner[..] {
            [Payload::Notify(n)] => n.notify_type,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        ask(ProtocolId::ESP, vec![0xc0, 0, 0, 9]),
        NotifyType::NO_ADDITIONAL_SAS
    );
    assert_eq!(
        ask(ProtocolId::IKE, vec![7; 8]),
        NotifyType::NO_PROPOSAL_CHOSEN
    );
    assert!(net.initiator.poll_event().is_none());
}

#[test]
fn duplicate_cookie_and_invalid_ke_answers_are_dropped() {
    let mut net = Net::new(
        config(),
        ResponderConfig {
            require_cookie: true,
            dh: DhGroup::Ecp256,
            ..ResponderConfig::default()
        },
    );
    net.duplicate_responses = true;
    net.run();
    assert_eq!(net.established().ike_suite.dh, DhGroup::Ecp256);
    assert_keys_match(&net);
    assert_eq!(
        net.stages(),
        [
            Stage::SendingIkeSaInit,
            Stage::RetryingWithCookie,
            Stage::RetryingWithGroup(DhGroup::Ecp256),
            Stage::Authenticating,
            Stage::Established
        ]
    );
}

#[test]
fn accepts_ipv4_mapped_addresses_from_dual_stack_sockets() {
    let mut net = Net::new(config(), ResponderConfig::default());
    let first = net.initiator.poll_transmit().unwrap();
    let reply = net
        .responder
        .handle(Net::local_for(&first), &first.payload)
        .remove(0);
    let mapped = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    let now = net.now;
    net.initiator.handle_datagram(
        now,
        mapped(gateway()),
        mapped(SocketAddr::new(client_ip(), 500)),
        &reply,
    );
    assert!(matches!(
        net.initiator.poll_event(),
        Some(Event::Stage(Stage::SendingIkeSaInit))
    ));
    assert!(matches!(
        net.initiator.poll_event(),
        Some(Event::Stage(Stage::Authenticating))
    ));
    net.sent.push(first);
    net.run();
    assert!(!net.established().nat.local_behind_nat);
}

/// The gateway's half of an IKE SA rekey it started.
struct GatewayIkeRekey {
    ni: Vec<u8>,
    ke: KeyExchange,
    spi_i: [u8; 8],
}

impl Responder {
    fn ike_rekey_request(&mut self, group: DhGroup) -> (Vec<u8>, GatewayIkeRekey) {
        let ni = self.random(32);
        let mut spi_i = [0u8; 8];
        spi_i.copy_from_slice(&self.random(8));
        spi_i[0] |= 1;
        let ke = KeyExchange::generate(group, &mut self.rng).unwrap();
        let inner = [
            Payload::Sa(SaRepr {
                proposals: vec![ProposalRepr {
                    number: 1,
                    protocol: ProtocolId::IKE,
                    spi: spi_i.to_vec(),
                    transforms: vec![
                        TransformRepr::with_key_length(transform_type::ENCR, 20, Some(256)),
                        TransformRepr::new(transform_type::PRF, 5),
                        TransformRepr::new(transform_type::DH, group.transform_id()),
                    ],
                }],
            }),
            Payload::Nonce(NonceRepr { nonce: ni.clone() }),
            Payload::Ke(KeRepr {
                group: group.transform_id(),
                data: ke.public_value().to_vec(),
            }),
        ];
        let datagram = self.request_of(ExchangeType::CREATE_CHILD_SA, &inner);
        (datagram, GatewayIkeRekey { ni, ke, spi_i })
    }

    /// Completes the rekey from the initiator's answer and moves to the new IKE SA, of which
    /// the gateway is now the original initiator.
    fn ike_rekey_finish(&mut self, rekey: GatewayIkeRekey, reply: &[u8]) {
        let (_, inner) = self.read_response(reply);
        let (mut spi_r, mut nr, mut ker) = (None, None, None);
        for p in &inner {
            match p {
                Payload::Sa(sa) => spi_r = Some(sa.proposals[0].spi.clone()),
                Payload::Nonce(n) => nr = Some(n.nonce.clone()),
                Payload::Ke(k) => ker = Some(k.data.clone()),
                other => panic!("unexpected {other:?}"),
            }
        }
        let spi_r = IkeSpi(spi_r.unwrap().as_slice().try_into().unwrap());
        let nr = nr.unwrap();
        let group = rekey.ke.group();
        let shared = rekey.ke.agree(&ker.unwrap()).unwrap();
        let suite = IkeSuite {
            encr: EncrAlgorithm::AesGcm16_256,
            integ: None,
            prf: PrfAlgorithm::HmacSha2_256,
            dh: group,
        };
        let old = self.sa.take().unwrap();
        let keys = IkeSaKeys::derive_rekey(
            suite,
            old.keys.suite.prf,
            &old.keys.sk_d,
            &shared,
            &rekey.ni,
            &nr,
            IkeSpi(rekey.spi_i),
            spi_r,
        )
        .unwrap();
        let (outbound, inbound) = keys.sk_ciphers(Role::Initiator).unwrap();
        self.sa = Some(ResponderSa {
            spi_i: IkeSpi(rekey.spi_i),
            spi_r,
            keys,
            outbound,
            inbound,
            ni: rekey.ni,
            nr,
            request: vec![],
            response: vec![],
        });
        self.old_sa = Some(old);
        self.old_next_request_id = self.next_request_id;
        self.next_request_id = 0;
        self.old_role_initiator = self.role_initiator;
        self.role_initiator = true;
        self.last_response = None;
    }

    /// Runs `f` against the old IKE SA.
    fn on_old<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let swap = |r: &mut Self| {
            core::mem::swap(&mut r.sa, &mut r.old_sa);
            core::mem::swap(&mut r.next_request_id, &mut r.old_next_request_id);
            core::mem::swap(&mut r.role_initiator, &mut r.old_role_initiator);
        };
        swap(self);
        let out = f(self);
        swap(self);
        out
    }
}

#[test]
fn gateway_rekeys_the_ike_sa() {
    let mut net = established_net();
    let (request, rekey) = net.responder.ike_rekey_request(DhGroup::Curve25519);
    net.deliver(4500, 4500, &request);
    let reply = net.initiator.poll_transmit().unwrap();
    net.responder.ike_rekey_finish(rekey, &reply.payload);
    assert!(matches!(
        net.initiator.poll_event(),
        Some(Event::IkeSaRekeyed { ike_suite }) if ike_suite.dh == DhGroup::Curve25519
    ));

    // The gateway deletes the old IKE SA: answered under the old keys, and nothing ends.
    let delete = net
        .responder
        .on_old(|r| r.request(&[Payload::Delete(DeleteRepr::ike())]));
    net.deliver(4500, 4500, &delete);
    let reply = net.initiator.poll_transmit().unwrap();
    let (header, inner) = net.responder.on_old(|r| r.read_response(&reply.payload));
    assert_eq!(header.message_id, 1);
    assert!(inner.is_empty());
    // Its retransmission gets the same answer.
    net.deliver(4500, 4500, &delete);
    assert_eq!(net.initiator.poll_transmit().unwrap(), reply);
    assert!(net.initiator.poll_event().is_none());
    assert!(!net.initiator.is_closed());

    // The new SA starts its message IDs at 0; we are its original responder now.
    let ping = net.responder.request(&[]);
    net.deliver(4500, 4500, &ping);
    let reply = net.initiator.poll_transmit().unwrap();
    let (header, _) = net.responder.read_response(&reply.payload);
    assert_eq!(header.message_id, 0);
    assert!(!header.flags.initiator());

    // CHILD_SAs are rekeyed from the new SK_d.
    child_rekey_on(&mut net, Some(DhGroup::Curve25519));

    // And closing deletes the new IKE SA.
    let now = net.now;
    net.initiator.close(now);
    net.run();
    assert_eq!(*net.close_reason(), CloseReason::Closed);
}

#[test]
fn liveness_checks_are_answered_or_time_out() {
    let mut net = established_net();
    let start = net.now;
    assert!(net.initiator.send_liveness_check(start));
    assert!(!net.initiator.send_liveness_check(start), "one at a time");
    net.run();
    assert_eq!(net.now, start, "answered without retransmission");
    assert!(!net.initiator.is_closed());
    assert_eq!(net.initiator.poll_timeout(), None);
    assert_eq!(
        net.responder.requests_seen.last(),
        Some(&ExchangeType::INFORMATIONAL)
    );

    // A close() during a check waits for it, then deletes the SA.
    assert!(net.initiator.send_liveness_check(net.now));
    let now = net.now;
    net.initiator.close(now);
    net.run();
    assert_eq!(*net.close_reason(), CloseReason::Closed);

    // A gateway that stopped answering.
    let mut net = established_net();
    net.drop_outbound = Box::new(|_| true);
    let now = net.now;
    assert!(net.initiator.send_liveness_check(now));
    net.run();
    assert_eq!(*net.close_reason(), CloseReason::PeerDead);
    assert_eq!(net.now - now, crate::LifecycleConfig::default().dpd_timeout);
}

// ---- EAP: a gateway with a certificate running EAP-MSCHAPv2 ----

mod eap {
    use std::time::SystemTime;

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, SanType,
    };

    use super::*;
    use crate::cert::{CertError, ClientCredential, GatewayIdentity, HashAlgorithm, TrustStore};
    use crate::config::ServerAuth;
    use crate::eap::mschapv2;
    use crate::eap::{EapCode, EapError, EapMethod, EapPacket, EapType};
    use crate::wire::CertEncoding;

    const GATEWAY_NAME: &str = "gw.example.net";
    const PASSWORD: &str = "clientPass";
    const AUTH_CHALLENGE: [u8; 16] = [7; 16];

    /// How the scripted EAP server behaves.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Script {
        Honest,
        /// EAP-Success right after the identity, without any method.
        EarlySuccess,
        /// AUTHENTICATION_FAILED at once, without certificate or EAP (a gateway that only
        /// takes certificates).
        RefuseEap,
        /// As `RefuseEap`, after a CERTREQ in IKE_SA_INIT.
        RefuseEapAfterCertificateRequest,
        /// Answer as for EAP-only (RFC 5998): IDr and EAP-Identity, no certificate or AUTH.
        EapOnly,
    }

    pub(super) struct EapGateway {
        credential: ClientCredential,
        chain: Vec<Vec<u8>>,
        pub(super) script: Script,
        pub(super) first_request: Vec<Payload>,
        next_id: u8,
        msk: Option<Zeroizing<Vec<u8>>>,
        /// EAP messages received from the initiator.
        pub(super) eap_responses: usize,
    }

    pub(super) struct Pki {
        ca_pem: String,
        chain: Vec<Vec<u8>>,
        key_pem: String,
    }

    /// A CA and a gateway certificate for `name`.
    pub(super) fn pki(name: &str) -> Pki {
        pki_from(name, "Test CA")
    }

    /// A CA called `ca_name` and a gateway certificate for `name` (ECDSA P-256).
    pub(super) fn pki_from(name: &str, ca_name: &str) -> Pki {
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, name);
        leaf.subject_alt_names
            .push(SanType::DnsName(name.try_into().unwrap()));
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            chain: vec![cert.der().to_vec()],
            key_pem: key.serialize_pem(),
        }
    }

    pub(super) fn eap_gateway(pki: &Pki, script: Script) -> Box<EapGateway> {
        let credential =
            ClientCredential::from_pem_or_der(&pki.chain[0], pki.key_pem.as_bytes()).unwrap();
        Box::new(EapGateway {
            credential,
            chain: pki.chain.clone(),
            script,
            first_request: Vec::new(),
            next_id: 1,
            msk: None,
            eap_responses: 0,
        })
    }

    pub(super) fn eap_config(trusted: &Pki, expected: &str, password: &str) -> InitiatorConfig {
        InitiatorConfig::new(
            gateway(),
            Identity::Email("alice@example.com".into()),
            AuthConfig::Eap {
                identity: "alice".into(),
                method: EapMethod::MsChapV2 {
                    user_name: "alice".into(),
                    password: Zeroizing::new(password.into()),
                },
                server: ServerAuth {
                    trust: std::sync::Arc::new(
                        TrustStore::from_ca_certificates(&[trusted.ca_pem.as_bytes()]).unwrap(),
                    ),
                    expected_identity: GatewayIdentity::Fqdn(expected.into()),
                    request_certificates: true,
                    wall_clock: SystemTime::now(),
                },
            },
        )
    }

    fn eap_request(id: u8, ty: EapType, data: &[u8]) -> Payload {
        Payload::Eap(EapRepr {
            message: EapPacket {
                code: EapCode::Request,
                identifier: id,
                body: Some((ty, data)),
            }
            .to_vec()
            .unwrap(),
        })
    }

    fn mschap(id: u8, opcode: u8, payload: &[u8]) -> Payload {
        let mut data = vec![opcode, 0x42];
        data.extend_from_slice(&u16::try_from(4 + payload.len()).unwrap().to_be_bytes());
        data.extend_from_slice(payload);
        eap_request(id, EapType::MSCHAPV2, &data)
    }

    impl Responder {
        pub(super) fn eap(&self) -> &EapGateway {
            self.cfg.eap.as_deref().unwrap()
        }

        pub(super) fn on_eap_auth(&mut self, inner: &[Payload]) -> Vec<Payload> {
            let find_eap = inner.iter().find_map(|p| match p {
                Payload::Eap(e) => Some(e.message.clone()),
                _ => None,
            });
            let final_auth = inner.iter().find_map(|p| match p {
                Payload::Auth(a) => Some(a.clone()),
                _ => None,
            });
            if let Some(auth) = final_auth {
                // Our PSK machinery with the MSK as the key (RFC 7296 §2.16).
                let gw = self.cfg.eap.as_mut().unwrap();
                let mut combined = gw.first_request.clone();
                combined.push(Payload::Auth(auth));
                self.cfg.psk = gw.msk.as_ref().unwrap().to_vec();
                return self.on_ike_auth(&combined);
            }
            let Some(message) = find_eap else {
                return self.first_eap_round(inner);
            };
            let gw = self.cfg.eap.as_mut().unwrap();
            gw.eap_responses += 1;
            let packet = EapPacket::parse(&message).unwrap();
            assert_eq!(packet.code, EapCode::Response);
            let (ty, data) = packet.body.unwrap();
            let id = gw.next_id;
            gw.next_id += 1;
            let reply = match (ty, data.first()) {
                (EapType::IDENTITY, _) if gw.script == Script::EarlySuccess => {
                    Payload::Eap(EapRepr {
                        message: vec![3, id, 0, 4],
                    })
                }
                (EapType::IDENTITY, _) => {
                    let mut payload = vec![16];
                    payload.extend_from_slice(&AUTH_CHALLENGE);
                    payload.extend_from_slice(b"gw");
                    mschap(id, 1, &payload)
                }
                (EapType::MSCHAPV2, Some(2)) => {
                    let peer: [u8; 16] = data[5..21].try_into().unwrap();
                    let nt: [u8; 24] = data[29..53].try_into().unwrap();
                    let name = std::str::from_utf8(&data[54..]).unwrap();
                    let good =
                        mschapv2::generate_nt_response(&AUTH_CHALLENGE, &peer, name, PASSWORD)
                            .unwrap();
                    if good == nt {
                        let auth = mschapv2::authenticator_response(
                            PASSWORD,
                            &nt,
                            &peer,
                            &AUTH_CHALLENGE,
                            name,
                        )
                        .unwrap();
                        gw.msk = Some(mschapv2::msk(PASSWORD, &nt).unwrap());
                        let text = format!("S={} M=welcome", hex::encode_upper(auth));
                        mschap(id, 3, text.as_bytes())
                    } else {
                        mschap(
                            id,
                            4,
                            b"E=691 R=0 C=00000000000000000000000000000000 V=3 M=bad",
                        )
                    }
                }
                (EapType::MSCHAPV2, Some(3)) => Payload::Eap(EapRepr {
                    message: vec![3, id, 0, 4],
                }),
                (EapType::MSCHAPV2, Some(4)) => {
                    return vec![
                        Payload::Eap(EapRepr {
                            message: vec![4, id, 0, 4],
                        }),
                        Payload::Notify(NotifyRepr::new(NotifyType::AUTHENTICATION_FAILED, vec![])),
                    ];
                }
                other => panic!("unexpected EAP response {other:?}"),
            };
            vec![reply]
        }

        /// The first IKE_AUTH request (no AUTH: EAP): IDr, CERT, AUTH signed with the
        /// gateway's key, and EAP-Identity.
        fn first_eap_round(&mut self, inner: &[Payload]) -> Vec<Payload> {
            assert!(!ike_auth_ok(inner), "an EAP client sends no AUTH first");
            if matches!(
                self.eap().script,
                Script::RefuseEap | Script::RefuseEapAfterCertificateRequest
            ) {
                return vec![Payload::Notify(NotifyRepr::new(
                    NotifyType::AUTHENTICATION_FAILED,
                    vec![],
                ))];
            }
            let sa = self.sa.as_ref().unwrap();
            let prf = sa.keys.suite.prf;
            let idr = Identity::Fqdn(GATEWAY_NAME.into()).to_repr();
            let octets = signed_octets(prf, &sa.keys.sk_pr, &sa.response, &sa.ni, &idr.to_body());
            let gw = self.cfg.eap.as_mut().unwrap();
            gw.first_request = inner.to_vec();
            let signed = gw
                .credential
                .sign_auth(Some(&[HashAlgorithm::SHA2_256]), false, &octets)
                .unwrap();
            if gw.script == Script::EapOnly {
                let id = gw.next_id;
                gw.next_id += 1;
                return vec![Payload::IdR(idr), eap_request(id, EapType::IDENTITY, &[])];
            }
            let mut out = vec![Payload::IdR(idr)];
            out.extend(gw.chain.iter().map(|der| {
                Payload::Cert(CertRepr {
                    encoding: CertEncoding(CERT_ENCODING_X509_SIGNATURE),
                    data: der.clone(),
                })
            }));
            out.push(Payload::Auth(AuthRepr {
                method: AuthMethod(signed.method),
                data: signed.data,
            }));
            let id = gw.next_id;
            gw.next_id += 1;
            out.push(eap_request(id, EapType::IDENTITY, &[]));
            out
        }
    }

    fn eap_net(trusted: &Pki, served: &Pki, expected: &str, password: &str, script: Script) -> Net {
        let mut net = Net::new(
            eap_config(trusted, expected, password),
            ResponderConfig {
                eap: Some(eap_gateway(served, script)),
                ..ResponderConfig::default()
            },
        );
        net.run();
        net
    }

    #[test]
    fn eap_mschapv2_after_the_gateway_certificate() {
        let pki = pki(GATEWAY_NAME);
        let net = eap_net(&pki, &pki, GATEWAY_NAME, PASSWORD, Script::Honest);
        assert_keys_match(&net);
        assert_eq!(
            net.established().remote_id,
            Identity::Fqdn(GATEWAY_NAME.into())
        );
        // Identity, MSCHAPv2 Response, Success acknowledgement.
        assert_eq!(net.responder.eap().eap_responses, 3);
        // IKE_SA_INIT, then IKE_AUTH: identities, the EAP identity, the MSCHAPv2 response,
        // the success acknowledgement and the final AUTH: six, the protocol's 5–6.
        assert_eq!(net.responder.requests_seen[0], ExchangeType::IKE_SA_INIT);
        assert_eq!(net.responder.requests_seen.len(), 6);
        assert!(
            net.responder.requests_seen[1..]
                .iter()
                .all(|e| *e == ExchangeType::IKE_AUTH)
        );
        assert_eq!(
            net.stages(),
            vec![
                Stage::SendingIkeSaInit,
                Stage::Authenticating,
                Stage::Established
            ]
        );
        // The first IKE_AUTH request asked for the CA with a CERTREQ and carried no AUTH.
        let first = &net.responder.eap().first_request;
        assert!(
            first
                .iter()
                .any(|p| matches!(p, Payload::CertReq(c) if c.data.len() == 20))
        );
    }

    #[test]
    fn wrong_password_is_reported() {
        let pki = pki(GATEWAY_NAME);
        let net = eap_net(&pki, &pki, GATEWAY_NAME, "wrong", Script::Honest);
        match net.failure() {
            Error::AuthenticationFailed(AuthFailure::EapRejected(text)) => {
                assert!(text.contains("user name or password is wrong"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn untrusted_gateway_gets_no_eap_answer() {
        let trusted = pki(GATEWAY_NAME);
        let rogue = pki_from(GATEWAY_NAME, "Rogue CA");
        let net = eap_net(&trusted, &rogue, GATEWAY_NAME, PASSWORD, Script::Honest);
        assert!(
            matches!(
                net.failure(),
                Error::AuthenticationFailed(AuthFailure::Certificate(
                    CertError::NotSignedByProfileCa
                ))
            ),
            "{:?}",
            net.failure()
        );
        assert_eq!(net.responder.eap().eap_responses, 0);

        // An impostor CA with the same name as the profile's.
        let impostor = pki(GATEWAY_NAME);
        let net = eap_net(&trusted, &impostor, GATEWAY_NAME, PASSWORD, Script::Honest);
        assert!(
            matches!(
                net.failure(),
                Error::AuthenticationFailed(AuthFailure::Certificate(
                    CertError::NotSignedByProfileCa
                ))
            ),
            "{:?}",
            net.failure()
        );
        assert_eq!(net.responder.eap().eap_responses, 0);
    }

    #[test]
    fn gateway_with_another_name_gets_no_eap_answer() {
        let pki = pki(GATEWAY_NAME);
        let net = eap_net(&pki, &pki, "vpn.example.org", PASSWORD, Script::Honest);
        assert!(matches!(
            net.failure(),
            Error::AuthenticationFailed(AuthFailure::Certificate(CertError::NameMismatch { .. }))
        ));
        assert_eq!(net.responder.eap().eap_responses, 0);
    }

    #[test]
    fn early_eap_success_is_refused() {
        let pki = pki(GATEWAY_NAME);
        let net = eap_net(&pki, &pki, GATEWAY_NAME, PASSWORD, Script::EarlySuccess);
        assert_eq!(
            *net.failure(),
            Error::AuthenticationFailed(AuthFailure::Eap(EapError::EarlySuccess))
        );
        // Only the identity was sent; no AUTH computed from a missing MSK.
        assert_eq!(net.responder.eap().eap_responses, 1);
    }

    #[test]
    fn a_gateway_refusing_eap_outright_is_not_a_wrong_password() {
        let pki = pki(GATEWAY_NAME);
        let net = eap_net(&pki, &pki, GATEWAY_NAME, PASSWORD, Script::RefuseEap);
        assert_eq!(
            *net.failure(),
            Error::AuthenticationFailed(AuthFailure::EapRefused)
        );
        let net = eap_net(
            &pki,
            &pki,
            GATEWAY_NAME,
            PASSWORD,
            Script::RefuseEapAfterCertificateRequest,
        );
        let failure = net.failure();
        assert_eq!(
            *failure,
            Error::AuthenticationFailed(AuthFailure::Certificate(CertError::NoClientCertificate))
        );
        assert_eq!(
            failure.to_string(),
            "the server asked for a client certificate but the profile has none"
        );
        assert_eq!(net.responder.eap().eap_responses, 0);
    }

    #[test]
    fn eap_only_is_neither_offered_nor_accepted_with_mschapv2() {
        let pki = pki(GATEWAY_NAME);
        let net = eap_net(&pki, &pki, GATEWAY_NAME, PASSWORD, Script::EapOnly);
        let first = &net.responder.eap().first_request;
        assert!(
            notifies(first).all(|n| n.notify_type != NotifyType::EAP_ONLY_AUTHENTICATION),
            "EAP-only offered with MSCHAPv2"
        );
        assert!(
            matches!(
                net.failure(),
                Error::PeerMisbehaved(PeerMisbehaved::PayloadRules(rules::RuleViolation::Missing(
                    _,
                    PayloadType::AUTH
                )))
            ),
            "{:?}",
            net.failure()
        );
        // Not even the EAP identity went out to a gateway that did not prove itself.
        assert_eq!(net.responder.eap().eap_responses, 0);
    }
}

// ---- the established phase: our rekeys, collisions, liveness, deletes ----

mod lifecycle;
