// Data the scripted backend returns: shaped exactly like the Rust side's JSON.
import type { ImportView, LogLine, ProfileDetails, Snapshot, Status } from '../src/api';

export const OFFICE_ID = '0b7a4f4e-52a1-4f1c-9d4a-1c2b3d4e5f60';
export const HOME_ID = '7f0c1e9a-1111-4222-8333-944455556666';

export function profile(id: string, name: string, gateway: string): ProfileDetails {
  return {
    id,
    name,
    gateway,
    port: 500,
    remoteIdentity: gateway,
    localIdentity: null,
    auth: { method: 'eap-mschapv2', label: 'Username and password (EAP)', username: 'alice' },
    serverName: null,
    certificates: [],
    routes: { fullTunnel: true, include: [], exclude: [], blockIpv4Outside: false, blockIpv6Outside: false, ipv6: 'tunnel' },
    dns: { servers: [], searchDomains: [] },
    requiredSecrets: ['eap-password'],
  };
}

export const OFFICE = profile(OFFICE_ID, 'Office', 'vpn.example.com');
export const HOME = profile(HOME_ID, 'Home lab', '203.0.113.7');

export const IMPORT_VIEW: ImportView = {
  token: 'import-1',
  source: 'office.sswan',
  format: 'sswan',
  profile: {
    ...OFFICE,
    certificates: [
      {
        role: 'ca',
        subject: 'CN=Example Root CA, O=Example Corp',
        issuer: 'CN=Example Root CA, O=Example Corp',
        notAfter: 'Tue, 1 Jan 2036 00:00:00 +0000',
        sha256: 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89',
        problem: null,
      },
    ],
    routes: { fullTunnel: false, include: ['10.0.0.0/8', '192.168.50.0/24'], exclude: ['10.9.0.0/16'], blockIpv4Outside: false, blockIpv6Outside: false, ipv6: 'tunnel' },
    dns: { servers: ['10.0.0.53'], searchDomains: ['corp.example.com'] },
  },
  warnings: [
    { field: 'split-tunneling.block-ipv6', kind: 'unsupported', text: 'split-tunneling.block-ipv6: not supported: Tern blocks IPv6 with its own IPv6 policy' },
    { field: 'ike-proposal', kind: 'algorithm-dropped', text: 'ike-proposal: `3des` is not implemented by Tern and was removed' },
  ],
  secretsInFile: [],
  missingSecrets: ['eap-password'],
  replaces: null,
};

export function snapshot(patch: Partial<Snapshot> = {}): Snapshot {
  return {
    helper: { reachable: true, server: 'ternd 0.1.0', error: null },
    status: { state: { state: 'disconnected' }, profile: null, gateway: null, connection: null, traffic: traffic(0, 0) },
    profiles: [OFFICE, HOME],
    pendingImports: [],
    settings: { launchAtLogin: false, connectOnStart: null, reconnect: 'automatically', notifications: true },
    version: '0.1.0',
    ...patch,
  };
}

export function traffic(bytesIn: number, bytesOut: number) {
  return { bytes_in: bytesIn, bytes_out: bytesOut, packets_in: 0, packets_out: 0, dropped_in: 0 };
}

const office = { uuid: OFFICE_ID, name: 'Office' };

export const STATUS = {
  disconnected: (): Status => ({ state: { state: 'disconnected' }, profile: null, gateway: null, connection: null, traffic: traffic(0, 0) }),
  connecting: (stage: 'resolving' | 'contacting_gateway' | 'authenticating' | 'configuring_network'): Status => ({
    state: { state: 'connecting', stage },
    profile: office,
    gateway: '198.51.100.10',
    connection: null,
    traffic: traffic(0, 0),
  }),
  connected: (bytesIn = 0, bytesOut = 0): Status => ({
    state: { state: 'connected' },
    profile: office,
    gateway: '198.51.100.10',
    connection: {
      virtual_ips: ['10.10.0.2'],
      dns_servers: ['10.0.0.53'],
      dns_domains: ['corp.example.com'],
      routes: ['10.0.0.0/8'],
      ike_suite: 'aes256gcm16-prfsha384-curve25519',
      esp_suite: 'aes256gcm16',
      local_behind_nat: true,
      remote_behind_nat: false,
      connected_at_unix_ms: Date.now() - 65_000,
      handshake_ms: 120,
      rekeys: 0,
    },
    traffic: traffic(bytesIn, bytesOut),
  }),
  reconnecting: (): Status => ({
    state: { state: 'reconnecting', attempt: 1, reason: 'the gateway stopped answering' },
    profile: office,
    gateway: '198.51.100.10',
    connection: null,
    traffic: traffic(0, 0),
  }),
  failed: (kind: string, message: string): Status => ({
    state: { state: 'failed', failure: { kind: kind as never, message } },
    profile: office,
    gateway: '198.51.100.10',
    connection: null,
    traffic: traffic(0, 0),
  }),
};

export const LOG_LINES: LogLine[] = [
  { seq: 1, unix_ms: 1_764_300_000_000, level: 'info', target: 'ternd::controller', message: 'connecting profile Office' },
  { seq: 2, unix_ms: 1_764_300_000_100, level: 'debug', target: 'ternd::ike', message: 'sent IKE_SA_INIT (312 bytes)' },
  { seq: 3, unix_ms: 1_764_300_000_400, level: 'warn', target: 'ternd::ike', message: 'retransmitting IKE_SA_INIT' },
  { seq: 4, unix_ms: 1_764_300_001_000, level: 'error', target: 'ternd::ike', message: 'gateway did not answer' },
];
