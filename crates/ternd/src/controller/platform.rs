//! What the controller needs from the OS, in one trait: the network configurator, a way to
//! create the TUN device, how to make a socket bypass the tunnel, and a watch on the system's
//! addresses and routes. [`SystemPlatform`] is the real one; [`FakePlatform`] serves the
//! controller's tests.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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

    /// Starts watching the system's addresses, routes and links (call it inside the Tokio
    /// runtime). Stops when the returned value is dropped.
    fn watch_network(&mut self) -> NetworkChanges;

    /// Gives the allocator's free memory back to the OS (after connecting, and after a burst
    /// of traffic), so an idle helper stays small. The default does nothing.
    fn release_free_memory(&self) {}
}

/// Wakes the controller when the system's addresses, routes or links may have changed, so it
/// checks whether the tunnel's path moved. A burst of kernel messages (one address change
/// brings several) arrives as one wake-up.
#[derive(Debug)]
pub struct NetworkChanges {
    changes: mpsc::Receiver<()>,
    watcher: Option<JoinHandle<()>>,
}

impl NetworkChanges {
    /// Wraps the receiving end of a watcher (which sends `()` per burst of changes, with
    /// `try_send` on a channel of capacity 1) and the task that runs it, aborted on drop.
    #[must_use]
    pub fn new(changes: mpsc::Receiver<()>, watcher: Option<JoinHandle<()>>) -> Self {
        Self { changes, watcher }
    }

    /// Waits for the next change. Cancel-safe; waits forever once the watcher is gone.
    pub async fn changed(&mut self) {
        if self.changes.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for NetworkChanges {
    fn drop(&mut self) {
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
    }
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

    fn watch_network(&mut self) -> NetworkChanges {
        let (changes, watcher) = crate::platform::linux::watch::spawn();
        NetworkChanges::new(changes, Some(watcher))
    }

    fn release_free_memory(&self) {
        // glibc keeps freed memory in its arenas (one per thread that allocated); musl and
        // others return it by themselves.
        #[cfg(target_env = "gnu")]
        #[allow(unsafe_code)]
        // SAFETY: malloc_trim takes no pointers; it only hands whole free pages of the heap
        // back to the kernel, under the allocator's own locks, and may be called from any
        // thread at any time.
        unsafe {
            nix::libc::malloc_trim(0);
        }
    }
}

/// A platform of fakes: records network changes, hands the test the other end of each TUN,
/// and lets the test say "the system's network changed" ([`FakePlatform::network_trigger`]).
#[derive(Debug)]
pub struct FakePlatform {
    network: FakeNetwork,
    tuns: mpsc::UnboundedSender<FakeTunPeer>,
    next_index: u32,
    trigger: FakeNetworkTrigger,
}

/// The test's end of [`FakePlatform`]'s network watch; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct FakeNetworkTrigger {
    /// The sender of the watch opened last (one per connection).
    current: Arc<Mutex<Option<mpsc::Sender<()>>>>,
}

impl FakeNetworkTrigger {
    /// Reports a change of the system's addresses or routes to the current watch; `false` if
    /// no watch is open.
    pub fn changed(&self) -> bool {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.as_ref().is_some_and(|tx| match tx.try_send(()) {
            // One wake-up is already queued: it covers this change too.
            Ok(()) | Err(mpsc::error::TrySendError::Full(())) => true,
            Err(mpsc::error::TrySendError::Closed(())) => false,
        })
    }

    /// Opens a watch, replacing the previous one.
    fn open(&self) -> NetworkChanges {
        let (tx, rx) = mpsc::channel(1);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
        NetworkChanges::new(rx, None)
    }
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
                trigger: FakeNetworkTrigger::default(),
            },
            peers,
        )
    }

    /// The handle with which a test reports network changes.
    #[must_use]
    pub fn network_trigger(&self) -> FakeNetworkTrigger {
        self.trigger.clone()
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

    fn watch_network(&mut self) -> NetworkChanges {
        self.trigger.open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_fake_trigger_wakes_the_open_watch_once_per_burst() {
        let (mut platform, _tuns) = FakePlatform::new(FakeNetwork::new());
        let trigger = platform.network_trigger();
        assert!(!trigger.changed(), "no watch open yet");
        let mut changes = platform.watch_network();
        assert!(trigger.changed());
        assert!(trigger.changed(), "a queued wake-up covers a second change");
        changes.changed().await;
        let again = tokio::time::timeout(std::time::Duration::from_millis(20), changes.changed());
        assert!(again.await.is_err(), "one wake-up per burst");
        drop(changes);
        assert!(!trigger.changed(), "the watch is closed");
    }
}
