//! Watches the kernel's addresses, routes, policy rules and links (rtnetlink multicast groups,
//! like `ip monitor`) so that the controller checks the tunnel's path only when something
//! changed instead of asking the kernel every second. The socket belongs to the network
//! namespace of the thread that opens it, which is ternd's.
//!
//! One change brings a burst of messages (an address, its prefix route, its local route …):
//! they are gathered for [`DEBOUNCE`] and reported as one wake-up. Our own changes while
//! connecting are reported too; the controller's check then finds the path unchanged. When the
//! subscription cannot be opened (or the socket dies), the watcher wakes the controller every
//! [`POLL`] instead, as before, and says so once in the log.

use std::future::Future;
use std::sync::Once;
use std::time::Duration;

use futures::{Stream, StreamExt};
use rtnetlink::MulticastGroup;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a burst of kernel messages is gathered before the controller is woken.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// How often the controller is woken when the kernel cannot tell us about changes.
pub const POLL: Duration = Duration::from_secs(1);

/// The groups whose changes can move the route to the gateway or our source address.
const GROUPS: [MulticastGroup; 7] = [
    MulticastGroup::Link,
    MulticastGroup::Ipv4Ifaddr,
    MulticastGroup::Ipv6Ifaddr,
    MulticastGroup::Ipv4Route,
    MulticastGroup::Ipv6Route,
    MulticastGroup::Ipv4Rule,
    MulticastGroup::Ipv6Rule,
];

/// Starts the watcher on the current Tokio runtime: it sends `()` (never queuing more than
/// one) after each burst of changes. Abort the task to stop it.
pub fn spawn() -> (mpsc::Receiver<()>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(1);
    let task = match rtnetlink::new_multicast_connection(&GROUPS) {
        Ok((connection, _handle, messages)) => {
            tracing::debug!("watching the kernel's addresses, routes and links");
            tokio::spawn(watch(connection, messages, tx))
        }
        Err(error) => {
            warn_polling(&error);
            tokio::spawn(poll(tx))
        }
    };
    (rx, task)
}

/// Drives the netlink `connection` and turns its `messages` into debounced wake-ups; falls
/// back to polling if the socket goes away.
async fn watch<T>(
    connection: impl Future<Output = ()>,
    mut messages: impl Stream<Item = T> + Unpin,
    tx: mpsc::Sender<()>,
) {
    let mut connection = std::pin::pin!(connection);
    let mut due: Option<Instant> = None;
    loop {
        tokio::select! {
            () = &mut connection => break,
            message = messages.next() => {
                if message.is_none() {
                    break;
                }
                // The first message of a burst starts the wait; the others join it.
                due.get_or_insert_with(|| Instant::now() + DEBOUNCE);
            }
            () = sleep_until(due) => {
                due = None;
                if !wake(&tx) {
                    return;
                }
            }
        }
    }
    warn_polling(&"the netlink socket closed");
    poll(tx).await;
}

/// Wakes the controller every [`POLL`] until it stops listening.
async fn poll(tx: mpsc::Sender<()>) {
    let mut every = tokio::time::interval_at(Instant::now() + POLL, POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if !wake(&tx) {
            return;
        }
    }
}

/// Queues a wake-up unless one is already queued; `false` once the controller is gone.
fn wake(tx: &mpsc::Sender<()>) -> bool {
    !matches!(tx.try_send(()), Err(mpsc::error::TrySendError::Closed(())))
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

fn warn_polling(why: &dyn std::fmt::Display) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            reason = %why,
            "cannot watch the network for changes; checking the route to the gateway every second instead"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_messages_is_one_wake_up_after_the_debounce() {
        let (messages_tx, messages) = futures::channel::mpsc::unbounded::<u32>();
        let (tx, mut rx) = mpsc::channel(1);
        let watcher = tokio::spawn(watch(std::future::pending(), messages, tx));
        for i in 0..5 {
            messages_tx.unbounded_send(i).unwrap();
        }
        let started = Instant::now();
        rx.recv().await.unwrap();
        assert_eq!(started.elapsed(), DEBOUNCE);
        // Quiet afterwards: no more wake-ups, no polling.
        let more = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await;
        assert!(more.is_err(), "one wake-up per burst");
        // The next change wakes again.
        messages_tx.unbounded_send(9).unwrap();
        rx.recv().await.unwrap();
        watcher.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_socket_falls_back_to_polling() {
        let (messages_tx, messages) = futures::channel::mpsc::unbounded::<u32>();
        let (tx, mut rx) = mpsc::channel(1);
        let watcher = tokio::spawn(watch(std::future::ready(()), messages, tx));
        let started = Instant::now();
        rx.recv().await.unwrap();
        rx.recv().await.unwrap();
        assert_eq!(started.elapsed(), POLL * 2);
        drop(messages_tx);
        watcher.abort();
    }

    #[test]
    fn an_address_change_in_this_namespace_wakes_the_watcher() {
        let test = "an_address_change_in_this_namespace_wakes_the_watcher";
        let result = std::thread::spawn(move || {
            if let Err(error) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
                if std::env::var("TERN_E2E").as_deref() == Ok("require") {
                    panic!(
                        "{test}: TERN_E2E=require but cannot create a network namespace: {error}"
                    );
                }
                eprintln!("SKIPPED: {test}: cannot create a network namespace: {error}");
                return;
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let (mut changes, watcher) = spawn();
                let (connection, handle, _) = rtnetlink::new_connection().unwrap();
                tokio::spawn(connection);
                let lo = handle
                    .link()
                    .get()
                    .match_name("lo")
                    .execute()
                    .next()
                    .await
                    .unwrap()
                    .unwrap()
                    .header
                    .index;
                // Nothing happened yet: no wake-up (and no polling).
                let early = tokio::time::timeout(POLL * 2, changes.recv()).await;
                assert!(early.is_err(), "woken without a change");
                handle
                    .address()
                    .add(lo, "192.0.2.1".parse().unwrap(), 24)
                    .execute()
                    .await
                    .unwrap();
                let woke = tokio::time::timeout(Duration::from_secs(5), changes.recv()).await;
                assert_eq!(woke, Ok(Some(())), "no wake-up after an address change");
                watcher.abort();
            });
        })
        .join();
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}
