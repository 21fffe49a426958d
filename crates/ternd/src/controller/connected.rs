//! Connected: traffic flows. Follows the IKE SA (CHILD_SA rekeys by the gateway, its deletes,
//! liveness checks when the gateway has been silent), sends NAT keepalives, publishes traffic
//! statistics, and leaves for Disconnecting on request or Reconnecting when the SA is lost.

use std::sync::Arc;
use std::time::Duration;

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
    pub inbound: mpsc::Sender<InboundControl<T>>,
    pub nat_t_reader: AbortOnDrop,
    pub tun_reader: AbortOnDrop,
    pub info: ConnectionInfo,
    pub plan: TunnelNetworkPlan,
    pub mtu: u16,
    pub request_dpd: Option<u32>,
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
    let dpd_every = connection
        .request_dpd
        .map_or(Duration::MAX, |secs| Duration::from_secs(u64::from(secs)));
    let mut dpd = tokio::time::interval(dpd_every.min(Duration::from_secs(86_400 * 365)));
    let keepalive_every = connection
        .nat_keepalive_secs
        .map_or(ctx.config.nat_keepalive, |s| {
            Duration::from_secs(u64::from(s))
        });
    let mut keepalive = tokio::time::interval(keepalive_every);
    for timer in [&mut stats, &mut dpd, &mut keepalive] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer.reset();
    }
    let mut last_stats = connection.counters.snapshot();
    let mut last_received = connection.counters.received();

    loop {
        tokio::select! {
            event = connection.driver.next_event() => match event {
                Event::ChildSaRekeyed { replaces, child } => {
                    rekeyed(&mut connection, replaces, *child).await;
                    let info = connection.info.clone();
                    ctx.shared.update(|s| s.connection = Some(info));
                }
                Event::ChildSaDeleted { inbound_spi } => {
                    let _ = connection.inbound.send(InboundControl::Remove(inbound_spi)).await;
                }
                Event::Closed { reason } => {
                    let lost = failure::from_close(&reason);
                    tracing::warn!(reason = %lost.message, "the IKE SA is gone");
                    if ctx.config.reconnect_attempts == 0 {
                        if let Err(failure) = teardown(ctx, connection).await {
                            return Next::Disconnected(Some(failure));
                        }
                        return Next::Disconnected(Some(lost));
                    }
                    // Keep the TUN and the network pointed at it: until the new connection is
                    // up, traffic is dropped there instead of leaking outside the tunnel.
                    let Connection { request, tun, plan, mtu, .. } = *connection;
                    ctx.shared.set_counters(None);
                    ctx.held = Some(Held { tun, plan, mtu });
                    return Next::Reconnecting {
                        request,
                        attempt: 1,
                        reason: lost.message,
                    };
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
            }
            _ = dpd.tick() => {
                let received = connection.counters.received();
                if received == last_received && connection.driver.send_liveness_check() {
                    tracing::debug!("gateway silent; sent a liveness check");
                }
                last_received = received;
            }
            _ = keepalive.tick() => datapath::send_keepalive(&connection.driver.sockets().nat_t),
        }
    }
}

/// Installs a CHILD_SA the gateway rekeyed: the new inbound SA next to the old one, the new
/// outbound SA in place of the old one.
async fn rekeyed<T: crate::platform::TunDevice + 'static>(
    connection: &mut Connection<T>,
    replaces: ipsec_types::Spi,
    child: ike::ChildSaEstablished,
) {
    let sas = esp::sa_pair(&child.keys, &EspSaConfig::default());
    drop(child.keys);
    match sas {
        Ok((outbound, inbound)) => {
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
            connection.outbound.send_replace(Arc::new(outbound));
            connection.info.rekeys += 1;
            tracing::info!(%replaces, "CHILD_SA rekeyed");
        }
        Err(error) => tracing::error!(%error, "cannot install the rekeyed CHILD_SA"),
    }
}
