// Numbers, durations and states in words.
import type { ConnectStage, Status, TunnelState } from './api';
import { explainFailure } from './errors';

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (v: number) => String(v).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

const STAGES: Record<ConnectStage, string> = {
  resolving: 'Looking up the server',
  contacting_gateway: 'Contacting the server',
  authenticating: 'Signing in',
  configuring_network: 'Setting up the network',
};

export function stageLabel(stage: ConnectStage): string {
  return STAGES[stage] ?? stage;
}

/** Whether traffic is protected right now. */
export function isProtected(state: TunnelState | undefined): boolean {
  return state?.state === 'connected';
}

/** Whether the tunnel is up or on its way (the switch shows "on"). */
export function isActive(state: TunnelState | undefined): boolean {
  return state !== undefined && state.state !== 'disconnected' && state.state !== 'failed';
}

/** The headline for a state: what a person needs to know at a glance. */
export function stateHeadline(state: TunnelState | undefined): string {
  switch (state?.state) {
    case undefined:
    case 'disconnected':
      return 'Not connected';
    case 'connecting':
      return `Connecting — ${stageLabel(state.stage)}…`;
    case 'connected':
      return 'Connected — you are protected';
    case 'reconnecting':
      return `Connection lost — reconnecting (attempt ${state.attempt})…`;
    case 'disconnecting':
      return 'Disconnecting…';
    case 'failed':
      return `Not connected — ${explainFailure(state.failure).summary}`;
  }
}

/** A desktop notification to show for a status change, if any. */
export interface Notice {
  kind: 'connected' | 'reconnected' | 'dropped' | 'failed';
  title: string;
  body: string;
}

/**
 * Decides the notification for a change from `prev` to `next`. `userStopped` is true when the
 * user asked to disconnect (so going down is expected); `wasLost` when the previous connection
 * dropped without the user asking (so coming up again is a reconnection).
 */
export function noticeFor(prev: Status | null, next: Status, userStopped: boolean, wasLost: boolean): Notice | null {
  const from = prev?.state.state;
  const to = next.state.state;
  const name = next.profile?.name ?? prev?.profile?.name ?? 'the VPN';
  if (from === to) return null;
  if (to === 'connected') {
    return from === 'reconnecting' || wasLost
      ? { kind: 'reconnected', title: 'Reconnected', body: `You are protected again (${name}).` }
      : { kind: 'connected', title: 'Connected', body: `You are protected (${name}).` };
  }
  if (from === 'connected' && !userStopped && (to === 'reconnecting' || to === 'disconnected' || to === 'failed')) {
    const why = to === 'failed' ? ` ${explainFailure(next.state.failure).summary}` : '';
    const then = to === 'reconnecting' ? ' Reconnecting…' : '';
    return {
      kind: 'dropped',
      title: 'VPN disconnected unexpectedly',
      body: `Your traffic is no longer protected by ${name}.${why}${then}`,
    };
  }
  if (to === 'failed' && from !== 'connected') {
    const explained = explainFailure(next.state.failure);
    return { kind: 'failed', title: 'Could not connect', body: `${explained.summary} ${explained.fix}` };
  }
  return null;
}
