/**
 * Packaging checks that need no Docker engine and no root: the starter settings parse, the
 * Dockerfile only copies what .dockerignore lets through and keeps its promises (non-root, health
 * check with node, production dependencies), the unit keeps its hardening, and the systemd install
 * script's dry run shows every step while changing nothing.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  copyFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { parseSettings } from '../../src/config/settings.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const read = (p: string): string => readFileSync(path.join(ROOT, p), 'utf8');

describe('deploy/countersign.yaml', () => {
  it('parses as settings with the data directory apart from the configuration and a loopback bind', () => {
    const settings = parseSettings(YAML.parse(read('deploy/countersign.yaml')), 'countersign.yaml');
    assert.equal(settings.dataDir, '/var/lib/countersign');
    assert.equal(settings.server.host, '127.0.0.1');
    assert.equal(settings.server.port, 8080);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const final = stages.at(-1) ?? '';

  it('builds every stage on node:24-bookworm-slim', () => {
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    assert.ok(stages.length >= 2);
    for (const s of stages) assert.match(s, /^\$\{NODE_IMAGE\} AS \w+/);
  });

  it('installs production dependencies only in the final stage and runs as a non-root user', () => {
    assert.match(final, /npm ci --omit=dev/);
    const user = /^USER (\S+)/m.exec(final);
    assert.ok(user !== null && !/^(root|0)(:|$)/.test(user[1] ?? ''), 'USER must not be root');
    assert.ok(final.indexOf('USER ') < final.indexOf('ENTRYPOINT'));
  });

  it('probes /healthz with node and declares the configuration and data volumes', () => {
    assert.match(final, /^HEALTHCHECK .*CMD \["node", "-e", "fetch\(process\.env\.COUNTERSIGN_HEALTH_URL/ms);
    assert.match(final, /^ENV COUNTERSIGN_HEALTH_URL=http:\/\/127\.0\.0\.1:8080\/healthz$/m);
    assert.match(final, /^VOLUME \["\/etc\/countersign", "\/var\/lib\/countersign"\]$/m);
  });

  it('copies only files that exist and that .dockerignore lets through', () => {
    const allowed = read('.dockerignore')
      .split('\n')
      .filter((l) => l.startsWith('!'))
      .map((l) => l.slice(1));
    assert.ok(read('.dockerignore').split('\n').includes('*'), '.dockerignore must start from "*"');
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) (\S+)$/gm)].flatMap((m) =>
      (m[1] ?? '').split(' '),
    );
    assert.ok(copies.length > 0);
    for (const src of copies) {
      assert.ok(existsSync(path.join(ROOT, src)), `${src} does not exist`);
      assert.ok(
        allowed.some((a) => src === a || src.startsWith(`${a}/`)),
        `${src} is excluded by .dockerignore`,
      );
    }
  });

  it('starts the file its entry point names, with a command that file knows', async () => {
    const entry = /^ENTRYPOINT \["node", "\/opt\/countersign\/(\S+)"\]$/m.exec(final);
    assert.ok(entry !== null);
    const cmd = /^CMD \["(\w+)", "--config", "\/etc\/countersign"\]$/m.exec(final);
    assert.ok(cmd !== null);
    // `serve --help` answers without starting anything: the subcommand the image runs exists.
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(
        process.execPath,
        [path.join(ROOT, entry[1] ?? ''), cmd[1] ?? '', '--help'],
        (error, stdout) => {
          resolve({ code: error === null ? 0 : -1, out: stdout });
        },
      );
    });
    assert.equal(r.code, 0);
    assert.match(r.out, /--config DIR/);
  });
});

describe('deploy/countersign.service', () => {
  const unit = read('deploy/countersign.service');
  it('keeps its hardening', () => {
    for (const line of [
      'User=countersign',
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'NoNewPrivileges=yes',
      'StateDirectory=countersign',
      'ConfigurationDirectory=countersign',
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
      'SystemCallFilter=@system-service',
      'CapabilityBoundingSet=',
      'MemoryDenyWriteExecute=no',
    ]) {
      assert.ok(unit.split('\n').includes(line), `missing ${line}`);
    }
    assert.match(unit, /^ExecStart=@NODE@ @PREFIX@\/src\/cli\/main\.ts serve --config \/etc\/countersign$/m);
  });
});

function runScript(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      [path.join(ROOT, 'scripts/install-systemd.sh'), ...args],
      { env: { PATH: process.env['PATH'] ?? '' }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
          stdout,
          stderr,
        });
      },
    );
  });
}

/** A release tree with the files the script checks for; its contents do not matter to a dry run. */
function releaseTree(t: { after(fn: () => void): void }, withModules = true): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'countersign-release-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  for (const d of ['src/cli', 'src/shim', 'deploy', ...(withModules ? ['node_modules'] : [])])
    mkdirSync(path.join(dir, d), { recursive: true });
  for (const f of ['package.json', 'package-lock.json', 'src/cli/main.ts', 'src/shim/main.ts'])
    writeFileSync(path.join(dir, f), '{}\n');
  for (const f of ['deploy/countersign.service', 'deploy/countersign.yaml'])
    copyFileSync(path.join(ROOT, f), path.join(dir, f));
  return dir;
}

describe('scripts/install-systemd.sh', () => {
  describe('when run with --dry-run', () => {
    it('shows the account, the copy, the directories, the unit and the enable, and changes nothing', async (t) => {
      const source = releaseTree(t);
      const prefix = path.join(tmpdir(), `countersign-prefix-${process.pid}`);
      const r = await runScript([
        '--dry-run',
        '--source',
        source,
        '--prefix',
        prefix,
        '--node',
        process.execPath,
        '--with-cosign-shim',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /dry run, nothing is changed/);
      assert.match(
        r.stdout,
        /^(\+ useradd --system .* countersign|install-systemd: account countersign exists)$/m,
      );
      assert.match(r.stdout, new RegExp(`^\\+ cp -a .* ${prefix}\\.new/$`, 'm'));
      assert.match(
        r.stdout,
        /^\+ install -d -o countersign -g countersign -m 0700 \/var\/lib\/countersign$/m,
      );
      assert.match(
        r.stdout,
        /^\+ install -d -o countersign -g countersign -m 0750 \/etc\/countersign\/policies$/m,
      );
      assert.match(r.stdout, /^\+ write \/etc\/systemd\/system\/countersign\.service \(root:root, 0644\):$/m);
      assert.ok(
        r.stdout.includes(
          `|   ExecStart=${process.execPath} ${prefix}/src/cli/main.ts serve --config /etc/countersign\n`,
        ),
      );
      assert.doesNotMatch(r.stdout, /@NODE@|@PREFIX@/);
      assert.ok(r.stdout.includes(`|   exec ${process.execPath} ${prefix}/src/shim/main.ts "$@"\n`));
      assert.match(r.stdout, /^\+ systemctl enable --now countersign\.service$/m);
      assert.equal(existsSync(prefix), false);
      assert.equal(existsSync(`${prefix}.new`), false);
    });
  });

  describe('when the release tree has no node_modules', () => {
    it('stops before doing anything, saying it downloads nothing', async (t) => {
      const source = releaseTree(t, false);
      const r = await runScript(['--dry-run', '--source', source, '--node', process.execPath]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /node_modules missing: run npm ci there first \(this script downloads nothing\)/,
      );
      assert.equal(r.stdout, '');
    });
  });

  describe('when given an unknown option', () => {
    it('refuses it', async () => {
      const r = await runScript(['--dry-run', '--frobnicate']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /unknown option --frobnicate/);
    });
  });
});
