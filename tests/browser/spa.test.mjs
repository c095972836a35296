// Keyward's browser tests: the real SPA (frontend/dist) served by the real
// server (target/debug/keyward) with a fresh SQLite database, driven in
// headless Chromium through playwright-core.
//
//   just spa && cargo build -p keyward-server && just browser-test
//
// Environment: KEYWARD_TEST_SERVER_BIN overrides the server binary. Every
// screen is saved as a screenshot under tests/browser/artifacts/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const dist = join(repo, 'frontend/dist');
const artifacts = join(here, 'artifacts');
const serverBin = process.env.KEYWARD_TEST_SERVER_BIN ?? join(repo, 'target/debug/keyward');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN_PASSWORD = 'correct-horse-battery-staple-1';
const BOB_PASSWORD = 'tenant-b-admin-password-1';
const STEP_TIMEOUT = 15_000;

let server;
let serverLog = '';
let base;
let dataDir;
let userDataDir;
let context;
let page;
let adminToken;
let defaultTenantId;
let integrationsGroupId;
let consoleErrors = [];

// ------------------------------------------------------------------ helpers

function isoDate(daysFromNow) {
  return new Date(Date.now() + daysFromNow * 86_400_000).toISOString().slice(0, 10);
}

/** The date `years` from today (UTC); 29 February becomes 28 February. */
function isoDateYears(years) {
  const now = new Date();
  const y = now.getUTCFullYear() + years;
  const m = now.getUTCMonth();
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return new Date(Date.UTC(y, m, Math.min(now.getUTCDate(), last))).toISOString().slice(0, 10);
}

/** The JSON body of the next request for `method` to a path ending in `suffix`, once `act` has run. */
async function requestBody(method, suffix, act) {
  const [req] = await Promise.all([
    page.waitForRequest((r) => r.method() === method && new URL(r.url()).pathname.endsWith(suffix)),
    act(),
  ]);
  return JSON.parse(req.postData() ?? 'null');
}

/** The text of the tenant switcher's selected option. */
async function switcherText() {
  return page.getByTestId('tenant-switcher').evaluate((s) => s.options[s.selectedIndex]?.textContent ?? '');
}

/** Waits until the tenant switcher shows `pattern` for the selected tenant. */
async function waitForSwitcher(pattern) {
  await page
    .waitForFunction(
      (source) => {
        const s = document.querySelector('[data-testid="tenant-switcher"]');
        return s && new RegExp(source).test(s.options[s.selectedIndex]?.textContent ?? '');
      },
      pattern.source,
      { timeout: STEP_TIMEOUT },
    )
    .catch(async (e) => {
      throw new Error(`the tenant switcher never showed ${pattern}: ${await switcherText()} (${e.message})`);
    });
}

async function api(method, path, { token, body, headers = {} } = {}) {
  const res = await fetch(base + path, {
    method,
    headers: {
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
  }
  return { status: res.status, body: json };
}

async function ok(method, path, options) {
  const res = await api(method, path, options);
  assert.ok(res.status >= 200 && res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** GET /v1/whoami with a key: the status code. */
async function whoamiStatus(secret) {
  const res = await api('GET', '/v1/whoami', { headers: { 'X-API-Key': secret } });
  return res.status;
}

async function shot(name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** Console errors since the last call, minus the failed loads a step expects (e.g. /409/). */
function takeConsoleErrors(...expected) {
  const errors = consoleErrors.filter(
    (e) => !expected.some((re) => re.test(e)),
  );
  consoleErrors = [];
  return errors;
}

function row(name) {
  return page.locator('tr[data-testid="key-row"]', {
    has: page.locator('a.key-name', { hasText: new RegExp(`^${name}$`) }),
  });
}

/** Waits until the table lists exactly these key names, in this order. */
async function waitForRows(names) {
  await page
    .waitForFunction(
      (expected) =>
        [...document.querySelectorAll('tr[data-testid="key-row"] a.key-name')]
          .map((a) => a.textContent)
          .join('|') === expected.join('|'),
      names,
      { timeout: STEP_TIMEOUT },
    )
    .catch(async (e) => {
      throw new Error(`rows never became ${JSON.stringify(names)}: ${JSON.stringify(await rowNames())} (${e.message})`);
    });
}

async function rowNames() {
  return page.locator('tr[data-testid="key-row"] a.key-name').allTextContents();
}

async function signIn(username, password) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
}

async function signOut() {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
}

async function waitForUrl(predicate, what) {
  await page.waitForURL((url) => predicate(new URL(url)), { timeout: STEP_TIMEOUT }).catch((e) => {
    throw new Error(`URL never matched ${what}: ${page.url()} (${e.message})`);
  });
}

/** Where every row action sits at the current viewport, and whether the table scrolls sideways. */
async function rowActionLayout() {
  return page.evaluate(() => {
    const wrap = document.querySelector('.table-wrap');
    const box = wrap.getBoundingClientRect();
    const buttons = [...document.querySelectorAll('tr[data-testid="key-row"] .cell-actions button')];
    const outside = buttons
      .map((b) => ({ b, r: b.getBoundingClientRect() }))
      .filter(
        ({ r }) =>
          r.width === 0 ||
          r.left < Math.max(0, box.left) - 0.5 ||
          r.right > Math.min(window.innerWidth, box.right) + 0.5,
      )
      .map(({ b, r }) => `${b.getAttribute('aria-label')} at ${Math.round(r.left)}–${Math.round(r.right)}`);
    return {
      buttons: buttons.length,
      outside,
      overflow: wrap.scrollWidth - wrap.clientWidth,
      table: Math.round(document.querySelector('.keys-table').getBoundingClientRect().width),
      container: Math.round(box.width),
      page: document.documentElement.scrollWidth - window.innerWidth,
    };
  });
}

/** Whether a click at the centre of `locator` reaches it (nothing covers it). The
 * window scrolls vertically to it; nothing scrolls sideways. */
async function hitTestable(locator) {
  return locator.evaluate((el) => {
    const top = el.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight - 60) window.scrollBy(0, top - window.innerHeight / 2);
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return el === hit || el.contains(hit);
  });
}

async function closeSecretModal() {
  await page.getByRole('dialog').getByRole('button', { name: 'Close', exact: true }).click();
  await page.getByTestId('secret').waitFor({ state: 'detached' });
}

/** A webhook receiver on 127.0.0.1: every request's headers and raw body. */
async function startReceiver() {
  const got = [];
  const srv = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('thanks');
    });
  });
  await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${srv.address().port}/hooks`, got, close: () => srv.close() };
}

/** Standard Webhooks verification, as docs/WEBHOOKS.md gives it for JavaScript. */
function verifyWebhook(secret, headers, rawBody) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const id = headers['webhook-id'], ts = headers['webhook-timestamp'];
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const mac = createHmac('sha256', key).update(`${id}.${ts}.`).update(rawBody).digest();
  return headers['webhook-signature'].split(' ').some((s) => {
    const sig = Buffer.from(s.replace(/^v1,/, ''), 'base64');
    return s.startsWith('v1,') && sig.length === mac.length && timingSafeEqual(sig, mac);
  });
}

// ------------------------------------------------------------------ server and browser

function startServer() {
  return new Promise((resolvePromise, reject) => {
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('KEYWARD_')),
    );
    Object.assign(env, {
      KEYWARD_LISTEN: '127.0.0.1:0',
      KEYWARD_DATA_DIR: dataDir,
      KEYWARD_BOOTSTRAP_PASSWORD: ADMIN_PASSWORD,
      KEYWARD_SPA_DIR: dist,
      KEYWARD_USAGE_FLUSH_INTERVAL_MS: '200',
      KEYWARD_ACCESS_LOG_FLUSH_INTERVAL_MS: '200',
      // The webhook receiver of the tests listens on this machine's loopback.
      KEYWARD_WEBHOOK_ALLOW_NETWORKS: '["127.0.0.0/8"]',
      KEYWARD_WEBHOOK_POLL_INTERVAL_MS: '100',
    });
    server = spawn(serverBin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(
      () => reject(new Error(`the server did not report its port within 60 s:\n${serverLog}`)),
      60_000,
    );
    const onData = (chunk) => {
      serverLog += chunk.toString();
      const m = serverLog.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolvePromise(m[1]);
      }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', (chunk) => {
      serverLog += chunk.toString();
    });
    server.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code}:\n${serverLog}`));
    });
  });
}

before(async () => {
  assert.ok(existsSync(join(dist, 'index.html')), 'frontend/dist is missing: run `just spa` first');
  assert.ok(existsSync(serverBin), `${serverBin} is missing: run \`cargo build -p keyward-server\` first`);
  assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: run \`just setup-frontend\``);
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'keyward-data-'));
  userDataDir = mkdtempSync(join(tmpdir(), 'keyward-chromium-'));
  base = await startServer();

  const login = await ok('POST', '/v1/auth/login', { body: { username: 'admin', password: ADMIN_PASSWORD } });
  adminToken = login.token;
  defaultTenantId = login.me.tenant.id;
  const group = await ok('POST', '/v1/groups', {
    token: adminToken,
    body: {
      name: 'Integrations',
      description: 'Read-only integrations',
      kind: 'tenant_api_key',
      permissions: ['customers:read', 'invoices:read'],
    },
  });
  integrationsGroupId = group.id;

  context = await chromium.launchPersistentContext(userDataDir, {
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
    viewport: { width: 1366, height: 900 },
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  context.setDefaultTimeout(STEP_TIMEOUT);
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
});

after(async () => {
  await context?.close();
  if (server && server.exitCode === null) {
    server.removeAllListeners('exit');
    server.kill('SIGTERM');
  }
  for (const dir of [dataDir, userDataDir]) {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------ the flow

describe('Keyward SPA', () => {
  let secret;
  let keyId;

  test('a visitor lands on the sign-in page without console errors', async () => {
    await page.goto(`${base}/`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Username is required.').waitFor();
    await shot('01-sign-in');
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('the super user signs in and sees the empty key list with its quota', async () => {
    await signIn('admin', ADMIN_PASSWORD);
    await page.getByTestId('empty').waitFor();
    assert.match(await page.getByTestId('quota').innerText(), /^0\/10 keys/);
    assert.equal(await page.getByTestId('widget-total').locator('.widget-value').innerText(), '0');
    await shot('02-keys-empty');
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('the generate form validates while typing and the secret is shown once', async () => {
    assert.match(await switcherText(), /^Default \(0\/10 keys\)$/);
    await page.getByTestId('generate').click();
    await page.getByRole('heading', { level: 1, name: 'Generate API key' }).waitFor();

    const name = page.getByLabel('Key name');
    await name.fill('E');
    await page.getByText('Name must be at least 2 characters.').waitFor();
    const ips = page.getByLabel('IP allowlist');
    await ips.fill('127.0.0.1\nnot-an-ip\n10.0.0.0/8\n10.0.0.300');
    await page.getByText('IP allowlist line 2: "not-an-ip" is not a valid IP address or CIDR range.').waitFor();
    await page.getByText('IP allowlist line 4: "10.0.0.300" is not a valid IP address or CIDR range.').waitFor();
    await page.getByLabel('Expiration date').fill('2020-01-01');
    await page.getByText('Expiration date must be in the future.').waitFor();
    await page.getByRole('button', { name: 'Generate', exact: true }).click();
    await page.getByText('Permissions must be given by an authorization group, the key\'s own permissions, or both.').waitFor();
    await shot('03-generate-errors');

    await name.fill('ERP Integration');
    await page.getByLabel('Description').fill('Nightly ERP export');
    await page.getByLabel('Authorization group').selectOption(String(integrationsGroupId));
    await page.getByText('The group grants: customers:read, invoices:read').waitFor();
    await page.getByText('The key will hold: customers:read, invoices:read').waitFor();
    await page.getByLabel('Expiration date').fill(isoDate(90));
    await ips.fill('127.0.0.1\n10.0.0.0/8');
    assert.equal(await page.locator('.field-error:visible').count(), 0, 'no error remains');
    await shot('04-generate-form');
    await page.getByRole('button', { name: 'Generate', exact: true }).click();

    const dialog = page.getByRole('dialog', { name: 'API key generated' });
    await dialog.waitFor();
    await dialog.getByText('it will not be shown again').waitFor();
    // Every view of the count follows the write, the header's tenant switcher too.
    await waitForSwitcher(/^Default \(1\/10 keys\)$/);
    secret = await page.getByTestId('secret').inputValue();
    assert.match(secret, /^sk_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{34}$/);
    keyId = secret.slice('sk_live_'.length, 'sk_live_'.length + 12);
    assert.ok((await page.content()).includes(secret), 'the secret is in the DOM while the modal is open');

    await dialog.getByRole('button', { name: 'Copy to clipboard' }).click();
    await dialog.getByRole('button', { name: 'Copied' }).waitFor();
    await dialog.getByText('Copied to the clipboard.').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    await shot('05-secret-modal');

    assert.equal(await whoamiStatus(secret), 200, 'the new key authenticates');
    const who = await api('GET', '/v1/whoami', { headers: { 'X-API-Key': secret } });
    assert.equal(who.body.name, 'ERP Integration');

    await closeSecretModal();
    await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/api-keys');
    assert.ok(!(await page.content()).includes(secret), 'the secret is gone from the DOM');
    const values = await page.locator('input, textarea').evaluateAll((els) => els.map((e) => e.value));
    assert.ok(!values.includes(secret), 'no field holds the secret');
    await row('ERP Integration').waitFor();
    assert.match(await page.getByTestId('quota').innerText(), /^1\/10 keys/);
    assert.match(await switcherText(), /^Default \(1\/10 keys\)$/);
    assert.equal(await row('ERP Integration').getByTestId('status').innerText(), 'Active');
    assert.match(await row('ERP Integration').locator('code.masked').innerText(), new RegExp(`^sk_live_…${secret.slice(-4)}$`));
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('keys are found by search, filter and sort, and the URL restores the view', async () => {
    // Two more keys through the API: one expiring soon, one without expiry.
    await ok('POST', '/v1/api-keys', {
      token: adminToken,
      body: { name: 'Monitoring', group_id: integrationsGroupId, expires_at: isoDate(10) },
    });
    await ok('POST', '/v1/api-keys', {
      token: adminToken,
      body: { name: 'Billing Sync', description: 'QuickBooks export', group_id: integrationsGroupId },
    });
    await page.reload();
    await row('Monitoring').waitFor();
    assert.match(await page.getByTestId('quota').innerText(), /^3\/10 keys/);
    assert.equal(await page.getByTestId('widget-expiring').locator('.widget-value').innerText(), '1');
    assert.equal(await row('Monitoring').getByTestId('status').innerText(), 'Expiring soon');

    // Search (debounced, server side, in the URL).
    await page.getByLabel('Search').fill('erp');
    await waitForUrl((u) => u.searchParams.get('q') === 'erp', 'q=erp');
    await waitForRows(['ERP Integration']);
    await shot('06-search');
    await page.reload();
    await row('ERP Integration').waitFor();
    assert.equal(await page.getByLabel('Search').inputValue(), 'erp');
    assert.deepEqual(await rowNames(), ['ERP Integration']);

    // By description, and by the last characters of the key.
    await page.getByLabel('Search').fill('QuickBooks');
    await waitForUrl((u) => u.searchParams.get('q') === 'QuickBooks', 'q=QuickBooks');
    await waitForRows(['Billing Sync']);
    // One or two characters: names starting with them, and the box says so.
    await page.getByLabel('Search').fill('bI');
    await waitForUrl((u) => u.searchParams.get('q') === 'bI', 'q=bI');
    await page.getByTestId('search-note').getByText('names that start with them').waitFor();
    await waitForRows(['Billing Sync']);
    await page.getByLabel('Search').fill(secret.slice(-4));
    await waitForUrl((u) => u.searchParams.get('q') === secret.slice(-4), 'q=<last 4>');
    await waitForRows(['ERP Integration']);

    // A whole key pasted with quotes or whitespace around it is searched by
    // its key id: the secret never reaches the URL or the history.
    await page.evaluate(() => {
      window.__urls = [];
      for (const f of ['pushState', 'replaceState']) {
        const original = history[f].bind(history);
        history[f] = (state, title, url) => {
          window.__urls.push(String(url));
          return original(state, title, url);
        };
      }
    });
    for (const pasted of [`"${secret}"`, `  '${secret}'\n`, `“${secret}”`, ` ${secret} `]) {
      await page.getByLabel('Search').fill('');
      await waitForUrl((u) => !u.searchParams.has('q'), 'no q');
      await page.getByLabel('Search').fill(pasted);
      await page.waitForFunction((id) => document.querySelector('#key-search').value === id, keyId, { timeout: 250 }).catch(async () => {
        throw new Error(`the box does not show the key id at once: ${await page.getByLabel('Search').inputValue()}`);
      });
      await page.getByTestId('search-note').getByText('searched by its key id').waitFor();
      await waitForUrl((u) => u.searchParams.get('q') === keyId, 'q=<key id>');
      await waitForRows(['ERP Integration']);
    }
    await shot('06b-search-pasted-key');
    const urls = await page.evaluate(() => window.__urls);
    assert.ok(urls.length >= 4, `the searches went through the history: ${urls.length}`);
    const secretPart = secret.slice(-34);
    assert.deepEqual(urls.filter((u) => u.includes(secretPart) || decodeURIComponent(u).includes(secretPart)), []);
    assert.ok(!page.url().includes(secretPart));
    // A link that carries a quoted key is replaced by the same view searching its key id.
    await page.goto(`${base}/api-keys?q=${encodeURIComponent(`"${secret}"`)}`);
    await waitForUrl((u) => u.searchParams.get('q') === keyId, 'q=<key id> after a link with the key');
    await waitForRows(['ERP Integration']);
    assert.equal(await page.getByLabel('Search').inputValue(), keyId);
    await page.goBack();
    assert.ok(!page.url().includes(secretPart), `the history has no entry with the secret: ${page.url()}`);
    // Signed out, such a link does not carry the key to the sign-in page either.
    const cookies = await context.cookies();
    await page.evaluate(() => localStorage.removeItem('keyward.signed_in'));
    await context.clearCookies();
    await page.goto(`${base}/api-keys?q=${encodeURIComponent(`'${secret}'`)}`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.ok(!decodeURIComponent(page.url()).includes(secretPart), `the sign-in address has no secret: ${page.url()}`);
    assert.equal(new URL(page.url()).searchParams.get('next'), '/api-keys');
    assert.deepEqual(takeConsoleErrors(/status of 401/), []);
    await context.addCookies(cookies);
    await page.evaluate(() => localStorage.setItem('keyward.signed_in', '1'));
    await page.goto(`${base}/api-keys?q=${encodeURIComponent(secret.slice(-4))}`);
    await waitForRows(['ERP Integration']);
    await page.getByLabel('Search').fill('');
    await waitForUrl((u) => !u.searchParams.has('q'), 'no q');
    await waitForRows(['Billing Sync', 'Monitoring', 'ERP Integration']);

    // Expiration filter.
    await page.getByLabel('Expiration').selectOption('expiring_soon');
    await waitForUrl((u) => u.searchParams.get('expiration') === 'expiring_soon', 'expiration');
    await waitForRows(['Monitoring']);
    await shot('07-filter-expiring');
    await page.getByLabel('Expiration').selectOption('');
    await waitForUrl((u) => !u.searchParams.has('expiration'), 'no expiration');
    await waitForRows(['Billing Sync', 'Monitoring', 'ERP Integration']);

    // Sorting by header click, with aria-sort.
    const nameHeader = page.locator('th', { has: page.locator('button[data-sort="name"]') });
    await page.locator('button[data-sort="name"]').click();
    await waitForUrl((u) => u.searchParams.get('sort') === 'name' && u.searchParams.get('order') === 'asc', 'sort=name asc');
    await waitForRows(['Billing Sync', 'ERP Integration', 'Monitoring']);
    assert.equal(await nameHeader.getAttribute('aria-sort'), 'ascending');
    await page.locator('button[data-sort="name"]').click();
    await waitForUrl((u) => u.searchParams.get('order') === 'desc', 'order=desc');
    await waitForRows(['Monitoring', 'ERP Integration', 'Billing Sync']);
    assert.equal(await nameHeader.getAttribute('aria-sort'), 'descending');
    await shot('08-sorted');
    await page.goBack();
    await waitForUrl((u) => u.searchParams.get('order') === 'asc', 'back to asc');
    await waitForRows(['Billing Sync', 'ERP Integration', 'Monitoring']);
    assert.equal(await nameHeader.getAttribute('aria-sort'), 'ascending');

    // Pagination.
    await page.getByLabel('Per page').selectOption('10');
    await waitForUrl((u) => u.searchParams.get('per_page') === '10', 'per_page=10');
    assert.match(await page.getByTestId('pagination-info').innerText(), /Showing 1–3 of 3/);
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('the edit dialog is pre-filled, traps focus, closes on Escape and saves', async () => {
    await page.goto(`${base}/api-keys`);
    const editButton = row('ERP Integration').getByRole('button', { name: 'Edit API key ERP Integration' });
    assert.equal(await editButton.getAttribute('title'), 'Edit');
    await editButton.click();
    let dialog = page.getByRole('dialog', { name: 'Edit API key ERP Integration' });
    await dialog.waitFor();
    await dialog.getByLabel('Key name').waitFor();
    assert.equal(await dialog.getByLabel('Key name').inputValue(), 'ERP Integration');
    assert.equal(await dialog.getByLabel('Description').inputValue(), 'Nightly ERP export');
    assert.equal(await dialog.getByLabel('Authorization group').inputValue(), String(integrationsGroupId));
    assert.equal(await dialog.getByLabel('IP allowlist').inputValue(), '10.0.0.0/8\n127.0.0.1');
    assert.equal(await dialog.getByLabel('Expiration date').inputValue(), isoDate(90));
    for (let i = 0; i < 15; i += 1) {
      await page.keyboard.press('Tab');
      assert.ok(
        await page.evaluate(() => document.querySelector('[role="dialog"]').contains(document.activeElement)),
        'focus stays inside the dialog',
      );
    }
    await page.keyboard.press('Shift+Tab');
    assert.ok(await page.evaluate(() => document.querySelector('[role="dialog"]').contains(document.activeElement)));
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    await editButton.click();
    dialog = page.getByRole('dialog', { name: 'Edit API key ERP Integration' });
    await dialog.getByLabel('Key name').fill('E');
    await dialog.getByText('Name must be at least 2 characters.').waitFor();
    await dialog.getByLabel('Key name').fill('ERP Integration v2');
    await dialog.getByLabel('Expiration date').fill(isoDate(200));
    await shot('09-edit-dialog');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByTestId('toast').filter({ hasText: 'saved' }).first().waitFor();
    await row('ERP Integration v2').waitFor();
    assert.equal(await whoamiStatus(secret), 200, 'an edit leaves the secret untouched');
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('rotation shows a new secret; the old one stops working at once', async () => {
    await row('ERP Integration v2').getByRole('button', { name: 'Rotate API key ERP Integration v2' }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate API key ERP Integration v2' });
    await dialog.waitFor();
    await dialog.getByText('All applications using the current secret will lose access immediately.').waitFor();
    await dialog.getByLabel('24 hours').check();
    await dialog.getByText('keeps working for 24 hours').waitFor();
    await dialog.getByLabel('None — the current secret stops working immediately').check();
    await shot('10-rotate-confirm');
    await dialog.getByRole('button', { name: 'Rotate', exact: true }).click();

    const modal = page.getByRole('dialog', { name: 'API key rotated' });
    await modal.waitFor();
    const rotated = await page.getByTestId('secret').inputValue();
    assert.notEqual(rotated, secret);
    assert.equal(rotated.slice(0, 20), secret.slice(0, 20), 'same key id');
    await shot('11-rotated-secret');
    await closeSecretModal();
    assert.ok(!(await page.content()).includes(rotated));
    assert.equal(await whoamiStatus(secret), 401, 'the old secret is rejected');
    assert.equal(await whoamiStatus(rotated), 200, 'the new secret works');
    secret = rotated;
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('the details page shows fields, permissions, usage and history', async () => {
    for (let i = 0; i < 3; i += 1) assert.equal(await whoamiStatus(secret), 200);
    await row('ERP Integration v2').getByRole('link', { name: 'ERP Integration v2' }).click();
    await page.getByRole('heading', { level: 1, name: 'ERP Integration v2' }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/api-keys/${keyId}`);
    await page.getByText('The key holds the permissions of the group Integrations.').waitFor();
    assert.deepEqual(await page.getByTestId('effective-permissions').locator('li').allInnerTexts(), ['customers:read', 'invoices:read']);
    const history = page.locator('.history-table');
    await history.getByText('Key generated').waitFor();
    await history.getByText('Key edited').waitFor();
    await history.getByText('Key rotated').waitFor();
    // Usage is flushed asynchronously: reload until the chart counts it.
    let succeeded = 0;
    for (let i = 0; i < 20 && succeeded === 0; i += 1) {
      await page.reload();
      const legend = await page.locator('.legend-ok').innerText();
      succeeded = Number(legend.match(/\((\d+)\)/)[1]);
      if (succeeded === 0) await page.waitForTimeout(300);
    }
    assert.ok(succeeded >= 3, `the chart counts the verifications (${succeeded})`);
    assert.match(await page.getByTestId('last-used').innerText(), /127\.0\.0\.1/);
    assert.equal(await page.locator('.chart svg rect.chart-ok').count(), 30);
    await shot('12-details');
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('the details page shows the recent access log with its exact refusals, filtered', async () => {
    // A call the key may not make: refused for a missing permission.
    const denied = await api('GET', '/v1/api-keys', { headers: { 'X-API-Key': secret } });
    assert.equal(denied.status, 403);
    const section = page.locator('section[aria-labelledby="access-title"]');
    await section.waitFor();
    const rows = section.getByTestId('access-row');
    for (let i = 0; i < 20 && (await section.locator('[data-outcome="insufficient_permissions"]').count()) === 0; i += 1) {
      await page.waitForTimeout(300);
      await section.getByTestId('access-refresh').click();
    }
    const allowed = section.locator('tr[data-outcome="allowed"]').first();
    await allowed.waitFor();
    assert.match(await allowed.innerText(), /GET \/v1\/whoami/);
    assert.match(await allowed.innerText(), /127\.0\.0\.1/);
    const refused = section.locator('tr[data-outcome="insufficient_permissions"]');
    assert.match(await refused.innerText(), /Missing permission: api_keys:manage/);
    assert.match(await refused.innerText(), /GET \/v1\/api-keys/);

    await section.getByTestId('access-outcome').selectOption('refused');
    await section.getByRole('button', { name: 'Apply' }).click();
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="access-row"]')].every((r) => r.dataset.outcome !== 'allowed'),
    );
    assert.ok((await rows.count()) >= 1);
    await section.getByTestId('access-outcome').selectOption('insufficient_permissions');
    await section.getByRole('button', { name: 'Apply' }).click();
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="access-row"]')].every((r) => r.dataset.outcome === 'insufficient_permissions'),
    );
    assert.equal(await rows.count(), 1);
    assert.equal(await section.getByTestId('access-total').innerText(), '1 row');
    await section.getByTestId('access-address').fill('192.0.2.');
    await section.getByRole('button', { name: 'Apply' }).click();
    await section.getByTestId('access-empty').waitFor();
    await section.getByTestId('access-address').fill('');
    await section.getByTestId('access-outcome').selectOption('');
    await section.getByRole('button', { name: 'Apply' }).click();
    await section.locator('tr[data-outcome="allowed"]').first().waitFor();
    await section.scrollIntoViewIfNeeded();
    await shot('12b-access-log');
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('revoking asks the exact question, shows Revoked and rejects the key', async () => {
    await page.goto(`${base}/api-keys`);
    await waitForSwitcher(/^Default \(3\/10 keys\)$/);
    await row('ERP Integration v2').getByRole('button', { name: 'Revoke API key ERP Integration v2' }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke API key' });
    await dialog.waitFor();
    assert.equal(
      await dialog.getByTestId('revoke-confirmation').innerText(),
      'Are you sure you want to revoke the API key ERP Integration v2? This action cannot be undone and any applications using this key will lose access immediately.',
    );
    await shot('13-revoke-confirm');
    await dialog.getByRole('button', { name: 'Revoke', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('tr[data-testid="key-row"]')];
      const r = rows.find((tr) => tr.querySelector('a.key-name')?.textContent === 'ERP Integration v2');
      return r?.querySelector('[data-testid="status"]')?.textContent === 'Revoked';
    });
    assert.equal(await row('ERP Integration v2').getByRole('button', { name: 'Edit API key ERP Integration v2' }).isDisabled(), true);
    assert.match(await page.getByTestId('quota').innerText(), /^2\/10 keys/);
    await waitForSwitcher(/^Default \(2\/10 keys\)$/);
    assert.equal(await whoamiStatus(secret), 401, 'a revoked key is rejected');
    await page.getByLabel('Status').selectOption('revoked');
    await waitForUrl((u) => u.searchParams.get('status') === 'revoked', 'status=revoked');
    await waitForRows(['ERP Integration v2']);
    await shot('14-revoked');
    await page.getByLabel('Status').selectOption('active');
    await waitForUrl((u) => u.searchParams.get('status') === 'active', 'status=active');
    await waitForRows(['Billing Sync', 'Monitoring']);
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('at the quota Generate is disabled with an explanation', async () => {
    // Two keys count now (the revoked one does not): allow one more.
    await ok('PATCH', `/v1/tenants/${defaultTenantId}`, { token: adminToken, body: { key_limit: 3 } });
    await page.goto(`${base}/api-keys`);
    assert.match(await page.getByTestId('quota').innerText(), /^2\/3 keys/);
    await page.getByTestId('generate').click();
    await page.getByLabel('Key name').fill('Last one');
    await page.getByLabel('Authorization group').selectOption(String(integrationsGroupId));
    await page.getByRole('button', { name: 'Generate', exact: true }).click();
    await page.getByRole('dialog', { name: 'API key generated' }).waitFor();
    await closeSecretModal();
    await page.getByTestId('quota-note').waitFor();
    assert.match(await page.getByTestId('quota').innerText(), /^3\/3 keys/);
    assert.equal(await page.getByTestId('generate').isDisabled(), true);
    assert.equal(await page.getByTestId('generate').getAttribute('aria-describedby'), 'quota-note');
    await shot('15-quota-full');
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('authorization groups: create with checkboxes, admin means all, in-use groups are kept', async () => {
    await page.getByRole('link', { name: 'Authorization groups' }).click();
    await page.getByRole('heading', { level: 1, name: 'Authorization groups' }).waitFor();
    await page.locator('tr[data-testid="group-row"]', { hasText: 'Integrations' }).waitFor();
    await page.getByTestId('new-group').click();
    const dialog = page.getByRole('dialog', { name: 'New authorization group' });
    await dialog.waitFor();
    await dialog.getByLabel('Name').fill('Operators');
    await dialog.getByRole('button', { name: 'Save group' }).click();
    await dialog.getByText('Permissions must contain at least one permission.').waitFor();
    await dialog.locator('#perm-services-read').check();
    assert.equal(await dialog.getByTestId('admin-level-warning').count(), 0);
    await dialog.locator('#perm-admin').check();
    await dialog.getByTestId('admin-level-warning').getByText('admin-level access').waitFor();
    assert.equal(await dialog.locator('#perm-services-write').isDisabled(), true, 'admin covers every permission');
    assert.equal(await dialog.locator('#perm-services-write').isChecked(), true);
    await shot('16-group-dialog');
    await dialog.getByRole('button', { name: 'Save group' }).click();
    await dialog.waitFor({ state: 'detached' });
    const operators = page.locator('tr[data-testid="group-row"]', { hasText: 'Operators' });
    await operators.getByText('All permissions (admin)').waitFor();

    const integrations = page.locator('tr[data-testid="group-row"]', { hasText: 'Integrations' });
    await integrations.getByRole('button', { name: 'Delete group Integrations' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete authorization group' });
    await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
    await confirm.locator('.form-error').waitFor();
    assert.ok((await confirm.locator('.form-error').innerText()).length > 0, 'the server says why');
    await shot('17-group-in-use');
    await page.keyboard.press('Escape');
    await confirm.waitFor({ state: 'detached' });

    await operators.getByRole('button', { name: 'Delete group Operators' }).click();
    await page.getByRole('dialog', { name: 'Delete authorization group' }).getByRole('button', { name: 'Delete', exact: true }).click();
    await operators.waitFor({ state: 'detached' });
    await shot('18-groups');
    assert.deepEqual(takeConsoleErrors(/status of 409/), []);
  });

  test('the super user switches tenant; tenant B\'s admin cannot see tenant A\'s keys', async () => {
    const tenantB = await ok('POST', '/v1/tenants', { token: adminToken, body: { name: 'Tenant B', key_limit: 3 } });
    await ok('POST', `/v1/tenants/${tenantB.id}/users`, {
      token: adminToken,
      body: { username: 'bob', password: BOB_PASSWORD, role: 'tenant_admin' },
    });

    await page.goto(`${base}/api-keys`);
    await page.getByTestId('tenant-switcher').selectOption(String(tenantB.id));
    await page.getByTestId('empty').waitFor();
    assert.match(await page.getByTestId('quota').innerText(), /^0\/3 keys/);
    await shot('19-tenant-b-as-super-user');
    await page.getByTestId('tenant-switcher').selectOption(String(defaultTenantId));
    await row('Monitoring').waitFor();

    await signOut();
    await page.getByTestId('login-notice').waitFor();
    await signIn('bob', BOB_PASSWORD);
    await page.getByTestId('empty').waitFor();
    assert.equal(await page.getByTestId('tenant-name').innerText(), 'Tenant B');
    assert.match(await page.getByTestId('quota').innerText(), /^0\/3 keys/);
    await page.getByLabel('Search').fill('Monitoring');
    await waitForUrl((u) => u.searchParams.get('q') === 'Monitoring', 'q=Monitoring');
    await page.getByText('No API keys yet.').waitFor();
    assert.equal(await page.locator('tr[data-testid="key-row"]').count(), 0);
    await page.goto(`${base}/api-keys/${keyId}`);
    await page.locator('.error-state').waitFor();
    await shot('20-tenant-b-cannot-see-a');
    const direct = await page.evaluate(async (id) => (await fetch(`/v1/api-keys/${id}`)).status, keyId);
    assert.equal(direct, 404);
    assert.deepEqual(takeConsoleErrors(/status of 404/), []);
  });

  test('an expired session sends the user to sign-in with a message', async () => {
    await page.goto(`${base}/api-keys`);
    await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
    await context.clearCookies();
    await page.getByRole('link', { name: 'Authorization groups' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.match(await page.getByTestId('login-notice').innerText(), /session has expired/);
    const url = new URL(page.url());
    assert.equal(url.pathname, '/login');
    assert.equal(url.searchParams.get('next'), '/groups');
    await shot('21-session-expired');
    await page.getByLabel('Username').fill('bob');
    await page.getByLabel('Password').fill(BOB_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Authorization groups' }).waitFor();
    assert.deepEqual(takeConsoleErrors(/status of 401/), []);
  });

  test('phones: the list fits 360 px and stays usable', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    await signOut();
    await signIn('admin', ADMIN_PASSWORD);
    await row('Monitoring').waitFor();
    await shot('22-phone-list');
    const overflow = await page.evaluate(() => {
      const wide = [...document.querySelectorAll('body *')]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5)
        .map((el) => `${el.tagName.toLowerCase()}.${el.className}`);
      return { by: document.documentElement.scrollWidth - window.innerWidth, wide };
    });
    assert.ok(overflow.by <= 0, `no horizontal scrolling: ${JSON.stringify(overflow)}`);
    await row('Monitoring').getByRole('button', { name: 'Edit API key Monitoring' }).click();
    await page.getByRole('dialog', { name: 'Edit API key Monitoring' }).getByLabel('Key name').waitFor();
    await shot('23-phone-edit');
    await page.keyboard.press('Escape');
    await page.setViewportSize({ width: 1366, height: 900 });
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('every row action is visible without scrolling from 1,280 px up, and usable on a 390 px phone', async () => {
    // Long but valid values: the widest a row gets in practice.
    await ok('PATCH', `/v1/tenants/${defaultTenantId}`, { token: adminToken, body: { key_limit: 10 } });
    const wideGroup = await ok('POST', '/v1/groups', {
      token: adminToken,
      body: { name: 'Partner integrations (read-only, EU region)', kind: 'tenant_api_key', permissions: ['customers:read'] },
    });
    await ok('POST', '/v1/api-keys', {
      token: adminToken,
      body: {
        name: 'Customer Portal Backend – production cluster',
        description: 'Used by the customer self-service portal backend to read customers, services and invoices; rotate quarterly.',
        group_id: wideGroup.id,
        expires_at: isoDate(20),
      },
    });
    await page.goto(`${base}/api-keys`);
    await row('Customer Portal Backend – production cluster').waitFor();
    for (const width of [1280, 1400, 1920]) {
      await page.setViewportSize({ width, height: 900 });
      await page.waitForTimeout(100);
      const layout = await rowActionLayout();
      assert.ok(layout.buttons >= 15, `every row has its actions (${layout.buttons})`);
      assert.deepEqual(layout.outside, [], `at ${width} px every action is inside the table's visible area: ${JSON.stringify(layout)}`);
      assert.ok(layout.overflow <= 0, `at ${width} px the table does not scroll sideways: ${JSON.stringify(layout)}`);
      assert.ok(layout.page <= 0, `at ${width} px the page does not scroll sideways: ${JSON.stringify(layout)}`);
      for (const b of await page.locator('tr[data-testid="key-row"] .cell-actions button').all()) {
        assert.ok(await hitTestable(b), `at ${width} px ${await b.getAttribute('aria-label')} is not covered`);
      }
      if (width === 1280) await shot('24-keys-1280');
      if (width === 1920) await shot('25-keys-1920');
    }

    // Narrower desktop windows may scroll the table, but the actions column stays in view.
    await page.setViewportSize({ width: 1024, height: 800 });
    await page.waitForTimeout(100);
    const narrow = await rowActionLayout();
    assert.deepEqual(narrow.outside, [], `at 1024 px every action is in view: ${JSON.stringify(narrow)}`);
    assert.ok(narrow.page <= 0, `at 1024 px the page does not scroll sideways: ${JSON.stringify(narrow)}`);
    for (const b of await page.locator('tr[data-testid="key-row"] .cell-actions button').all()) {
      assert.ok(await hitTestable(b), `at 1024 px ${await b.getAttribute('aria-label')} is not covered`);
    }

    // A phone: the rows are cards, every action is on screen, large enough to tap, and works.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(100);
    const phone = await rowActionLayout();
    assert.deepEqual(phone.outside, [], `at 390 px every action is on screen: ${JSON.stringify(phone)}`);
    assert.ok(phone.page <= 0, `at 390 px the page does not scroll sideways: ${JSON.stringify(phone)}`);
    for (const b of await page.locator('tr[data-testid="key-row"] .cell-actions button').all()) {
      await b.scrollIntoViewIfNeeded();
      const r = await b.boundingBox();
      assert.ok(r.width >= 44 && r.height >= 44, `${await b.getAttribute('aria-label')} is a 44 px touch target: ${JSON.stringify(r)}`);
      assert.ok(await hitTestable(b), `${await b.getAttribute('aria-label')} is not covered`);
    }
    await shot('26-keys-390');
    const revoke = row('Customer Portal Backend – production cluster').getByRole('button', {
      name: 'Revoke API key Customer Portal Backend – production cluster',
    });
    await revoke.click();
    const dialog = page.getByRole('dialog', { name: 'Revoke API key' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Revoke', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.waitForFunction(() =>
      [...document.querySelectorAll('tr[data-testid="key-row"]')].some(
        (tr) =>
          tr.querySelector('a.key-name')?.textContent === 'Customer Portal Backend – production cluster' &&
          tr.querySelector('[data-testid="status"]')?.textContent === 'Revoked',
      ),
    );
    await page.setViewportSize({ width: 1366, height: 900 });
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test("seed 001's route and menu: Settings → Data & Monitoring → API Keys opens /tenant-api-keys; /api-keys stays", async () => {
    await page.goto(`${base}/api-keys`);
    await row('Monitoring').waitFor();
    const menuButton = page.getByTestId('settings-menu');
    assert.equal(await menuButton.getAttribute('aria-expanded'), 'false');
    await menuButton.click();
    assert.equal(await menuButton.getAttribute('aria-expanded'), 'true');
    const panel = page.locator('#settings-menu');
    await panel.getByText('Data & Monitoring').waitFor();
    const seedLink = page.getByRole('list', { name: 'Data & Monitoring' }).getByRole('link', { name: 'API Keys', exact: true });
    await seedLink.waitFor();
    await shot('27-settings-menu');
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'hidden' });
    assert.equal(await menuButton.getAttribute('aria-expanded'), 'false');
    assert.ok(await menuButton.evaluate((b) => b === document.activeElement), 'focus returns to the menu button');
    await menuButton.click();
    await page.getByRole('heading', { level: 1, name: 'API keys' }).click();
    await panel.waitFor({ state: 'hidden' });

    await menuButton.click();
    await seedLink.click();
    await waitForUrl((u) => u.pathname === '/tenant-api-keys', '/tenant-api-keys');
    await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
    await panel.waitFor({ state: 'hidden' });
    await row('Monitoring').waitFor();
    assert.equal(
      (await page.getByTestId('keys-breadcrumb').innerText()).replace(/\s+/g, ' ').trim(),
      'Settings / Data & Monitoring / API Keys',
    );
    assert.equal(await page.locator('#settings-menu a[href="/tenant-api-keys"]').getAttribute('aria-current'), 'page');
    const shortLink = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys', exact: true });
    assert.equal(await shortLink.getAttribute('aria-current'), 'page');
    await shot('28-tenant-api-keys');

    // The view lives in the query on this route too, and stays on it.
    await page.getByLabel('Status').selectOption('revoked');
    await waitForUrl((u) => u.pathname === '/tenant-api-keys' && u.searchParams.get('status') === 'revoked', 'status=revoked on the seed route');
    await waitForRows(['Customer Portal Backend – production cluster', 'ERP Integration v2']);
    await page.getByLabel('Search').fill('portal');
    await waitForUrl((u) => u.pathname === '/tenant-api-keys' && u.searchParams.get('q') === 'portal', 'q on the seed route');
    await waitForRows(['Customer Portal Backend – production cluster']);
    await page.reload();
    await waitForRows(['Customer Portal Backend – production cluster']);
    assert.equal(await page.getByLabel('Search').inputValue(), 'portal');
    assert.equal(await page.getByLabel('Status').inputValue(), 'revoked');
    for (const path of ['/tenant-api-keys', '/api-keys']) {
      await page.goto(`${base}${path}?status=active&sort=name&order=asc&per_page=10`);
      await waitForRows(['Billing Sync', 'Last one', 'Monitoring']);
      assert.equal(new URL(page.url()).pathname, path);
      assert.equal(await page.getByLabel('Per page').inputValue(), '10');
      await page.locator('button[data-sort="name"]').click();
      await waitForUrl((u) => u.pathname === path && u.searchParams.get('order') === 'desc', `order=desc on ${path}`);
      await waitForRows(['Monitoring', 'Last one', 'Billing Sync']);
    }
    await shortLink.click();
    await waitForUrl((u) => u.pathname === '/api-keys' && u.search === '', 'the short path');
    await row('Monitoring').waitFor();

    // On a phone the menu opens inside the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await menuButton.click();
    const box = await panel.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 390, `the menu fits the phone: ${JSON.stringify(box)}`);
    await shot('32-settings-menu-390');
    await seedLink.click();
    await waitForUrl((u) => u.pathname === '/tenant-api-keys', '/tenant-api-keys on a phone');
    await row('Monitoring').waitFor();
    await page.setViewportSize({ width: 1366, height: 900 });
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('expiry presets send exactly their date; never expiring and admin-level groups are warned about', async () => {
    const admins = await ok('POST', '/v1/groups', {
      token: adminToken,
      body: { name: 'Administrators', kind: 'tenant_api_key', permissions: ['admin'] },
    });
    await page.goto(`${base}/api-keys/new`);
    await page.getByRole('heading', { level: 1, name: 'Generate API key' }).waitFor();
    const date = page.getByLabel('Expiration date');
    // The recommended range's start is the default.
    assert.equal(await page.getByLabel('90 days', { exact: true }).isChecked(), true);
    assert.equal(await date.inputValue(), isoDate(90));
    assert.equal(await page.getByTestId('never-expires-warning').count(), 0);

    await page.getByLabel('Never expires', { exact: true }).check();
    assert.equal(await date.inputValue(), '');
    await page.getByTestId('never-expires-warning').getByText('Not recommended').waitFor();
    await page.getByLabel('1 year', { exact: true }).check();
    assert.equal(await date.inputValue(), isoDateYears(1));
    await page.getByTestId('never-expires-warning').waitFor({ state: 'detached' });
    await page.getByLabel('Custom date', { exact: true }).check();
    assert.ok(await date.evaluate((d) => d === document.activeElement), 'a custom date is typed next');
    await date.fill(isoDate(45));
    assert.equal(await page.getByLabel('Custom date', { exact: true }).isChecked(), true);
    await page.getByLabel('30 days', { exact: true }).check();
    assert.equal(await date.inputValue(), isoDate(30));

    await page.getByLabel('Authorization group').selectOption(String(admins.id));
    await page.getByTestId('admin-level-warning').getByText('admin-level access').waitFor();
    await page.getByLabel('Key name').fill('Preset key');
    await shot('29-generate-presets-admin');
    await page.getByLabel('Authorization group').selectOption(String(integrationsGroupId));
    await page.getByTestId('admin-level-warning').waitFor({ state: 'detached' });
    const created = await requestBody('POST', '/v1/api-keys', () =>
      page.getByRole('button', { name: 'Generate', exact: true }).click(),
    );
    assert.equal(created.expires_at, isoDate(30), 'the 30-day preset sends today + 30 days');
    await page.getByRole('dialog', { name: 'API key generated' }).waitFor();
    await closeSecretModal();
    await row('Preset key').waitFor();
    assert.equal(await row('Preset key').locator('td[data-label="Expiry"]').innerText(), isoDate(30));

    // Edit: the key's date reads as its preset; 1 year sends today + 1 year.
    await row('Preset key').getByRole('button', { name: 'Edit API key Preset key' }).click();
    let dialog = page.getByRole('dialog', { name: 'Edit API key Preset key' });
    await dialog.getByLabel('Key name').waitFor();
    assert.equal(await dialog.getByLabel('30 days', { exact: true }).isChecked(), true);
    await dialog.getByLabel('1 year', { exact: true }).check();
    assert.equal(await dialog.getByLabel('Expiration date').inputValue(), isoDateYears(1));
    let body = await requestBody('PATCH', '/v1/api-keys/' + (await row('Preset key').getAttribute('data-key-id')), () =>
      dialog.getByRole('button', { name: 'Save changes' }).click(),
    );
    assert.deepEqual(body, { expires_at: isoDateYears(1) });
    await dialog.waitFor({ state: 'detached' });
    await page.waitForFunction(
      (expected) =>
        [...document.querySelectorAll('tr[data-testid="key-row"]')].some(
          (tr) => tr.querySelector('a.key-name')?.textContent === 'Preset key' && tr.querySelector('td[data-label="Expiry"]')?.textContent === expected,
        ),
      isoDateYears(1),
    );

    // Edit: never expires is warned about, and sent as no expiry; an admin-level group too.
    await row('Preset key').getByRole('button', { name: 'Edit API key Preset key' }).click();
    dialog = page.getByRole('dialog', { name: 'Edit API key Preset key' });
    await dialog.getByLabel('Key name').waitFor();
    await dialog.getByLabel('Never expires', { exact: true }).check();
    await dialog.getByTestId('never-expires-warning').waitFor();
    await dialog.getByLabel('Authorization group').selectOption(String(admins.id));
    await dialog.getByTestId('admin-level-warning').waitFor();
    await shot('30-edit-never-admin');
    await dialog.getByLabel('Authorization group').selectOption(String(integrationsGroupId));
    body = await requestBody('PATCH', '/v1/api-keys/' + (await row('Preset key').getAttribute('data-key-id')), () =>
      dialog.getByRole('button', { name: 'Save changes' }).click(),
    );
    assert.deepEqual(body, { expires_at: null });
    await dialog.waitFor({ state: 'detached' });
    await page.waitForFunction(() =>
      [...document.querySelectorAll('tr[data-testid="key-row"]')].some(
        (tr) => tr.querySelector('a.key-name')?.textContent === 'Preset key' && tr.querySelector('td[data-label="Expiry"]')?.textContent === 'Never',
      ),
    );

    // Rotate: keeping "never" is warned about; a preset sets exactly its date.
    await row('Preset key').getByRole('button', { name: 'Rotate API key Preset key' }).click();
    dialog = page.getByRole('dialog', { name: 'Rotate API key Preset key' });
    await dialog.waitFor();
    assert.equal(await dialog.getByLabel('Keep: never expires', { exact: true }).isChecked(), true);
    await dialog.getByTestId('never-expires-warning').waitFor();
    await dialog.getByLabel('90 days', { exact: true }).check();
    await dialog.getByTestId('never-expires-warning').waitFor({ state: 'detached' });
    assert.equal(await dialog.getByLabel('New expiration date').inputValue(), isoDate(90));
    await shot('31-rotate-presets');
    body = await requestBody('POST', '/rotate', () => dialog.getByRole('button', { name: 'Rotate', exact: true }).click());
    assert.equal(body.expires_at, isoDate(90));
    await page.getByRole('dialog', { name: 'API key rotated' }).waitFor();
    await closeSecretModal();
    await page.waitForFunction(
      (expected) =>
        [...document.querySelectorAll('tr[data-testid="key-row"]')].some(
          (tr) => tr.querySelector('a.key-name')?.textContent === 'Preset key' && tr.querySelector('td[data-label="Expiry"]')?.textContent === expected,
        ),
      isoDate(90),
    );
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('a revoked key is deleted from its row or its details page; its audit trail stays', async () => {
    await page.goto(`${base}/api-keys?status=revoked`);
    const portal = 'Customer Portal Backend – production cluster';
    await waitForRows([portal, 'ERP Integration v2']);
    assert.equal(await row(portal).getByRole('button', { name: `Revoke API key ${portal}` }).count(), 0, 'a revoked key offers Delete, not Revoke');
    await row('ERP Integration v2').getByRole('button', { name: 'Delete API key ERP Integration v2' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete API key' });
    await dialog.waitFor();
    assert.equal(
      await dialog.getByTestId('delete-confirmation').innerText(),
      'Delete the API key ERP Integration v2? It leaves the key list and the counts; its audit history is kept.',
    );
    await shot('32-delete-confirm');
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    await waitForRows([portal]);

    await row(portal).locator('a.key-name').click();
    await page.getByRole('heading', { level: 1, name: portal }).waitFor();
    await page.locator('.page-actions').getByRole('button', { name: 'Delete', exact: true }).click();
    const again = page.getByRole('dialog', { name: 'Delete API key' });
    await again.getByRole('button', { name: 'Delete', exact: true }).click();
    await waitForUrl((u) => u.pathname === '/api-keys', 'back to the list after deleting from the details page');
    const deleted = await ok('GET', '/v1/audit-events?action=api_key_deleted', { token: adminToken });
    assert.equal(deleted.items.length, 2, 'both deletions are audited');
    const revoked = await ok('GET', '/v1/api-keys?status=revoked', { token: adminToken });
    assert.equal(revoked.items.length, 0);
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('the audit log filters by action, key and dates, pages, reads changed fields in words and exports CSV', async () => {
    const keys = await ok('GET', '/v1/api-keys?status=active&sort=name&order=asc', { token: adminToken });
    const billing = keys.items.find((k) => k.name === 'Billing Sync');
    await ok('PATCH', `/v1/api-keys/${billing.id}`, { token: adminToken, body: { ip_allowlist: ['10.0.0.0/8'], description: 'Audited edit' } });

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    await page.locator('tr[data-testid="audit-row"]').first().waitFor();
    const total = Number((await page.getByTestId('audit-total').innerText()).split(' ')[0]);
    assert.ok(total > 25, `a busy tenant has more than a page (${total})`);
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    await waitForUrl((u) => u.pathname === '/audit' && u.searchParams.get('page') === '2', 'page 2');
    await shot('33-audit-log');

    await page.getByLabel('Action').selectOption('api_key_deleted');
    await page.getByRole('button', { name: 'Apply' }).click();
    await waitForUrl((u) => u.searchParams.get('action') === 'api_key_deleted' && !u.searchParams.has('page'), 'action, back to page 1');
    await page.waitForFunction(() => document.querySelectorAll('tr[data-testid="audit-row"]').length === 2);
    assert.equal(await page.getByTestId('audit-total').innerText(), '2 events');

    await page.getByLabel('Action').selectOption('');
    await page.getByLabel('Key id').fill(billing.id);
    await page.getByRole('button', { name: 'Apply' }).click();
    await waitForUrl((u) => u.searchParams.get('key_id') === billing.id, 'key_id in the URL');
    await page.waitForFunction(() => document.querySelector('tr[data-testid="audit-row"] [data-testid="audit-action"]')?.textContent === 'Key edited');
    assert.equal(await page.locator('tr[data-testid="audit-row"]').first().getByTestId('audit-changed').innerText(), 'Description, IP allowlist');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
    assert.match(download.suggestedFilename(), /^keyward-audit-\d{8}-\d{6}\.csv$/);
    const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
    assert.equal(csv[0], 'at,actor,action,target_type,target_id,changed_fields,client_ip,request_id');
    assert.equal(csv.length - 1, await page.locator('tr[data-testid="audit-row"]').count(), 'the export holds what the filters select');
    assert.match(csv[1], new RegExp(`,user:admin,api_key_updated,api_key,${billing.id},description ip_allowlist,`));

    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    await page.getByLabel('From').fill(tomorrow);
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByTestId('audit-empty').waitFor();
    await page.reload();
    await page.getByTestId('audit-empty').waitFor();
    assert.equal(await page.getByLabel('From').inputValue(), tomorrow, 'the filters live in the URL');
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('super users create and edit tenants, and create, reset, disable, re-enable and promote users', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tenants' }).click();
    await page.getByRole('heading', { level: 1, name: 'Tenants' }).waitFor();
    const tenantRow = (name) => page.locator('tr[data-testid="tenant-row"]', { has: page.locator('td.tenant-name-cell', { hasText: new RegExp(`^${name}$`) }) });
    await tenantRow('Default').waitFor();

    await page.getByTestId('new-tenant').click();
    let dialog = page.getByRole('dialog', { name: 'New tenant' });
    await dialog.getByLabel('Name').fill('Acme Corp');
    await dialog.getByLabel('Key limit').fill('3');
    await dialog.getByRole('button', { name: 'Save tenant' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await tenantRow('Acme Corp').getByTestId('tenant-keys').innerText(), '0/3');

    await tenantRow('Acme Corp').getByRole('button', { name: 'Edit tenant Acme Corp' }).click();
    dialog = page.getByRole('dialog', { name: 'Edit tenant Acme Corp' });
    await dialog.getByLabel('Name').fill('Acme Corporation');
    await dialog.getByLabel('Key limit').fill('-2');
    await dialog.getByRole('button', { name: 'Save tenant' }).click();
    await dialog.locator('#tenant-key-limit-error').getByText(/between 0 and/).waitFor();
    await dialog.getByLabel('Key limit').fill('5');
    await dialog.getByRole('button', { name: 'Save tenant' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await tenantRow('Acme Corporation').getByTestId('tenant-keys').innerText(), '0/5');
    await shot('34-tenants');

    await tenantRow('Acme Corporation').getByRole('link', { name: 'Users of Acme Corporation' }).click();
    await page.getByRole('heading', { level: 1, name: 'Users of Acme Corporation' }).waitFor();
    await page.getByTestId('new-user').click();
    dialog = page.getByRole('dialog', { name: 'New user' });
    await dialog.getByLabel('Username').fill('acme-admin');
    await dialog.getByLabel('Password').fill('acme password 1');
    await dialog.getByRole('button', { name: 'Create user' }).click();
    await dialog.waitFor({ state: 'detached' });
    const userRow = page.locator('tr[data-testid="user-row"]', { hasText: 'acme-admin' });
    assert.equal(await userRow.getByTestId('user-role').innerText(), 'Tenant admin');
    assert.equal(await userRow.getByTestId('user-status').innerText(), 'Active');
    assert.equal((await api('POST', '/v1/auth/login', { body: { username: 'acme-admin', password: 'acme password 1' } })).status, 200);

    await userRow.getByRole('button', { name: 'Reset password of acme-admin' }).click();
    dialog = page.getByRole('dialog', { name: 'Reset password of acme-admin' });
    await dialog.getByRole('button', { name: 'Reset password' }).click();
    const generated = await dialog.getByTestId('generated-password').innerText();
    assert.ok(generated.length >= 12, 'a generated password is shown once');
    await shot('35-reset-password');
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await api('POST', '/v1/auth/login', { body: { username: 'acme-admin', password: 'acme password 1' } })).status, 401);
    assert.equal((await api('POST', '/v1/auth/login', { body: { username: 'acme-admin', password: generated } })).status, 200);

    await userRow.getByRole('button', { name: 'Disable acme-admin' }).click();
    dialog = page.getByRole('dialog', { name: 'Disable acme-admin' });
    await dialog.getByRole('button', { name: 'Disable', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.waitForFunction(() => [...document.querySelectorAll('tr[data-testid="user-row"]')].some((tr) => tr.textContent.includes('acme-admin') && tr.querySelector('[data-testid="user-status"]').textContent === 'Disabled'));
    assert.equal((await api('POST', '/v1/auth/login', { body: { username: 'acme-admin', password: generated } })).status, 401, 'a disabled user cannot sign in');

    await userRow.getByRole('button', { name: 'Enable acme-admin' }).click();
    await page.getByRole('dialog', { name: 'Enable acme-admin' }).getByRole('button', { name: 'Enable', exact: true }).click();
    await page.waitForFunction(() => [...document.querySelectorAll('tr[data-testid="user-row"]')].some((tr) => tr.textContent.includes('acme-admin') && tr.querySelector('[data-testid="user-status"]').textContent === 'Active'));
    await userRow.getByRole('button', { name: 'Change role of acme-admin' }).click();
    dialog = page.getByRole('dialog', { name: 'Role of acme-admin' });
    await dialog.getByLabel('Super user').check();
    await dialog.getByRole('button', { name: 'Save role' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.waitForFunction(() => [...document.querySelectorAll('tr[data-testid="user-row"]')].some((tr) => tr.textContent.includes('acme-admin') && tr.querySelector('[data-testid="user-role"]').textContent === 'Super user'));
    await shot('36-users');

    const tenants = await ok('GET', '/v1/tenants', { token: adminToken });
    const acme = tenants.items.find((t) => t.name === 'Acme Corporation');
    const audit = await ok('GET', '/v1/audit-events?per_page=100', { token: adminToken, headers: { 'X-Keyward-Tenant': String(acme.id) } });
    const actions = audit.items.map((e) => e.action);
    for (const a of ['tenant_created', 'tenant_updated', 'user_created', 'password_reset', 'user_updated']) {
      assert.ok(actions.includes(a), `${a} is audited: ${actions}`);
    }
    assert.equal(actions.filter((a) => a === 'user_updated').length, 3);
    assert.deepEqual(takeConsoleErrors(), []);
  });
  test("seed 000's permission checkboxes: a key with permissions of its own, admin alone, effective permissions shown", async () => {
    await ok('PATCH', `/v1/tenants/${defaultTenantId}`, { token: adminToken, body: { key_limit: 20 } });
    await page.goto(`${base}/api-keys/new`);
    await page.getByRole('heading', { level: 1, name: 'Generate API key' }).waitFor();
    await page.getByLabel('Key name').fill('Customer portal');
    const perms = page.getByTestId('key-permissions');
    await perms.getByText('The key holds no permission yet').waitFor();
    await perms.getByLabel(/View Own Customer/).check();
    await perms.getByLabel(/Create Payments/).check();
    await perms.getByText('The key will hold: customers:read_own, payments:write').waitFor();
    await perms.getByLabel(/Admin \(all permissions\)/).check();
    assert.equal(await perms.getByLabel(/View Own Customer/).isDisabled(), true, 'admin implies the rest');
    await perms.getByTestId('admin-level-warning').waitFor();
    await shot('37-key-permissions-admin');
    await perms.getByLabel(/Admin \(all permissions\)/).uncheck();
    await perms.getByLabel(/View Own Customer/).check();
    await perms.getByLabel(/View Own Services/).check();
    await perms.getByLabel(/Create Payments/).check();
    assert.equal(await perms.getByTestId('admin-level-warning').count(), 0);
    await shot('38-key-permissions');
    await page.getByRole('button', { name: 'Generate', exact: true }).click();
    await page.getByRole('dialog', { name: 'API key generated' }).waitFor();
    const portalSecret = await page.getByTestId('secret').inputValue();
    await closeSecretModal();
    const portal = row('Customer portal');
    await portal.waitFor();
    assert.match(await portal.getByTestId('access').innerText(), /^No group\s+3 permissions$/);

    await portal.getByRole('link', { name: 'Customer portal' }).click();
    await page.getByText("The key has no group; it holds its own: customers:read_own, payments:write, services:read_own.").waitFor();
    await page.getByRole('button', { name: 'Edit' }).first().click();
    const dialog = page.getByRole('dialog', { name: 'Edit API key Customer portal' });
    assert.equal(await dialog.getByLabel(/Create Payments/).isChecked(), true, 'pre-checked');
    await dialog.getByLabel('Authorization group').selectOption(String(integrationsGroupId));
    await dialog.getByText('The key will hold: customers:read, customers:read_own, invoices:read, payments:write, services:read_own').waitFor();
    await dialog.getByLabel(/View Own Services/).uncheck();
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByText('The key holds the permissions of the group Integrations and its own: customers:read_own, payments:write.').waitFor();
    assert.deepEqual(
      await page.getByTestId('effective-permissions').locator('li').allInnerTexts(),
      ['customers:read', 'customers:read_own', 'invoices:read', 'payments:write'],
    );
    await shot('39-key-effective-permissions');
    const who = await api('GET', '/v1/whoami', { headers: { 'X-API-Key': portalSecret } });
    assert.deepEqual(who.body.permissions, ['customers:read', 'customers:read_own', 'invoices:read', 'payments:write']);
    assert.deepEqual(takeConsoleErrors(), []);
  });

  test('rate limits: one window a line on a group and a key, the group\'s shown where it applies, a key over its limit refused', async () => {
    await page.goto(`${base}/groups`);
    await page.getByRole('heading', { level: 1, name: 'Authorization groups' }).waitFor();
    await page.getByTestId('new-group').click();
    const dialog = page.getByRole('dialog', { name: 'New authorization group' });
    await dialog.getByLabel('Name').fill('Metered');
    await dialog.locator('#perm-services-read').check();
    const limit = dialog.getByLabel('Rate limit');
    await limit.fill('2/h\nlots');
    await dialog.getByText('Rate limit line 2: "lots" is not a rate (write 100/s, 10000/h or 60/1m burst 10).').waitFor();
    await limit.fill('2/h');
    await shot('40-group-rate-limit');
    await dialog.getByRole('button', { name: 'Save group' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.locator('tr[data-testid="group-row"]', { hasText: 'Metered' }).getByText('Rate limit 2/h').waitFor();

    await page.goto(`${base}/api-keys/new`);
    await page.getByLabel('Key name').fill('Metered key');
    await page.getByLabel('Authorization group').selectOption({ label: 'Metered — services:read' });
    await page.getByText('Leave empty to use the group "Metered"\'s limit (2/h); a limit here replaces it.').waitFor();
    await page.getByRole('button', { name: 'Generate', exact: true }).click();
    await page.getByRole('dialog', { name: 'API key generated' }).waitFor();
    const secret = await page.getByTestId('secret').inputValue();
    await closeSecretModal();
    await row('Metered key').getByRole('link', { name: 'Metered key' }).click();
    assert.equal(await page.getByTestId('rate-limit').innerText(), "2/h (the group's)");
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await api('GET', '/v1/whoami', { headers: { 'X-API-Key': secret } })).status);
    }
    assert.deepEqual(statuses, [200, 200, 429]);

    await page.getByRole('button', { name: 'Edit' }).first().click();
    const edit = page.getByRole('dialog', { name: 'Edit API key Metered key' });
    await edit.getByLabel('Rate limit').fill('10/m burst 5');
    await shot('41-key-rate-limit');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit.waitFor({ state: 'detached' });
    await page.getByTestId('rate-limit').getByText('10/m burst 5').waitFor();
    const who = await api('GET', '/v1/whoami', { headers: { 'X-API-Key': secret } });
    assert.equal(who.status, 200, 'its own limit replaces the spent one');
    assert.deepEqual(takeConsoleErrors(/status of 429/), []);
  });
  test('notifications: an endpoint is added with its events, its secret shown once, a signed test event delivered and logged, then disabled and deleted', async () => {
    const receiver = await startReceiver();
    try {
      await page.goto(`${base}/api-keys`);
      await page.getByTestId('widget-expiring').click();
      await page.waitForURL(/expiration=expiring_soon/);

      await page.getByRole('link', { name: 'Notifications' }).click();
      await page.getByRole('heading', { level: 1, name: 'Notifications' }).waitFor();
      await page.getByTestId('empty').waitFor();
      await page.getByTestId('new-endpoint').click();
      const dialog = page.getByRole('dialog', { name: 'Add a webhook endpoint' });
      await dialog.getByLabel('URL').fill('ftp://example.com/');
      await dialog.getByText('URL must be an http or https URL with a host, and no user name, password or fragment.').waitFor();
      await dialog.getByLabel('URL').fill(receiver.url);
      await dialog.getByLabel('Description').fill('On-call channel');
      await dialog.getByTestId('some-events').check();
      await dialog.getByRole('button', { name: 'Save endpoint' }).click();
      await dialog.getByText('Events is required.').waitFor();
      await dialog.locator('input[value="api_key.expiring"]').check();
      await dialog.locator('input[value="api_key.revoked"]').check();
      await shot('42-webhook-endpoint-form');
      await dialog.getByRole('button', { name: 'Save endpoint' }).click();
      const shown = page.getByRole('dialog', { name: 'Signing secret' });
      await shown.waitFor();
      const secret = await page.getByTestId('secret').inputValue();
      assert.match(secret, /^whsec_[A-Za-z0-9+/]{32}$/);
      await closeSecretModal();

      const endpointRow = page.locator('tr[data-testid="endpoint-row"]', { hasText: receiver.url });
      await endpointRow.getByText('api_key.revoked, api_key.expiring').waitFor();
      await endpointRow.getByText('Enabled').waitFor();
      await endpointRow.getByRole('button', { name: 'Send test event' }).click();
      const deliveries = page.getByTestId('deliveries');
      await deliveries.waitFor();
      for (let i = 0; i < 50 && receiver.got.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(receiver.got.length, 1, 'the test event reached the receiver');
      const [msg] = receiver.got;
      assert.ok(verifyWebhook(secret, msg.headers, msg.body), 'signed with the secret shown');
      assert.equal(JSON.parse(msg.body.toString()).type, 'webhook.test');
      const delivered = deliveries.locator('tr[data-testid="delivery-row"]', { hasText: 'Delivered' });
      for (let i = 0; i < 50 && (await delivered.count()) === 0; i++) {
        await deliveries.getByTestId('refresh-deliveries').click();
        await new Promise((r) => setTimeout(r, 100));
      }
      await delivered.getByText(/HTTP 200 in \d+ ms/).waitFor();
      await shot('43-webhook-deliveries');

      await endpointRow.getByRole('button', { name: 'Disable' }).click();
      await endpointRow.getByText('Disabled').waitFor();
      await endpointRow.getByRole('button', { name: 'Enable' }).click();
      await endpointRow.getByText('Enabled').waitFor();
      await endpointRow.getByRole('button', { name: `Delete endpoint ${receiver.url}` }).click();
      const confirm = page.getByRole('dialog', { name: 'Delete webhook endpoint' });
      await confirm.getByText(receiver.url).waitFor();
      await confirm.getByRole('button', { name: 'Delete' }).click();
      await page.getByTestId('empty').waitFor();
      const audit = await ok('GET', '/v1/audit-events?per_page=100', { token: adminToken });
      const actions = audit.items.filter((a) => a.target_type === 'webhook').map((a) => a.action);
      assert.deepEqual(actions.slice(0, 4), ['webhook_deleted', 'webhook_updated', 'webhook_updated', 'webhook_created']);
      assert.deepEqual(takeConsoleErrors(), []);
    } finally {
      receiver.close();
    }
  });
});
