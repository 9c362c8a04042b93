// The client through the TLS gateway: the page, its assets and its
// websocket under the gateway's CSP (`connect-src 'self'`). Run by
// tests/it/browser.rs with BASE_URL=https://localhost:<port> (a
// self-signed certificate, hence --ignore-certificate-errors).

import path from 'node:path';
import fs from 'node:fs';
import { chromium } from 'playwright-core';

const BASE = process.env.BASE_URL;
const ARTIFACTS = process.env.ARTIFACTS ?? 'e2e/artifacts';
fs.mkdirSync(ARTIFACTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run',
    '--ignore-certificate-errors'],
});
let failed = false;
const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
page.setDefaultTimeout(20_000);
const violations = [];
page.on('console', (m) => {
  if (m.type() === 'error') {
    console.log(`console: ${m.text()}`);
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  }
});
try {
  await page.goto(`${BASE}/#/register`);
  await page.getByLabel('Username', { exact: true }).fill('gwuser');
  await page.getByLabel('Email').fill('gwuser@example.com');
  await page.getByLabel('Password').fill(process.env.PASSWORD ?? 'correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByTestId('link-state').filter({ hasText: 'Connected' }).waitFor();
  await page.screenshot({ path: path.join(ARTIFACTS, 'gateway-play.png') });
  if (violations.length) throw new Error(`CSP violations: ${violations.join('; ')}`);
  console.log('signed up and connected through the gateway');
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.stack ?? e}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'gateway-failure.png') }).catch(() => undefined);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
