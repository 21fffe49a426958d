//! The Linux TUN device, from `tun-rs` (`/dev/net/tun`, `IFF_TUN | IFF_NO_PI`), driven by Tokio.
//!
//! Offload (`IFF_VNET_HDR` with GSO/GRO and `recv_multiple`/`send_multiple`) is left off for now:
//! `tun-rs` supports it through `DeviceBuilder::offload`, and the datapath can switch to it once
//! it batches.

use std::io;

use crate::platform::{PlatformError, TunConfig, TunDevice, TunnelInterface};

/// A TUN device, up, with its MTU set and no addresses (the configurator adds those).
pub struct LinuxTun {
    device: tun_rs::AsyncDevice,
    interface: TunnelInterface,
}

impl std::fmt::Debug for LinuxTun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxTun")
            .field("interface", &self.interface)
            .finish_non_exhaustive()
    }
}

impl LinuxTun {
    /// Creates the device in the calling thread's network namespace and brings it up. Must run
    /// inside a Tokio runtime. The device disappears when this value is dropped, and with it
    /// every address and route on it.
    pub fn create(config: &TunConfig) -> Result<Self, PlatformError> {
        let tun_error = |what: &str| {
            let what = what.to_owned();
            move |source| PlatformError::Tun { what, source }
        };
        let mut builder = tun_rs::DeviceBuilder::new()
            .mtu(config.mtu)
            .packet_information(false)
            .enable(true);
        if let Some(name) = &config.name {
            builder = builder.name(name.clone());
        }
        let device = builder
            .build_async()
            .map_err(tun_error("create and bring up the device"))?;
        let name = device.name().map_err(tun_error("read its name"))?;
        let index = device.if_index().map_err(tun_error("read its index"))?;
        tracing::info!(%name, index, mtu = config.mtu, "TUN device up");
        Ok(Self {
            device,
            interface: TunnelInterface { name, index },
        })
    }
}

impl TunDevice for LinuxTun {
    fn interface(&self) -> TunnelInterface {
        self.interface.clone()
    }

    fn mtu(&self) -> io::Result<u16> {
        self.device.mtu()
    }

    fn set_mtu(&self, mtu: u16) -> io::Result<()> {
        self.device.set_mtu(mtu)
    }

    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.device.recv(buf).await
    }

    async fn send(&self, packet: &[u8]) -> io::Result<usize> {
        self.device.send(packet).await
    }
}
