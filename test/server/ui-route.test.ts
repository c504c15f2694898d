/**
 * The auditor page's static files: served open under /ui/ with a strict CSP, nothing else served,
 * and the files themselves hold no inline script or style and no address of another origin
 * (the appliance runs air-gapped; the CSP would block them anyway, this says so early).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UI_CONTENT_SECURITY_POLICY, uiAssetsDir } from '../../src/server/routes/ui.ts';
import { startTestApp } from './fixtures.ts';
import type { TestEnv } from './fixtures.ts';

describe('auditor page routes', () => {
  let env: TestEnv;
  before(async () => {
    env = await startTestApp();
  });
  after(async () => {
    await env.close();
  });

  describe('when the page and its files are asked for', () => {
    for (const [url, type] of [
      ['/ui/', 'text/html; charset=utf-8'],
      ['/ui/index.html', 'text/html; charset=utf-8'],
      ['/ui/app.js', 'text/javascript; charset=utf-8'],
      ['/ui/style.css', 'text/css; charset=utf-8'],
    ] as const) {
      it(`serves ${url} without a token, with the CSP and nosniff`, async () => {
        const res = await env.app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['content-type'], type);
        assert.equal(res.headers['content-security-policy'], UI_CONTENT_SECURITY_POLICY);
        assert.equal(res.headers['x-content-type-options'], 'nosniff');
        assert.equal(res.headers['x-frame-options'], 'DENY');
      });
    }

    it('redirects /ui to /ui/', async () => {
      const res = await env.app.inject({ method: 'GET', url: '/ui' });
      assert.equal(res.statusCode, 302);
      assert.equal(res.headers.location, '/ui/');
    });

    it('answers 404 NOT_FOUND for any other file and 400 for a path outside the folder', async () => {
      const other = await env.app.inject({ method: 'GET', url: '/ui/secret.js' });
      assert.equal(other.statusCode, 404);
      assert.equal(other.json<{ code: string }>().code, 'NOT_FOUND');
      const outside = await env.app.inject({ method: 'GET', url: '/ui/..%2F..%2Fauth.ts' });
      assert.equal(outside.statusCode, 400);
    });
  });

  describe('when the files are read', () => {
    const dir = uiAssetsDir();
    const html = readFileSync(path.join(dir, 'index.html'), 'utf8');

    it('has no inline script, inline style or inline event handler', () => {
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      assert.ok(scripts.length > 0);
      for (const [, attributes, body] of scripts) {
        assert.match(attributes ?? '', /\bsrc="[a-z-]+\.js"/);
        assert.equal(body?.trim(), '');
      }
      assert.doesNotMatch(html, /<style\b/);
      assert.doesNotMatch(html, /\sstyle=/);
      assert.doesNotMatch(html, /\son[a-z]+=/);
    });

    it('refers to no other origin', () => {
      for (const name of ['index.html', 'app.js', 'style.css']) {
        const text = readFileSync(path.join(dir, name), 'utf8');
        assert.doesNotMatch(text, /(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}\//i, name);
        assert.doesNotMatch(text, /@import|url\(/, name);
      }
    });

    it('labels every form control', () => {
      const ids = [...html.matchAll(/<(?:input|select)\b[^>]*\bid="([^"]+)"/g)].map((m) => m[1]);
      assert.ok(ids.length >= 10);
      for (const id of ids) assert.match(html, new RegExp(`<label for="${id}">`), id);
    });
  });
});
