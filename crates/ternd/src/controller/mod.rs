//! The connection controller: one task that owns the tunnel's life, as a state machine with one
//! file per state (after mullvad's `tunnel_state_machine`):
//!
//! ```text
//! Disconnected ──connect──▶ Connecting(stage) ──CHILD_SA up, network set──▶ Connected
//!      ▲   (or Failed)          │ failure                                   │ SA lost
//!      │                        ▼                                           ▼
//!      └────── Disconnecting ◀── disconnect ── Reconnecting(attempt) ◀──────┘
//! ```
//!
//! Each state's `run` takes the [`Context`] and returns the next [`Next`] state. The IPC side
//! ([`Controller`], which implements [`crate::ipc_server::Service`]) checks requests, updates the
//! published status for the synchronous answer, and hands commands to the task.
//!
//! Rules:
//! - Nothing from a client is trusted: profiles are validated, secrets checked before anything
//!   is started ([`request`]).
//! - Secrets live only in the [`request::CheckedRequest`] (zeroized on drop) and the IKE
//!   initiator; CHILD_SA keys are dropped as soon as the ESP SAs are built.
//! - Every path out of a connected or half-connected state restores the network.

mod connected;
mod connecting;
mod disconnected;
mod disconnecting;
pub mod failure;
pub mod platform;
mod reconnecting;
pub mod request;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ike::RetransmitConfig;
use ipc::{
    ConnectRequest, ErrorCode, ErrorReply, Event, Failure, LogLevel, ProfileSummary, Status,
    TunnelState,
};
use tokio::sync::{Notify, broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

pub use self::platform::Platform;
use self::request::CheckedRequest;
use crate::ipc_server::Service;
use crate::platform::NetworkConfigurator;
use crate::tunnel::datapath::Counters;

/// How many status events may queue for a slow subscriber before it loses some.
const EVENT_CAPACITY: usize = 64;

/// Tunables of the controller (defaults suit production; tests shorten the timers).
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Name of the TUN device (`tern0`); `None` lets the OS pick.
    pub tun_name: Option<String>,
    /// Path MTU assumed toward the gateway when the profile sets no tunnel MTU.
    pub path_mtu: u16,
    /// IKE retransmission policy.
    pub retransmit: RetransmitConfig,
    /// How long a disconnect waits for the gateway to answer our Delete.
    pub delete_timeout: Duration,
    /// How long resolving the gateway's name may take.
    pub resolve_timeout: Duration,
    /// First reconnect delay; doubled per attempt up to `reconnect_max_delay`.
    pub reconnect_delay: Duration,
    /// Longest reconnect delay.
    pub reconnect_max_delay: Duration,
    /// Reconnect attempts before giving up (state `Failed`).
    pub reconnect_attempts: u32,
    /// How often traffic statistics are published while connected.
    pub stats_interval: Duration,
    /// NAT keepalive interval when the profile sets none.
    pub nat_keepalive: Duration,
    /// A liveness check unanswered this long means the gateway is dead (then: reconnect).
    pub dpd_timeout: Duration,
    /// Overrides for the profile's timers, which profiles may not set this short: tests use
    /// them to rekey every few seconds.
    pub timer_overrides: TimerOverrides,
}

/// Timers that replace the profile's (see [`ControllerConfig::timer_overrides`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerOverrides {
    /// CHILD_SA rekey interval.
    pub child_rekey: Option<Duration>,
    /// IKE SA rekey interval.
    pub ike_rekey: Option<Duration>,
    /// Silence after which a liveness check is sent.
    pub dpd_interval: Option<Duration>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            tun_name: Some("tern0".into()),
            path_mtu: 1500,
            retransmit: RetransmitConfig {
                initial_timeout: Duration::from_secs(1),
                max_retransmits: 4,
                total_timeout: Duration::from_secs(30),
            },
            delete_timeout: Duration::from_secs(3),
            resolve_timeout: Duration::from_secs(10),
            reconnect_delay: Duration::from_secs(1),
            reconnect_max_delay: Duration::from_secs(60),
            reconnect_attempts: 10,
            stats_interval: Duration::from_secs(1),
            nat_keepalive: Duration::from_secs(20),
            dpd_timeout: Duration::from_secs(30),
            timer_overrides: TimerOverrides::default(),
        }
    }
}

/// Changes the helper's log level (main installs one backed by a `tracing` reload handle).
pub type LogLevelSetter = Arc<dyn Fn(LogLevel) -> Result<(), String> + Send + Sync>;

/// What the IPC side asks of the task.
enum Command {
    /// Connect with this (checked) request.
    Connect(Arc<CheckedRequest>),
    /// Take the tunnel down.
    Disconnect,
    /// Take the tunnel down and end the task; answer when the system is restored.
    Shutdown(oneshot::Sender<()>),
}

/// What both sides share: the published status and the event stream.
struct Shared {
    status: Mutex<Status>,
    counters: Mutex<Option<Arc<Counters>>>,
    events: broadcast::Sender<Event>,
    /// Wakes the connected state when a client subscribes to events: it publishes traffic
    /// statistics only while someone listens.
    new_subscriber: Notify,
}

impl Shared {
    /// Whether any client listens to events.
    fn has_subscribers(&self) -> bool {
        self.events.receiver_count() > 0
    }

    fn status(&self) -> Status {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(counters) = &*self.counters.lock().unwrap_or_else(PoisonError::into_inner) {
            status.traffic = counters.snapshot();
        }
        status
    }

    /// Changes the status with `change` and publishes it.
    fn update(&self, change: impl FnOnce(&mut Status)) {
        {
            let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
            change(&mut status);
        }
        self.publish();
    }

    fn publish(&self) {
        // No subscriber is fine.
        let _ = self.events.send(Event::Status(Box::new(self.status())));
    }

    fn set_state(&self, state: TunnelState) {
        tracing::debug!(?state, "tunnel state");
        self.update(|s| s.state = state);
    }

    fn set_counters(&self, counters: Option<Arc<Counters>>) {
        *self.counters.lock().unwrap_or_else(PoisonError::into_inner) = counters;
    }
}

/// Everything a state handler works with.
struct Context<P: Platform> {
    platform: P,
    commands: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    config: ControllerConfig,
    /// Set when a shutdown was asked for: answer it once the system is restored.
    shutdown: Option<oneshot::Sender<()>>,
    /// While reconnecting: the previous connection's TUN device and network configuration,
    /// kept so traffic keeps going into the (keyless, hence dropping) tunnel instead of
    /// leaking outside it. Reused when the new connection needs the same plan.
    held: Option<connected::Held<P::Tun>>,
    /// The key-exchange group each gateway chose last.
    ke_groups: connecting::KeGroupMemory,
}

impl<P: Platform> Context<P> {
    /// Restores the network and drops the TUN device of a held connection, if any.
    async fn release_held(&mut self) -> Result<(), Failure> {
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        tracing::debug!("releasing the previous connection's network configuration");
        let restored = self.platform.network().restore().await;
        drop(held);
        restored.map_err(|error| {
            tracing::error!(%error, "could not restore the network");
            failure::from_platform(&error)
        })
    }
}

/// The next state, as returned by each state's handler.
enum Next<T> {
    Disconnected(Option<Failure>),
    Connecting {
        request: Arc<CheckedRequest>,
        /// 0 for a user's connect; reconnect attempts count from 1.
        attempt: u32,
    },
    Connected(Box<connected::Connection<T>>),
    Reconnecting {
        request: Arc<CheckedRequest>,
        attempt: u32,
        reason: String,
    },
    Disconnecting(Box<connected::Connection<T>>),
    Exit,
}

/// The IPC-facing handle of the controller; cheap to share.
pub struct Controller {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    log_level: Option<LogLevelSetter>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller").finish_non_exhaustive()
    }
}

impl Controller {
    /// Starts the controller's task on the current Tokio runtime. Run the platform's `recover`
    /// before this.
    pub fn spawn<P: Platform>(
        platform: P,
        config: ControllerConfig,
        log_level: Option<LogLevelSetter>,
    ) -> (Arc<Self>, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            status: Mutex::new(Status::default()),
            counters: Mutex::new(None),
            events: broadcast::channel(EVENT_CAPACITY).0,
            new_subscriber: Notify::new(),
        });
        let context = Context {
            platform,
            commands: rx,
            shared: Arc::clone(&shared),
            config,
            shutdown: None,
            held: None,
            ke_groups: connecting::KeGroupMemory::default(),
        };
        let task = tokio::spawn(run(context));
        let controller = Arc::new(Self {
            commands: tx,
            shared,
            log_level,
        });
        (controller, task)
    }

    /// Takes the tunnel down, restores the system and ends the task; returns when done (or
    /// when the task is already gone).
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    fn send(&self, command: Command) -> Result<(), ErrorReply> {
        self.commands.try_send(command).map_err(|_| ErrorReply {
            code: ErrorCode::Internal,
            message: "the helper is busy or shutting down; try again".into(),
        })
    }
}

impl Service for Controller {
    fn status(&self) -> Status {
        self.shared.status()
    }

    fn connect(&self, request: ConnectRequest) -> Result<(), ErrorReply> {
        let checked = Arc::new(request::check(request)?);
        let summary = ProfileSummary {
            uuid: checked.profile.id.to_string(),
            name: checked.profile.name.clone(),
        };
        // Check and claim the state under one lock: two clients cannot both start a connect.
        {
            let mut status = self
                .shared
                .status
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !matches!(
                status.state,
                TunnelState::Disconnected | TunnelState::Failed { .. }
            ) {
                return Err(ErrorReply {
                    code: ErrorCode::AlreadyConnected,
                    message: "a tunnel is already up or coming up; disconnect it first".into(),
                });
            }
            *status = Status {
                state: TunnelState::Connecting {
                    stage: ipc::ConnectStage::Resolving,
                },
                profile: Some(summary),
                ..Status::default()
            };
        }
        self.shared.publish();
        if let Err(e) = self.send(Command::Connect(checked)) {
            self.shared.set_state(TunnelState::Disconnected);
            return Err(e);
        }
        Ok(())
    }

    fn disconnect(&self) -> Result<(), ErrorReply> {
        let state = self.shared.status().state;
        match state {
            TunnelState::Disconnected => Err(ErrorReply {
                code: ErrorCode::NotConnected,
                message: "no tunnel is up".into(),
            }),
            // Acknowledge the failure: back to plain "disconnected".
            TunnelState::Failed { .. } => self.send(Command::Disconnect),
            TunnelState::Disconnecting => Ok(()),
            _ => self.send(Command::Disconnect),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        let events = self.shared.events.subscribe();
        self.shared.new_subscriber.notify_one();
        events
    }

    fn set_log_level(&self, level: LogLevel) -> Result<(), ErrorReply> {
        let Some(setter) = &self.log_level else {
            return Err(ErrorReply {
                code: ErrorCode::InvalidRequest,
                message: "this helper cannot change its log level".into(),
            });
        };
        setter(level).map_err(|message| ErrorReply {
            code: ErrorCode::Internal,
            message,
        })?;
        tracing::info!(?level, "log level changed");
        Ok(())
    }
}

async fn run<P: Platform>(mut ctx: Context<P>) {
    // The status starts as "disconnected" already; the first state must not publish it again,
    // or it could overwrite a connect the IPC side accepted before this task first ran.
    let mut next: Next<P::Tun> = disconnected::wait(&mut ctx).await;
    loop {
        next = match next {
            Next::Disconnected(failure) => disconnected::run(&mut ctx, failure).await,
            Next::Connecting { request, attempt } => {
                connecting::run(&mut ctx, request, attempt).await
            }
            Next::Connected(connection) => connected::run(&mut ctx, connection).await,
            Next::Reconnecting {
                request,
                attempt,
                reason,
            } => reconnecting::run(&mut ctx, request, attempt, reason).await,
            Next::Disconnecting(connection) => disconnecting::run(&mut ctx, connection).await,
            Next::Exit => break,
        };
    }
    if let Some(reply) = ctx.shutdown.take() {
        let _ = reply.send(());
    }
}

#[cfg(test)]
mod tests;
