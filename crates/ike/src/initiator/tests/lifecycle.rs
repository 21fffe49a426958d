//! Scenarios of the established phase on the virtual clock: CHILD_SA and IKE SA rekeys we
//! start (with and without PFS, refused, retried), both outcomes of a CHILD_SA rekey collision
//! (RFC 7296 §2.8.1; strongSwan's `test_child_rekey.c` covers the same cases), make-before-break
//! ordering of the events, dead-peer detection and deletes.

use super::*;
use crate::LifecycleConfig;

/// The responder's keys of one CHILD_SA, for comparison with ours.
fn assert_same_keys(ours: &ChildSaKeys, theirs: &ChildSaKeys) {
    assert_eq!(ours.outbound.spi, theirs.inbound.spi);
    assert_eq!(ours.inbound.spi, theirs.outbound.spi);
    assert_eq!(*ours.outbound.encr_key, *theirs.inbound.encr_key);
    assert_eq!(*ours.inbound.encr_key, *theirs.outbound.encr_key);
}

impl Responder {
    /// Answers the initiator's CREATE_CHILD_SA: a CHILD_SA rekey (AES-GCM-256, the offered PFS
    /// group) or an IKE SA rekey (switched to once the answer is out).
    pub(super) fn on_create_child_sa(&mut self, inner: &[Payload]) -> Vec<Payload> {
        if let Some(error) = self.refuse_create_child.pop_front() {
            let data = if error == NotifyType::INVALID_KE_PAYLOAD {
                DhGroup::Ecp256.transform_id().to_be_bytes().to_vec()
            } else {
                vec![]
            };
            return vec![Payload::Notify(NotifyRepr::new(error, data))];
        }
        let (mut sa, mut ni, mut ke, mut tsi, mut tsr, mut rekey) =
            (None, None, None, None, None, None);
        for p in inner {
            match p {
                Payload::Sa(s) => sa = Some(s),
                Payload::Nonce(n) => ni = Some(n.nonce.clone()),
                Payload::Ke(k) => ke = Some(k),
                Payload::TsI(t) => tsi = Some(t.clone()),
                Payload::TsR(t) => tsr = Some(t.clone()),
                Payload::Notify(n) if n.notify_type == NotifyType::REKEY_SA => rekey = Some(n),
                _ => {}
            }
        }
        let (sa, ni) = (sa.unwrap(), ni.unwrap());
        let nr = self.answer_nonce.take().unwrap_or_else(|| self.random(32));
        if rekey.is_none() {
            return self.answer_ike_rekey(sa, &ni, nr, ke.unwrap());
        }
        if self.refuse_pfs && ke.is_some() {
            return vec![Payload::Notify(NotifyRepr::new(
                NotifyType::NO_PROPOSAL_CHOSEN,
                vec![],
            ))];
        }
        let offer = &sa.proposals[0];
        let encr = TransformRepr::with_key_length(
            transform_type::ENCR,
            EncrAlgorithm::AesGcm16_256.transform_id(),
            EncrAlgorithm::AesGcm16_256.key_length_attribute(),
        );
        assert!(offer.transforms.contains(&encr));
        let mut transforms = vec![encr];
        let (ker, shared) = match ke {
            Some(ke) => {
                let group = DhGroup::from_transform_id(ke.group).unwrap();
                assert!(
                    offer
                        .transforms
                        .contains(&TransformRepr::new(transform_type::DH, ke.group))
                );
                transforms.push(TransformRepr::new(transform_type::DH, ke.group));
                let ours = KeyExchange::generate(group, &mut self.rng).unwrap();
                let public = ours.public_value().to_vec();
                (
                    Some(Payload::Ke(KeRepr {
                        group: ke.group,
                        data: public,
                    })),
                    Some(ours.agree(&ke.data).unwrap()),
                )
            }
            None => (None, None),
        };
        transforms.push(TransformRepr::new(transform_type::ESN, 0));
        let our_spi = u32::from_be_bytes(self.random(4).try_into().unwrap()) | 0x1000_0000;
        let initiator_spi = u32::from_be_bytes(offer.spi.as_slice().try_into().unwrap());
        let suite = EspSuite {
            encr: EncrAlgorithm::AesGcm16_256,
            integ: None,
            esn: false,
        };
        let keys = {
            let sa = self.sa.as_ref().unwrap();
            let keymat = child_sa_keymat(
                sa.keys.suite.prf,
                &sa.keys.sk_d,
                shared.as_ref(),
                &ni,
                &nr,
                2 * suite.keymat_len_per_direction(),
            )
            .unwrap();
            ChildSaKeys::from_keymat(
                suite,
                Role::Responder,
                Spi::new(our_spi).unwrap(),
                Spi::new(initiator_spi).unwrap(),
                &keymat,
            )
            .unwrap()
        };
        self.child_keys = Some(keys);
        let mut reply = vec![
            Payload::Sa(SaRepr {
                proposals: vec![ProposalRepr {
                    number: offer.number,
                    protocol: ProtocolId::ESP,
                    spi: our_spi.to_be_bytes().to_vec(),
                    transforms,
                }],
            }),
            Payload::Nonce(NonceRepr { nonce: nr }),
        ];
        reply.extend(ker);
        reply.push(Payload::TsI(tsi.unwrap()));
        reply.push(Payload::TsR(tsr.unwrap()));
        reply
    }

    fn answer_ike_rekey(
        &mut self,
        sa: &SaRepr,
        ni: &[u8],
        nr: Vec<u8>,
        ke: &KeRepr,
    ) -> Vec<Payload> {
        let chosen = self.choose_ike(sa).unwrap();
        let offer = sa
            .proposals
            .iter()
            .find(|p| p.number == chosen.number)
            .unwrap();
        let spi_i = IkeSpi(offer.spi.as_slice().try_into().unwrap());
        let spi_r = IkeSpi(self.random(8).try_into().unwrap());
        let ours = KeyExchange::generate(self.cfg.dh, &mut self.rng).unwrap();
        let public = ours.public_value().to_vec();
        let shared = ours.agree(&ke.data).unwrap();
        let suite = IkeSuite {
            encr: self.cfg.encr,
            integ: self.cfg.integ,
            prf: self.cfg.prf,
            dh: self.cfg.dh,
        };
        let old = self.sa.as_ref().unwrap();
        let keys = IkeSaKeys::derive_rekey(
            suite,
            old.keys.suite.prf,
            &old.keys.sk_d,
            &shared,
            ni,
            &nr,
            spi_i,
            spi_r,
        )
        .unwrap();
        let (outbound, inbound) = keys.sk_ciphers(Role::Responder).unwrap();
        self.pending_switch = Some(ResponderSa {
            spi_i,
            spi_r,
            keys,
            outbound,
            inbound,
            ni: ni.to_vec(),
            nr: nr.clone(),
            request: vec![],
            response: vec![],
        });
        vec![
            Payload::Sa(SaRepr {
                proposals: vec![ProposalRepr {
                    spi: spi_r.0.to_vec(),
                    ..chosen
                }],
            }),
            Payload::Nonce(NonceRepr { nonce: nr }),
            Payload::Ke(KeRepr {
                group: self.cfg.dh.transform_id(),
                data: public,
            }),
        ]
    }
}

impl Net {
    /// Exchanges datagrams and fires timers until `duration` of virtual time has passed.
    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        loop {
            self.exchange();
            match self.initiator.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.initiator.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = end;
        self.exchange();
    }

    /// Delivers everything queued both ways and collects the events.
    fn exchange(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.initiator.poll_transmit() {
                moved = true;
                let n = self.sent.len();
                self.sent.push(t.clone());
                if (self.drop_outbound)(n) {
                    continue;
                }
                let local = Self::local_for(&t);
                for reply in self.responder.handle(local, &t.payload) {
                    self.deliver(t.destination.port(), local.port(), &reply);
                }
            }
            while let Some(e) = self.initiator.poll_event() {
                moved = true;
                self.events.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    /// Takes the events collected so far.
    fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }
}

fn lifecycle_config(change: impl FnOnce(&mut LifecycleConfig)) -> InitiatorConfig {
    let mut config = config();
    config.lifecycle = LifecycleConfig {
        child_rekey: Some(Duration::from_secs(10)),
        ike_rekey: Some(Duration::from_secs(30)),
        rekey_jitter: Duration::ZERO,
        ..LifecycleConfig::default()
    };
    change(&mut config.lifecycle);
    config
}

fn established_with(config: InitiatorConfig) -> Net {
    let mut net = Net::new(config, ResponderConfig::default());
    net.run();
    net.established();
    net.take_events();
    net
}

/// What the events of one rekey we started say: (replaced inbound SPI, new keys, activated SPI,
/// deleted SPI).
fn our_rekey(events: &[Event]) -> (Spi, &ChildSaKeys, Spi, Spi) {
    match events {
        [
            Event::ChildSaRekeyed { replaces, child },
            Event::ChildSaActive { inbound_spi },
            Event::ChildSaDeleted {
                inbound_spi: deleted,
            },
        ] => (*replaces, &child.keys, *inbound_spi, *deleted),
        other => panic!("not a whole rekey: {other:?}"),
    }
}

#[test]
fn child_sa_is_rekeyed_before_its_lifetime_ends_and_the_old_one_deleted() {
    let mut net = established_with(lifecycle_config(|_| {}));
    let first = net.responder.child_keys.as_ref().unwrap().outbound.spi;
    let start = net.now;
    net.run_for(Duration::from_millis(9_999));
    assert!(net.take_events().is_empty(), "nothing before the lifetime");
    net.run_for(Duration::from_millis(1));
    assert_eq!(net.now - start, Duration::from_secs(10));
    let events = net.take_events();
    let (replaces, keys, active, deleted) = our_rekey(&events);
    assert_eq!(replaces, first);
    assert_eq!(active, keys.inbound.spi);
    assert_eq!(deleted, first, "the old SA is deleted after the switch");
    assert_same_keys(keys, net.responder.child_keys.as_ref().unwrap());
    assert_eq!(
        net.responder.requests_seen[2..],
        [ExchangeType::CREATE_CHILD_SA, ExchangeType::INFORMATIONAL]
    );
    // The Delete named the replaced SA by our inbound SPI.
    let delete = net.sent.last().unwrap();
    let (_, inner) = net.responder.read_request(&delete.payload);
    assert_eq!(inner, [Payload::Delete(DeleteRepr::esp(&[first.get()]))]);

    // And again one lifetime later, from the new SA.
    let second = keys.inbound.spi;
    net.run_for(Duration::from_secs(10));
    let events = net.take_events();
    let (replaces, keys, ..) = our_rekey(&events);
    assert_eq!(replaces, second);
    assert_same_keys(keys, net.responder.child_keys.as_ref().unwrap());
    assert!(!net.initiator.is_closed());
}

#[test]
fn child_sa_rekey_with_pfs_uses_a_new_key_exchange() {
    let mut net = established_with(lifecycle_config(|l| {
        l.child_pfs = Some(DhGroup::Curve25519);
    }));
    let before = net
        .responder
        .child_keys
        .as_ref()
        .unwrap()
        .inbound
        .encr_key
        .clone();
    net.run_for(Duration::from_secs(10));
    let events = net.take_events();
    let (_, keys, ..) = our_rekey(&events);
    assert_same_keys(keys, net.responder.child_keys.as_ref().unwrap());
    assert_ne!(*keys.outbound.encr_key, *before);
    let request = net
        .sent
        .iter()
        .map(|t| net.responder.try_read_request(&t.payload))
        .find_map(|m| m.filter(|(h, _)| h.exchange_type == ExchangeType::CREATE_CHILD_SA))
        .unwrap();
    assert!(request.1.iter().any(|p| matches!(p, Payload::Ke(k)
        if k.group == DhGroup::Curve25519.transform_id())));
}

#[test]
fn a_gateway_refusing_pfs_gets_a_rekey_without_it() {
    let mut net = established_with(lifecycle_config(|l| {
        l.child_pfs = Some(DhGroup::Curve25519);
    }));
    net.responder.refuse_pfs = true;
    net.run_for(Duration::from_secs(10));
    let events = net.take_events();
    let (_, keys, ..) = our_rekey(&events);
    assert_same_keys(keys, net.responder.child_keys.as_ref().unwrap());
}

#[test]
fn a_gateway_insisting_on_pfs_gets_the_ike_sa_group() {
    let mut net = established_with(lifecycle_config(|_| {}));
    net.responder
        .refuse_create_child
        .push_back(NotifyType::NO_PROPOSAL_CHOSEN);
    net.run_for(Duration::from_secs(10));
    let events = net.take_events();
    let (_, keys, ..) = our_rekey(&events);
    assert_same_keys(keys, net.responder.child_keys.as_ref().unwrap());
    let with_ke = net.sent.iter().any(|t| {
        net.responder
            .try_read_request(&t.payload)
            .is_some_and(|(_, inner)| {
                inner.iter().any(|p| {
                    matches!(p, Payload::Ke(k)
                    if k.group == DhGroup::Curve25519.transform_id())
                })
            })
    });
    assert!(with_ke);
}

#[test]
fn invalid_ke_payload_in_a_rekey_switches_the_pfs_group() {
    let mut net = established_with(lifecycle_config(|l| {
        l.child_pfs = Some(DhGroup::Curve25519);
    }));
    net.responder
        .refuse_create_child
        .push_back(NotifyType::INVALID_KE_PAYLOAD);
    net.run_for(Duration::from_secs(10));
    let events = net.take_events();
    let (_, keys, ..) = our_rekey(&events);
    assert_same_keys(keys, net.responder.child_keys.as_ref().unwrap());
    assert!(net.sent.iter().any(|t| {
        net.responder
            .try_read_request(&t.payload)
            .is_some_and(|(_, inner)| {
                inner.iter().any(|p| {
                    matches!(p, Payload::Ke(k)
                    if k.group == DhGroup::Ecp256.transform_id())
                })
            })
    }));
}

#[test]
fn temporary_failure_is_retried_after_a_random_delay() {
    let mut net = established_with(lifecycle_config(|l| {
        l.retry_delay = Duration::from_millis(500);
    }));
    net.responder
        .refuse_create_child
        .push_back(NotifyType::TEMPORARY_FAILURE);
    let start = net.now;
    net.run_for(Duration::from_secs(10));
    assert!(net.take_events().is_empty());
    net.run_for(Duration::from_millis(500));
    let events = net.take_events();
    our_rekey(&events);
    let creates: Vec<_> = net
        .responder
        .requests_seen
        .iter()
        .filter(|e| **e == ExchangeType::CREATE_CHILD_SA)
        .collect();
    assert_eq!(creates.len(), 2);
    assert!(net.now - start <= Duration::from_millis(10_500));
}

#[test]
fn a_child_sa_that_cannot_be_rekeyed_expires_at_its_hard_lifetime() {
    let mut net = established_with(lifecycle_config(|l| {
        l.retry_delay = Duration::from_millis(300);
        l.ike_rekey = None;
    }));
    for _ in 0..100 {
        net.responder
            .refuse_create_child
            .push_back(NotifyType::TEMPORARY_FAILURE);
    }
    net.run_for(Duration::from_millis(10_999));
    assert!(!net.initiator.is_closed());
    net.run_for(Duration::from_millis(1));
    assert!(matches!(
        net.events.last(),
        Some(Event::Closed {
            reason: CloseReason::ChildSaExpired
        })
    ));
    let delete = net.sent.last().unwrap();
    let (_, inner) = net.responder.read_request(&delete.payload);
    assert_eq!(inner, [Payload::Delete(DeleteRepr::ike())]);
}

#[test]
fn rekey_on_demand_for_volume_limits() {
    let mut net = established_with(lifecycle_config(|l| {
        l.child_rekey = None;
        l.ike_rekey = None;
    }));
    net.run_for(Duration::from_secs(100));
    assert!(net.take_events().is_empty(), "no time-based rekey");
    let now = net.now;
    assert!(net.initiator.rekey_child_sa(now));
    net.exchange();
    let events = net.take_events();
    our_rekey(&events);
}

/// Starts our rekey and, before its answer, delivers the gateway's rekey of the same SA:
/// returns our (undelivered) request and the gateway's rekey with our answer to it.
fn collide(net: &mut Net, gateway_nonce: Vec<u8>) -> (Transmit, ChildSaKeys) {
    let now = net.now;
    assert!(net.initiator.rekey_child_sa(now));
    let ours = net.initiator.poll_transmit().unwrap();
    let old_out = net.responder.child_keys.as_ref().unwrap().inbound.spi;
    net.responder.request_nonce = Some(gateway_nonce);
    let (request, rekey) = net.responder.rekey_request(old_out.get(), None);
    net.deliver(4500, 4500, &request);
    let answer = net.initiator.poll_transmit().unwrap();
    let theirs = net.responder.rekey_finish(rekey, &answer.payload);
    (ours, theirs)
}

#[test]
fn rekey_collision_we_win() {
    let mut net = established_with(lifecycle_config(|l| {
        l.child_rekey = None;
        l.ike_rekey = None;
    }));
    let old = net.established_spi();
    // The gateway's nonce is the lowest of the four: its SA is the redundant one.
    let (ours, theirs) = collide(&mut net, vec![0; 32]);
    let events = net.take_events_now();
    assert!(
        matches!(&events[..], [Event::ChildSaRekeyed { replaces, .. }] if *replaces == old),
        "{events:?}"
    );
    // Our request reaches the gateway; its answer completes our rekey, which wins.
    let local = Net::local_for(&ours);
    for reply in net.responder.handle(local, &ours.payload) {
        net.deliver(4500, 4500, &reply);
    }
    let ours_keys = net.responder.child_keys.take().unwrap();
    let events = net.take_events_now();
    let [
        Event::ChildSaRekeyed { replaces, child },
        Event::ChildSaActive { inbound_spi },
    ] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*replaces, old);
    assert_same_keys(&child.keys, &ours_keys);
    assert_eq!(*inbound_spi, child.keys.inbound.spi);
    // The winner deletes the old SA.
    let delete = net.initiator.poll_transmit().unwrap();
    let (_, inner) = net.responder.read_request(&delete.payload);
    assert_eq!(inner, [Payload::Delete(DeleteRepr::esp(&[old.get()]))]);
    // The loser (the gateway) deletes its redundant SA; it never carried our traffic.
    let redundant = net
        .responder
        .request(&[Payload::Delete(DeleteRepr::esp(&[theirs
            .inbound
            .spi
            .get()]))]);
    net.deliver(4500, 4500, &redundant);
    net.run_for(Duration::from_secs(10));
    let events = net.take_events();
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, Event::ChildSaActive { .. })),
        "{events:?}"
    );
    let deleted: Vec<Spi> = events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaDeleted { inbound_spi } => Some(*inbound_spi),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, [theirs.outbound.spi, old]);
    assert!(!net.initiator.is_closed());
}

#[test]
fn rekey_collision_they_win() {
    let mut net = established_with(lifecycle_config(|l| {
        l.child_rekey = None;
        l.ike_rekey = None;
    }));
    let old = net.established_spi();
    let old_out = net.responder.child_keys.as_ref().unwrap().inbound.spi;
    let (ours, theirs) = collide(&mut net, vec![0xff; 32]);
    // The gateway answers our request with the lowest nonce: our SA is the redundant one.
    net.responder.answer_nonce = Some(vec![0; 32]);
    let local = Net::local_for(&ours);
    for reply in net.responder.handle(local, &ours.payload) {
        net.deliver(4500, 4500, &reply);
    }
    let ours_keys = net.responder.child_keys.take().unwrap();
    let events = net.take_events_now();
    assert!(
        matches!(&events[..], [Event::ChildSaRekeyed { child, .. }]
            if child.keys.inbound.spi == theirs.outbound.spi),
        "only the gateway's SA is installed: {events:?}"
    );
    // We delete our redundant SA.
    let delete = net.initiator.poll_transmit().unwrap();
    let (_, inner) = net.responder.read_request(&delete.payload);
    assert_eq!(
        inner,
        [Payload::Delete(DeleteRepr::esp(&[ours_keys
            .outbound
            .spi
            .get()]))]
    );
    let local = Net::local_for(&delete);
    for reply in net.responder.handle(local, &delete.payload) {
        net.deliver(4500, 4500, &reply);
    }
    assert!(net.take_events_now().is_empty());
    // The winner deletes the old SA: now we send with its new one.
    let delete_old = net
        .responder
        .request(&[Payload::Delete(DeleteRepr::esp(&[old_out.get()]))]);
    net.deliver(4500, 4500, &delete_old);
    let events = net.take_events_now();
    assert!(
        matches!(&events[..], [
            Event::ChildSaActive { inbound_spi },
            Event::ChildSaDeleted { inbound_spi: deleted },
        ] if *inbound_spi == theirs.outbound.spi && *deleted == old),
        "{events:?}"
    );
    assert!(!net.initiator.is_closed());
}

#[test]
fn gateway_rekey_is_used_for_sending_only_after_it_deletes_the_old_sa() {
    let mut net = established_with(lifecycle_config(|l| {
        l.child_rekey = None;
        l.ike_rekey = None;
    }));
    let old_out = net.responder.child_keys.as_ref().unwrap().inbound.spi;
    let (request, rekey) = net.responder.rekey_request(old_out.get(), None);
    net.deliver(4500, 4500, &request);
    let answer = net.initiator.poll_transmit().unwrap();
    let theirs = net.responder.rekey_finish(rekey, &answer.payload);
    let events = net.take_events_now();
    assert!(
        matches!(&events[..], [Event::ChildSaRekeyed { .. }]),
        "{events:?}"
    );
    net.run_for(Duration::from_secs(1));
    assert!(
        net.take_events().is_empty(),
        "still sending with the old SA"
    );
    let delete = net
        .responder
        .request(&[Payload::Delete(DeleteRepr::esp(&[old_out.get()]))]);
    net.deliver(4500, 4500, &delete);
    let events = net.take_events_now();
    assert!(
        matches!(&events[..], [Event::ChildSaActive { inbound_spi }, Event::ChildSaDeleted { .. }]
            if *inbound_spi == theirs.outbound.spi),
        "{events:?}"
    );
}

#[test]
fn gateway_rekey_is_used_after_the_activation_delay_without_a_delete() {
    let mut net = established_with(lifecycle_config(|l| {
        l.child_rekey = None;
        l.ike_rekey = None;
    }));
    let old_out = net.responder.child_keys.as_ref().unwrap().inbound.spi;
    let (request, rekey) = net.responder.rekey_request(old_out.get(), None);
    let start = net.now;
    net.deliver(4500, 4500, &request);
    let answer = net.initiator.poll_transmit().unwrap();
    let theirs = net.responder.rekey_finish(rekey, &answer.payload);
    net.run_for(Duration::from_secs(5));
    let events = net.take_events();
    assert!(
        matches!(&events[..], [Event::ChildSaRekeyed { .. }, Event::ChildSaActive { inbound_spi }]
            if *inbound_spi == theirs.outbound.spi),
        "{events:?}"
    );
    assert_eq!(
        net.initiator.poll_timeout(),
        None,
        "no timers left after {:?}",
        net.now - start
    );
}

#[test]
fn a_rekey_of_an_already_replaced_child_sa_is_refused_for_now() {
    let mut net = established_with(lifecycle_config(|l| {
        l.child_rekey = None;
        l.ike_rekey = None;
    }));
    let old_out = net.responder.child_keys.as_ref().unwrap().inbound.spi;
    let now = net.now;
    net.initiator.rekey_child_sa(now);
    // Our rekey completes but its Delete of the old SA is still out.
    net.drop_outbound = Box::new(|n| n >= 3);
    net.exchange();
    let (request, _) = net.responder.rekey_request(old_out.get(), None);
    net.deliver(4500, 4500, &request);
    let answer = net.initiator.poll_transmit().unwrap();
    let (_, inner) = net.responder.read_response(&answer.payload);
    assert!(
        matches!(&inner[..], [Payload::Notify(n)] if n.notify_type == NotifyType::TEMPORARY_FAILURE),
        "{inner:?}"
    );
}

#[test]
fn ike_sa_is_rekeyed_and_the_old_one_deleted() {
    let mut net = established_with(lifecycle_config(|l| l.child_rekey = None));
    let old_spi = net.responder.sa.as_ref().unwrap().spi_r;
    net.run_for(Duration::from_secs(30));
    let events = net.take_events();
    assert!(
        matches!(&events[..], [Event::IkeSaRekeyed { .. }]),
        "{events:?}"
    );
    let new_spi = net.responder.sa.as_ref().unwrap().spi_r;
    assert_ne!(old_spi, new_spi);
    // Our Delete went out on the old SA and was answered: nothing is retransmitted.
    assert_eq!(
        net.responder.requests_seen[2..],
        [ExchangeType::CREATE_CHILD_SA, ExchangeType::INFORMATIONAL]
    );
    assert!(net.initiator.old_ike_sa.is_none());
    // The new SA works: message IDs from 0, we are its original initiator.
    let now = net.now;
    assert!(net.initiator.send_liveness_check(now));
    net.exchange();
    assert!(
        net.initiator
            .poll_timeout()
            .is_some_and(|t| t >= net.now + Duration::from_secs(20))
    );
    // A CHILD_SA rekey derives from the new SK_d.
    assert!(net.initiator.rekey_child_sa(now));
    net.exchange();
    let events = net.take_events();
    let (_, keys, ..) = our_rekey(&events);
    assert_same_keys(keys, net.responder.child_keys.as_ref().unwrap());
    // And closing deletes the new IKE SA.
    net.initiator.close(now);
    net.run();
    assert_eq!(*net.close_reason(), CloseReason::Closed);
}

#[test]
fn ike_rekey_collision_is_answered_with_temporary_failure() {
    let mut net = established_with(lifecycle_config(|l| {
        l.child_rekey = None;
        l.ike_rekey = None;
    }));
    let now = net.now;
    assert!(net.initiator.rekey_ike_sa(now));
    let ours = net.initiator.poll_transmit().unwrap();
    let (request, _) = net.responder.ike_rekey_request(DhGroup::Curve25519);
    net.deliver(4500, 4500, &request);
    let answer = net.initiator.poll_transmit().unwrap();
    let (_, inner) = net.responder.read_response(&answer.payload);
    assert!(
        matches!(&inner[..], [Payload::Notify(n)] if n.notify_type == NotifyType::TEMPORARY_FAILURE)
    );
    let local = Net::local_for(&ours);
    for reply in net.responder.handle(local, &ours.payload) {
        net.deliver(4500, 4500, &reply);
    }
    net.exchange();
    assert!(matches!(
        &net.take_events()[..],
        [Event::IkeSaRekeyed { .. }]
    ));
}

#[test]
fn an_unanswered_liveness_check_declares_the_gateway_dead_at_the_dpd_timeout() {
    let mut net = established_with(lifecycle_config(|l| {
        l.dpd_timeout = Duration::from_secs(7);
    }));
    net.drop_outbound = Box::new(|_| true);
    let start = net.now;
    assert!(net.initiator.send_liveness_check(start));
    net.run_for(Duration::from_secs(20));
    assert!(
        matches!(
            &net.events[..],
            [Event::Closed {
                reason: CloseReason::PeerDead
            }]
        ),
        "{:?}",
        net.events
    );
    // Sent at 0, retransmitted at 1 s, 3 s (doubling), dead at 7 s.
    let times = net.sent.len();
    assert_eq!(times, 2 + 3, "IKE_SA_INIT, IKE_AUTH, check and 2 resends");
}

#[test]
fn close_during_a_rekey_waits_for_it_then_deletes() {
    let mut net = established_with(lifecycle_config(|_| {}));
    let now = net.now;
    net.initiator.rekey_child_sa(now);
    net.initiator.close(now);
    net.run_for(Duration::from_secs(1));
    assert!(net.initiator.is_closed());
    assert_eq!(
        net.responder.requests_seen[2..],
        [ExchangeType::CREATE_CHILD_SA, ExchangeType::INFORMATIONAL]
    );
    assert!(matches!(
        net.events.last(),
        Some(Event::Closed {
            reason: CloseReason::Closed
        })
    ));
}

#[test]
fn auth_lifetime_asks_for_reauthentication_shortly_before_it_ends() {
    let mut net = Net::new(lifecycle_config(|_| {}), ResponderConfig::default());
    net.responder.ike_auth_extra = vec![Payload::Notify(NotifyRepr::new(
        NotifyType::AUTH_LIFETIME,
        25u32.to_be_bytes().to_vec(),
    ))];
    net.run();
    net.established();
    net.take_events();
    net.run_for(Duration::from_secs(22));
    assert!(!net.initiator.is_closed());
    net.run_for(Duration::from_secs(1));
    // 25 s minus a tenth: the CHILD_SA rekeys at 10 s and 20 s happen before.
    let Some(Event::Closed { reason }) = net.events.last() else {
        panic!("{:?}", net.events)
    };
    assert_eq!(*reason, CloseReason::Reauthenticate);
    let delete = net.sent.last().unwrap();
    let (_, inner) = net.responder.read_request(&delete.payload);
    assert_eq!(inner, [Payload::Delete(DeleteRepr::ike())]);
    assert!(net.initiator.is_closed());
    let rekeys = net
        .events
        .iter()
        .filter(|e| matches!(e, Event::ChildSaActive { .. }))
        .count();
    assert_eq!(rekeys, 2);
}

impl Net {
    /// Our inbound SPI of the CHILD_SA established first.
    fn established_spi(&self) -> Spi {
        self.responder.child_keys.as_ref().unwrap().outbound.spi
    }

    /// The initiator's pending events, without running anything.
    fn take_events_now(&mut self) -> Vec<Event> {
        let mut events = self.take_events();
        while let Some(e) = self.initiator.poll_event() {
            events.push(e);
        }
        events
    }
}

#[test]
fn the_gateway_deleting_the_ike_sa_while_we_close_ends_it_at_once() {
    let mut net = established_with(lifecycle_config(|_| {}));
    let now = net.now;
    net.initiator.close(now);
    let ours = net.initiator.poll_transmit().unwrap();
    let (_, inner) = net.responder.read_request(&ours.payload);
    assert_eq!(inner, [Payload::Delete(DeleteRepr::ike())]);
    let theirs = net.responder.request(&[Payload::Delete(DeleteRepr::ike())]);
    net.deliver(4500, 4500, &theirs);
    let answer = net.initiator.poll_transmit().unwrap();
    assert!(net.responder.read_response(&answer.payload).1.is_empty());
    assert!(net.initiator.is_closed());
    assert!(matches!(
        net.take_events_now().last(),
        Some(Event::Closed {
            reason: CloseReason::DeletedByPeer
        })
    ));
}

#[test]
fn the_gateway_deleting_the_child_sa_during_our_rekey_of_it() {
    let mut net = established_with(lifecycle_config(|_| {}));
    let old = net.established_spi();
    let old_out = net.responder.child_keys.as_ref().unwrap().inbound.spi;
    let now = net.now;
    net.initiator.rekey_child_sa(now);
    let rekey = net.initiator.poll_transmit().unwrap();
    // The gateway's Delete crosses our rekey: answered, and the IKE SA waits for the rekey.
    let delete = net
        .responder
        .request(&[Payload::Delete(DeleteRepr::esp(&[old_out.get()]))]);
    net.deliver(4500, 4500, &delete);
    let answer = net.initiator.poll_transmit().unwrap();
    assert_eq!(
        net.responder.read_response(&answer.payload).1,
        [Payload::Delete(DeleteRepr::esp(&[old.get()]))]
    );
    assert!(!net.initiator.is_closed());
    // The gateway no longer knows the SA: nothing is left, so the IKE SA goes too.
    net.responder
        .refuse_create_child
        .push_back(NotifyType::CHILD_SA_NOT_FOUND);
    let local = Net::local_for(&rekey);
    for reply in net.responder.handle(local, &rekey.payload) {
        net.deliver(4500, 4500, &reply);
    }
    assert!(net.initiator.is_closed());
    assert!(matches!(
        net.take_events_now().last(),
        Some(Event::Closed {
            reason: CloseReason::DeletedByPeer
        })
    ));
}

fn mobike_net(gateway_supports: bool) -> Net {
    let mut net = Net::new(
        lifecycle_config(|l| {
            l.child_rekey = None;
            l.ike_rekey = None;
            l.mobike = true;
        }),
        ResponderConfig::default(),
    );
    if gateway_supports {
        net.responder.ike_auth_extra = vec![
            Payload::Notify(NotifyRepr::new(NotifyType::MOBIKE_SUPPORTED, vec![])),
            Payload::Notify(NotifyRepr::new(
                NotifyType::ADDITIONAL_IP4_ADDRESS,
                vec![198, 51, 100, 7],
            )),
        ];
    }
    net.run();
    net.established();
    net.take_events();
    net
}

#[test]
fn mobike_is_announced_and_the_gateway_addresses_remembered() {
    let net = mobike_net(true);
    let auth = net
        .responder
        .try_read_request(&net.sent[1].payload)
        .unwrap();
    assert!(auth.1.iter().any(|p| matches!(p, Payload::Notify(n)
            if n.notify_type == NotifyType::MOBIKE_SUPPORTED)));
    assert!(net.initiator.mobike_supported());
    assert_eq!(
        net.initiator.peer_additional_addresses(),
        ["198.51.100.7".parse::<IpAddr>().unwrap()]
    );
    // The gateway announces that it has no other address any more.
    let mut net = net;
    let request = net.responder.request(&[Payload::Notify(NotifyRepr::new(
        NotifyType::NO_ADDITIONAL_ADDRESSES,
        vec![],
    ))]);
    net.deliver(4500, 4500, &request);
    assert!(net.initiator.peer_additional_addresses().is_empty());
}

#[test]
fn a_new_local_address_is_announced_with_update_sa_addresses() {
    let mut net = mobike_net(true);
    let moved: SocketAddr = "192.0.2.99:40000".parse().unwrap();
    let now = net.now;
    assert!(net.initiator.update_local_address(now, moved));
    let update = net.initiator.poll_transmit().unwrap();
    let (_, inner) = net.responder.read_request(&update.payload);
    let types: Vec<NotifyType> = inner
        .iter()
        .map(|p| match p {
            Payload::Notify(n) => n.notify_type,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        types,
        [
            NotifyType::UPDATE_SA_ADDRESSES,
            NotifyType::NAT_DETECTION_SOURCE_IP,
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            NotifyType::COOKIE2
        ]
    );
    let local = Net::local_for(&update);
    for reply in net.responder.handle(local, &update.payload) {
        net.deliver(4500, 4500, &reply);
    }
    let events = net.take_events_now();
    // The responder hashed the address it saw (ours), not the new one: a NAT is reported.
    assert!(
        matches!(
            &events[..],
            [Event::PathUpdated {
                local_behind_nat: true
            }]
        ),
        "{events:?}"
    );
    assert!(!net.initiator.is_closed());
}

#[test]
fn a_wrong_cookie2_echo_ends_the_sa() {
    let mut net = mobike_net(true);
    net.responder.corrupt_cookie2 = true;
    let now = net.now;
    assert!(
        net.initiator
            .update_local_address(now, "192.0.2.99:4500".parse().unwrap())
    );
    net.exchange();
    assert_eq!(
        *net.failure(),
        Error::PeerMisbehaved(PeerMisbehaved::InvalidCookie)
    );
}

#[test]
fn without_gateway_mobike_an_address_change_means_reconnecting() {
    let mut net = mobike_net(false);
    assert!(!net.initiator.mobike_supported());
    let now = net.now;
    assert!(
        !net.initiator
            .update_local_address(now, "192.0.2.99:4500".parse().unwrap())
    );
    assert!(net.initiator.poll_transmit().is_none());
}

#[test]
fn an_unanswered_address_update_ends_the_sa() {
    let mut net = mobike_net(true);
    net.drop_outbound = Box::new(|_| true);
    let now = net.now;
    assert!(
        net.initiator
            .update_local_address(now, "192.0.2.99:4500".parse().unwrap())
    );
    net.run();
    assert!(matches!(net.failure(), Error::Timeout { .. }));
}

impl Responder {
    /// Answers INFORMATIONAL requests: UPDATE_SA_ADDRESSES with NAT detection of the address
    /// it came from and the COOKIE2 echoed; anything else with an empty answer.
    pub(super) fn on_informational(&mut self, inner: &[Payload]) -> Vec<Payload> {
        let update = inner.iter().any(|p| {
            matches!(p, Payload::Notify(n)
            if n.notify_type == NotifyType::UPDATE_SA_ADDRESSES)
        });
        if !update {
            return vec![];
        }
        let sa = self.sa.as_ref().unwrap();
        let mut cookie2 = inner
            .iter()
            .find_map(|p| match p {
                Payload::Notify(n) if n.notify_type == NotifyType::COOKIE2 => Some(n.data.clone()),
                _ => None,
            })
            .unwrap();
        if self.corrupt_cookie2 {
            cookie2[0] ^= 1;
        }
        let client = SocketAddr::new(client_ip(), 4500);
        vec![
            Payload::Notify(NotifyRepr::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                nat_detection_hash(sa.spi_i, sa.spi_r, SocketAddr::new(gateway().ip(), 4500))
                    .to_vec(),
            )),
            Payload::Notify(NotifyRepr::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                nat_detection_hash(sa.spi_i, sa.spi_r, client).to_vec(),
            )),
            Payload::Notify(NotifyRepr::new(NotifyType::COOKIE2, cookie2)),
        ]
    }

    /// Decrypts a request the initiator sent, if that is what it is.
    fn try_read_request(&self, datagram: &[u8]) -> Option<(HeaderRepr, Vec<Payload>)> {
        let data = datagram.strip_prefix(&NON_ESP_MARKER)?;
        let msg = Message::parse(data).ok()?;
        if msg.header.flags.response() || msg.header.exchange_type == ExchangeType::IKE_SA_INIT {
            return None;
        }
        let sa = self.sa.as_ref()?;
        if msg.header.responder_spi != sa.spi_r {
            return None;
        }
        Some((msg.header, self.open(data, &msg)))
    }
}
