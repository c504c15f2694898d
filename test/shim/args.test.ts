import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCosignArgs, parseDuration } from '../../src/shim/args.ts';
import type { ShimCommand, VerifyCommand } from '../../src/shim/args.ts';
import { CountersignError } from '../../src/errors.ts';

function verify(argv: string[]): VerifyCommand {
  const c: ShimCommand = parseCosignArgs(argv);
  assert.equal(c.kind, 'verify');
  return c;
}

function refused(argv: string[], pattern: RegExp): void {
  assert.throws(
    () => parseCosignArgs(argv),
    (e: unknown) => e instanceof CountersignError && e.code === 'USAGE' && pattern.test(e.message),
  );
}

describe('parseCosignArgs', () => {
  describe('when given the forms pflag accepts', () => {
    it('reads --flag value, --flag=value and images anywhere', () => {
      const c = verify([
        'verify',
        'img:1',
        '--certificate-identity',
        'a@b',
        '--certificate-oidc-issuer=https://i',
        'img:2',
      ]);
      assert.deepEqual(c.images, ['img:1', 'img:2']);
      assert.deepEqual(c.trust, { certificateIdentity: 'a@b', certificateOidcIssuer: 'https://i' });
    });

    it('reads the regexp forms and --key', () => {
      assert.deepEqual(
        verify([
          'verify',
          '--certificate-identity-regexp',
          '^a$',
          '--certificate-oidc-issuer-regexp=^i$',
          'x',
        ]).trust,
        {
          certificateIdentityRegexp: '^a$',
          certificateOidcIssuerRegexp: '^i$',
        },
      );
      assert.deepEqual(verify(['verify', '--key=k.pub', 'x']).trust, { key: 'k.pub' });
    });

    it('reads -o json, -ojson and -o=json', () => {
      for (const form of [['-o', 'json'], ['-ojson'], ['-o=json'], ['--output', 'json']]) {
        assert.deepEqual(verify(['verify', ...form, '--policy', 'p', 'x']).images, ['x']);
      }
    });

    it('treats everything after -- as images', () => {
      assert.deepEqual(verify(['verify', '--policy', 'p', '--', '-odd']).images, ['-odd']);
    });

    it('reads boolean flags with and without values and records them as ignored', () => {
      const c = verify(['verify', '--insecure-ignore-tlog', '--check-claims=false', '-d', 'x']);
      assert.deepEqual(c.ignored, ['--insecure-ignore-tlog', '--check-claims', '--verbose']);
    });

    it('reads --timeout and -t as durations', () => {
      assert.equal(verify(['verify', '--timeout', '1m30s', 'x']).timeoutMs, 90_000);
      assert.equal(verify(['verify', '-t', '500ms', 'x']).timeoutMs, 500);
    });
  });

  describe('when given what it cannot serve', () => {
    it('refuses other subcommands', () => {
      refused(['sign', 'x'], /"cosign sign" is not available/);
      refused(['--verbose', 'verify', 'x'], /before the subcommand/);
    });

    it('refuses flags that add checks, naming them', () => {
      refused(['verify', '--annotations', 'a=b', 'x'], /--annotations asks for a check/);
      refused(['verify', '-a', 'a=b', 'x'], /-a asks for a check/);
      refused(['verify', '--trusted-root=r.json', 'x'], /--trusted-root asks for a check/);
      refused(['verify', '--certificate-github-workflow-repository', 'o/r', 'x'], /asks for a check/);
    });

    it('refuses unknown flags, a repeated trust flag, empty values and bad booleans', () => {
      refused(['verify', '--frobnicate', 'x'], /unsupported flag --frobnicate/);
      refused(['verify', '--key', 'a', '--key', 'b', 'x'], /--key given more than once/);
      refused(['verify', '--key=', 'x'], /--key must not be empty/);
      refused(['verify', '--offline=maybe', 'x'], /not a boolean/);
      refused(['verify', '--key'], /flag needs an argument: --key/);
    });

    it('refuses a verify without images and output other than json', () => {
      refused(['verify', '--key', 'k'], /at least one image/);
      refused(['verify', '-o', 'text', 'x'], /only json output/);
    });
  });

  describe('when asked for version or help', () => {
    it('parses version --json and help', () => {
      assert.deepEqual(parseCosignArgs(['version', '--json']), { kind: 'version', json: true });
      assert.deepEqual(parseCosignArgs(['version']), { kind: 'version', json: false });
      assert.deepEqual(parseCosignArgs([]), { kind: 'help' });
      assert.deepEqual(parseCosignArgs(['verify', '--help']), { kind: 'help' });
    });
  });
});

describe('parseDuration', () => {
  it('reads Go durations and bare seconds', () => {
    assert.equal(parseDuration('55', 'x'), 55_000);
    assert.equal(parseDuration('0.25', 'x'), 250);
    assert.equal(parseDuration('2m', 'x'), 120_000);
    assert.equal(parseDuration('1h1s', 'x'), 3_601_000);
  });

  it('refuses zero, garbage and trailing text', () => {
    for (const bad of ['0', '0s', 'soon', '10x', '5s later', '']) {
      assert.throws(
        () => parseDuration(bad, 'T'),
        (e: unknown) => e instanceof CountersignError && e.code === 'USAGE',
        bad,
      );
    }
  });
});
