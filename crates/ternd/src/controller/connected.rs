//! Connected: traffic flows. Follows the IKE SA (CHILD_SA rekeys, make-before-break: the new
//! inbound SA next to the old, the outbound switch when the core says the new SA is usable, the
//! old inbound SA removed a moment after its delete), sends liveness checks when the gateway has
//! been silent for the DPD interval, NAT keepalives when behind a NAT, asks for a rekey when the
//! outbound SA's sequence space runs low, follows changes of our address or route to the
//! gateway (MOBIKE: the sockets reconnect and the gateway is told; without MOBIKE: reconnect),
//! publishes traffic statistics, and leaves for Disconnecting on request or Reconnecting when
//! the SA is lost (a dead gateway included).

use std::sync::Arc;
use std::time::{Duration, Instant};

use esp::{EspSaConfig, OutboundSa};
use ike::Event;
use ipc::{ConnectionInfo, Failure, TunnelState};
use tokio::sync::{mpsc, watch};

use super::connecting::AbortOnDrop;
use super::failure;
use super::request::CheckedRequest;
use super::{Command, Context, Next, Platform};
use crate::platform::{NetworkConfigurator, TunnelNetworkPlan};
use crate::tunnel::datapath::{self, Counters, InboundChild, InboundControl};
use crate::tunnel::ike_driver::IkeDriver;

/// Everything a live connection holds. Dropping it stops the datapath tasks and closes the
/// sockets and the TUN device; the network is restored by [`teardown`].
pub(super) struct Connection<T> {
    pub request: Arc<CheckedRequest>,
    pub driver: IkeDriver,
    pub tun: Arc<T>,
    pub counters: Arc<Counters>,
    pub outbound: watch::Sender<Arc<OutboundSa>>,
    /// Outbound SAs of rekeyed CHILD_SAs (by their inbound SPI) waiting for
    /// [`Event::ChildSaActive`].
    pub staged: Vec<(ipsec_types::Spi, OutboundSa)>,
    /// Inbound SAs to remove once packets sent with them before their delete have arrived.
    pub removals: Vec<(Instant, ipsec_types::Spi)>,
    pub inbound: mpsc::Sender<InboundControl<T>>,
    pub nat_t_reader: AbortOnDrop,
    pub tun_reader: AbortOnDrop,
    pub info: ConnectionInfo,
    pub plan: TunnelNetworkPlan,
    pub mtu: u16,
    /// Silence after which a liveness check is sent; `None`: never.
    pub request_dpd: Option<Duration>,
    pub nat_keepalive_secs: Option<u16>,
}

/// A lost connection's TUN device and applied network plan, kept while reconnecting.
pub(super) struct Held<T> {
    pub tun: Arc<T>,
    pub plan: TunnelNetworkPlan,
    pub mtu: u16,
}

/// Stops the datapath, restores the network and drops the TUN device. The IKE SA must already
/// be closed (or lost).
pub(super) async fn teardown<P: Platform>(
    ctx: &mut Context<P>,
    connection: Box<Connection<P::Tun>>,
) -> Result<(), Failure> {
    let Connection {
        nat_t_reader,
        tun_reader,
        tun,
        ..
    } = *connection;
    drop(nat_t_reader);
    drop(tun_reader);
    let restored = ctx.platform.network().restore().await;
    // Last: the routes went with the restore, now the interface goes.
    drop(tun);
    ctx.shared.set_counters(None);
    restored.map_err(|error| {
        tracing::error!(%error, "could not restore the network");
        failure::from_platform(&error)
    })
}

pub(super) async fn run<P: Platform>(
    ctx: &mut Context<P>,
    mut connection: Box<Connection<P::Tun>>,
) -> Next<P::Tun> {
    ctx.shared
        .set_counters(Some(Arc::clone(&connection.counters)));
    let info = connection.info.clone();
    ctx.shared.update(|s| {
        s.state = TunnelState::Connected;
        s.connection = Some(info);
    });
    tracing::info!("connected");

    let mut stats = tokio::time::interval(ctx.config.stats_interval);
    // Silence is measured on this tick; a liveness check goes out once it reaches the interval.
    let mut dpd = tokio::time::interval(Duration::from_millis(250));
    let keepalive_every = connection
        .nat_keepalive_secs
        .map_or(ctx.config.nat_keepalive, |s| {
            Duration::from_secs(u64::from(s))
        });
    // RFC 3948 keepalives keep a NAT's mapping open; without a NAT they are noise.
    let mut behind_nat = connection.info.local_behind_nat;
    let mut keepalive = tokio::time::interval(keepalive_every);
    let mut path_check = tokio::time::interval(PATH_CHECK);
    for timer in [&mut stats, &mut dpd, &mut keepalive, &mut path_check] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer.reset();
    }
    let mut last_stats = connection.counters.snapshot();
    let mut silence = Silence::new(connection.counters.received());
    let mut volume_rekey_asked = None;

    loop {
        tokio::select! {
            event = connection.driver.next_event() => match event {
                Event::ChildSaRekeyed { replaces, child } => {
                    rekeyed(&mut connection, replaces, *child).await;
                }
                Event::ChildSaActive { inbound_spi } => {
                    if activate(&mut connection, inbound_spi) {
                        let info = connection.info.clone();
                        ctx.shared.update(|s| s.connection = Some(info));
                    }
                }
                Event::ChildSaDeleted { inbound_spi } => {
                    // Packets the gateway sent with it just before may still be on their way.
                    connection.removals.push((Instant::now() + INBOUND_GRACE, inbound_spi));
                    connection.staged.retain(|(spi, _)| *spi != inbound_spi);
                }
                Event::Closed { reason } => {
                    let lost = failure::from_close(&reason);
                    tracing::warn!(reason = %lost.message, "the IKE SA is gone");
                    let planned = reason == ike::CloseReason::Reauthenticate;
                    return connection_lost(ctx, connection, lost, planned).await;
                }
                Event::PathUpdated { local_behind_nat } => {
                    tracing::info!(local_behind_nat, "the gateway follows our new address (MOBIKE)");
                    behind_nat = local_behind_nat;
                    connection.info.local_behind_nat = local_behind_nat;
                    let info = connection.info.clone();
                    ctx.shared.update(|s| s.connection = Some(info));
                }
                Event::IkeSaRekeyed { ike_suite } => {
                    connection.info.rekeys += 1;
                    connection.info.ike_suite = super::connecting::ike_suite_name(&ike_suite);
                    let info = connection.info.clone();
                    ctx.shared.update(|s| s.connection = Some(info));
                    tracing::info!("IKE SA rekeyed");
                }
                Event::Stage(_) | Event::ChildSaEstablished(_) => {}
            },
            command = ctx.commands.recv() => match command {
                Some(Command::Disconnect) | None => return Next::Disconnecting(connection),
                Some(Command::Shutdown(reply)) => {
                    ctx.shutdown = Some(reply);
                    return Next::Disconnecting(connection);
                }
                Some(Command::Connect(_)) => {}
            },
            _ = stats.tick() => {
                let now = connection.counters.snapshot();
                if now != last_stats {
                    last_stats = now;
                    ctx.shared.publish();
                }
                remove_due(&mut connection).await;
                let outbound = Arc::clone(&connection.outbound.borrow());
                if sequence_space_low(&outbound) && volume_rekey_asked != Some(outbound.spi()) {
                    volume_rekey_asked = Some(outbound.spi());
                    tracing::info!(spi = %outbound.spi(), "outbound sequence space running low; rekeying");
                    connection.driver.rekey_child_sa();
                }
            }
            _ = dpd.tick() => {
                if let Some(interval) = connection.request_dpd
                    && silence.is_quiet_for(connection.counters.received(), interval)
                    && connection.driver.send_liveness_check()
                {
                    tracing::debug!(?interval, "gateway silent; sent a liveness check");
                    silence.restart();
                }
            }
            _ = keepalive.tick(), if behind_nat => datapath::send_keepalive(&connection.driver.sockets().nat_t),
            _ = path_check.tick() => {
                if !source_changed(&ctx.platform, connection.driver.sockets()) {
                    continue;
                }
                let moved = connection.driver.mobike_supported()
                    && match connection.driver.sockets().reconnect() {
                        Ok(()) => connection.driver.update_local_address(),
                        Err(error) => {
                            tracing::warn!(%error, "cannot move the tunnel's sockets");
                            false
                        }
                    };
                if moved {
                    tracing::info!("our address changed; moving the tunnel (MOBIKE)");
                } else {
                    let lost = Failure {
                        kind: ipc::FailureKind::GatewayUnreachable,
                        message: "the network changed and the VPN gateway cannot follow (no MOBIKE)".into(),
                    };
                    tracing::warn!(reason = %lost.message, "reconnecting");
                    return connection_lost(ctx, connection, lost, true).await;
                }
            }
        }
    }
}

/// How often the route to the gateway is checked for a new source address.
const PATH_CHECK: Duration = Duration::from_secs(1);

/// Whether the kernel would now send to the gateway from another address than the NAT-T
/// socket's (our address or our route changed). No route at all (link down) is no change yet.
fn source_changed<P: Platform>(
    platform: &P,
    sockets: &crate::tunnel::sockets::TunnelSockets,
) -> bool {
    use std::os::fd::AsFd;
    let (Ok(peer), Ok(local)) = (sockets.nat_t.peer_addr(), sockets.nat_t.local_addr()) else {
        return false;
    };
    let unspecified: std::net::SocketAddr = if peer.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let Ok(probe) = std::net::UdpSocket::bind(unspecified) else {
        return false;
    };
    if platform
        .bypass_socket(probe.as_fd(), platform.socket_bypass())
        .is_err()
        || probe.connect(peer).is_err()
    {
        return false;
    }
    probe.local_addr().is_ok_and(|now| now.ip() != local.ip())
}

/// The connection is gone: reconnect (at once when `planned`, else after the back-off), or,
/// when reconnecting is off, restore the network and report `lost`.
async fn connection_lost<P: Platform>(
    ctx: &mut Context<P>,
    connection: Box<Connection<P::Tun>>,
    lost: Failure,
    planned: bool,
) -> Next<P::Tun> {
    if ctx.config.reconnect_attempts == 0 {
        if let Err(failure) = teardown(ctx, connection).await {
            return Next::Disconnected(Some(failure));
        }
        return Next::Disconnected(Some(lost));
    }
    // Keep the TUN and the network pointed at it: until the new connection is up, traffic is
    // dropped there instead of leaking outside the tunnel.
    let Connection {
        request,
        tun,
        plan,
        mtu,
        ..
    } = *connection;
    ctx.shared.set_counters(None);
    ctx.held = Some(Held { tun, plan, mtu });
    if planned {
        tracing::info!(reason = %lost.message, "connecting again");
        return Next::Connecting {
            request,
            attempt: 1,
        };
    }
    Next::Reconnecting {
        request,
        attempt: 1,
        reason: lost.message,
    }
}

/// How long an inbound SA stays after its delete, for packets already on their way.
const INBOUND_GRACE: Duration = Duration::from_secs(2);

/// Tracks how long the gateway has been silent (no datagram of any kind).
struct Silence {
    received: u64,
    since: Instant,
}

impl Silence {
    fn new(received: u64) -> Self {
        Self {
            received,
            since: Instant::now(),
        }
    }

    /// Whether nothing arrived for `interval`, given the current count of received datagrams.
    fn is_quiet_for(&mut self, received: u64, interval: Duration) -> bool {
        if received != self.received {
            self.received = received;
            self.since = Instant::now();
        }
        self.since.elapsed() >= interval
    }

    /// Measures silence again from now (after a liveness check went out).
    fn restart(&mut self) {
        self.since = Instant::now();
    }
}

/// Whether the outbound SA has used 15/16 of its sequence space (RFC 4303 §3.3.3: it must
/// never wrap), so a rekey is due.
fn sequence_space_low(sa: &OutboundSa) -> bool {
    let limit: u64 = if sa.suite().esn {
        u64::MAX / 16 * 15
    } else {
        u64::from(u32::MAX) / 16 * 15
    };
    sa.next_sequence() >= limit
}

/// Removes inbound SAs whose grace time is over.
async fn remove_due<T: crate::platform::TunDevice + 'static>(connection: &mut Connection<T>) {
    let now = Instant::now();
    let (due, later): (Vec<_>, Vec<_>) = connection
        .removals
        .drain(..)
        .partition(|(at, _)| *at <= now);
    connection.removals = later;
    for (_, spi) in due {
        let _ = connection.inbound.send(InboundControl::Remove(spi)).await;
    }
}

/// Sends with the rekeyed CHILD_SA `inbound_spi` from now on; `false` if it is unknown.
fn activate<T>(connection: &mut Connection<T>, inbound_spi: ipsec_types::Spi) -> bool {
    let Some(at) = connection
        .staged
        .iter()
        .position(|(spi, _)| *spi == inbound_spi)
    else {
        return false;
    };
    let (_, outbound) = connection.staged.swap_remove(at);
    connection.outbound.send_replace(Arc::new(outbound));
    connection.info.rekeys += 1;
    tracing::info!(%inbound_spi, "sending with the rekeyed CHILD_SA");
    true
}

/// Installs a rekeyed CHILD_SA: the new inbound SA next to the old one; the new outbound SA
/// waits for [`Event::ChildSaActive`].
async fn rekeyed<T: crate::platform::TunDevice + 'static>(
    connection: &mut Connection<T>,
    replaces: ipsec_types::Spi,
    child: ike::ChildSaEstablished,
) {
    let sas = esp::sa_pair(&child.keys, &EspSaConfig::default());
    drop(child.keys);
    match sas {
        Ok((outbound, inbound)) => {
            let installed_spi = inbound.spi();
            let installed = InboundChild {
                sa: inbound,
                ts_local: child.ts_local,
                ts_remote: child.ts_remote,
                tun: Arc::clone(&connection.tun),
            };
            let _ = connection
                .inbound
                .send(InboundControl::Install(Box::new(installed)))
                .await;
            connection.staged.push((installed_spi, outbound));
            tracing::info!(%replaces, new = %installed_spi, "CHILD_SA rekeyed");
        }
        Err(error) => tracing::error!(%error, "cannot install the rekeyed CHILD_SA"),
    }
}

#[cfg(test)]
mod tests {
    use ipsec_types::{EncrAlgorithm, EspSuite, Spi};

    use super::*;

    #[test]
    fn silence_counts_from_the_last_datagram_and_from_each_check() {
        let mut silence = Silence::new(5);
        assert!(silence.is_quiet_for(5, Duration::ZERO));
        assert!(!silence.is_quiet_for(5, Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(silence.is_quiet_for(5, Duration::from_millis(20)));
        // A datagram arrived: quiet again only after another interval.
        assert!(!silence.is_quiet_for(6, Duration::from_millis(20)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(silence.is_quiet_for(6, Duration::from_millis(20)));
        silence.restart();
        assert!(!silence.is_quiet_for(6, Duration::from_millis(20)));
    }

    #[test]
    fn a_rekey_is_due_at_fifteen_sixteenths_of_the_sequence_space() {
        let sa = |esn: bool| {
            let suite = EspSuite {
                encr: EncrAlgorithm::AesGcm16_256,
                integ: None,
                esn,
            };
            let keys = esp::manual_keys(Spi::new(0x1000).unwrap(), &[7; 36], &[]);
            OutboundSa::new(suite, &keys, &EspSaConfig::default()).unwrap()
        };
        let plain = sa(false);
        assert!(!sequence_space_low(&plain));
        plain.skip_sequence_to(u64::from(u32::MAX) / 16 * 15 - 1);
        assert!(!sequence_space_low(&plain));
        plain.skip_sequence_to(u64::from(u32::MAX) / 16 * 15);
        assert!(sequence_space_low(&plain));
        let extended = sa(true);
        extended.skip_sequence_to(u64::from(u32::MAX));
        assert!(!sequence_space_low(&extended), "ESN has 64 bits");
    }
}
