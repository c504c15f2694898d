/**
 * Export benchmark: fills a temporary audit database with synthetic entries (bulk-loaded, see
 * test/audit/export/bulk-load.ts) and times `countersign audit export` for each format in a child
 * process, reporting wall time, peak RSS (the child's own maxRSS) and file size. Prints numbers,
 * asserts nothing.
 *
 *   scripts/node scripts/bench-export.ts [SIZE ...]      (default: 100000 1000000)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bulkLoad } from '../test/audit/export/bulk-load.ts';

const root = path.resolve(import.meta.dirname, '..');

const CHILD = `
import { exportAudit } from ${JSON.stringify(path.join(root, 'src/audit/export/index.ts'))};
const [dir, format] = process.argv.slice(1);
let peak = process.memoryUsage().rss;
const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
const started = performance.now();
const r = await exportAudit({ dbPath: dir + '/data/audit.db', dataDir: dir + '/data', configDir: dir, format,
  out: dir + '/export.' + format, filter: {}, site: 'bench', appliance: 'bench', softwareVersion: 'bench',
  generatedBy: 'bench', onProgress: () => { peak = Math.max(peak, process.memoryUsage().rss); } });
clearInterval(timer);
const ms = performance.now() - started;
peak = Math.max(peak, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024);
console.log(JSON.stringify({ ms, peak, entries: r.entries, bytes: r.bytes, pages: r.pages ?? null }));
`;

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;

const sizes = process.argv.slice(2).map(Number);
for (const size of sizes.length > 0 ? sizes : [100_000, 1_000_000]) {
  const dir = mkdtempSync(path.join(tmpdir(), 'countersign-bench-export-'));
  try {
    mkdirSync(path.join(dir, 'data'));
    const loadStart = performance.now();
    bulkLoad(path.join(dir, 'data'), size);
    const db = statSync(path.join(dir, 'data', 'audit.db')).size;
    console.log(
      `\n${size} entries: bulk load ${((performance.now() - loadStart) / 1000).toFixed(1)} s, database ${mb(db)}`,
    );
    for (const format of ['csv', 'jsonl', 'pdf']) {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, dir, format], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      });
      if (child.status !== 0) {
        console.log(`  ${format}: failed: ${child.stderr}`);
        continue;
      }
      const r = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as {
        ms: number;
        peak: number;
        entries: number;
        bytes: number;
        pages: number | null;
      };
      const verify = performance.now();
      execFileSync(process.execPath, [
        path.join(root, 'src/cli/main.ts'),
        'audit',
        'verify-export',
        `${dir}/export.${format}`,
        '--config',
        dir,
      ]);
      const verifyMs = performance.now() - verify;
      console.log(
        `  ${format.padEnd(5)} ${(r.ms / 1000).toFixed(1).padStart(6)} s  peak RSS ${mb(r.peak).padStart(9)}  ` +
          `file ${mb(r.bytes).padStart(10)}${r.pages === null ? '' : `  ${r.pages} pages`}  ` +
          `(${Math.round(r.entries / (r.ms / 1000))} entries/s; verify-export ${(verifyMs / 1000).toFixed(1)} s)`,
      );
      rmSync(`${dir}/export.${format}`, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
