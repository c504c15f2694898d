/**
 * The conformance run CI calls: real signatures nobody here made, read in place from
 * ../shared/fixtures. Runs the cosign image cases and the Sigstore conformance suite's offline cases.
 */
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const suites = ['conformance-cosign-images.ts', 'conformance-sigstore.ts'];
let failures = 0;
for (const s of suites) {
  console.log(`\n== ${s}`);
  const r = await execa(process.execPath, [fileURLToPath(new URL(s, import.meta.url))], {
    stdio: 'inherit',
    reject: false,
  });
  if (r.exitCode !== 0) failures++;
}
console.log(
  failures === 0 ? '\nconformance: all suites passed' : `\nconformance: ${failures} suite(s) failed`,
);
process.exitCode = failures === 0 ? 0 : 1;
