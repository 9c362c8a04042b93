// The web client end to end, in headless Chromium (Debian's package,
// never a downloaded browser), driven by playwright-core.
//
// Run by `cargo test` (tests/it/browser.rs), which starts a server on
// BASE_URL serving web/dist, a fake 42 Intranet, and three bots in an open
// 4-player tournament called TOURNAMENT_NAME. Screenshots of the main
// screens go to ARTIFACTS.
//
//   alice and bob: register, befriend, chat both ways (typing, receipts),
//     invite, play a match to the end with key presses (bob reloads in the
//     middle and comes back within the grace; carol watches), see it in
//     the history.
//   alice: uploads an avatar, joins and leaves the matchmaking queue, turns
//     on 2FA (a wrong code first), logs out everywhere (her second tab
//     too), logs in again with a recovery code.
//   carol: blocks and unblocks bob, creates a tournament, then joins the
//     bots' one with an alias and plays until it has a champion.
//   marvin: signs in with 42.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.BASE_URL ?? 'http://127.0.0.1:8000';
const PASSWORD = process.env.PASSWORD ?? 'correct horse battery';
const ARTIFACTS = process.env.ARTIFACTS ?? 'e2e/artifacts';
const TOURNAMENT = process.env.TOURNAMENT_NAME ?? 'Bot cup';
/** An 8×8 PNG, for the avatar upload. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEUlEQVR4nGM4oRGFFTEMLQkAWChSgXZ/mz4AAAAASUVORK5CYII=';
fs.mkdirSync(ARTIFACTS, { recursive: true });

const started = Date.now();
function step(text) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
});

const pages = [];
async function user(name) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (e) => console.log(`${name} page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') console.log(`${name} console: ${m.text()}`); });
  pages.push(page);
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}

async function register(page, username) {
  await page.goto(`${BASE}/#/register`);
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Email').fill(`${username}@example.com`);
  await page.getByLabel('Password').fill(PASSWORD);
  if (username === 'alice') await shot(page, '01-register');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByTestId('link-state').filter({ hasText: 'Connected' }).waitFor();
}

/** The id of a user, from their profile link in the header. */
async function myId(page) {
  return page.evaluate(async () => {
    const s = JSON.parse(localStorage.getItem('transcendence.session'));
    const res = await fetch('/api/users/me', { headers: { authorization: `Bearer ${s.access}` } });
    return (await res.json()).id;
  });
}

function base32(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of secret.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function totp(secret) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)));
  const mac = crypto.createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[19] & 15;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** Plays until the match ends, pressing keys now and then. */
async function playToTheEnd(page, label) {
  const result = page.getByTestId('game-result');
  for (let i = 0; i < 120 && !(await result.isVisible()); i++) {
    const key = i % 2 ? 'ArrowUp' : 'ArrowDown';
    await page.keyboard.down(key);
    await page.waitForTimeout(150);
    await page.keyboard.up(key);
    await page.waitForTimeout(350);
  }
  await result.waitFor({ timeout: 60_000 });
  step(`${label}: ${await result.textContent()}`);
}

let failed = false;
try {
  // --- Two players -------------------------------------------------------
  const alice = await user('alice');
  const bob = await user('bob');
  await alice.goto(BASE);
  await alice.getByRole('heading', { name: 'Log in' }).waitFor();
  await shot(alice, '00-login');
  await register(alice, 'alice');
  await register(bob, 'bob');
  const carol = await user('carol');
  await register(carol, 'carol');
  await shot(alice, '02-play');
  step('alice and bob registered');
  const bobId = await myId(bob);

  await alice.getByTestId('nav-people').click();
  await alice.getByTestId('search').fill('bob');
  const bobRow = alice.getByTestId('search-results').locator('li[data-user="bob"]');
  await bobRow.getByRole('button', { name: 'Add friend' }).click();
  await alice.getByText('Friend request sent to bob').waitFor();

  // bob sees the request in his notifications (the badge counts it).
  await bob.getByTestId('nav-notifications').locator('.badge').waitFor();
  await bob.getByTestId('nav-notifications').click();
  await bob.locator('li[data-kind="friend_request"]').waitFor();
  await shot(bob, '03-notifications');
  await bob.locator('li[data-kind="friend_request"]').getByRole('button', { name: 'Accept' }).click();
  // alice's friends list updates by itself, with bob online.
  const friend = alice.getByTestId('friends').locator('li[data-user="bob"]');
  await friend.locator('[data-presence="online"]').waitFor();
  await shot(alice, '04-people');
  step('friends, bob online');

  // --- Chat both ways --------------------------------------------------------
  await friend.getByRole('link', { name: 'Message' }).click();
  await alice.getByTestId('chat-input').fill('hi bob, up for a game?');
  await alice.getByTestId('chat-send').click();
  await alice.getByTestId('messages').locator('li.mine', { hasText: 'hi bob' }).waitFor();
  await bob.getByTestId('nav-chat').locator('.badge').waitFor();
  await bob.getByTestId('nav-chat').click();
  await bob.getByTestId('chat-list').locator('a').first().click();
  await bob.getByTestId('messages').locator('li.theirs', { hasText: 'hi bob' }).waitFor();
  // bob has read it: alice sees the receipt.
  await alice.getByTestId('seen').waitFor();
  await bob.getByTestId('chat-input').pressSequentially('sure', { delay: 30 });
  await alice.getByTestId('typing').filter({ hasText: 'is typing' }).waitFor();
  await bob.getByTestId('chat-input').press('Enter');
  await alice.getByTestId('messages').locator('li.theirs', { hasText: 'sure' }).waitFor();
  // Read where it is shown: no unread count is left.
  await alice.getByTestId('nav-chat').locator('.badge').waitFor({ state: 'detached' });
  await shot(alice, '05-chat');
  step('chat both ways, typing and read receipt');

  // --- A match, with a reload in the middle -----------------------------------
  await alice.goto(`${BASE}/#/users/${bobId}`);
  await alice.getByTestId('invite-points').selectOption('1');
  await alice.getByTestId('invite').click();
  await alice.getByText('Invitation sent to bob').waitFor();
  await bob.getByTestId('toast').getByRole('button', { name: 'Accept' }).click();
  await alice.waitForURL(/#\/game\/\d+/);
  await bob.waitForURL(/#\/game\/\d+/);
  await alice.getByTestId('pong').waitFor();
  step(`match ${alice.url().split('/').pop()} started`);
  // carol watches it from the live list.
  await carol.goto(`${BASE}/#/play`);
  await carol.getByTestId('live-matches').getByRole('link', { name: 'Watch' }).click();
  await carol.getByText('You are watching.').waitFor();
  await bob.reload();
  await bob.getByTestId('link-state').filter({ hasText: 'Connected' }).waitFor();
  await bob.getByText(/You are on the (left|right)/).waitFor();
  step('bob reloaded and is back in the match');
  await alice.waitForTimeout(1500);
  await shot(alice, '06-game');
  await Promise.all([playToTheEnd(alice, 'alice'), playToTheEnd(bob, 'bob')]);
  await carol.getByTestId('game-result').filter({ hasText: /won/ }).waitFor();
  await shot(carol, '07-spectator');
  await shot(alice, '07-game-over');
  await alice.getByRole('link', { name: 'Match history' }).click();
  await alice.getByTestId('history-row').first().waitFor();
  await shot(alice, '08-history');
  step('the match is in the history');

  // --- Avatar, matchmaking queue ---------------------------------------------------
  await alice.goto(`${BASE}/#/settings`);
  await alice.getByLabel(/^Image/).setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: Buffer.from(PNG, 'base64') });
  await alice.getByRole('button', { name: 'Upload' }).click();
  await alice.getByText('Avatar updated.').waitFor();
  const avatar = await alice.getByTestId('avatar').getAttribute('src');
  if (avatar.includes('/default/')) throw new Error(`the avatar is still the default: ${avatar}`);
  await alice.goto(`${BASE}/#/play`);
  await alice.getByTestId('queue-join').click();
  await alice.getByTestId('queue-status').filter({ hasText: 'Searching' }).waitFor();
  await alice.getByRole('button', { name: 'Leave the queue' }).click();
  await alice.getByTestId('queue-join').waitFor();
  step('avatar uploaded; queue joined and left');

  // --- 2FA, logout everywhere, login with the second factor ------------------------
  const aliceTab2 = await alice.context().newPage();
  await aliceTab2.goto(`${BASE}/#/leaderboard`);
  await aliceTab2.getByTestId('leaderboard').locator('tr').nth(1).waitFor();
  await alice.goto(`${BASE}/#/settings`);
  await alice.getByTestId('tfa').getByRole('button', { name: 'Set up' }).click();
  await alice.getByTestId('tfa-qr').waitFor();
  const secret = (await alice.getByTestId('tfa-secret').textContent()).trim();
  await shot(alice, '09-2fa-setup');
  // A wrong code is an error on the form, not a logout.
  const wrong = totp(secret) === '000000' ? '111111' : '000000';
  await alice.getByTestId('tfa-code').fill(wrong);
  await alice.getByRole('button', { name: 'Turn on' }).click();
  await alice.getByTestId('tfa').getByRole('alert').filter({ hasText: /code/i }).waitFor();
  await alice.getByTestId('tfa-code').fill(totp(secret));
  await alice.getByRole('button', { name: 'Turn on' }).click();
  const codes = alice.getByTestId('recovery-codes').locator('code');
  await codes.first().waitFor();
  const recovery = (await codes.first().textContent()).trim();
  await shot(alice, '10-recovery-codes');
  await alice.getByRole('button', { name: 'I have saved them' }).click();
  await alice.getByTestId('logout-all').click();
  await alice.getByRole('heading', { name: 'Log in' }).waitFor();
  await aliceTab2.getByRole('heading', { name: 'Log in' }).waitFor();
  step('logged out everywhere (both tabs)');
  await alice.getByLabel('Username or email').fill('alice');
  await alice.getByLabel('Password').fill(PASSWORD);
  await alice.getByRole('button', { name: 'Log in' }).click();
  await alice.getByRole('heading', { name: 'Two-factor authentication' }).waitFor();
  await shot(alice, '11-2fa-login');
  await alice.getByLabel('Code').fill(recovery);
  await alice.getByRole('button', { name: 'Verify' }).click();
  await alice.getByTestId('link-state').filter({ hasText: 'Connected' }).waitFor();
  step('logged in again with a recovery code');

  // --- Blocks, tournaments ----------------------------------------------------------
  await carol.goto(`${BASE}/#/users/${bobId}`);
  await carol.getByRole('button', { name: 'Block' }).click();
  await carol.getByRole('button', { name: 'Unblock' }).click();
  await carol.getByRole('button', { name: 'Add friend' }).waitFor();
  step('carol blocked and unblocked bob');
  await carol.getByTestId('nav-tournaments').click();
  await carol.getByLabel('Name', { exact: true }).fill('Carol cup');
  await carol.getByRole('button', { name: 'Create' }).click();
  await carol.getByRole('heading', { name: 'Carol cup' }).waitFor();
  await carol.getByTestId('nav-tournaments').click();
  await carol.locator(`a[data-tournament="${TOURNAMENT}"]`).click();
  await carol.getByTestId('alias').fill('Caz');
  await carol.getByTestId('join').click();
  step('carol joined the tournament as Caz');
  const tournamentUrl = carol.url();
  let games = 0;
  const deadline = Date.now() + 150_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error('the tournament did not finish in time');
    if (/#\/game\/\d+/.test(carol.url())) {
      games++;
      await carol.getByTestId('pong').waitFor();
      await carol.waitForTimeout(1000);
      if (games === 1) await shot(carol, '12-tournament-game');
      await playToTheEnd(carol, `carol, game ${games}`);
      await carol.goto(tournamentUrl);
    }
    if (await carol.getByTestId('champion').isVisible()) break;
    const ready = carol.getByTestId('match-ready');
    if (await ready.isVisible()) await ready.getByRole('link', { name: 'Play now' }).click();
    await carol.waitForTimeout(300);
  }
  if (games === 0) throw new Error('carol never played a match');
  await shot(carol, '13-bracket');
  step(`${await carol.getByTestId('champion').textContent()} (carol played ${games})`);
  await carol.getByTestId('nav-notifications').click();
  await carol.locator('li[data-kind="tournament_match_ready"]').first().waitFor();

  // --- Sign in with 42 ---------------------------------------------------------
  const marvin = await user('marvin');
  await marvin.goto(BASE);
  await marvin.getByTestId('login-42').click();
  await marvin.getByTestId('link-state').filter({ hasText: 'Connected' }).waitFor();
  await marvin.getByTestId('nav-me').filter({ hasText: 'marvin' }).waitFor();
  step('marvin signed in with 42');
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.stack ?? e}`);
  for (const [i, page] of pages.entries()) {
    await page.screenshot({ path: path.join(ARTIFACTS, `failure-${i}.png`) }).catch(() => undefined);
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
