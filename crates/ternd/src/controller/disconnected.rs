//! Disconnected, or Failed: nothing is up, the system is as we found it. Waits for a connect.

use std::sync::Arc;

use ipc::{Failure, Status, TunnelState};

use super::{Command, Context, Next, Platform};

pub(super) async fn run<P: Platform>(
    ctx: &mut Context<P>,
    failure: Option<Failure>,
) -> Next<P::Tun> {
    // Nothing may stay configured while disconnected (normally nothing is held here).
    let released = ctx.release_held().await;
    if ctx.shutdown.is_some() {
        return Next::Exit;
    }
    let failure = failure.or(released.err());
    ctx.shared.set_counters(None);
    let state = match failure {
        Some(failure) => {
            tracing::warn!(kind = ?failure.kind, "connection failed: {}", failure.message);
            TunnelState::Failed { failure }
        }
        None => TunnelState::Disconnected,
    };
    let failed = matches!(state, TunnelState::Failed { .. });
    // A failure keeps which profile and gateway it was about.
    ctx.shared.update(|s| {
        let (profile, gateway) = if failed {
            (s.profile.take(), s.gateway.take())
        } else {
            (None, None)
        };
        *s = Status {
            state,
            profile,
            gateway,
            ..Status::default()
        };
    });
    wait(ctx).await
}

/// Waits for the next command while disconnected.
pub(super) async fn wait<P: Platform>(ctx: &mut Context<P>) -> Next<P::Tun> {
    loop {
        match ctx.commands.recv().await {
            Some(Command::Connect(request)) => {
                return Next::Connecting {
                    request: Arc::clone(&request),
                    attempt: 0,
                };
            }
            // Acknowledges a failure: plain "disconnected" from now on.
            Some(Command::Disconnect) => ctx.shared.update(|s| *s = Status::default()),
            Some(Command::Shutdown(reply)) => {
                ctx.shutdown = Some(reply);
                return Next::Exit;
            }
            None => return Next::Exit,
        }
    }
}
