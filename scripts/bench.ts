/**
 * Benchmark: prints numbers, asserts nothing. Starts a real registry, pushes and cosign-signs an
 * image, then measures countersign's verification (library path, cold and warm) against
 * `cosign verify --key` on the same image, and, when the appliance is built, audited HTTP
 * decisions. Usage: npm run bench [-- --iterations N]
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { bindPolicy } from '../src/config/load.ts';
import { DecisionCache } from '../src/decision/cache.ts';
import { verifyImage } from '../src/decision/verify-image.ts';
import type { VerificationOutcome } from '../src/decision/verify-image.ts';
import { createRegistryClient } from '../src/oci/index.ts';
import { adHocPolicy } from '../src/policy/index.ts';
import { parsePublicKeyPem } from '../src/verify/keys.ts';
import { pushImage } from '../test/support/images.ts';
import { startRegistry } from '../test/support/registry.ts';
import { cosignGenerateKeyPair, cosignSign, imageRef } from '../test/support/signing.ts';
import { requireTool } from '../test/support/tools.ts';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '300' } } });
const iterations = Number(values.iterations);

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export async function measure(
  n: number,
  fn: () => Promise<unknown>,
): Promise<{ p50: number; p99: number; perSecond: number }> {
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  const total = performance.now() - started;
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), perSecond: (n / total) * 1000 };
}

export function row(label: string, r: { p50: number; p99: number; perSecond: number }): string {
  return `| ${label.padEnd(52)} | ${r.p50.toFixed(2).padStart(9)} | ${r.p99.toFixed(2).padStart(9)} | ${r.perSecond.toFixed(0).padStart(8)} |`;
}

const reg = await startRegistry();
try {
  const pushed = await pushImage(reg, 'bench/algo', '1.0');
  const keys = await cosignGenerateKeyPair(await mkdtemp(path.join(tmpdir(), 'cs-bench-')), 'bench');
  await cosignSign(reg, imageRef(reg, 'bench/algo', pushed.digest), keys.privateKeyPath, 'bench');
  const image = imageRef(reg, 'bench/algo', '1.0');

  const key = parsePublicKeyPem(readFileSync(keys.publicKeyPath, 'utf8'), 'vendor.pub');
  const policies = [
    bindPolicy(
      adHocPolicy({ keys: [{ name: 'vendor.pub', fingerprint: key.fingerprint }], threshold: 1 }),
      new Map([['vendor.pub', key]]),
      new Map(),
    ),
  ];
  const registry = { insecureRegistries: [reg.host] };
  const discovery = { maxSignatureBlobBytes: 1 << 20, maxAttachments: 64 };

  const check = await verifyImage({ image, policies, registry, discovery });
  if (!check.allowed) throw new Error(`benchmark image does not verify: ${check.explanation}`);

  console.log(`countersign benchmark: ${iterations} iterations, image ${image}`);
  console.log(`node ${process.version}, ${process.platform}/${process.arch}\n`);
  console.log('| what                                                 | p50 ms    | p99 ms    | per s    |');
  console.log('|------------------------------------------------------|-----------|-----------|----------|');

  // Cold: a new registry client (new connections) per verification, no cache.
  const cold = await measure(iterations, () => verifyImage({ image, policies, registry, discovery }));
  console.log(row('verify, cold (new connections, full check)', cold));

  // Warm, uncached: one long-lived client, every signature checked again.
  const client = createRegistryClient(registry);
  const warmFull = await measure(iterations, () =>
    verifyImage({ image, policies, registry, discovery, client }),
  );
  console.log(row('verify, warm client, full check', warmFull));

  // Warm, cached: the digest is still resolved afresh; the allow comes from the cache.
  const store = new DecisionCache<VerificationOutcome>({ ttlMs: 60_000, maxEntries: 1000 });
  const cache = { store, trustVersion: 'bench' };
  const warmCached = await measure(iterations, () =>
    verifyImage({ image, policies, registry, discovery, client, cache }),
  );
  console.log(row('verify, warm client, cached allow', warmCached));
  await client.close();

  // The same question asked of cosign itself.
  const cosign = requireTool('cosign');
  const home = await mkdtemp(path.join(tmpdir(), 'cs-bench-home-'));
  const cosignRuns = Math.max(5, Math.min(20, Math.floor(iterations / 15)));
  const cosignResult = await measure(cosignRuns, () =>
    execa(
      cosign,
      [
        'verify',
        '--key',
        keys.publicKeyPath,
        '--insecure-ignore-tlog=true',
        '--allow-http-registry',
        '--allow-insecure-registry',
        image,
      ],
      {
        env: { HOME: home, TUF_ROOT: path.join(home, '.sigstore') },
      },
    ),
  );
  console.log(row(`cosign verify --key (${cosignRuns} runs, one process each)`, cosignResult));
  console.log('');
  console.log(`ratio cosign / countersign cold p50: ${(cosignResult.p50 / cold.p50).toFixed(1)}x`);
  console.log(
    `ratio cosign / countersign warm cached p50: ${(cosignResult.p50 / warmCached.p50).toFixed(1)}x`,
  );
} finally {
  await reg.stop();
}
