/**
 * The auditor web page end to end in a real browser: Debian chromium driven by playwright-core,
 * against the real app listening on 127.0.0.1 with a temporary configuration and a trail made by
 * real verifications (OCI layouts signed in-process). Sign in with a token, filter decisions, open
 * an entry and see its proof checked, read the configuration history, download a PDF. Screenshots
 * go to test-artifacts/ui/. A missing chromium fails the test, naming the install script.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { verifyExport } from '../../src/audit/export/index.ts';
import { p256Key, startTestApp, writeSignedLayout, bearer } from '../server/fixtures.ts';
import type { TestEnv } from '../server/fixtures.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const projectRoot = path.resolve(import.meta.dirname, '..', '..');
const shots = path.join(projectRoot, 'test-artifacts', 'ui');

function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `chromium not found at ${CHROMIUM}: run \`bash scripts/install-test-tools.sh\` (installs Debian chromium) first`,
    );
  }
}

describe('auditor web page in headless chromium', () => {
  // Set by before(); undefined when it failed early (no chromium), so after() cleans up what exists.
  let env: TestEnv | undefined;
  let profile: string | undefined;
  let context: BrowserContext | undefined;
  let base: string;
  let page: Page;
  const browserErrors: string[] = [];

  before(async () => {
    requireChromium();
    mkdirSync(shots, { recursive: true });
    const started = await startTestApp();
    env = started;
    const signed = path.join(started.layouts, 'signed');
    const unsigned = path.join(started.layouts, 'unsigned');
    writeSignedLayout(signed, started.key);
    writeSignedLayout(unsigned, null);
    for (const dir of [signed, unsigned, signed, unsigned, signed]) {
      const res = await started.app.inject({
        method: 'POST',
        url: '/v1/verify',
        headers: bearer(started.tokens.verifier),
        payload: { image: `oci:${dir}`, context: { caller: 'mercure-node-1' } },
      });
      assert.equal(res.statusCode, 200);
    }
    await started.appliance.change({
      target: 'key',
      name: 'security.pub',
      content: p256Key().publicPem,
      actor: 'it-admin',
      reason: 'CAPA-1234: add the security team key',
    });
    base = await started.app.listen({ host: '127.0.0.1', port: 0 });
    profile = mkdtempSync(path.join(tmpdir(), 'countersign-chromium-'));
    // A persistent context is how playwright takes a (fresh, throw-away) user data directory.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') browserErrors.push(m.text());
    });
    page.on('pageerror', (e) => browserErrors.push(e.message));
  });

  after(async () => {
    await context?.close();
    await env?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  });

  it('serves the page with a strict content security policy', async () => {
    const res = await page.goto(`${base}/ui/`);
    assert.ok(res !== null);
    assert.equal(res.status(), 200);
    const csp = res.headers()['content-security-policy'] ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.equal(await page.locator('#login').isVisible(), true);
  });

  it('refuses a verifier token with a message and keeps the page signed out', async () => {
    await page.fill('#token', env!.tokens.verifier);
    await page.press('#token', 'Enter');
    await page.locator('#error').filter({ hasText: 'auditor or admin role' }).waitFor();
    assert.equal(await page.locator('#app').isHidden(), true);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  });

  it('signs in with an auditor token kept in sessionStorage only and lists decisions', async () => {
    await page.fill('#token', env!.tokens.auditor);
    await page.press('#token', 'Enter');
    await page.locator('#decision-table tbody tr[data-index]').first().waitFor();
    assert.equal(await page.locator('#decision-table tbody tr[data-index]').count(), 5);
    // Expressions as strings: this file is type-checked without the DOM library.
    const storage = await page.evaluate<{ session: string | null; local: number; cookie: string }>(
      "({ session: sessionStorage.getItem('countersign.token'), local: localStorage.length, cookie: document.cookie })",
    );
    assert.deepEqual(storage, { session: env!.tokens.auditor, local: 0, cookie: '' });
    await page.screenshot({ path: path.join(shots, '01-signed-in.png'), fullPage: true });
  });

  it('filters decisions to denials', async () => {
    await page.selectOption('#f-decision', 'deny');
    await page.click('#filter-form button[type=submit]');
    await page.locator('#decision-caption', { hasText: '(filtered)' }).waitFor();
    const decisions: (string | null)[] = [];
    for (const row of await page.locator('#decision-table tbody tr').all()) {
      decisions.push(await row.getAttribute('data-decision'));
    }
    assert.deepEqual(decisions, ['deny', 'deny']);
    await page.screenshot({ path: path.join(shots, '02-filtered-deny.png'), fullPage: true });
  });

  it('opens an entry with its signer outcomes and a proof checked in the browser', async () => {
    // Keyboard only: focus the first row's button and press Enter.
    await page.locator('#decision-table tbody tr button').first().focus();
    await page.keyboard.press('Enter');
    await page.locator('#proof-result.ok').waitFor();
    const result = await page.locator('#proof-result').textContent();
    assert.match(
      result ?? '',
      /^Verified: entry hash recomputed; proof leads to the checkpoint root; checkpoint signature valid\.$/,
    );
    assert.match((await page.locator('#entry-title').textContent()) ?? '', /\(deny\)$/);
    assert.equal(await page.evaluate<string>("document.activeElement?.id ?? ''"), 'entry-title');
    assert.ok((await page.locator('#proof-hashes li').count()) >= 2);
    const signer = await page.locator('#signer-table tbody tr').first().textContent();
    assert.match(signer ?? '', /vendor/);
    assert.match(
      (await page.locator('#proof-checkpoint').textContent()) ?? '',
      /^countersign\.local\/audit\//,
    );
    await page.locator('#entry').screenshot({ path: path.join(shots, '03-entry-proof.png') });
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('#entry').isHidden(), true);
  });

  it('says NOT verified when the entry it is served differs from the one the proof covers', async () => {
    // A server (or a proxy) that alters an entry: the recomputed hash no longer leads to the root.
    await page.route('**/v1/audit/entries/*', async (route) => {
      const res = await route.fetch();
      const body = (await res.json()) as { entry: { actor: string } };
      body.entry.actor = 'someone-else';
      await route.fulfill({ response: res, json: body });
    });
    try {
      await page.locator('#decision-table tbody tr button').first().click();
      await page.locator('#proof-result.bad').waitFor();
      assert.match(
        (await page.locator('#proof-result').textContent()) ?? '',
        /^NOT verified: ENTRY HASH DOES NOT MATCH/,
      );
    } finally {
      await page.unroute('**/v1/audit/entries/*');
      await page.click('#entry-close');
    }
  });

  it('shows the configuration change history with who, why and hashes', async () => {
    const row = page.locator('#config-table tbody tr', { hasText: 'security.pub' });
    await row.waitFor();
    const text = (await row.textContent()) ?? '';
    assert.match(text, /it-admin/);
    assert.match(text, /CAPA-1234: add the security team key/);
    assert.match(text, /create/);
    await page.locator('#config-history').screenshot({ path: path.join(shots, '04-config-history.png') });
  });

  it('downloads a signed PDF report for a chosen range', async () => {
    await page.fill('#x-from', '2000-01-01T00:00:00');
    await page.fill('#x-to', '2100-01-01T00:00:00');
    await page.selectOption('#x-format', 'pdf');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-button')]);
    assert.match(download.suggestedFilename(), /^countersign-audit-\d{8}T\d{6}Z-[0-9a-f]{12}\.pdf$/);
    const file = await download.path();
    const bytes = readFileSync(file);
    assert.equal(bytes.subarray(0, 4).toString('latin1'), '%PDF');
    await page.locator('#export-result').waitFor();
    const signature = await page.locator('#export-fields dd').nth(4).textContent();
    const checked = await verifyExport(file, {
      signature: signature ?? '',
      publicKeyPem: readFileSync(path.join(env!.data.dataDir, 'export-signing.pub'), 'utf8'),
    });
    assert.equal(checked.ok, true, JSON.stringify(checked.problems));
    await page.screenshot({ path: path.join(shots, '05-export.png'), fullPage: true });
  });

  it('signs out, forgetting the token, with no browser errors on the way', async () => {
    await page.click('#logout');
    assert.equal(await page.locator('#login').isVisible(), true);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    // The refused verifier sign-in logs one 403 resource error; nothing else may fail (CSP included).
    const unexpected = browserErrors.filter((e) => !/status of 403/.test(e));
    assert.deepEqual(unexpected, []);
  });
});
