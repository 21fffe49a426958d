//! What the strongSwan suites of `ternd` (`ternd_e2e`, `lifecycle_e2e`) share as IPC clients:
//! the PSK connect request for the lab gateway, a runtime, and waiting for a tunnel state.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ipc::{Client, ConnectRequest, Secrets, Status, TunnelState};
use tern_e2e::templates;

/// A PSK profile for the lab gateway at `gateway`, with the lab's identities.
pub fn psk_request_to(gateway: &str, psk: &str) -> ConnectRequest {
    let mut profile = profile::Profile::new(
        profile::ProfileId::new_random(),
        "Lab",
        profile::Gateway::new(gateway),
        profile::AuthMethod::Psk,
    );
    profile.local_identity = Some(profile::Identity::parse("client@tern.test"));
    profile.remote_identity = Some(profile::Identity::parse(templates::GATEWAY_ID));
    let mut secrets = Secrets::default();
    secrets.psk = Some(psk.into());
    ConnectRequest { profile, secrets }
}

/// A single-threaded runtime for one test's IPC client.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Polls the helper's status until `done` holds; panics with the last status after `timeout`.
pub async fn wait_for_state(
    client: &mut Client,
    timeout: Duration,
    what: &str,
    done: impl Fn(&TunnelState) -> bool,
) -> Status {
    let deadline = Instant::now() + timeout;
    loop {
        let status = client.status().await.unwrap();
        if done(&status.state) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last status: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
