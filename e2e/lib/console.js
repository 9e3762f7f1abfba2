// Debian's Chromium, headless, driven by playwright-core (which downloads
// no browser of its own): what the console's browser test runs in. Each
// launch gets a fresh profile and no network beyond what the page asks.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * browserSkip is why the browser test cannot run here, or false when it
 * can. Without Chromium it is skipped, except in CI (CI=true), where its
 * absence fails the suite.
 */
export function browserSkip() {
  if (existsSync(chromiumPath)) return false;
  if (process.env.CI === 'true') throw new Error(`${chromiumPath} is missing and CI=true: the console's browser test must run (apt-get install chromium)`);
  return `${chromiumPath} is missing: the console's browser test is skipped (apt-get install chromium to run it)`;
}

/** launchChromium starts headless Chromium with a profile of its own, removed by close(). */
export async function launchChromium() {
  const profile = await mkdtemp(join(tmpdir(), 'jobsphere-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
