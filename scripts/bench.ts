/**
 * Benchmark: prints numbers, asserts nothing. Starts a real registry, pushes and cosign-signs an
 * image, then measures countersign's verification (library path, cold and warm) against
 * `cosign verify --key` on the same image; then the appliance: a real `countersign serve` on
 * loopback, `POST /v1/verify` cold (an image nobody asked about before, cache empty) and warm
 * (cached allow), latency and throughput at several concurrencies, every answer a durable
 * audited decision, with `cosign verify --key` on the same images for the ratios.
 *
 * Usage: npm run bench [-- --iterations N] [--scale F] [--log-level L] [--appliance-only]
 *   --scale F       multiplies the appliance request counts (default 1)
 *   --log-level L   the server's log level (default info, as `serve` runs by default)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { Pool } from 'undici';
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
import { pushSignedImage } from '../test/server/registry-images.ts';
import { prepareServeConfig, spawnServe } from '../test/server/serve-process.ts';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '300' },
    scale: { type: 'string', default: '1' },
    'log-level': { type: 'string', default: 'info' },
    'appliance-only': { type: 'boolean', default: false },
  },
});
const iterations = Number(values.iterations);
const scale = Number(values.scale);

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
const cosign = requireTool('cosign');
const cosignHome = await mkdtemp(path.join(tmpdir(), 'cs-bench-home-'));

/** `cosign verify --key` as an operator would run it: one process per question. */
function cosignVerify(publicKeyPath: string, image: string) {
  return execa(
    cosign,
    [
      'verify',
      '--key',
      publicKeyPath,
      '--insecure-ignore-tlog=true',
      '--allow-http-registry',
      '--allow-insecure-registry',
      image,
    ],
    { env: { HOME: cosignHome, TUF_ROOT: path.join(cosignHome, '.sigstore') } },
  );
}

try {
  if (!values['appliance-only']) await libraryBench();
  await applianceBench();
} finally {
  await reg.stop();
}

async function libraryBench(): Promise<void> {
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
  const cosignRuns = Math.max(5, Math.min(20, Math.floor(iterations / 15)));
  const cosignResult = await measure(cosignRuns, () => cosignVerify(keys.publicKeyPath, image));
  console.log(row(`cosign verify --key (${cosignRuns} runs, one process each)`, cosignResult));
  console.log('');
  console.log(`ratio cosign / countersign cold p50: ${(cosignResult.p50 / cold.p50).toFixed(1)}x`);
  console.log(
    `ratio cosign / countersign warm cached p50: ${(cosignResult.p50 / warmCached.p50).toFixed(1)}x`,
  );
}

interface LoadResult {
  readonly p50: number;
  readonly p99: number;
  readonly perSecond: number;
  readonly failed: number;
}

/**
 * `total` requests over `concurrency` connections, each connection asking again as soon as it has
 * its answer (closed loop): latency per request, throughput over the whole run. Only 200 answers
 * count; anything else is a failure, reported.
 */
async function load(
  url: string,
  token: string,
  concurrency: number,
  images: readonly string[],
): Promise<LoadResult> {
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  const times: number[] = [];
  let next = 0;
  let failed = 0;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        const image = images[i];
        if (image === undefined) return;
        const t = performance.now();
        const res = await pool.request({
          method: 'POST',
          path: '/v1/verify',
          headers,
          body: `{"image":${JSON.stringify(image)}}`,
        });
        const text = await res.body.text();
        if (res.statusCode === 200 && text.includes('"allowed":true')) times.push(performance.now() - t);
        else failed++;
      }
    }),
  );
  const total = performance.now() - started;
  await pool.close();
  times.sort((a, b) => a - b);
  return {
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    perSecond: (times.length / total) * 1000,
    failed,
  };
}

function loadRow(label: string, concurrency: number, n: number, r: LoadResult): string {
  const failed = r.failed === 0 ? '' : ` (${r.failed} failed)`;
  return `| ${label.padEnd(30)} | ${String(concurrency).padStart(4)} | ${String(n).padStart(6)} | ${r.p50.toFixed(2).padStart(8)} | ${r.p99.toFixed(2).padStart(8)} | ${r.perSecond.toFixed(0).padStart(7)} |${failed}`;
}

async function applianceBench(): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), 'cs-bench-appliance-'));
  const cfg = prepareServeConfig(root, `registries:\n  "${reg.host}": { insecure: true }\n`);
  const publicKeyPath = path.join(cfg.configDir, 'keys', 'vendor.pub');
  const concurrencies = [1, 4, 16, 64];
  const coldCount = (c: number) => Math.round(Math.max(100, c * 8) * scale);
  const warmCount = (c: number) => Math.round((c === 1 ? 2000 : 6000) * scale);

  // Cold requests each need an image nobody has asked about: sign them all beforehand.
  const coldTotal = concurrencies.reduce((n, c) => n + coldCount(c), 0) + 1;
  process.stdout.write(`\nappliance: pushing and signing ${coldTotal} images... `);
  const coldImages: string[] = [];
  for (let i = 0; i < coldTotal; i += 16) {
    const batch = Array.from({ length: Math.min(16, coldTotal - i) }, (_, j) => `c${String(i + j)}`);
    await Promise.all(batch.map((tag) => pushSignedImage(reg, 'bench/cold', tag, cfg.key)));
    coldImages.push(...batch.map((tag) => imageRef(reg, 'bench/cold', tag)));
  }
  const warmDigest = await pushSignedImage(reg, 'bench/warm', '1.0', cfg.key);
  const warmTag = imageRef(reg, 'bench/warm', '1.0');
  const warmPinned = imageRef(reg, 'bench/warm', warmDigest);
  console.log('done');

  const server = await spawnServe(cfg.configDir, [], values['log-level']);
  try {
    console.log(
      `countersign serve on ${server.url} (log level ${values['log-level']}), registry ${reg.host}, ` +
        `client and server on the same ${String(availableParallelism())}-CPU machine`,
    );
    console.log('');
    console.log('| POST /v1/verify                | conc | reqs   | p50 ms   | p99 ms   | per s   |');
    console.log('|--------------------------------|------|--------|----------|----------|---------|');
    const firstImage = coldImages.pop() ?? '';
    const first = await load(server.url, cfg.token, 1, [firstImage]);
    console.log(loadRow('first after start (new conns)', 1, 1, first));
    const coldResults = new Map<number, LoadResult>();
    for (const c of concurrencies) {
      const images = coldImages.splice(0, coldCount(c));
      const r = await load(server.url, cfg.token, c, images);
      coldResults.set(c, r);
      console.log(loadRow('cold (new image, full check)', c, images.length, r));
    }
    // Warm: a cached allow; a tag still costs one manifest request to resolve its digest.
    await load(server.url, cfg.token, 1, [warmTag]);
    const warmResults = new Map<number, LoadResult>();
    for (const c of concurrencies) {
      const n = warmCount(c);
      const r = await load(
        server.url,
        cfg.token,
        c,
        Array.from({ length: n }, () => warmTag),
      );
      warmResults.set(c, r);
      console.log(loadRow('warm (cached allow, by tag)', c, n, r));
    }
    // By digest, a cached allow needs no registry request at all.
    const pinnedResults = new Map<number, LoadResult>();
    for (const c of concurrencies) {
      const n = warmCount(c);
      const r = await load(
        server.url,
        cfg.token,
        c,
        Array.from({ length: n }, () => warmPinned),
      );
      pinnedResults.set(c, r);
      console.log(loadRow('warm (cached allow, by digest)', c, n, r));
    }

    const cosignRuns = Math.max(5, Math.round(10 * scale));
    const cosignCold = await measure(cosignRuns, () => cosignVerify(publicKeyPath, firstImage));
    const cosignWarm = await measure(cosignRuns, () => cosignVerify(publicKeyPath, warmTag));
    console.log('');
    console.log(row(`cosign verify --key, cold image (${String(cosignRuns)} runs)`, cosignCold));
    console.log(row(`cosign verify --key, warm image (${String(cosignRuns)} runs)`, cosignWarm));
    const cold1 = coldResults.get(1);
    const warm1 = warmResults.get(1);
    const pinned1 = pinnedResults.get(1);
    const best = Math.max(...[...warmResults.values()].map((r) => r.perSecond));
    const bestPinned = Math.max(...[...pinnedResults.values()].map((r) => r.perSecond));
    console.log('');
    if (cold1 !== undefined)
      console.log(
        `cold p50 ${cold1.p50.toFixed(2)} ms; cosign / countersign: ${(cosignCold.p50 / cold1.p50).toFixed(1)}x`,
      );
    if (warm1 !== undefined)
      console.log(
        `warm p50 ${warm1.p50.toFixed(2)} ms; cosign / countersign: ${(cosignWarm.p50 / warm1.p50).toFixed(1)}x`,
      );
    if (pinned1 !== undefined)
      console.log(
        `warm p50 by digest ${pinned1.p50.toFixed(2)} ms; cosign / countersign: ${(cosignWarm.p50 / pinned1.p50).toFixed(1)}x`,
      );
    console.log(
      `durable audited decisions per second (best warm): by tag ${best.toFixed(0)}, by digest ${bestPinned.toFixed(0)}`,
    );
  } finally {
    server.proc.kill('SIGTERM');
    await server.exited;
    await rm(root, { recursive: true, force: true });
  }
}
