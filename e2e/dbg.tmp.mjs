import { startServer } from './lib/server.js';
import { launchChromium } from './lib/console.js';
const server = await startServer({});
await server.cli('admin', 'create', '--email', 'admin@e2e.test', '--password', 'Passw0rd!e2e', '--name', 'E2E Admin');
const b = await launchChromium();
const page = await b.context.newPage();
page.on('console', (m) => console.log('console:', m.type(), m.text()));
page.on('pageerror', (e) => console.log('pageerror:', e.message));
await page.goto(server.url + '/admin/releases');
await page.getByLabel('Email').fill('admin@e2e.test');
await page.getByLabel('Password').fill('Passw0rd!e2e');
await page.getByRole('button', { name: 'Sign in' }).click();
await page.waitForTimeout(2000);
console.log(await page.locator('main').innerText());
for (const p of ['/admin/withdrawals','/admin/disputes','/admin/frozen','/admin/users']) { await page.goto(server.url+p); await page.waitForTimeout(1500); console.log(p, '=>', await page.locator('main').innerText()); }
await b.close(); await server.cleanup();
