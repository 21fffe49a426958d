//! The controller against platform fakes and a "gateway" that never answers (a loopback UDP
//! socket): refusals, failures and their classes, cancellation and shutdown. No root needed.
//! The successful path runs against strongSwan in `tests/ternd_e2e.rs`.

use std::sync::Arc;
use std::time::Duration;

use ike::RetransmitConfig;
use ipc::{ConnectRequest, ConnectStage, ErrorCode, Event, FailureKind, Secrets, TunnelState};
use profile::{AuthMethod, Gateway, Profile, ProfileId};

use super::platform::FakePlatform;
use super::{Controller, ControllerConfig};
use crate::ipc_server::Service;
use crate::platform::fake::FakeNetwork;

fn fast_config() -> ControllerConfig {
    ControllerConfig {
        retransmit: RetransmitConfig {
            initial_timeout: Duration::from_millis(50),
            max_retransmits: 2,
            total_timeout: Duration::from_millis(400),
        },
        delete_timeout: Duration::from_millis(100),
        reconnect_delay: Duration::from_millis(10),
        ..ControllerConfig::default()
    }
}

fn request(host: &str, port: u16, psk: Option<&str>) -> ConnectRequest {
    let mut profile = Profile::new(
        ProfileId::new_random(),
        "Test",
        Gateway {
            host: host.into(),
            port,
        },
        AuthMethod::Psk,
    );
    profile.remote_identity = Some(profile::Identity::parse("gw.example.org"));
    let mut secrets = Secrets::default();
    secrets.psk = psk.map(str::to_owned);
    ConnectRequest { profile, secrets }
}

/// A UDP socket on loopback that reads and never answers: an unreachable gateway that still
/// accepts packets (no ICMP errors).
async fn silent_gateway() -> (tokio::net::UdpSocket, u16) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

fn start() -> (Arc<Controller>, tokio::task::JoinHandle<()>, FakeNetwork) {
    let network = FakeNetwork::new();
    let (platform, _tuns) = FakePlatform::new(network.clone());
    let (controller, task) = Controller::spawn(platform, fast_config(), None);
    (controller, task, network)
}

async fn wait_for(
    controller: &Controller,
    what: &str,
    done: impl Fn(&TunnelState) -> bool,
) -> TunnelState {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let state = controller.status().state;
        if done(&state) {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; state {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn refuses_bad_requests_without_starting_anything() {
    let (controller, _task, network) = start();
    let err = controller
        .connect(request("198.51.100.1", 500, None))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::MissingSecret);
    let err = controller
        .connect(request("bad host!", 500, Some("k")))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidProfile);
    assert_eq!(controller.status().state, TunnelState::Disconnected);
    let err = controller.disconnect().unwrap_err();
    assert_eq!(err.code, ErrorCode::NotConnected);
    assert!(controller.set_log_level(ipc::LogLevel::Debug).is_err());
    assert_eq!(network.state().lock().unwrap().apply_calls, 0);
}

#[tokio::test]
async fn a_silent_gateway_fails_as_unreachable_and_events_tell_the_story() {
    let (controller, task, network) = start();
    let (_gateway, port) = silent_gateway().await;
    let mut events = controller.subscribe();
    controller
        .connect(request("127.0.0.1", port, Some("secret")))
        .unwrap();
    // While it tries, a second connect is refused.
    let err = controller
        .connect(request("127.0.0.1", port, Some("secret")))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::AlreadyConnected);

    let state = wait_for(&controller, "Failed", |s| {
        matches!(s, TunnelState::Failed { .. })
    })
    .await;
    let TunnelState::Failed { failure } = state else {
        unreachable!()
    };
    assert_eq!(failure.kind, FailureKind::GatewayUnreachable, "{failure:?}");
    assert!(
        failure.message.contains("did not answer"),
        "{}",
        failure.message
    );
    let status = controller.status();
    assert_eq!(status.gateway.as_deref(), Some("127.0.0.1"));
    assert_eq!(status.profile.as_ref().unwrap().name, "Test");

    let mut seen = Vec::new();
    while let Ok(Event::Status(status)) = events.try_recv() {
        seen.push(status.state.clone());
    }
    assert!(
        seen.contains(&TunnelState::Connecting {
            stage: ConnectStage::ContactingGateway
        }),
        "{seen:?}"
    );
    assert!(
        matches!(seen.last(), Some(TunnelState::Failed { .. })),
        "{seen:?}"
    );
    assert_eq!(network.state().lock().unwrap().apply_calls, 0);

    // Failed accepts a new connect, and a disconnect clears the failure.
    controller.disconnect().unwrap();
    wait_for(&controller, "Disconnected", |s| {
        *s == TunnelState::Disconnected
    })
    .await;
    controller.shutdown().await;
    task.await.unwrap();
}

#[tokio::test]
async fn disconnect_while_contacting_the_gateway_stops_at_once() {
    let (controller, _task, _network) = start();
    let (gateway, port) = silent_gateway().await;
    controller
        .connect(request("127.0.0.1", port, Some("secret")))
        .unwrap();
    // The IKE_SA_INIT arrived: the controller is waiting for an answer.
    let mut buf = [0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(5), gateway.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(n > 28, "an IKE message");
    assert_eq!(buf[17], 0x20, "IKEv2");
    assert_eq!(buf[18], 34, "IKE_SA_INIT");
    controller.disconnect().unwrap();
    wait_for(&controller, "Disconnected", |s| {
        *s == TunnelState::Disconnected
    })
    .await;
    assert_eq!(controller.status().gateway, None);
}

#[tokio::test]
async fn an_unresolvable_gateway_fails_as_unreachable() {
    let (controller, _task, _network) = start();
    controller
        .connect(request("does-not-exist.invalid", 500, Some("secret")))
        .unwrap();
    let state = wait_for(&controller, "Failed", |s| {
        matches!(s, TunnelState::Failed { .. })
    })
    .await;
    let TunnelState::Failed { failure } = state else {
        unreachable!()
    };
    assert_eq!(failure.kind, FailureKind::GatewayUnreachable);
    assert!(
        failure.message.contains("does-not-exist.invalid"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn shutdown_while_connecting_ends_the_task() {
    let (controller, task, _network) = start();
    let (_gateway, port) = silent_gateway().await;
    controller
        .connect(request("127.0.0.1", port, Some("secret")))
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), controller.shutdown())
        .await
        .unwrap();
    task.await.unwrap();
    // The task is gone: requests are refused, never hang.
    assert!(
        controller.disconnect().is_err() || controller.status().state != TunnelState::Connected
    );
}
