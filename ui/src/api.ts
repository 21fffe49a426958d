// The app's only door to the outside: Tauri commands and events. The types mirror the Rust side
// (src-tauri/src and crates/ipc); field names are the wire names.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

export type SecretKind = 'pre-shared-key' | 'eap-password' | 'pkcs12-passphrase' | 'private-key';

export type ConnectStage = 'resolving' | 'contacting_gateway' | 'authenticating' | 'configuring_network';

export type FailureKind =
  | 'gateway_unreachable'
  | 'authentication_failed'
  | 'server_certificate_rejected'
  | 'no_common_proposal'
  | 'protocol_error'
  | 'local_system'
  | 'invalid_profile'
  | 'internal';

export interface Failure {
  kind: FailureKind;
  message: string;
}

export type TunnelState =
  | { state: 'disconnected' }
  | { state: 'connecting'; stage: ConnectStage }
  | { state: 'connected' }
  | { state: 'reconnecting'; attempt: number; reason: string }
  | { state: 'disconnecting' }
  | { state: 'failed'; failure: Failure };

export interface ConnectionInfo {
  virtual_ips: string[];
  dns_servers: string[];
  dns_domains: string[];
  routes: string[];
  ike_suite: string;
  esp_suite: string;
  local_behind_nat: boolean;
  remote_behind_nat: boolean;
  connected_at_unix_ms: number;
  handshake_ms: number;
  rekeys: number;
}

export interface TrafficStats {
  bytes_in: number;
  bytes_out: number;
  packets_in: number;
  packets_out: number;
  dropped_in: number;
}

export interface Status {
  state: TunnelState;
  profile: { uuid: string; name: string } | null;
  gateway: string | null;
  connection: ConnectionInfo | null;
  traffic: TrafficStats;
}

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface LogLine {
  seq: number;
  unix_ms: number;
  level: LogLevel;
  target: string;
  message: string;
}

export type ErrorKind =
  | 'helper_not_running'
  | 'helper_permission'
  | 'helper_unreachable'
  | 'helper_connection_lost'
  | 'helper_version'
  | 'helper_timeout'
  | 'helper_protocol'
  | 'refused'
  | 'import'
  | 'store'
  | 'keyring'
  | 'missing_secret'
  | 'not_found'
  | 'invalid'
  | 'io';

/** Every command failure, as src-tauri/src/error.rs sends it. */
export interface UiError {
  kind: ErrorKind;
  code: string | null;
  detail: string;
  secrets?: SecretKind[];
}

export interface HelperView {
  reachable: boolean;
  server: string | null;
  error: UiError | null;
}

export interface CertificateDetails {
  role: 'ca' | 'pinned';
  subject: string | null;
  issuer: string | null;
  notAfter: string | null;
  sha256: string;
  problem: string | null;
}

export interface ProfileDetails {
  id: string;
  name: string;
  gateway: string;
  port: number;
  remoteIdentity: string | null;
  localIdentity: string | null;
  auth: { method: string; label: string; username: string | null };
  serverName: string | null;
  certificates: CertificateDetails[];
  routes: {
    fullTunnel: boolean;
    include: string[];
    exclude: string[];
    blockIpv4Outside: boolean;
    blockIpv6Outside: boolean;
    ipv6: 'tunnel' | 'block' | 'bypass';
  };
  dns: { servers: string[]; searchDomains: string[] };
  requiredSecrets: SecretKind[];
}

export interface ImportView {
  token: string;
  source: string;
  format: 'sswan' | 'mobileconfig' | 'tern';
  profile: ProfileDetails;
  warnings: { field: string; kind: string; text: string }[];
  secretsInFile: SecretKind[];
  missingSecrets: SecretKind[];
  replaces: string | null;
}

export interface Settings {
  launchAtLogin: boolean;
  connectOnStart: string | null;
  reconnect: 'never' | 'automatically';
  notifications: boolean;
}

export interface Snapshot {
  helper: HelperView;
  status: Status | null;
  profiles: ProfileDetails[];
  pendingImports: ImportView[];
  settings: Settings;
  version: string;
}

export interface ProfileDraft {
  name: string;
  gateway: string;
  port: number | null;
  remoteIdentity: string | null;
  auth?: 'psk' | 'eap-mschapv2';
  username: string | null;
}

export type EnteredSecrets = Partial<Record<SecretKind, string>>;

/** Whether a thrown value is a UiError from the Rust side. */
export function isUiError(value: unknown): value is UiError {
  return typeof value === 'object' && value !== null && 'kind' in value && 'detail' in value;
}

/** Turns anything thrown into a UiError, so the UI has one shape to word. */
export function asUiError(value: unknown): UiError {
  if (isUiError(value)) return value;
  return { kind: 'invalid', code: 'unexpected', detail: String(value) };
}

export const api = {
  snapshot: () => invoke<Snapshot>('snapshot'),
  listProfiles: () => invoke<ProfileDetails[]>('list_profiles'),
  openImport: (path: string) => invoke<ImportView>('open_import', { path }),
  openLink: (link: string) => invoke<ImportView>('open_link', { link }),
  confirmImport: (token: string, name: string | null, secrets: EnteredSecrets) =>
    invoke<ProfileDetails>('confirm_import', { token, name, secrets }),
  cancelImport: (token: string) => invoke<void>('cancel_import', { token }),
  connect: (id: string) => invoke<void>('connect', { id }),
  disconnect: () => invoke<void>('disconnect'),
  saveSecrets: (id: string, secrets: EnteredSecrets) => invoke<void>('save_secrets', { id, secrets }),
  missingSecrets: (id: string) => invoke<SecretKind[]>('missing_secrets', { id }),
  forgetSecrets: (id: string) => invoke<void>('forget_secrets', { id }),
  createProfile: (draft: ProfileDraft) => invoke<ProfileDetails>('create_profile', { draft }),
  updateProfile: (id: string, draft: ProfileDraft) => invoke<ProfileDetails>('update_profile', { id, draft }),
  duplicateProfile: (id: string) => invoke<ProfileDetails>('duplicate_profile', { id }),
  deleteProfile: (id: string) => invoke<void>('delete_profile', { id }),
  exportProfile: (id: string, path: string) => invoke<void>('export_profile', { id, path }),
  logs: (since: number | null) => invoke<LogLine[]>('logs', { since }),
  saveText: (path: string, contents: string) => invoke<void>('save_text', { path, contents }),
  setSettings: (settings: Settings) => invoke<Settings>('set_settings', { settings }),
  showNotification: (title: string, body?: string) => invoke<null>('show_notification', { title, body: body ?? null }),
};

/** Event names (src-tauri/src/helper.rs `events`). */
export const EVENTS = {
  status: 'tern://status',
  helper: 'tern://helper',
  log: 'tern://log',
  import: 'tern://import',
  error: 'tern://error',
  profiles: 'tern://profiles',
  needSecrets: 'tern://need-secrets',
} as const;

export interface Handlers {
  status: (status: Status) => void;
  helper: (helper: HelperView) => void;
  log: (lines: LogLine[]) => void;
  import: (view: ImportView) => void;
  error: (error: UiError) => void;
  profiles: () => void;
  needSecrets: (request: { profileId: string; secrets: SecretKind[] }) => void;
}

/** Subscribes to every backend event; returns one function that unsubscribes them all. */
export async function subscribe(handlers: Handlers): Promise<() => void> {
  const offs: UnlistenFn[] = await Promise.all([
    listen<Status>(EVENTS.status, (e) => handlers.status(e.payload)),
    listen<HelperView>(EVENTS.helper, (e) => handlers.helper(e.payload)),
    listen<LogLine[]>(EVENTS.log, (e) => handlers.log(e.payload)),
    listen<ImportView>(EVENTS.import, (e) => handlers.import(e.payload)),
    listen<UiError>(EVENTS.error, (e) => handlers.error(e.payload)),
    listen(EVENTS.profiles, () => handlers.profiles()),
    listen<{ profileId: string; secrets: SecretKind[] }>(EVENTS.needSecrets, (e) => handlers.needSecrets(e.payload)),
  ]);
  return () => offs.forEach((off) => off());
}
