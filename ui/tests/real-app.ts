// The real app in a real window, against the real helper: the window side of
// tests/tests/gui_real_window.rs (run it through `cargo xtask test`, which builds the app and
// starts this script inside private PID, network and mount namespaces).
//
// Under Xvfb with a tray host (trayer) and a throwaway GNOME Keyring on a private D-Bus session,
// tauri-driver + WebKitWebDriver start tern-gui; the provider's .sswan is opened the way a
// double-click opens it (`gio open`, through the installed .desktop file and MIME type, which
// hands it to the running instance); the test checks the preview, types a wrong password, sees
// the failure in words, fixes the password, connects (the gateway held back for a moment so
// "connecting" is seen), sees "Connected" with the virtual IP and DNS, pings through the tunnel,
// reads the log, disconnects; then connects and disconnects from the tray menu; a tern://import
// link opened from the desktop shows its preview in the running app. Last, a second provider's
// .sswan carries a client certificate whose passphrase is not in the file: the preview says so
// and asks for the passphrase, a wrong one is refused in words with the import still open, the
// right one imports it, and the profile connects with the certificate (the gateway confirms it
// verified the certificate's signature) and disconnects.
//
// Lab actions (hold the gateway, ping, check the gateway's SAs) are asked of the Rust test:
// `LAB <request>` on stdout, the answer (`ok …` / `err …`) on stdin.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = resolve(__dirname, '../..');
const need = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through tests/tests/gui_real_window.rs (cargo xtask test)`);
  return v;
};
const APP = need('TERN_GUI_BIN');
const SOCKET = need('TERN_SOCKET');
const SSWAN = need('TERN_GUI_SSWAN');
const PROFILE = need('TERN_GUI_PROFILE');
const PASSWORD = need('TERN_GUI_PASSWORD');
const VIP_POOL = need('TERN_GUI_VIP_POOL');
const DNS = need('TERN_GUI_DNS');
const GATEWAY = need('TERN_GUI_GATEWAY');
const CERT_SSWAN = need('TERN_GUI_CERT_SSWAN');
const CERT_PROFILE = need('TERN_GUI_CERT_PROFILE');
const CERT_PASSPHRASE = need('TERN_GUI_CERT_PASSPHRASE');
const CERT_ID = need('TERN_GUI_CERT_ID');
const SHOTS = process.env.TERN_SCREENSHOTS ?? '';
const DRIVER = process.env.TAURI_DRIVER ?? join(process.env.HOME ?? '/root', '.cargo/bin/tauri-driver');
const PORT = 4444;
const DISPLAY = ':0';
const SCREEN = { width: 1280, height: 800 };

const work = mkdtempSync(join(tmpdir(), 'tern-gui-window-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  DISPLAY,
  HOME: join(work, 'home'),
  XDG_CONFIG_HOME: join(work, 'config'),
  XDG_DATA_HOME: join(work, 'data'),
  XDG_CACHE_HOME: join(work, 'cache'),
  XDG_RUNTIME_DIR: join(work, 'runtime'),
  TERN_SOCKET: SOCKET,
  TERN_CONFIG_DIR: join(work, 'config/tern'),
  TERN_LOG: 'info',
  WEBKIT_DISABLE_COMPOSITING_MODE: '1',
  NO_AT_BRIDGE: '1',
};
const started = Date.now();
const log = (text: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${text}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the Rust side ------------------------------------------------------------------------

const answers = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function lab(request: string): Promise<string> {
  console.log(`LAB ${request}`);
  const { value, done } = await answers.next();
  if (done) throw new Error(`no answer to LAB ${request}`);
  const line = String(value);
  if (!line.startsWith('ok')) throw new Error(`LAB ${request}: ${line}`);
  return line.slice(3);
}

// ---- processes ----------------------------------------------------------------------------

function start(cmd: string, args: string[], extra: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(cmd, args, { env: { ...env, ...extra }, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (d: Buffer) => stderrLog.push(`${cmd}: ${d.toString().trimEnd()}`));
  return child;
}
const stderrLog: string[] = [];

function run(cmd: string, args: string[], extra: NodeJS.ProcessEnv = {}): string {
  const out = spawnSync(cmd, args, { env: { ...env, ...extra }, encoding: 'utf8', timeout: 20_000 });
  if (out.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${out.status ?? out.signal}): ${out.stderr}`);
  return out.stdout;
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${ms / 1000} s waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

function check(condition: boolean, what: string) {
  if (!condition) throw new Error(`check failed: ${what}`);
  log(`ok - ${what}`);
}

// ---- WebDriver ----------------------------------------------------------------------------

let session = '';
async function wd(method: string, path: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${PORT}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  }).catch((e: unknown) => {
    throw new Error(`${method} ${path}: ${String(e)}`);
  });
  const json = (await res.json()) as { value: any };
  if (!res.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value)}`);
  return json.value;
}
const s = (path: string) => `/session/${session}${path}`;
const find = async (css: string) => Object.values(await wd('POST', s('/element'), { using: 'css selector', value: css }))[0] as string;
const click = async (css: string) => wd('POST', s(`/element/${await find(css)}/click`), {});
// Retried: a field in a dialog that is still opening is not focusable yet.
const type = (css: string, text: string) =>
  until(`typing into ${css}`, async () => {
    await wd('POST', s(`/element/${await find(css)}/value`), { text });
    return true;
  }, 5_000);
// Deletes what was typed with the keyboard (the caret is at the end after typing).
const erase = async (css: string, length: number) => wd('POST', s(`/element/${await find(css)}/value`), { text: '\uE003'.repeat(length) });
// Text as the DOM has it (WebKitWebDriver's element text leaves out some grid cells).
const textOf = async (css: string) =>
  (await wd('POST', s('/execute/sync'), { script: 'const e = document.querySelector(arguments[0]); return e ? e.textContent : null;', args: [css] })) as string | null;
const headline = () => textOf('[data-testid="status-headline"]');
const waitHeadline = (what: string, match: (h: string) => boolean, ms = 20_000) =>
  until(`the status "${what}"`, async () => {
    const h = await headline();
    return h !== null && match(h) ? h : null;
  }, ms);

/** A screenshot of the app's window as the X server shows it (WebKitWebDriver's own screenshot
 * command stalls once the import dialog has closed). */
async function shot(name: string) {
  if (!SHOTS) return;
  await sleep(300); // let the last change paint
  const info = run('xwininfo', ['-name', 'Tern']);
  const num = (label: string) => Number(info.match(new RegExp(`${label}:\\s+(-?\\d+)`))?.[1] ?? NaN);
  const [x, y, w, h] = [num('Absolute upper-left X'), num('Absolute upper-left Y'), num('Width'), num('Height')];
  if ([x, y, w, h].some(Number.isNaN)) throw new Error(`no geometry for the window:\n${info}`);
  run('import', ['-window', 'root', '-crop', `${w}x${h}+${x}+${y}`, '+repage', join(SHOTS, `app-${name}.png`)]);
  log(`screenshot app-${name}.png`);
}

function screenShot(name: string) {
  if (!SHOTS) return;
  run('import', ['-window', 'root', join(SHOTS, `app-${name}.png`)]);
  log(`screenshot app-${name}.png (whole screen)`);
}

// ---- the desktop: what installing the app's .desktop file and MIME type does --------------

function installDesktopAssociation() {
  const data = env.XDG_DATA_HOME!;
  mkdirSync(join(data, 'mime/packages'), { recursive: true });
  mkdirSync(join(data, 'applications'), { recursive: true });
  copyFileSync(join(ROOT, 'installers/linux/tern-mime.xml'), join(data, 'mime/packages/tern-mime.xml'));
  run('update-mime-database', [join(data, 'mime')]);
  const desktop = readFileSync(join(ROOT, 'installers/linux/tern.desktop'), 'utf8');
  const exec = desktop.match(/^Exec=(\S+)(.*)$/m);
  if (!exec) throw new Error('installers/linux/tern.desktop has no Exec= line');
  check(/%[uUfF]/.test(exec[2]!), `the .desktop file passes the opened file or link (Exec=${exec[1]}${exec[2]})`);
  // Installed, `tern-gui` is on PATH; here the built binary stands in for it.
  writeFileSync(join(data, 'applications/tern.desktop'), desktop.replace(/^Exec=\S+/m, `Exec=${APP}`));
  writeFileSync(
    join(env.XDG_CONFIG_HOME!, 'mimeapps.list'),
    '[Default Applications]\napplication/vnd.strongswan.profile=tern.desktop\nx-scheme-handler/tern=tern.desktop\n',
  );
  const type = run('gio', ['info', '-a', 'standard::content-type', SSWAN]);
  check(type.includes('application/vnd.strongswan.profile'), 'the shared-mime-info XML makes a .sswan file application/vnd.strongswan.profile');
  const handler = run('gio', ['mime', 'application/vnd.strongswan.profile']);
  check(handler.includes('tern.desktop'), 'Tern handles application/vnd.strongswan.profile');
}

// ---- the tray -----------------------------------------------------------------------------

/** The tray icon's window: an XEmbed child of trayer's panel, named after the app. */
function trayIcon(): { x: number; y: number; w: number; h: number } | null {
  const tree = run('xwininfo', ['-root', '-tree']);
  // 0x400028 "tern-gui": ("tray-icon tray app tern" "tray-icon tray app tern")  32x30+0+0  +1246+1
  const line = tree.split('\n').find((l) => l.includes('"tern-gui"') && l.includes('tray-icon'));
  const m = line?.match(/(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)/);
  return m ? { w: +m[1]!, h: +m[2]!, x: +m[3]!, y: +m[4]! } : null;
}

/** The tray icon's pixels as a PNG (to tell its looks apart). */
function trayPixels(): Buffer {
  const icon = trayIcon();
  if (!icon) throw new Error('no tray icon');
  const out = spawnSync('import', ['-window', 'root', '-crop', `${icon.w}x${icon.h}+${icon.x}+${icon.y}`, 'rgb:-'], { env });
  if (out.status !== 0) throw new Error(`import failed: ${out.stderr}`);
  return out.stdout;
}

/** Whether a menu of the app is mapped: a viewable top-level "tern-gui" window other than the
 * main window ("Tern") and GTK's 10x10 leader windows. */
function trayMenuShown(): boolean {
  const candidates = run('xwininfo', ['-root', '-children'])
    .split('\n')
    .filter((l) => /"tern-gui": \("tern-gui" "Tern-gui"\)/.test(l) && !/\b10x10\+/.test(l))
    .map((l) => l.trim().split(/\s+/)[0]!);
  return candidates.some((id) => run('xwininfo', ['-id', id]).includes('IsViewable'));
}

/** Opens the tray menu (right button, as on most panels) and picks the `nth` enabled item. */
async function trayMenu(nth: number, screenshot?: string) {
  const icon = await until('the tray icon', async () => trayIcon());
  const x = String(icon.x + Math.floor(icon.w / 2));
  const y = String(icon.y + Math.floor(icon.h / 2));
  run('xdotool', ['mousemove', x, y, 'mousedown', '3']);
  await sleep(200);
  run('xdotool', ['mouseup', '3']);
  await until('the tray menu', async () => trayMenuShown(), 5_000);
  await sleep(300);
  if (screenshot) screenShot(screenshot);
  // The menu grabs the keyboard: Down moves to the first enabled item (the state line at the
  // top is not one).
  for (let i = 0; i < nth; i++) run('xdotool', ['key', 'Down']);
  run('xdotool', ['key', 'Return']);
}

// ---- the run ------------------------------------------------------------------------------

async function main() {
  for (const dir of ['home', 'config/tern', 'data', 'cache', 'runtime']) mkdirSync(join(work, dir), { recursive: true, mode: 0o700 });
  if (SHOTS) {
    mkdirSync(SHOTS, { recursive: true });
    // Only this run's pictures (a failure.png from an earlier run would mislead).
    for (const f of readdirSync(SHOTS)) if (/^app-.*\.png$/.test(f)) rmSync(join(SHOTS, f));
  }
  installDesktopAssociation();

  start('Xvfb', [DISPLAY, '-nolock', '-nolisten', 'tcp', '-screen', '0', `${SCREEN.width}x${SCREEN.height}x24`]);
  await until('Xvfb', async () => existsSync('/tmp/.X11-unix/X0'), 10_000);
  start('trayer', ['--edge', 'top', '--align', 'right', '--widthtype', 'request', '--height', '32', '--transparent', 'false', '--tint', '0x303030', '--SetDockType', 'true']);

  // The keyring and the single-instance service live on a private session bus; the driver (and
  // so the app it starts) inherit it. The bus address is written down for the second launch.
  const busFile = join(work, 'bus');
  const wrapper = join(work, 'session.sh');
  writeFileSync(
    wrapper,
    `echo "$DBUS_SESSION_BUS_ADDRESS" > ${busFile}\n` +
      `export $(echo -n throwaway | gnome-keyring-daemon --unlock --components=secrets | xargs)\n` +
      `exec ${DRIVER} --port ${PORT}\n`,
  );
  start('dbus-run-session', ['--', 'sh', wrapper]);
  await until('tauri-driver', () => fetch(`http://127.0.0.1:${PORT}/status`).then((r) => r.ok), 20_000);
  const bus = readFileSync(busFile, 'utf8').trim();

  session = (await wd('POST', '/session', { capabilities: { alwaysMatch: { 'tauri:options': { application: APP, args: [] } } } })).sessionId;
  log('the app is up');
  await waitHeadline('Not connected', (h) => h.startsWith('Not connected'));
  await until('the helper connection', async () => (await textOf('[data-testid="helper-problem"]')) === null && (await textOf('[data-testid="protection-badge"]')) === 'Not protected');
  check(trayIcon() !== null, 'the tray icon is in the tray host');
  const disconnectedIcon = trayPixels();

  // A double-click: the desktop runs the .desktop file's Exec line with the file, which hands it
  // to the running instance and exits.
  run('gio', ['open', SSWAN], { DBUS_SESSION_BUS_ADDRESS: bus });
  const preview = await until('the import preview', () => textOf('[data-testid="import-dialog"]'));
  check(preview.includes(`Import ${basename(SSWAN)}`), 'the opened file shows the import preview in the running app');
  check(preview.includes(GATEWAY) && preview.includes('Example VPN CA') && preview.includes('SHA-256'), 'the preview shows the server and the CA certificate with its fingerprint');
  check(preview.includes('alice'), 'the preview shows the EAP identity');
  await shot('import-preview');

  // First a mistyped password, to see a failure in words.
  await type('[data-testid="secret-eap-password"]', 'not the password');
  await click('[data-testid="import-confirm"]');
  await until('the imported profile in the list', async () => (await textOf('[data-testid="profile-list"]'))?.includes(PROFILE));
  check((await textOf('.profile-host'))?.includes(GATEWAY) ?? false, 'the imported profile is listed with its server');
  await shot('disconnected');

  await click('[data-testid="connect-switch"]');
  const failed = await waitHeadline('failed', (h) => h.includes('Not connected —'), 30_000);
  const failure = (await textOf('[data-testid="failure"]')) ?? '';
  check(/sign-in|password/i.test(failure), `a wrong password is explained: "${failed}" / "${failure.slice(0, 120)}"`);
  await shot('error');

  // Fix the password from the failure itself; saving it connects again. The gateway is held back
  // a moment, so "connecting" is on screen.
  await lab('hold-gateway');
  await click('[data-testid="failure-password"]');
  await type('[data-testid="secret-eap-password"]', PASSWORD);
  await click('[data-testid="secrets-save"]');
  const connecting = await waitHeadline('Connecting — Contacting the server', (h) => h.startsWith('Connecting') && h.includes('Contacting the server'));
  check(true, `the stage is shown: "${connecting}"`);
  await sleep(800);
  await shot('connecting');
  await lab('release-gateway');
  const connectedAt = Date.now();
  await waitHeadline('Connected', (h) => h.startsWith('Connected'), 40_000);
  log(`connected ${((Date.now() - connectedAt) / 1000).toFixed(1)} s after the gateway was let go (one IKE retransmission)`);
  const sa = await lab('child-sa');
  const vip = (await textOf('[data-testid="status-vip"]')) ?? '';
  const poolPrefix = VIP_POOL.split('/')[0]!.split('.').slice(0, 3).join('.');
  check(vip.startsWith(`${poolPrefix}.`) && sa.includes(vip), `"Connected" with the virtual IP ${vip}, the one the gateway assigned (${sa})`);
  check(((await textOf('[data-testid="status-dns"]')) ?? '').includes(DNS), 'the pushed DNS server is shown');
  check(((await textOf('[data-testid="status-suites"]')) ?? '').includes('ESP'), 'the negotiated suites are shown');
  check((await textOf('[data-testid="protection-badge"]')) === 'Protected', 'the badge says Protected');
  const ping = await lab('ping');
  check(ping.includes(' 0% packet loss'), `a ping through the tunnel: ${ping}`);
  await until('traffic counted', async () => /[1-9]/.test((await textOf('[data-testid="status-traffic"]')) ?? ''), 10_000);
  // A few seconds of traffic for the live graph.
  for (let i = 0; i < 3; i++) {
    await sleep(700);
    await lab('ping');
  }
  check(!trayPixels().equals(disconnectedIcon), 'the tray icon changed its look for "connected"');
  await shot('connected');

  await click('#tab-log');
  const logText = await until('helper log lines', async () => {
    const t = await textOf('[data-testid="log-lines"]');
    return t && t.length > 40 ? t : null;
  });
  check(logText.length > 40, 'the helper log is shown');
  await shot('logs');
  await click('#tab-status');

  await click('[data-testid="connect-switch"]');
  await waitHeadline('Not connected', (h) => h === 'Not connected');
  await lab('no-sa');
  check((await textOf('[data-testid="protection-badge"]')) === 'Not protected', 'disconnected: the gateway has no SA left and the badge says Not protected');

  // The tray: connect the profile from its menu, then disconnect from it.
  await trayMenu(1, 'tray-menu');
  await waitHeadline('Connected (from the tray)', (h) => h.startsWith('Connected'), 40_000);
  check((await lab('child-sa')).includes('INSTALLED'), 'the tray menu connects the profile');
  await sleep(500);
  screenShot('tray-connected');
  await trayMenu(1);
  await waitHeadline('Not connected (from the tray)', (h) => h === 'Not connected');
  await lab('no-sa');
  check(true, 'the tray menu disconnects');

  // A tern://import link (from a web page or a mail) goes the same way: the desktop hands it to
  // the running app, which previews what it carries.
  const data = readFileSync(SSWAN).toString('base64url');
  run('gio', ['open', `tern://import?data=${data}&name=from-a-link.sswan`], { DBUS_SESSION_BUS_ADDRESS: bus });
  const linked = await until('the preview of the link', async () => {
    const t = await textOf('[data-testid="import-dialog"]');
    return t?.includes('Import from-a-link.sswan') ? t : null;
  });
  check(linked.includes(GATEWAY), 'a tern://import link opens the preview in the running app');
  await wd('POST', s('/execute/sync'), {
    script: '[...document.querySelectorAll("[data-testid=import-dialog] button")].find((b) => b.textContent.trim() === "Cancel").click();',
    args: [],
  });
  await until('the link preview to close', async () => (await textOf('[data-testid="import-dialog"]')) === null);

  await certificateProfile(bus);
}

/** A .sswan with a client certificate whose passphrase the provider gave apart from the file:
 * opened from the desktop like the first, imported with the passphrase, connected with the
 * certificate. */
async function certificateProfile(bus: string) {
  run('gio', ['open', CERT_SSWAN], { DBUS_SESSION_BUS_ADDRESS: bus });
  const preview = await until('the certificate import preview', async () => {
    const t = await textOf('[data-testid="import-dialog"]');
    return t?.includes(`Import ${basename(CERT_SSWAN)}`) ? t : null;
  });
  check(preview.includes(CERT_ID) && /certificate/i.test((await textOf('[data-testid="fact-auth"]')) ?? ''), `the preview shows sign-in with a certificate as ${CERT_ID}`);
  check(((await textOf('[data-testid="certificate-in-file"]')) ?? '').includes('contains your client certificate'), 'the preview says the file contains a client certificate');
  const field = '[data-testid="secret-pkcs12-passphrase"]';
  check(
    preview.includes('Certificate passphrase') && (await textOf(field)) !== null && (await textOf('[data-testid="secret-eap-password"]')) === null,
    'the preview asks for the certificate passphrase (and nothing else)',
  );
  await shot('import-certificate');
  const importDisabled = await wd('POST', s('/execute/sync'), { script: 'return document.querySelector(arguments[0]).disabled;', args: ['[data-testid="import-confirm"]'] });
  check(importDisabled === true, 'Import waits for the passphrase (the certificate cannot be kept without it)');

  const wrong = 'not the passphrase';
  await type(field, wrong);
  await click('[data-testid="import-confirm"]');
  const refused = await until('the wrong passphrase refused', () => textOf('[data-testid="import-error"]'));
  check(/does not open/.test(refused) && (await textOf('[data-testid="import-dialog"]')) !== null, `a wrong passphrase is refused and the import stays open: "${refused.slice(0, 100)}"`);
  check(!((await textOf('[data-testid="profile-list"]')) ?? '').includes(CERT_PROFILE), 'nothing is saved on a wrong passphrase');
  await shot('import-certificate-wrong');

  await erase(field, wrong.length);
  await type(field, CERT_PASSPHRASE);
  await click('[data-testid="import-confirm"]');
  await until('the certificate import to close', async () => (await textOf('[data-testid="import-dialog"]')) === null);
  await until('the certificate profile selected', async () => (await textOf('.profile.selected .profile-name')) === CERT_PROFILE);
  check(true, 'the right passphrase imports the profile, which is selected');

  await click('[data-testid="connect-switch"]');
  await waitHeadline('Connected (certificate)', (h) => h.startsWith('Connected'), 40_000);
  const sa = await lab('cert-sa');
  const vip = (await textOf('[data-testid="status-vip"]')) ?? '';
  check(vip.length > 0 && sa.includes(vip), `"Connected" with the virtual IP ${vip}; the gateway authenticated the certificate: ${sa}`);
  check(((await textOf('[data-testid="status-profile"]')) ?? '').includes(CERT_PROFILE), 'the status names the certificate profile');
  const ping = await lab('ping');
  check(ping.includes(' 0% packet loss'), `a ping through the tunnel: ${ping}`);
  await shot('connected-certificate');

  await click('[data-testid="connect-switch"]');
  await waitHeadline('Not connected (certificate)', (h) => h === 'Not connected');
  await lab('no-sa');
  check(true, 'the certificate profile disconnects; the gateway has no SA left');
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.log(`not ok - ${String(e)}`);
  if (session) {
    await shot('failure').catch(() => undefined);
    console.log(`  the window's status headline: ${await headline().catch((e: unknown) => String(e))}`);
  }
  for (const line of stderrLog.slice(-40)) console.log(`  ${line}`);
} finally {
  if (session) await wd('DELETE', s('')).catch(() => undefined);
}
log(failed ? 'FAILED' : 'all checks passed');
// Everything else (Xvfb, trayer, D-Bus, the keyring, the drivers, the app) ends with this PID
// namespace when this process exits.
process.exit(failed ? 1 : 0);
