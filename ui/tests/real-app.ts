// The real app in a real window: tern-gui under Xvfb, driven over WebDriver (tauri-driver +
// WebKitWebDriver), against the scripted helper in src-tauri/tests/fake_ternd.py and a throwaway
// GNOME Keyring. Opens a .sswan fixture, checks the import preview, types the password once,
// imports, and checks the profile list and the live status. Not part of `cargo xtask test` (it
// needs `cargo install tauri-driver` and the Debian packages webkit2gtk-driver, xvfb,
// gnome-keyring, dbus); run it with:
//   cargo build -p tern-gui && npx vite-node tests/real-app.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const TARGET = process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target');
const APP = process.env.TERN_GUI_BIN ?? join(TARGET, 'debug/tern-gui');
const DRIVER = process.env.TAURI_DRIVER ?? join(process.env.HOME ?? '/root', '.cargo/bin/tauri-driver');
const FIXTURE = join(ROOT, 'crates/profile/tests/fixtures/sswan/eap.sswan');
const PORT = 4455;
const DISPLAY = ':78';

for (const [what, path] of [
  ['the app (cargo build -p tern-gui)', APP],
  ['tauri-driver (cargo install tauri-driver)', DRIVER],
  ['WebKitWebDriver (apt-get install webkit2gtk-driver)', '/usr/bin/WebKitWebDriver'],
  ['Xvfb (apt-get install xvfb)', '/usr/bin/Xvfb'],
]) {
  if (!existsSync(path!)) {
    console.error(`SKIPPED: no ${what} at ${path}`);
    process.exit(process.env.TERN_E2E === 'require' ? 1 : 0);
  }
}

const work = mkdtempSync(join(tmpdir(), 'tern-gui-e2e-'));
const children: ChildProcess[] = [];
const env = {
  ...process.env,
  DISPLAY,
  HOME: work,
  XDG_CONFIG_HOME: join(work, 'config'),
  XDG_DATA_HOME: join(work, 'data'),
  XDG_CACHE_HOME: join(work, 'cache'),
  TERN_SOCKET: join(work, 'ternd.sock'),
  TERN_CONFIG_DIR: join(work, 'config/tern'),
  WEBKIT_DISABLE_COMPOSITING_MODE: '1',
};

function start(cmd: string, args: string[]) {
  // Each in its own process group, so stopping it also stops what it started (the driver starts
  // WebKitWebDriver and the app; the D-Bus session starts the keyring).
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  children.push(child);
  return child;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function wd(method: string, path: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${PORT}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as { value: any };
  if (!res.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value)}`);
  return json.value;
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

function check(condition: boolean, what: string) {
  if (!condition) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

let session = '';
const el = (css: string) => wd('POST', `/session/${session}/element`, { using: 'css selector', value: css }).then((v) => Object.values(v)[0] as string);
const text = async (css: string) => (await wd('GET', `/session/${session}/element/${await el(css)}/text`)) as string;

async function main() {
  mkdirSync(env.XDG_DATA_HOME, { recursive: true });
  start('Xvfb', [DISPLAY, '-screen', '0', '1100x760x24', '-nolisten', 'tcp']);
  start('python3', [join(ROOT, 'src-tauri/tests/fake_ternd.py'), env.TERN_SOCKET, 'connected']);
  const wrapper = join(work, 'driver.sh');
  writeFileSync(
    wrapper,
    `export $(echo -n throwaway | gnome-keyring-daemon --unlock --components=secrets | xargs)\nexec ${DRIVER} --port ${PORT}\n`,
  );
  start('dbus-run-session', ['--', 'bash', wrapper]);
  await until('tauri-driver', () => fetch(`http://127.0.0.1:${PORT}/status`).then((r) => r.ok));
  session = (await wd('POST', '/session', { capabilities: { alwaysMatch: { 'tauri:options': { application: APP, args: [FIXTURE] } } } })).sessionId;

  const preview = await until('the import preview', () => text('[data-testid="import-dialog"]'));
  check(preview.includes('Import eap.sswan'), 'the file given on the command line opens the import preview');
  check(preview.includes('vpn.example.com') && preview.includes('CN=Example VPN Root CA') && preview.includes('SHA-256'), 'the preview shows server and certificate');
  check(preview.includes('never 10.8.99.0/24') && preview.includes('10.8.0.1'), 'the preview shows routes and DNS');
  await shot('webdriver-import');

  await wd('POST', `/session/${session}/element/${await el('[data-testid="secret-eap-password"]')}/value`, { text: 'correct horse' });
  await wd('POST', `/session/${session}/element/${await el('[data-testid="import-confirm"]')}/click`, {});
  const list = await until('the imported profile in the list', async () => {
    const t = await text('[data-testid="profile-list"]');
    return t.includes('Example Corp (EAP)') ? t : null;
  });
  await shot('webdriver-main');
  check(list.includes('Example Corp (EAP)'), 'the imported profile is listed');
  // WebKitWebDriver's element text leaves out this grid cell; read the DOM instead.
  const host = (await wd('POST', `/session/${session}/execute/sync`, {
    script: "return document.querySelector('.profile-host').textContent",
    args: [],
  })) as string;
  check(host.includes('vpn.example.com'), `with its server (${JSON.stringify(host)})`);
  const badge = await until('the helper status', async () => ((await text('[data-testid="protection-badge"]')) === 'Protected' ? 'yes' : null));
  check(badge === 'yes', 'the live status from the helper shows "Protected"');
}

async function shot(name: string) {
  const dir = process.env.TERN_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  const png = (await wd('GET', `/session/${session}/screenshot`)) as string;
  writeFileSync(join(dir, `${name}.png`), Buffer.from(png, 'base64'));
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.error(`not ok - ${String(e)}`);
} finally {
  if (session) await wd('DELETE', `/session/${session}`).catch(() => undefined);
  for (const child of children.reverse()) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  await sleep(500);
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
