// Debian's Chromium driven by playwright-core, for the tests that use the
// server's pages as a person would: headless, with a fresh profile, allowed
// to reach nothing but this machine, and with screenshots kept as test
// artifacts in e2e/artifacts/. `make e2e` installs Chromium where it can
// (chromium.sh).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';
export const artifactsDir = join(import.meta.dirname, '..', 'artifacts');

/**
 * skipBrowser is why the browser tests cannot run on this machine, or
 * false. Under CI=true it is always false: there a missing Chromium fails
 * the tests instead of skipping them.
 */
export const skipBrowser = existsSync(chromiumPath) || process.env.CI === 'true'
  ? false
  : `no Chromium at ${chromiumPath} (make e2e installs Debian's package when it runs as root or with sudo)`;

const localHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * launchBrowser starts Chromium on a new temporary profile. Only this
 * machine is reachable: other host names do not resolve, and every request
 * for another host is aborted and kept in `refused`, so that a test can
 * assert none was needed. Uncaught page errors and console errors (a
 * Content-Security-Policy violation is one) are kept in `errors`.
 */
export async function launchBrowser() {
  const profile = await mkdtemp(join(tmpdir(), 'jobsphere-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
      ],
      viewport: { width: 1280, height: 800 },
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  const refused = [];
  const errors = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (localHosts.has(url.hostname)) return route.continue();
    refused.push(url.href);
    return route.abort('blockedbyclient');
  });
  const watch = (page) => {
    page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return {
    context,
    refused,
    errors,
    newPage: () => context.newPage(),
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** screenshot saves the whole page as e2e/artifacts/NAME.png and returns the file's path. */
export async function screenshot(page, name) {
  await mkdir(artifactsDir, { recursive: true });
  const path = join(artifactsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
