// The three tabs: status, log and settings.
import { save } from '@tauri-apps/plugin-dialog';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, asUiError, type LogLevel, type LogLine, type ProfileDetails, type Settings, type Status, type UiError } from './api';
import { explainFailure } from './errors';
import { formatBytes, formatDuration, formatRate, isActive, stateHeadline } from './format';
import { ErrorNotice, Problem, Switch, TrafficGraph } from './widgets';

export interface Sample {
  rx: number;
  tx: number;
}

export function StatusView(props: {
  status: Status | null;
  profile: ProfileDetails | null;
  helperReachable: boolean;
  busy: boolean;
  samples: Sample[];
  onToggle: () => void;
  /** Asks for the profile's secrets again (offered when the gateway refused the sign-in). */
  onEnterSecrets?: () => void;
}) {
  const { status, profile } = props;
  const state = status?.state;
  const conn = status?.connection ?? null;
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const activeName = status?.profile?.name;
  const active = isActive(state);
  const otherActive = active && profile !== null && status?.profile?.uuid !== profile.id;
  const last = props.samples[props.samples.length - 1];
  const label = active ? `Disconnect ${activeName ?? ''}`.trim() : profile ? `Connect ${profile.name}` : 'Connect';
  return (
    <section class="status" aria-labelledby="status-title">
      <div class={`hero ${state?.state ?? 'disconnected'}`}>
        <Switch
          on={active}
          busy={props.busy || state?.state === 'connecting' || state?.state === 'reconnecting' || state?.state === 'disconnecting'}
          disabled={!props.helperReachable || (!active && profile === null)}
          label={label}
          onToggle={props.onToggle}
        />
        <div>
          <h2 id="status-title" data-testid="status-headline" aria-live="polite">
            {stateHeadline(state)}
          </h2>
          <p class="muted" data-testid="status-profile">
            {activeName ? `Profile: ${activeName}` : profile ? `Selected: ${profile.name}` : 'Import or add a profile to start.'}
            {otherActive && ` — switch off to connect ${profile?.name}`}
          </p>
        </div>
      </div>
      {state?.state === 'failed' && (
        <Problem
          explained={explainFailure(state.failure)}
          testId="failure"
          action={
            state.failure.kind === 'authentication_failed' && props.onEnterSecrets
              ? { label: 'Enter the password again…', run: props.onEnterSecrets, testId: 'failure-password' }
              : undefined
          }
        />
      )}
      {state?.state === 'reconnecting' && <p class="muted">Why: {state.reason}</p>}
      {status && (conn || status.gateway) && (
        <dl class="facts" data-testid="status-facts">
          {status.gateway && (
            <>
              <dt>Server</dt>
              <dd data-testid="status-gateway">{status.gateway}</dd>
            </>
          )}
          {conn && (
            <>
              <dt>Your VPN address</dt>
              <dd data-testid="status-vip">{conn.virtual_ips.join(', ') || 'none assigned'}</dd>
              <dt>DNS</dt>
              <dd data-testid="status-dns">
                {conn.dns_servers.join(', ') || 'unchanged'}
                {conn.dns_domains.length > 0 && ` (${conn.dns_domains.join(', ')})`}
              </dd>
              <dt>Routes</dt>
              <dd>{conn.routes.join(', ') || 'none'}</dd>
              <dt>Encryption</dt>
              <dd data-testid="status-suites">
                IKE {conn.ike_suite}; ESP {conn.esp_suite}
              </dd>
              <dt>NAT</dt>
              <dd>{conn.local_behind_nat || conn.remote_behind_nat ? 'detected (UDP encapsulation in use)' : 'none'}</dd>
              <dt>Connected for</dt>
              <dd data-testid="status-uptime">{formatDuration(now - conn.connected_at_unix_ms)}</dd>
            </>
          )}
          <dt>Traffic</dt>
          <dd>
            <span data-testid="status-traffic">
              ↓ {formatBytes(status.traffic.bytes_in)} in · ↑ {formatBytes(status.traffic.bytes_out)} out
            </span>
            {last && (
              <span class="muted" data-testid="status-rate">
                {' '}
                (now ↓ {formatRate(last.rx)} · ↑ {formatRate(last.tx)})
              </span>
            )}
            {/* The graph is about a live tunnel; after a failure it would only be an empty box. */}
            {conn && <TrafficGraph samples={props.samples} />}
          </dd>
        </dl>
      )}
    </section>
  );
}

const LEVELS: LogLevel[] = ['error', 'warn', 'info', 'debug', 'trace'];

function logText(lines: LogLine[]): string {
  return lines.map((l) => `${new Date(l.unix_ms).toISOString()} ${l.level.toUpperCase().padEnd(5)} ${l.target}: ${l.message}`).join('\n');
}

export function LogView(props: { lines: LogLine[]; loadError: UiError | null }) {
  const [level, setLevel] = useState<LogLevel>('info');
  const [message, setMessage] = useState('');
  const [error, setError] = useState<UiError | null>(null);
  const shown = useMemo(() => {
    const max = LEVELS.indexOf(level);
    return props.lines.filter((l) => LEVELS.indexOf(l.level) <= max);
  }, [props.lines, level]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(logText(shown));
      setMessage(`Copied ${shown.length} lines.`);
    } catch (e) {
      setMessage(`Could not copy: ${String(e)}`);
    }
  };
  const exportLog = async () => {
    const path = await save({ defaultPath: 'tern-log.txt', filters: [{ name: 'Text', extensions: ['txt'] }] });
    if (!path) return;
    try {
      await api.saveText(path, logText(shown));
      setMessage(`Saved ${shown.length} lines to ${path}.`);
    } catch (e) {
      setError(asUiError(e));
    }
  };
  return (
    <section class="log" aria-label="Helper log">
      <div class="toolbar">
        <label>
          Show{' '}
          <select value={level} onChange={(e) => setLevel((e.target as HTMLSelectElement).value as LogLevel)} data-testid="log-level">
            <option value="error">errors only</option>
            <option value="warn">warnings and errors</option>
            <option value="info">information</option>
            <option value="debug">debug</option>
            <option value="trace">everything</option>
          </select>
        </label>
        <button type="button" onClick={copy} data-testid="log-copy">
          Copy
        </button>
        <button type="button" onClick={exportLog} data-testid="log-export">
          Export…
        </button>
        <span class="muted" role="status" data-testid="log-message">
          {message}
        </span>
      </div>
      {props.loadError && <ErrorNotice error={props.loadError} />}
      {error && <ErrorNotice error={error} onDismiss={() => setError(null)} />}
      <ol class="log-lines" data-testid="log-lines" tabIndex={0} aria-label="Log lines">
        {shown.map((l) => (
          <li key={l.seq} class={`lvl-${l.level}`}>
            <time>{new Date(l.unix_ms).toLocaleTimeString()}</time> <span class="lvl">{l.level}</span> <span class="target">{l.target}</span> {l.message}
          </li>
        ))}
        {shown.length === 0 && <li class="muted">No log lines at this level yet.</li>}
      </ol>
    </section>
  );
}

export function SettingsView(props: { settings: Settings; profiles: ProfileDetails[]; onChange: (s: Settings) => void; version: string }) {
  const s = props.settings;
  return (
    <section class="settings" aria-label="Settings">
      <label class="check">
        <input type="checkbox" checked={s.launchAtLogin} onChange={(e) => props.onChange({ ...s, launchAtLogin: (e.target as HTMLInputElement).checked })} data-testid="set-autostart" />
        Start Tern in the tray when I log in
      </label>
      <label class="field">
        <span class="label">Connect when Tern starts</span>
        <select value={s.connectOnStart ?? ''} onChange={(e) => props.onChange({ ...s, connectOnStart: (e.target as HTMLSelectElement).value || null })} data-testid="set-connect-on-start">
          <option value="">Don’t connect</option>
          {props.profiles.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </label>
      <label class="field">
        <span class="label">When the connection drops</span>
        <select value={s.reconnect} onChange={(e) => props.onChange({ ...s, reconnect: (e.target as HTMLSelectElement).value as Settings['reconnect'] })} data-testid="set-reconnect">
          <option value="automatically">Reconnect automatically</option>
          <option value="never">Stay disconnected and tell me</option>
        </select>
      </label>
      <label class="check">
        <input type="checkbox" checked={s.notifications} onChange={(e) => props.onChange({ ...s, notifications: (e.target as HTMLInputElement).checked })} data-testid="set-notifications" />
        Notify me when the VPN connects, drops, reconnects or fails
      </label>
      <p class="muted">Tern {props.version}</p>
    </section>
  );
}
