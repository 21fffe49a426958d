//! Disconnecting: delete the IKE SA (bounded wait for the gateway's answer), stop the datapath,
//! restore the network, drop the TUN device.

use super::connected::{Connection, teardown};
use super::{Context, Next, Platform};

pub(super) async fn run<P: Platform>(
    ctx: &mut Context<P>,
    mut connection: Box<Connection<P::Tun>>,
) -> Next<P::Tun> {
    ctx.shared.set_state(ipc::TunnelState::Disconnecting);
    if !connection
        .driver
        .close_within(ctx.config.delete_timeout)
        .await
    {
        tracing::info!("the gateway did not confirm the delete in time");
    }
    let restored = teardown(ctx, connection).await;
    if ctx.shutdown.is_some() {
        return Next::Exit;
    }
    match restored {
        Ok(()) => Next::Disconnected(None),
        Err(failure) => Next::Disconnected(Some(failure)),
    }
}
