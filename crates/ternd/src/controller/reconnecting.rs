//! Reconnecting: the connection was lost (the gateway deleted it, or stopped answering). The
//! old tunnel is already torn down; wait a back-off delay, then connect again.

use std::sync::Arc;

use ipc::TunnelState;

use super::request::CheckedRequest;
use super::{Command, Context, Next, Platform};

pub(super) async fn run<P: Platform>(
    ctx: &mut Context<P>,
    request: Arc<CheckedRequest>,
    attempt: u32,
    reason: String,
) -> Next<P::Tun> {
    tracing::info!(attempt, %reason, "reconnecting");
    ctx.shared.update(|s| {
        s.state = TunnelState::Reconnecting {
            attempt,
            reason: reason.clone(),
        };
        s.connection = None;
    });
    let doublings = attempt.saturating_sub(1).min(16);
    let delay = ctx
        .config
        .reconnect_delay
        .saturating_mul(1 << doublings)
        .min(ctx.config.reconnect_max_delay);
    tokio::select! {
        () = tokio::time::sleep(delay) => Next::Connecting { request, attempt },
        command = ctx.commands.recv() => match command {
            Some(Command::Disconnect) => {
                ctx.shared.set_state(TunnelState::Disconnecting);
                Next::Disconnected(ctx.release_held().await.err())
            }
            Some(Command::Shutdown(reply)) => {
                ctx.shutdown = Some(reply);
                let _ = ctx.release_held().await;
                Next::Exit
            }
            None => {
                let _ = ctx.release_held().await;
                Next::Exit
            }
            // Refused by the IPC side while not disconnected.
            Some(Command::Connect(_)) => Next::Connecting { request, attempt },
        },
    }
}
