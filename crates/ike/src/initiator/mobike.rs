//! MOBIKE (RFC 4555), the initiator's side: we announce MOBIKE_SUPPORTED in IKE_AUTH (when
//! configured), remember whether the gateway does and which other addresses it announces
//! (ADDITIONAL_IP4/IP6_ADDRESS, NO_ADDITIONAL_ADDRESSES), and when the caller reports that our
//! address changed we send UPDATE_SA_ADDRESSES with fresh NAT detection and a COOKIE2 (§3.5),
//! which the gateway must echo. Without MOBIKE the caller connects again instead.
//!
//! The gateway's address never changes here: we do not probe its additional addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use super::lifecycle::OwnRequest;
use super::{Event, Initiator, NAT_T_PORT, State, notifies, notify, random_bytes};
use crate::error::{Error, PeerMisbehaved};
use crate::nat::endpoint_hash as nat_detection_hash;
use crate::wire::{ExchangeType, NotifyRepr, NotifyType, Payload};

/// Length of our COOKIE2 (RFC 4555 §3.5: 8 to 64 bytes).
const COOKIE2_LEN: usize = 16;
/// Most additional gateway addresses remembered.
const MAX_PEER_ADDRESSES: usize = 16;

/// What the gateway told us about MOBIKE.
#[derive(Debug, Default)]
pub(super) struct Mobike {
    /// It sent MOBIKE_SUPPORTED in IKE_AUTH.
    pub supported: bool,
    /// Its other addresses, as last announced.
    pub peer_addresses: Vec<IpAddr>,
}

impl Mobike {
    /// From the last IKE_AUTH response.
    pub(super) fn from_ike_auth(inner: &[Payload]) -> Self {
        let mut this = Self {
            supported: notify(inner, NotifyType::MOBIKE_SUPPORTED).is_some(),
            peer_addresses: Vec::new(),
        };
        this.note_addresses(inner);
        this
    }

    /// Takes the additional addresses of a message, if it announces any.
    pub(super) fn note_addresses(&mut self, inner: &[Payload]) {
        let mut announced = false;
        let mut addresses = Vec::new();
        for n in notifies(inner) {
            match n.notify_type {
                NotifyType::NO_ADDITIONAL_ADDRESSES => announced = true,
                NotifyType::ADDITIONAL_IP4_ADDRESS => {
                    announced = true;
                    if let Ok(a) = <[u8; 4]>::try_from(n.data.as_slice()) {
                        addresses.push(IpAddr::V4(Ipv4Addr::from(a)));
                    }
                }
                NotifyType::ADDITIONAL_IP6_ADDRESS => {
                    announced = true;
                    if let Ok(a) = <[u8; 16]>::try_from(n.data.as_slice()) {
                        addresses.push(IpAddr::V6(Ipv6Addr::from(a)));
                    }
                }
                _ => {}
            }
        }
        if announced {
            addresses.truncate(MAX_PEER_ADDRESSES);
            self.peer_addresses = addresses;
        }
    }
}

/// Our UPDATE_SA_ADDRESSES in flight.
pub(super) struct AddressUpdate {
    local: SocketAddr,
    cookie2: [u8; COOKIE2_LEN],
}

impl Initiator {
    /// Whether the gateway supports MOBIKE on this IKE SA (it answered our MOBIKE_SUPPORTED).
    #[must_use]
    pub fn mobike_supported(&self) -> bool {
        matches!(&self.state, State::Established(est) if est.life.mobike.supported)
    }

    /// The gateway's other addresses, as it last announced them (MOBIKE).
    #[must_use]
    pub fn peer_additional_addresses(&self) -> &[IpAddr] {
        match &self.state {
            State::Established(est) => &est.life.mobike.peer_addresses,
            _ => &[],
        }
    }

    /// Our address changed; `local` is the new address and port of the NAT-T socket. With
    /// MOBIKE, UPDATE_SA_ADDRESSES goes out (after the request in flight, if any) and
    /// [`Event::PathUpdated`] follows the gateway's answer; an unanswered update ends the SA
    /// like any request. Returns `false` when the SA is not established or the gateway does not
    /// support MOBIKE: then connect again.
    pub fn update_local_address(&mut self, now: Instant, local: SocketAddr) -> bool {
        let State::Established(est) = &mut self.state else {
            return false;
        };
        if !est.life.mobike.supported {
            return false;
        }
        est.life.want_address_update = Some(local);
        self.start_next_request(now);
        true
    }

    pub(super) fn start_address_update(
        &mut self,
        now: Instant,
        local: SocketAddr,
    ) -> Result<(), Error> {
        let Some(ike_sa) = &self.ike_sa else {
            return Ok(());
        };
        let (spi_i, spi_r) = (ike_sa.spi_i, ike_sa.spi_r);
        let cookie2 = random_bytes::<COOKIE2_LEN>(self.rng.as_mut())?;
        // Forced encapsulation: keep the gateway believing in a NAT (as in IKE_SA_INIT).
        let source = if self.config.force_udp_encapsulation {
            self.fake_nat_source
        } else {
            nat_detection_hash(spi_i, spi_r, local)
        };
        let gateway = SocketAddr::new(self.config.remote.ip(), NAT_T_PORT);
        let inner = [
            Payload::Notify(NotifyRepr::new(NotifyType::UPDATE_SA_ADDRESSES, Vec::new())),
            Payload::Notify(NotifyRepr::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                source.to_vec(),
            )),
            Payload::Notify(NotifyRepr::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                nat_detection_hash(spi_i, spi_r, gateway).to_vec(),
            )),
            Payload::Notify(NotifyRepr::new(NotifyType::COOKIE2, cookie2.to_vec())),
        ];
        self.send_own_request(
            now,
            ExchangeType::INFORMATIONAL,
            &inner,
            OwnRequest::UpdateAddresses(AddressUpdate { local, cookie2 }),
        )
    }

    pub(super) fn on_address_update_response(
        &mut self,
        update: &AddressUpdate,
        inner: &[Payload],
    ) -> Result<(), Error> {
        if let Some(error) = super::first_error(inner) {
            return Err(Error::from_notify(
                ExchangeType::INFORMATIONAL,
                error,
                false,
            ));
        }
        let echoed = notify(inner, NotifyType::COOKIE2).map(|n| n.data.as_slice());
        if echoed != Some(update.cookie2.as_slice()) {
            return Err(PeerMisbehaved::InvalidCookie.into());
        }
        let Some(ike_sa) = &self.ike_sa else {
            return Ok(());
        };
        let ours = nat_detection_hash(ike_sa.spi_i, ike_sa.spi_r, update.local);
        let behind = notify(inner, NotifyType::NAT_DETECTION_DESTINATION_IP)
            .map(|d| d.data.as_slice() != ours.as_slice());
        let State::Established(est) = &mut self.state else {
            return Ok(());
        };
        if let Some(behind) = behind {
            est.template.nat.local_behind_nat = behind;
        }
        est.life.mobike.note_addresses(inner);
        self.events.push_back(Event::PathUpdated {
            local_behind_nat: est.template.nat.local_behind_nat,
        });
        Ok(())
    }
}
