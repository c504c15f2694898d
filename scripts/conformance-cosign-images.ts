/**
 * Runs ../shared/fixtures/cosign-images/cases.json (real cosign signatures nobody here made)
 * through the countersign CLI and prints `N passed, N failed`. Exit 1 on any unexpected outcome.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const fixtures = fileURLToPath(new URL('../../shared/fixtures/cosign-images/', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

interface Case {
  layout: string;
  trust: {
    keys?: string[];
    threshold?: number;
    trustedRoot?: string;
    requireTlog?: boolean;
    identity?: string;
    issuer?: string;
    caRoots?: string;
    caIntermediates?: string;
  };
  expect: 'pass' | 'fail';
  why?: string;
}

const { cases } = JSON.parse(readFileSync(`${fixtures}cases.json`, 'utf8')) as { cases: Case[] };

function argsFor(c: Case): string[] {
  const a = ['verify', `oci:${fixtures}${c.layout}:latest`, '--output', 'json'];
  const t = c.trust;
  for (const k of t.keys ?? []) a.push('--key', `${fixtures}${k}`);
  if (t.threshold !== undefined) a.push('--threshold', String(t.threshold));
  if (t.trustedRoot !== undefined) a.push('--trusted-root', `${fixtures}${t.trustedRoot}`);
  if (t.requireTlog === true) a.push('--require-tlog');
  if (t.identity !== undefined) a.push('--certificate-identity', t.identity);
  if (t.issuer !== undefined) a.push('--certificate-oidc-issuer', t.issuer);
  if (t.caRoots !== undefined) a.push('--ca-roots', `${fixtures}${t.caRoots}`);
  if (t.caIntermediates !== undefined) a.push('--ca-intermediates', `${fixtures}${t.caIntermediates}`);
  return a;
}

let passed = 0;
let failed = 0;
for (const c of cases) {
  const r = await execa(process.execPath, [cli, ...argsFor(c)], { cwd: projectRoot, reject: false });
  // Anything but exit 0 refuses the image; the exit code and reason code are printed for review.
  const got = r.exitCode === 0 ? 'pass' : 'fail';
  let code = '';
  try {
    code = (JSON.parse(r.stdout) as { code?: string }).code ?? '';
  } catch {
    code = r.stderr.trim().split('\n').pop() ?? '';
  }
  const label = `${c.layout} [${JSON.stringify(c.trust)}]`;
  if (got === c.expect) {
    passed++;
    console.log(`ok    ${label} -> ${got} (exit ${r.exitCode ?? '?'})${code ? ` ${code}` : ''}`);
  } else {
    failed++;
    console.log(`FAIL  ${label} -> expected ${c.expect}, got ${got} ${code}${c.why ? ` (${c.why})` : ''}`);
    if (r.stderr) console.log(r.stderr.replace(/^/gm, '      '));
  }
}
console.log(`cosign-images: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
