//! What the controller needs from the OS, in one trait: the network configurator, a way to
//! create the TUN device, and how to make a socket bypass the tunnel. [`SystemPlatform`] is the
//! real one; [`FakePlatform`] serves the controller's tests.

use std::io;
use std::os::fd::BorrowedFd;

use tokio::sync::mpsc;

use crate::platform::fake::{FakeNetwork, FakeTun, FakeTunPeer};
use crate::platform::{
    NetworkConfigurator, PlatformError, SocketBypass, TunConfig, TunDevice, TunnelInterface,
};

/// The OS side of a connection.
pub trait Platform: Send + 'static {
    /// The network configurator.
    type Network: NetworkConfigurator;
    /// The TUN device.
    type Tun: TunDevice + 'static;

    /// The configurator (routes, rules, addresses, DNS).
    fn network(&mut self) -> &mut Self::Network;

    /// Creates and brings up a TUN device.
    fn create_tun(&mut self, config: &TunConfig) -> Result<Self::Tun, PlatformError>;

    /// What the tunnel's sockets need before the network is configured (so even the first IKE
    /// packet can never be routed into the tunnel later on).
    fn socket_bypass(&self) -> SocketBypass;

    /// Applies `bypass` to a socket.
    fn bypass_socket(&self, socket: BorrowedFd<'_>, bypass: SocketBypass) -> io::Result<()>;
}

/// Linux: rtnetlink policy routing, resolv.conf or systemd-resolved, `tun-rs`, `SO_MARK`.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub struct SystemPlatform {
    network: crate::platform::linux::LinuxConfigurator,
}

#[cfg(target_os = "linux")]
impl SystemPlatform {
    /// Wraps a configurator (on which `recover` has already run).
    #[must_use]
    pub fn new(network: crate::platform::linux::LinuxConfigurator) -> Self {
        Self { network }
    }
}

#[cfg(target_os = "linux")]
impl Platform for SystemPlatform {
    type Network = crate::platform::linux::LinuxConfigurator;
    type Tun = crate::platform::linux::LinuxTun;

    fn network(&mut self) -> &mut Self::Network {
        &mut self.network
    }

    fn create_tun(&mut self, config: &TunConfig) -> Result<Self::Tun, PlatformError> {
        crate::platform::linux::LinuxTun::create(config)
    }

    fn socket_bypass(&self) -> SocketBypass {
        SocketBypass::Fwmark(self.network.config().fwmark)
    }

    fn bypass_socket(&self, socket: BorrowedFd<'_>, bypass: SocketBypass) -> io::Result<()> {
        match bypass {
            SocketBypass::NotNeeded => Ok(()),
            SocketBypass::Fwmark(mark) => crate::platform::linux::mark_socket(&socket, mark),
        }
    }
}

/// A platform of fakes: records network changes, hands the test the other end of each TUN.
#[derive(Debug)]
pub struct FakePlatform {
    network: FakeNetwork,
    tuns: mpsc::UnboundedSender<FakeTunPeer>,
    next_index: u32,
}

impl FakePlatform {
    /// A fake platform and the stream of TUN peers it creates (one per connection).
    #[must_use]
    pub fn new(network: FakeNetwork) -> (Self, mpsc::UnboundedReceiver<FakeTunPeer>) {
        let (tuns, peers) = mpsc::unbounded_channel();
        (
            Self {
                network,
                tuns,
                next_index: 10,
            },
            peers,
        )
    }
}

impl Platform for FakePlatform {
    type Network = FakeNetwork;
    type Tun = FakeTun;

    fn network(&mut self) -> &mut Self::Network {
        &mut self.network
    }

    fn create_tun(&mut self, config: &TunConfig) -> Result<Self::Tun, PlatformError> {
        let interface = TunnelInterface {
            name: config.name.clone().unwrap_or_else(|| "tun0".into()),
            index: self.next_index,
        };
        self.next_index += 1;
        let (tun, peer) = FakeTun::new(interface, config.mtu, 64);
        let _ = self.tuns.send(peer);
        Ok(tun)
    }

    fn socket_bypass(&self) -> SocketBypass {
        SocketBypass::NotNeeded
    }

    fn bypass_socket(&self, _socket: BorrowedFd<'_>, _bypass: SocketBypass) -> io::Result<()> {
        Ok(())
    }
}
