// Builds the harness page, serves it on loopback and drives it in the system's headless
// Chromium (Debian's /usr/bin/chromium; never a downloaded browser).
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import type { Reply } from './harness';

const UI_DIR = resolve(__dirname, '..');
export const CHROMIUM = process.env.TERN_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Harness {
  browser: Browser;
  server: PreviewServer;
  url: string;
  close: () => Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium)`);
  }
  await build({ root: UI_DIR, mode: 'harness', logLevel: 'warn' });
  const server = await preview({ root: UI_DIR, mode: 'harness', logLevel: 'warn', preview: { host: '127.0.0.1', port: 0, strictPort: false } });
  const address = server.httpServer.address();
  if (!address || typeof address === 'string') throw new Error('preview server has no port');
  const url = `http://127.0.0.1:${address.port}/tests/harness.html`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  return {
    browser,
    server,
    url,
    close: async () => {
      await browser.close();
      await new Promise<void>((done) => server.httpServer.close(() => done()));
    },
  };
}

export interface AppPage {
  page: Page;
  calls: (cmd?: string) => Promise<{ cmd: string; args: Record<string, unknown> }[]>;
  emit: (event: string, payload: unknown) => Promise<void>;
  reply: (cmd: string, reply: Reply) => Promise<void>;
  notifications: () => Promise<{ title: string; body?: string }[]>;
  clipboard: () => Promise<string[]>;
  close: () => Promise<void>;
}

/** Opens the app against a backend with these replies. */
export async function openApp(
  harness: Harness,
  replies: Record<string, Reply>,
  options: { colorScheme?: 'light' | 'dark' } = {},
): Promise<AppPage> {
  const context = await harness.browser.newContext({ viewport: { width: 1000, height: 700 }, colorScheme: options.colorScheme ?? 'light' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.addInitScript((r) => {
    (window as unknown as { __scenario: unknown }).__scenario = { replies: r };
  }, replies);
  await page.goto(harness.url);
  await page.getByTestId('protection-badge').waitFor();
  return {
    page,
    calls: async (cmd) => {
      const all = await page.evaluate(() => window.__mock.calls);
      return cmd ? all.filter((c) => c.cmd === cmd) : all;
    },
    emit: async (event, payload) => {
      await page.evaluate(([e, p]) => window.__mock.emit(e as string, p), [event, payload] as const);
    },
    reply: async (cmd, reply) => {
      await page.evaluate(([c, r]) => window.__mock.reply(c as string, r as Reply), [cmd, reply] as const);
    },
    notifications: () => page.evaluate(() => window.__mock.notifications),
    clipboard: () => page.evaluate(() => window.__mock.clipboard),
    close: async () => {
      await context.close();
      if (errors.length) throw new Error(`errors in the page: ${errors.join('; ')}`);
    },
  };
}

/** Where screenshots go when TERN_SCREENSHOTS names a directory. */
export async function screenshot(page: Page, name: string) {
  const dir = process.env.TERN_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: resolve(dir, `${name}.png`) });
}
