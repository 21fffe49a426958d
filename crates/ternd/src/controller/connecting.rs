//! Connecting: resolve the gateway, open the marked sockets, run IKE_SA_INIT and IKE_AUTH, then
//! build the ESP SAs, create the TUN device, point the network at it and start the datapath.
//!
//! Order matters for leaks and loops: the sockets get their bypass (firewall mark) before the
//! first IKE packet, and the network is pointed at the TUN only after the CHILD_SA is up and the
//! TUN exists, so neither the tunnel's own packets nor anyone's traffic ever meet a tunnel
//! without keys.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use esp::EspSaConfig;
use ike::{Event, Initiator, Stage, crypto::SystemRandom};
use ipc::{ConnectStage, ConnectionInfo, Failure, FailureKind, TunnelState};
use tokio::sync::{mpsc, watch};

use super::connected::Connection;
use super::failure::{self, is_transient};
use super::request::{self, CheckedRequest};
use super::{Command, Context, Next, Platform};
use crate::platform::{NetworkConfigurator, TunConfig, TunDevice};
use crate::tunnel::datapath::{self, Counters, InboundChild, InboundControl};
use crate::tunnel::ike_driver::{IKE_QUEUE, IkeDriver};
use crate::tunnel::sockets::TunnelSockets;

/// The key-exchange group each gateway chose last, so that the next connect's IKE_SA_INIT
/// carries it first and the gateway need not ask for it with INVALID_KE_PAYLOAD (one round
/// trip saved; issue #11).
///
/// It lives in the helper, keyed by profile and gateway: every client (CLI, GUI) gets it
/// without a field in the IPC protocol, no client can steer it, and it holds no secret. It
/// lasts as long as `ternd` runs, so reconnects and later connects benefit; the first connect
/// after a restart may pay the extra round trip once, which is cheaper than a state file to
/// validate. A stale entry costs nothing either: the full proposal list is still offered,
/// and the gateway's INVALID_KE_PAYLOAD answer leads to the group it wants, remembered anew.
#[derive(Debug, Default)]
pub(super) struct KeGroupMemory {
    chosen: HashMap<GatewayKey, ipsec_types::DhGroup>,
}

/// A profile's gateway: its id, host name (or address) and port as the profile says.
type GatewayKey = (profile::ProfileId, String, u16);

impl KeGroupMemory {
    /// Entries kept at most; profiles come from clients, so the map must not grow without end.
    const CAPACITY: usize = 64;

    fn key(profile: &profile::Profile) -> GatewayKey {
        (
            profile.id,
            profile.gateway.host.clone(),
            profile.gateway.port,
        )
    }

    /// The group to send first to this profile's gateway, if one was chosen before.
    pub(super) fn first_group(&self, profile: &profile::Profile) -> Option<ipsec_types::DhGroup> {
        self.chosen.get(&Self::key(profile)).copied()
    }

    /// Remembers the group the gateway chose in an established IKE SA.
    pub(super) fn remember(&mut self, profile: &profile::Profile, group: ipsec_types::DhGroup) {
        let key = Self::key(profile);
        if self.chosen.len() >= Self::CAPACITY && !self.chosen.contains_key(&key) {
            // Rare (64 gateways in one helper's life): forgetting costs one round trip each.
            self.chosen.clear();
        }
        self.chosen.insert(key, group);
    }
}

/// How a connect attempt ended, other than with a failure.
enum Outcome<T> {
    Connected(Box<Connection<T>>),
    /// A disconnect or shutdown came in.
    Cancelled,
}

pub(super) async fn run<P: Platform>(
    ctx: &mut Context<P>,
    request: Arc<CheckedRequest>,
    attempt: u32,
) -> Next<P::Tun> {
    match establish(ctx, &request, attempt).await {
        Ok(Outcome::Connected(connection)) => Next::Connected(connection),
        Ok(Outcome::Cancelled) if ctx.shutdown.is_some() => {
            let _ = ctx.release_held().await;
            Next::Exit
        }
        Ok(Outcome::Cancelled) => Next::Disconnected(ctx.release_held().await.err()),
        Err(failure) => {
            if attempt > 0 && is_transient(&failure) && attempt < ctx.config.reconnect_attempts {
                Next::Reconnecting {
                    request,
                    attempt: attempt + 1,
                    reason: failure.message,
                }
            } else {
                Next::Disconnected(Some(failure))
            }
        }
    }
}

/// What a command means while connecting: `true` to stop.
fn cancels(
    ctx_shutdown: &mut Option<tokio::sync::oneshot::Sender<()>>,
    command: Option<Command>,
) -> bool {
    match command {
        Some(Command::Disconnect) | None => true,
        Some(Command::Shutdown(reply)) => {
            *ctx_shutdown = Some(reply);
            true
        }
        // The IPC side refuses connects unless disconnected.
        Some(Command::Connect(_)) => false,
    }
}

fn stage<P: Platform>(ctx: &Context<P>, attempt: u32, stage: ConnectStage) {
    // While reconnecting the status keeps saying so (with the attempt number).
    if attempt == 0 {
        ctx.shared.set_state(TunnelState::Connecting { stage });
    }
}

async fn resolve(host: &str, port: u16, prefer_ipv6: bool) -> Result<SocketAddr, Failure> {
    let unreachable = |message: String| Failure {
        kind: FailureKind::GatewayUnreachable,
        message,
    };
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| unreachable(format!("cannot resolve the gateway name {host}: {e}")))?
        .collect();
    addresses
        .iter()
        .find(|a| a.is_ipv6() == prefer_ipv6)
        .or_else(|| addresses.first())
        .copied()
        .ok_or_else(|| unreachable(format!("the gateway name {host} has no address")))
}

async fn establish<P: Platform>(
    ctx: &mut Context<P>,
    request: &Arc<CheckedRequest>,
    attempt: u32,
) -> Result<Outcome<P::Tun>, Failure> {
    let profile = &request.profile;
    let started = Instant::now();

    // 1. The gateway's address.
    stage(ctx, attempt, ConnectStage::Resolving);
    let lookup = tokio::time::timeout(
        ctx.config.resolve_timeout,
        resolve(
            &profile.gateway.host,
            profile.gateway.port,
            profile.prefer_ipv6_transport,
        ),
    );
    let gateway = tokio::select! {
        result = lookup => match result {
            Ok(result) => result?,
            Err(_) => return Err(Failure {
                kind: FailureKind::GatewayUnreachable,
                message: format!("resolving the gateway name {} took too long", profile.gateway.host),
            }),
        },
        command = ctx.commands.recv() => {
            if cancels(&mut ctx.shutdown, command) {
                return Ok(Outcome::Cancelled);
            }
            return Err(Failure { kind: FailureKind::Internal, message: "connect interrupted".into() });
        }
    };
    ctx.shared
        .update(|s| s.gateway = Some(gateway.ip().to_string()));
    tracing::info!(%gateway, profile = %profile.id, "connecting");

    // 2. Sockets, bypassing the tunnel from the first packet on.
    stage(ctx, attempt, ConnectStage::ContactingGateway);
    let bypass = ctx.platform.socket_bypass();
    let sockets = {
        let platform = &ctx.platform;
        TunnelSockets::open(gateway, &|fd| platform.bypass_socket(fd, bypass))
            .map_err(|e| failure::local_io("cannot open the tunnel's UDP sockets", &e))?
    };
    let local = sockets
        .ike
        .local_addr()
        .map_err(|e| failure::local_io("cannot read the IKE socket's address", &e))?;
    let mut config = request::initiator_config(request, gateway, local, ctx.config.retransmit)?;
    config.lifecycle = lifecycle_config(profile, &ctx.config);
    config.first_ke_group = ctx.ke_groups.first_group(profile);
    let initiator = Initiator::new(config, Instant::now(), Box::new(SystemRandom))
        .map_err(|e| failure::from_ike(&e))?;
    let counters = Arc::new(Counters::default());
    let (ike_tx, ike_rx) = mpsc::channel(IKE_QUEUE);
    let (inbound_tx, inbound_rx) = mpsc::channel::<InboundControl<P::Tun>>(8);
    let nat_t_reader = AbortOnDrop(tokio::spawn(datapath::run_nat_t_reader(
        Arc::clone(&sockets.nat_t),
        ike_tx.clone(),
        inbound_rx,
        Arc::clone(&counters),
    )));
    let mut driver = IkeDriver::new(initiator, sockets, ike_rx, ike_tx);

    // 3. IKE_SA_INIT and IKE_AUTH.
    let child = loop {
        tokio::select! {
            event = driver.next_event() => match event {
                Event::Stage(Stage::Authenticating) => stage(ctx, attempt, ConnectStage::Authenticating),
                Event::Stage(s) => tracing::debug!(stage = ?s, "IKE"),
                Event::ChildSaEstablished(child) => break child,
                Event::Closed { reason } => return Err(failure::from_close(&reason)),
                Event::ChildSaRekeyed { .. }
                | Event::ChildSaActive { .. }
                | Event::PathUpdated { .. }
                | Event::ChildSaDeleted { .. }
                | Event::IkeSaRekeyed { .. } => {}
            },
            command = ctx.commands.recv() => {
                if cancels(&mut ctx.shutdown, command) {
                    driver.close_within(ctx.config.delete_timeout).await;
                    return Ok(Outcome::Cancelled);
                }
            }
        }
    };
    ctx.ke_groups.remember(profile, child.ike_suite.dh);
    let handshake = started.elapsed();
    tracing::info!(
        ms = handshake.as_millis(),
        esp = %child.esp_suite,
        gateway_id = ?child.remote_id,
        "IKE SA and CHILD_SA established"
    );

    // 4. ESP, TUN, network. Commands wait until this is done (it is short).
    stage(ctx, attempt, ConnectStage::ConfiguringNetwork);
    match configure(
        ctx,
        request,
        *child,
        driver,
        counters,
        inbound_tx,
        nat_t_reader,
        gateway,
        handshake,
    )
    .await
    {
        Ok(connection) => Ok(Outcome::Connected(connection)),
        Err((failure, mut driver)) => {
            driver.close_within(ctx.config.delete_timeout).await;
            if let Err(error) = ctx.platform.network().restore().await {
                tracing::error!(%error, "could not restore the network after a failed connect");
            }
            Err(failure)
        }
    }
}

/// Rekey and dead-peer timers: the profile's, or the controller's overrides.
fn lifecycle_config(
    profile: &profile::Profile,
    config: &super::ControllerConfig,
) -> ike::LifecycleConfig {
    let secs = |s: Option<u32>| s.map(|s| std::time::Duration::from_secs(u64::from(s)));
    let defaults = ike::LifecycleConfig::default();
    let child_rekey = config
        .timer_overrides
        .child_rekey
        .or(secs(profile.lifetimes.child_secs))
        .or(defaults.child_rekey);
    let ike_rekey = config
        .timer_overrides
        .ike_rekey
        .or(secs(profile.lifetimes.ike_secs))
        .or(defaults.ike_rekey);
    // Rekeys start up to a tenth of the lifetime early (strongSwan's default randomization),
    // at most a minute.
    let rekey_jitter = child_rekey
        .into_iter()
        .chain(ike_rekey)
        .map(|l| l / 10)
        .min()
        .unwrap_or_default()
        .min(defaults.rekey_jitter);
    ike::LifecycleConfig {
        child_rekey,
        ike_rekey,
        rekey_jitter,
        dpd_timeout: config.dpd_timeout,
        ..defaults
    }
}

/// strongSwan's way of writing an IKE suite: `aes256gcm16-prfsha256-curve25519`.
pub(super) fn ike_suite_name(suite: &ike::crypto::IkeSuite) -> String {
    let mut name = suite.encr.to_string();
    if let Some(integ) = suite.integ {
        name.push('-');
        name.push_str(&integ.to_string());
    }
    format!("{name}-{}-{}", suite.prf, suite.dh)
}

/// Aborts a task when dropped.
pub(super) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[allow(clippy::too_many_arguments)]
async fn configure<P: Platform>(
    ctx: &mut Context<P>,
    request: &Arc<CheckedRequest>,
    child: ike::ChildSaEstablished,
    driver: IkeDriver,
    counters: Arc<Counters>,
    inbound_tx: mpsc::Sender<InboundControl<P::Tun>>,
    nat_t_reader: AbortOnDrop,
    gateway: SocketAddr,
    handshake: std::time::Duration,
) -> Result<Box<Connection<P::Tun>>, (Failure, IkeDriver)> {
    let ike::ChildSaEstablished {
        keys,
        ts_local,
        ts_remote,
        config: cp,
        nat,
        esp_destination,
        ike_suite,
        esp_suite,
        remote_id: _,
    } = child;
    let profile = &request.profile;
    if !nat.udp_encapsulation {
        let failure = Failure {
            kind: FailureKind::ProtocolError,
            message: "the VPN gateway did not agree to encapsulate ESP in UDP, which Tern needs"
                .into(),
        };
        return Err((failure, driver));
    }
    if esp_destination != SocketAddr::new(gateway.ip(), crate::tunnel::sockets::NAT_T_PORT) {
        tracing::warn!(%esp_destination, "ESP destination differs from the NAT-T socket's peer");
    }
    let sas = esp::sa_pair(&keys, &EspSaConfig::default());
    // The ESP SAs hold their own copies (or none on error): the raw keys go now.
    drop(keys);
    let (outbound, inbound) = match sas {
        Ok(pair) => pair,
        Err(error) => {
            let failure = Failure {
                kind: FailureKind::Internal,
                message: format!("cannot set up ESP with the negotiated keys: {error}"),
            };
            return Err((failure, driver));
        }
    };

    let mtu = request::tunnel_mtu(profile, ctx.config.path_mtu, gateway.ip(), &esp_suite);
    // After a lost connection: the same TUN and network configuration, if nothing changed.
    let reusable = match ctx.held.take() {
        Some(held)
            if held.mtu == mtu
                && held.plan
                    == request::network_plan(
                        profile,
                        &cp,
                        &ts_remote,
                        held.tun.interface(),
                        gateway.ip(),
                    ) =>
        {
            Some(held)
        }
        Some(held) => {
            ctx.held = Some(held);
            if let Err(failure) = ctx.release_held().await {
                return Err((failure, driver));
            }
            None
        }
        None => None,
    };
    let reused = reusable.is_some();
    let (tun, plan) = match reusable {
        Some(held) => (held.tun, held.plan),
        None => {
            let tun = match ctx.platform.create_tun(&TunConfig {
                name: ctx.config.tun_name.clone(),
                mtu,
            }) {
                Ok(tun) => Arc::new(tun),
                Err(error) => return Err((failure::from_platform(&error), driver)),
            };
            let plan =
                request::network_plan(profile, &cp, &ts_remote, tun.interface(), gateway.ip());
            (tun, plan)
        }
    };
    // The datapath starts before the routes point at the TUN, so the first packets flow.
    let inbound_child = InboundChild {
        sa: inbound,
        ts_local,
        ts_remote,
        tun: Arc::clone(&tun),
    };
    if inbound_tx
        .send(InboundControl::Install(Box::new(inbound_child)))
        .await
        .is_err()
    {
        let failure = Failure {
            kind: FailureKind::Internal,
            message: "the ESP receive task ended unexpectedly".into(),
        };
        return Err((failure, driver));
    }
    let (outbound_tx, outbound_rx) = watch::channel(Arc::new(outbound));
    let tun_reader = AbortOnDrop(tokio::spawn(datapath::run_tun_reader(
        Arc::clone(&tun),
        Arc::clone(&driver.sockets().nat_t),
        outbound_rx,
        Arc::clone(&counters),
    )));

    if reused {
        tracing::info!(
            interface = %plan.interface.name,
            "kept the network configuration of the previous connection"
        );
    } else {
        let applied = match ctx.platform.network().apply(&plan).await {
            Ok(applied) => applied,
            Err(error) => return Err((failure::from_platform(&error), driver)),
        };
        if applied.socket_bypass != ctx.platform.socket_bypass() {
            let platform = &ctx.platform;
            if let Err(error) = driver
                .sockets()
                .reprepare(&|fd| platform.bypass_socket(fd, applied.socket_bypass))
            {
                return Err((
                    failure::local_io("cannot mark the tunnel's sockets", &error),
                    driver,
                ));
            }
        }
        tracing::info!(
            interface = %plan.interface.name,
            mtu,
            changes = applied.changes,
            dns = ?applied.dns,
            "network configured"
        );
    }

    let routes = match &plan.routing {
        crate::platform::RoutingMode::Full => vec!["0.0.0.0/0".to_owned(), "::/0".to_owned()],
        crate::platform::RoutingMode::Split { prefixes } => {
            prefixes.iter().map(ToString::to_string).collect()
        }
    };
    let info = ConnectionInfo {
        virtual_ips: plan.addresses.iter().map(|a| a.addr).collect(),
        dns_servers: plan
            .dns
            .as_ref()
            .map(|d| d.servers.clone())
            .unwrap_or_default(),
        dns_domains: plan
            .dns
            .as_ref()
            .map(|d| d.domains.clone())
            .unwrap_or_default(),
        routes,
        ike_suite: ike_suite_name(&ike_suite),
        esp_suite: esp_suite.to_string(),
        local_behind_nat: nat.local_behind_nat,
        remote_behind_nat: nat.remote_behind_nat,
        connected_at_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        handshake_ms: u64::try_from(handshake.as_millis()).unwrap_or(u64::MAX),
        rekeys: 0,
    };
    Ok(Box::new(Connection {
        request: Arc::clone(request),
        plan,
        mtu,
        driver,
        tun,
        counters,
        outbound: outbound_tx,
        staged: Vec::new(),
        removals: Vec::new(),
        inbound: inbound_tx,
        nat_t_reader,
        tun_reader,
        info,
        request_dpd: ctx.config.timer_overrides.dpd_interval.or(profile
            .dpd
            .interval_secs
            .map(|s| std::time::Duration::from_secs(u64::from(s)))),
        nat_keepalive_secs: profile.nat_keepalive_secs,
    }))
}

#[cfg(test)]
mod tests {
    use ipsec_types::DhGroup;
    use profile::{AuthMethod, Gateway, Profile, ProfileId};

    use super::KeGroupMemory;

    fn profile(host: &str) -> Profile {
        Profile::new(
            ProfileId::new_random(),
            "Work",
            Gateway::new(host),
            AuthMethod::Psk,
        )
    }

    #[test]
    fn the_group_is_remembered_per_profile_and_gateway() {
        let mut memory = KeGroupMemory::default();
        let work = profile("vpn.example.org");
        assert_eq!(memory.first_group(&work), None);
        memory.remember(&work, DhGroup::Ecp384);
        assert_eq!(memory.first_group(&work), Some(DhGroup::Ecp384));
        // Another gateway in the same profile (edited) starts from the default again.
        let mut moved = work.clone();
        moved.gateway = Gateway::new("vpn2.example.org");
        assert_eq!(memory.first_group(&moved), None);
        // The latest choice wins.
        memory.remember(&work, DhGroup::Modp2048);
        assert_eq!(memory.first_group(&work), Some(DhGroup::Modp2048));
    }

    #[test]
    fn the_memory_stays_bounded() {
        let mut memory = KeGroupMemory::default();
        for _ in 0..KeGroupMemory::CAPACITY * 3 {
            memory.remember(&profile("vpn.example.org"), DhGroup::Ecp256);
            assert!(memory.chosen.len() <= KeGroupMemory::CAPACITY);
        }
    }
}
