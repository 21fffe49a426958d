//! In-memory stand-ins for the platform traits, for the controller's tests: no root, no kernel.
//!
//! [`FakeNetwork`] records what it was asked to apply and can be told to fail; [`FakeTun`] is a
//! pair of channels, one per direction, with the test holding the other ends.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use super::{
    Applied, DnsMethod, NetworkConfigurator, PlatformError, RecoveryReport, SocketBypass,
    TunDevice, TunnelInterface, TunnelNetworkPlan,
};

/// What a [`FakeNetwork`] saw; shared with the test through [`FakeNetwork::state`].
#[derive(Debug, Default)]
pub struct FakeNetworkState {
    /// The plan currently applied.
    pub applied: Option<TunnelNetworkPlan>,
    /// How many times `apply` succeeded.
    pub apply_calls: usize,
    /// How many times `restore` ran.
    pub restore_calls: usize,
    /// How many times `recover` ran.
    pub recover_calls: usize,
    /// When set, the next `apply` fails with this message.
    pub fail_next_apply: Option<String>,
}

/// A [`NetworkConfigurator`] that only records.
#[derive(Debug, Clone, Default)]
pub struct FakeNetwork {
    state: Arc<Mutex<FakeNetworkState>>,
}

impl FakeNetwork {
    /// A fresh fake with nothing applied.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The recorded state, to inspect or to arm a failure.
    #[must_use]
    pub fn state(&self) -> Arc<Mutex<FakeNetworkState>> {
        Arc::clone(&self.state)
    }

    fn with<R>(&self, f: impl FnOnce(&mut FakeNetworkState) -> R) -> R {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }
}

impl NetworkConfigurator for FakeNetwork {
    async fn apply(&mut self, plan: &TunnelNetworkPlan) -> Result<Applied, PlatformError> {
        self.with(|s| {
            if s.applied.is_some() {
                return Err(PlatformError::AlreadyApplied);
            }
            if let Some(message) = s.fail_next_apply.take() {
                return Err(PlatformError::InvalidPlan(message));
            }
            s.applied = Some(plan.clone());
            s.apply_calls += 1;
            Ok(Applied {
                socket_bypass: SocketBypass::NotNeeded,
                dns: DnsMethod::Unchanged,
                changes: plan.addresses.len(),
            })
        })
    }

    async fn restore(&mut self) -> Result<(), PlatformError> {
        self.with(|s| {
            s.applied = None;
            s.restore_calls += 1;
        });
        Ok(())
    }

    async fn recover(&mut self) -> Result<RecoveryReport, PlatformError> {
        self.with(|s| s.recover_calls += 1);
        Ok(RecoveryReport::default())
    }
}

/// The test's ends of a [`FakeTun`].
#[derive(Debug)]
pub struct FakeTunPeer {
    /// Packets the test injects, as if the OS routed them into the tunnel.
    pub to_tunnel: mpsc::Sender<Vec<u8>>,
    /// Packets the tunnel delivered to the OS.
    pub from_tunnel: mpsc::Receiver<Vec<u8>>,
}

/// A [`TunDevice`] over channels.
#[derive(Debug)]
pub struct FakeTun {
    interface: TunnelInterface,
    mtu: Mutex<u16>,
    inbound: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
    outbound: mpsc::Sender<Vec<u8>>,
}

impl FakeTun {
    /// A fake device and the test's ends of it; `capacity` packets may queue each way.
    #[must_use]
    pub fn new(interface: TunnelInterface, mtu: u16, capacity: usize) -> (Self, FakeTunPeer) {
        let (to_tunnel, inbound) = mpsc::channel(capacity.max(1));
        let (outbound, from_tunnel) = mpsc::channel(capacity.max(1));
        (
            Self {
                interface,
                mtu: Mutex::new(mtu),
                inbound: tokio::sync::Mutex::new(inbound),
                outbound,
            },
            FakeTunPeer {
                to_tunnel,
                from_tunnel,
            },
        )
    }
}

impl TunDevice for FakeTun {
    fn interface(&self) -> TunnelInterface {
        self.interface.clone()
    }

    fn mtu(&self) -> io::Result<u16> {
        Ok(*self.mtu.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn set_mtu(&self, mtu: u16) -> io::Result<()> {
        *self.mtu.lock().unwrap_or_else(PoisonError::into_inner) = mtu;
        Ok(())
    }

    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let packet = self
            .inbound
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| io::Error::from(io::ErrorKind::BrokenPipe))?;
        // Like a real TUN read into a short buffer: the tail is lost.
        let n = packet.len().min(buf.len());
        buf[..n].copy_from_slice(&packet[..n]);
        Ok(n)
    }

    async fn send(&self, packet: &[u8]) -> io::Result<usize> {
        let mtu = usize::from(self.mtu()?);
        if packet.len() > mtu {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "packet larger than the MTU",
            ));
        }
        self.outbound
            .send(packet.to_vec())
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(packet.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{InterfaceAddress, RoutingMode};

    fn plan() -> TunnelNetworkPlan {
        TunnelNetworkPlan {
            interface: TunnelInterface {
                name: "tern0".into(),
                index: 7,
            },
            addresses: vec![InterfaceAddress::host("10.9.0.2".parse().unwrap())],
            gateway: "198.51.100.7".parse().unwrap(),
            routing: RoutingMode::Full,
            dns: None,
        }
    }

    #[tokio::test]
    async fn fake_network_records_and_refuses_double_apply() {
        let mut net = FakeNetwork::new();
        net.recover().await.unwrap();
        net.apply(&plan()).await.unwrap();
        assert!(matches!(
            net.apply(&plan()).await,
            Err(PlatformError::AlreadyApplied)
        ));
        net.restore().await.unwrap();
        net.state().lock().unwrap().fail_next_apply = Some("boom".into());
        assert!(net.apply(&plan()).await.is_err());
        net.apply(&plan()).await.unwrap();
        let state = net.state();
        let s = state.lock().unwrap();
        assert_eq!(s.apply_calls, 2);
        assert_eq!(s.restore_calls, 1);
        assert_eq!(s.recover_calls, 1);
        assert_eq!(s.applied.as_ref(), Some(&plan()));
    }

    #[tokio::test]
    async fn fake_tun_moves_packets_both_ways() {
        let (tun, mut peer) = FakeTun::new(plan().interface, 1400, 4);
        peer.to_tunnel.send(vec![0x45, 1, 2]).await.unwrap();
        let mut buf = [0u8; 2];
        assert_eq!(tun.recv(&mut buf).await.unwrap(), 2);
        assert_eq!(buf, [0x45, 1]);
        tun.send(&[0x60, 0, 0]).await.unwrap();
        assert_eq!(peer.from_tunnel.recv().await.unwrap(), vec![0x60, 0, 0]);
        tun.set_mtu(2).unwrap();
        assert!(tun.send(&[0; 3]).await.is_err());
        assert_eq!(tun.interface().index, 7);
    }
}
