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

    // Each timer sleeps until it has work to do, so an idle tunnel wakes ternd only for the
    // NAT keepalive and the liveness check (issue #11: about once per interval).
    let start = tokio::time::Instant::now();
    let keepalive_every = connection
        .nat_keepalive_secs
        .map_or(ctx.config.nat_keepalive, |s| {
            Duration::from_secs(u64::from(s))
        });
    // RFC 3948 keepalives keep a NAT's mapping open; without a NAT they are noise.
    let mut behind_nat = connection.info.local_behind_nat;
    let mut keepalive = tokio::time::interval_at(start + keepalive_every, keepalive_every);
    // Traffic statistics are for clients that listen (the GUI's graph): none, no ticks.
    let mut stats =
        tokio::time::interval_at(start + ctx.config.stats_interval, ctx.config.stats_interval);
    for timer in [&mut keepalive, &mut stats] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let mut publishing = ctx.shared.has_subscribers();
    let mut last_stats = connection.counters.snapshot();
    let mut liveness = connection
        .request_dpd
        .map(|interval| Liveness::new(interval, connection.counters.received(), Instant::now()));
    let mut sequence_check = Instant::now() + next_sequence_check(&connection.outbound.borrow());
    let mut volume_rekey_asked = None;
    let mut network = ctx.platform.watch_network();
    // Connecting left freed memory behind (key exchange, certificates, buffers): return it.
    ctx.platform.release_free_memory();
    let mut traffic_at_trim = packets(&last_stats);

    loop {
        let next_look = liveness.as_ref().map(Liveness::next_look);
        let next_removal = next_removal(&connection.removals);
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
            () = ctx.shared.new_subscriber.notified(), if !publishing => {
                // (A wake-up left from a subscription while publishing finds no one: stay off.)
                publishing = ctx.shared.has_subscribers();
                stats.reset();
            }
            _ = stats.tick(), if publishing => {
                if !ctx.shared.has_subscribers() {
                    publishing = false;
                    continue;
                }
                let now = connection.counters.snapshot();
                if now != last_stats {
                    last_stats = now;
                    ctx.shared.publish();
                }
            }
            () = sleep_until(next_look) => {
                let Some(liveness) = &mut liveness else { continue };
                let check = liveness.look(Instant::now(), connection.counters.received());
                // Traffic went quiet after a burst: return the memory it left in the allocator.
                let traffic = packets(&connection.counters.snapshot());
                if !liveness.busy && traffic != traffic_at_trim {
                    traffic_at_trim = traffic;
                    ctx.platform.release_free_memory();
                }
                if check
                    // Else a request of ours is in flight (its answer tells as much): the
                    // next look retries.
                    && connection.driver.send_liveness_check()
                {
                    tracing::debug!(interval = ?liveness.interval, "gateway silent; sent a liveness check");
                    liveness.check_sent(Instant::now());
                }
            }
            () = sleep_until(next_removal) => remove_due(&mut connection).await,
            () = tokio::time::sleep_until(sequence_check.into()) => {
                let outbound = Arc::clone(&connection.outbound.borrow());
                if sequence_space_low(&outbound) && volume_rekey_asked != Some(outbound.spi()) {
                    volume_rekey_asked = Some(outbound.spi());
                    tracing::info!(spi = %outbound.spi(), "outbound sequence space running low; rekeying");
                    connection.driver.rekey_child_sa();
                }
                sequence_check = Instant::now() + next_sequence_check(&outbound);
            }
            _ = keepalive.tick(), if behind_nat => datapath::send_keepalive(&connection.driver.sockets().nat_t),
            () = network.changed() => {
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

/// Packets through the tunnel so far, both ways.
fn packets(stats: &ipc::TrafficStats) -> u64 {
    stats.packets_in.wrapping_add(stats.packets_out)
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

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

/// When to send liveness checks: once the gateway has been silent for the DPD interval.
///
/// The datapath only counts what arrives, so silence is found by looking at that count: a
/// changed count means something arrived since the previous look. The arrival is dated to the
/// previous look, the earliest it can have been, so a check may go out early but never late.
/// While datagrams keep arriving, looks come every [`Liveness::recheck`] so a busy tunnel is
/// never taken for a silent one. An idle tunnel is looked at twice per interval: shortly after
/// each check (its answer shows up there; a busy tunnel is recognised there too) and when the
/// next check is due.
#[derive(Debug)]
struct Liveness {
    /// Silence after which a check goes out.
    interval: Duration,
    /// The count of received datagrams at the last look.
    received: u64,
    looked_at: Instant,
    /// The gateway was last heard at this time or later.
    heard: Instant,
    next_look: Instant,
    /// Whether the last look found new datagrams.
    busy: bool,
    /// A check just went out: the next arrival is most likely its answer.
    answer_expected: bool,
}

/// The longest pause between looks while datagrams keep arriving.
const BUSY_RECHECK: Duration = Duration::from_secs(1);

impl Liveness {
    /// Starts measuring silence at `now`, the end of the connect (whose last message came
    /// from the gateway). The first look comes soon, so traffic that flows from the start is
    /// followed instead of being dated to the connect.
    fn new(interval: Duration, received: u64, now: Instant) -> Self {
        let mut liveness = Self {
            interval,
            received,
            looked_at: now,
            heard: now,
            next_look: now,
            busy: false,
            answer_expected: false,
        };
        liveness.check_sent(now);
        liveness
    }

    /// When [`Self::look`] is due next.
    fn next_look(&self) -> Instant {
        self.next_look
    }

    fn recheck(&self) -> Duration {
        (self.interval / 4).min(BUSY_RECHECK)
    }

    /// Looks at the count of received datagrams at `now`: whether a liveness check is due.
    /// If one is but cannot go out now, the next look (soon) says so again.
    fn look(&mut self, now: Instant, received: u64) -> bool {
        let busy = received != self.received;
        self.busy = busy;
        let answered = std::mem::take(&mut self.answer_expected) && busy;
        if busy {
            self.received = received;
            self.heard = self.looked_at;
        }
        self.looked_at = now;
        let due = self.heard + self.interval;
        if now >= due {
            self.next_look = now + self.recheck();
            return true;
        }
        // After the answer to a check, an idle tunnel stays quiet: sleep until the next check
        // is due (if traffic flows instead, that look finds it and follows it).
        self.next_look = if busy && !answered {
            due.min(now + self.recheck())
        } else {
            due
        };
        false
    }

    /// A check went out at `now`: silence counts from here; look for the answer soon.
    fn check_sent(&mut self, now: Instant) {
        self.heard = now;
        self.looked_at = now;
        self.answer_expected = true;
        self.next_look = now + self.recheck();
    }
}

/// The fastest an outbound SA uses sequence numbers, in packets per second. No software
/// datapath sends this much on one SA, so checking the sequence space at this pace (see
/// [`next_sequence_check`]) never misses the point where a rekey is due.
const MAX_PACKET_RATE: u64 = 10_000_000;

/// How long until the sequence space of `sa` must be checked again: the time the rest of it
/// (to the rekey point) lasts at [`MAX_PACKET_RATE`], between a second and an hour.
fn next_sequence_check(sa: &OutboundSa) -> Duration {
    let left = sequence_limit(sa).saturating_sub(sa.next_sequence());
    Duration::from_secs(left / MAX_PACKET_RATE)
        .clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// The sequence number at which a rekey is due: 15/16 of the space.
fn sequence_limit(sa: &OutboundSa) -> u64 {
    if sa.suite().esn {
        u64::MAX / 16 * 15
    } else {
        u64::from(u32::MAX) / 16 * 15
    }
}

/// Whether the outbound SA has used 15/16 of its sequence space (RFC 4303 §3.3.3: it must
/// never wrap), so a rekey is due.
fn sequence_space_low(sa: &OutboundSa) -> bool {
    sa.next_sequence() >= sequence_limit(sa)
}

/// When the next inbound SA is due for removal, if any waits.
fn next_removal(removals: &[(Instant, ipsec_types::Spi)]) -> Option<Instant> {
    removals.iter().map(|(at, _)| *at).min()
}

/// Takes the removals due at `now` out of `removals`.
fn take_due(
    removals: &mut Vec<(Instant, ipsec_types::Spi)>,
    now: Instant,
) -> Vec<ipsec_types::Spi> {
    let mut due = Vec::new();
    removals.retain(|(at, spi)| {
        let keep = *at > now;
        if !keep {
            due.push(*spi);
        }
        keep
    });
    due
}

/// Removes inbound SAs whose grace time is over.
async fn remove_due<T: crate::platform::TunDevice + 'static>(connection: &mut Connection<T>) {
    for spi in take_due(&mut connection.removals, Instant::now()) {
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

    fn sa(esn: bool) -> OutboundSa {
        let suite = EspSuite {
            encr: EncrAlgorithm::AesGcm16_256,
            integ: None,
            esn,
        };
        let keys = esp::manual_keys(Spi::new(0x1000).unwrap(), &[7; 36], &[]);
        OutboundSa::new(suite, &keys, &EspSaConfig::default()).unwrap()
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn an_idle_tunnel_is_looked_at_twice_per_interval_and_checked_each_interval() {
        let t0 = Instant::now();
        let interval = 30 * SECOND;
        let mut liveness = Liveness::new(interval, 5, t0);
        // A first look soon after connecting, then one when the first check is due.
        assert_eq!(liveness.next_look(), t0 + SECOND);
        assert!(!liveness.look(t0 + SECOND, 5));
        assert_eq!(liveness.next_look(), t0 + interval);
        assert!(liveness.look(t0 + interval, 5));
        let mut checked = t0 + interval;
        for answers in 6..9 {
            liveness.check_sent(checked);
            // The answer is looked for a second later; then nothing until the next check.
            assert_eq!(liveness.next_look(), checked + SECOND);
            assert!(!liveness.look(checked + SECOND, answers));
            assert_eq!(liveness.next_look(), checked + interval);
            assert!(liveness.look(checked + interval, answers));
            checked += interval;
        }
    }

    #[test]
    fn a_busy_tunnel_is_looked_at_every_second_and_not_checked() {
        let t0 = Instant::now();
        let interval = 10 * SECOND;
        let mut liveness = Liveness::new(interval, 0, t0);
        let mut received = 0;
        let mut checks = 0;
        let mut now = t0;
        // Traffic flows from the start, a datagram every 100 ms.
        for _ in 0..200 {
            let next = liveness.next_look();
            assert!(next > now && next - now <= interval);
            now = next;
            received = (now - t0).as_millis() / 100;
            if liveness.look(now, u64::try_from(received).unwrap()) {
                checks += 1;
                liveness.check_sent(now);
            }
        }
        assert_eq!(checks, 0, "checked while datagrams flow");
        assert_eq!(liveness.next_look() - now, SECOND);
        // Traffic stops: the check goes out no later than one interval after the last datagram.
        let last_arrival = t0 + Duration::from_millis(u64::try_from(received).unwrap() * 100);
        loop {
            now = liveness.next_look();
            if liveness.look(now, u64::try_from(received).unwrap()) {
                break;
            }
        }
        assert!(
            now <= last_arrival + interval,
            "late by {:?}",
            now - last_arrival
        );
        assert!(
            now + SECOND >= last_arrival + interval,
            "early by {:?}",
            last_arrival + interval - now
        );
    }

    #[test]
    fn a_check_that_cannot_go_out_is_retried_soon() {
        let t0 = Instant::now();
        let interval = 3 * SECOND;
        let mut liveness = Liveness::new(interval, 0, t0);
        assert!(!liveness.look(liveness.next_look(), 0));
        assert!(liveness.look(t0 + interval, 0));
        // No check_sent (a request of ours is in flight): look again after a quarter interval.
        assert_eq!(liveness.next_look(), t0 + interval + interval / 4);
        assert_eq!(interval / 4, Duration::from_millis(750));
        assert!(liveness.look(liveness.next_look(), 0));
    }

    #[test]
    fn a_dead_gateway_is_checked_within_an_interval_of_its_last_datagram() {
        // Whatever the phase of the looks, the first check left unanswered goes out no later
        // than an interval after the gateway's last datagram.
        let interval = 3 * SECOND;
        let rtt = Duration::from_millis(10);
        for offset_ms in (0..6000).step_by(125) {
            let t0 = Instant::now();
            let mut liveness = Liveness::new(interval, 0, t0);
            let died = t0 + Duration::from_millis(offset_ms);
            let (mut received, mut last_arrival) = (0, t0);
            let unanswered = loop {
                let now = liveness.next_look();
                if !liveness.look(now, received) {
                    continue;
                }
                if now + rtt > died {
                    break now;
                }
                liveness.check_sent(now);
                // The answer, counted at the next look (which comes after it).
                assert!(liveness.next_look() > now + rtt);
                received += 1;
                last_arrival = now + rtt;
            };
            assert!(
                unanswered <= last_arrival + interval,
                "offset {offset_ms} ms: checked {:?} after the last datagram",
                unanswered - last_arrival
            );
        }
    }

    #[test]
    fn removals_wake_at_the_earliest_and_take_only_what_is_due() {
        let t0 = Instant::now();
        let spi = |n| Spi::new(n).unwrap();
        let mut removals = vec![
            (t0 + 2 * SECOND, spi(0x100)),
            (t0 + SECOND, spi(0x101)),
            (t0 + 3 * SECOND, spi(0x102)),
        ];
        assert_eq!(next_removal(&removals), Some(t0 + SECOND));
        assert!(take_due(&mut removals, t0).is_empty());
        assert_eq!(
            take_due(&mut removals, t0 + 2 * SECOND),
            [spi(0x100), spi(0x101)]
        );
        assert_eq!(next_removal(&removals), Some(t0 + 3 * SECOND));
        assert_eq!(take_due(&mut removals, t0 + 9 * SECOND), [spi(0x102)]);
        assert_eq!(next_removal(&removals), None);
    }

    #[test]
    fn the_sequence_space_is_checked_in_time_at_the_fastest_rate() {
        let plain = sa(false);
        let limit = sequence_limit(&plain);
        // A fresh SA: minutes away at the fastest rate.
        let first = next_sequence_check(&plain);
        assert!(first >= Duration::from_secs(300), "{first:?}");
        // Sending at the fastest rate until the next check never passes the rekey point.
        assert!(first.as_secs() * MAX_PACKET_RATE <= limit);
        let near = limit - 5 * MAX_PACKET_RATE;
        plain.skip_sequence_to(near);
        assert_eq!(next_sequence_check(&plain), 5 * SECOND);
        plain.skip_sequence_to(limit);
        assert_eq!(next_sequence_check(&plain), SECOND);
        assert!(limit + MAX_PACKET_RATE < u64::from(u32::MAX));
        assert_eq!(next_sequence_check(&sa(true)), Duration::from_secs(3600));
    }

    #[test]
    fn a_rekey_is_due_at_fifteen_sixteenths_of_the_sequence_space() {
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
