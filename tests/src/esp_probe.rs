//! Proving a CHILD_SA's keys with real traffic, without a TUN device: an ICMP echo request
//! from the virtual IP to the LAN host, sealed with `esp::OutboundSa`, sent over the NAT-T
//! socket, and the reply opened with `esp::InboundSa`. IKE messages that arrive meanwhile go to
//! the initiator.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use esp::{EspSaConfig, UdpPayload};
use ike::{ChildSaEstablished, Initiator};

use crate::addr;

/// Sends ICMP echo requests from our virtual IP to the LAN host inside ESP-in-UDP and waits
/// for a reply that decrypts and is an echo reply to us.
pub fn ping_through_tunnel(
    child: &ChildSaEstablished,
    socket: &UdpSocket,
    virtual_ip: Ipv4Addr,
    initiator: &mut Initiator,
) -> Result<bool, String> {
    let (outbound, mut inbound) =
        esp::sa_pair(&child.keys, &EspSaConfig::default()).map_err(|e| e.to_string())?;
    socket
        .connect(child.esp_destination)
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    for attempt in 0..10u16 {
        let packet = icmp_echo_request(virtual_ip, addr::LAN_HOST_V4, attempt);
        let headroom = outbound.headroom();
        let mut out = vec![0u8; headroom + packet.len() + outbound.tailroom_for(packet.len())];
        out[headroom..headroom + packet.len()].copy_from_slice(&packet);
        let sent = outbound
            .encapsulate(&mut out, headroom..headroom + packet.len())
            .map_err(|e| e.to_string())?;
        socket.send(&out[sent.packet]).map_err(|e| e.to_string())?;
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            let Ok(n) = socket.recv(&mut buf) else {
                continue;
            };
            match esp::classify(&buf[..n]).map_err(|e| e.to_string())? {
                UdpPayload::Esp(range) => {
                    let decap = match inbound.decapsulate(&mut buf[range.clone()]) {
                        Ok(d) => d,
                        Err(e) => return Err(format!("inbound ESP did not verify: {e}")),
                    };
                    let inner =
                        &buf[range.start + decap.inner.start..range.start + decap.inner.end];
                    if is_echo_reply(inner, addr::LAN_HOST_V4, virtual_ip) {
                        return Ok(true);
                    }
                }
                UdpPayload::Ike(_) => {
                    let local = socket.local_addr().map_err(|e| e.to_string())?;
                    initiator.handle_datagram(
                        Instant::now(),
                        child.esp_destination,
                        local,
                        &buf[..n],
                    );
                }
                UdpPayload::NatKeepalive => {}
            }
        }
    }
    Ok(false)
}

fn icmp_echo_request(src: Ipv4Addr, dst: Ipv4Addr, seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x54, 0x52];
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"tern interop ping");
    let sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let total = u16::try_from(20 + icmp.len()).unwrap_or(u16::MAX);
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

fn is_echo_reply(packet: &[u8], from: Ipv4Addr, to: Ipv4Addr) -> bool {
    packet.len() >= 28
        && packet[0] >> 4 == 4
        && packet[9] == 1
        && packet[12..16] == from.octets()
        && packet[16..20] == to.octets()
        && packet[usize::from(packet[0] & 0xf) * 4] == 0
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(0)
}
