import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CountersignError } from '../../src/errors.ts';
import { formatProblem, lintPolicy, parsePolicy } from '../../src/policy/index.ts';
import type { PolicyProblem, PolicyResolver } from '../../src/policy/index.ts';
import { memoryResolver } from './fakes.ts';

const resolver: PolicyResolver = memoryResolver(
  { 'vendor-release.pub': 'fp-vendor', 'security.pub': 'fp-security', 'vendor-copy.pub': 'fp-vendor' },
  {
    'hospital-private': { caOnly: false, hasTlogs: true },
    'no-tlog': { caOnly: false, hasTlogs: false },
    corporate: { caOnly: true, hasTlogs: false },
  },
);

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const lint = (text: string, r: PolicyResolver = resolver): readonly PolicyProblem[] =>
  lintPolicy('p.yaml', bytes(text), r).problems;
const lines = (text: string): string[] => lint(text).map(formatProblem);

const EXAMPLE = `name: radiology-prod
images: ["registry.hospital.example/vendor/**"]
signers:
  - name: vendor-release
    key: vendor-release.pub                       # from keys/
  - name: hospital-qa
    keyless: { trustRoot: hospital-private,       # from trust-root/
               identity: qa@hospital.example,
               issuer: https://sso.hospital.example/realms/clinical }
  - name: security
    key: security.pub
threshold: 2
required: [vendor-release]
`;

/** The example policy with `signers` replaced (indented list items) and extra top-level lines. */
function policy(signers: string, extra = ''): string {
  return `name: p\nimages: ["reg/**"]\nsigners:\n${signers}${extra}`;
}

describe('parsePolicy', () => {
  describe('when the file is the design example', () => {
    it('returns the policy with its fields and defaults', () => {
      const p = parsePolicy('radiology.yaml', bytes(EXAMPLE), resolver);
      assert.equal(p.name, 'radiology-prod');
      assert.deepEqual(p.images, ['registry.hospital.example/vendor/**']);
      assert.equal(p.threshold, 2);
      assert.deepEqual(p.required, ['vendor-release']);
      assert.equal(p.mode, 'enforce');
      assert.equal(p.matchDockerReference, false);
      assert.equal(p.isDefault, false);
      assert.equal(p.source, 'radiology.yaml');
      assert.deepEqual(p.signers[0], {
        kind: 'key',
        name: 'vendor-release',
        key: 'vendor-release.pub',
        tlog: 'optional',
        annotations: {},
      });
      assert.deepEqual(p.signers[1], {
        kind: 'keyless',
        name: 'hospital-qa',
        trustRoot: 'hospital-private',
        identity: { exact: 'qa@hospital.example' },
        issuer: { exact: 'https://sso.hospital.example/realms/clinical' },
        tlog: 'required',
        annotations: {},
      });
    });
    it('records sha256 over the exact bytes as the content hash', () => {
      const p = parsePolicy('radiology.yaml', bytes(EXAMPLE), resolver);
      assert.equal(p.contentHash, `sha256:${createHash('sha256').update(EXAMPLE).digest('hex')}`);
      const p2 = parsePolicy('radiology.yaml', bytes(`${EXAMPLE}# comment\n`), resolver);
      assert.notEqual(p2.contentHash, p.contentHash);
    });
  });

  describe('when optional fields are given', () => {
    it('reads them all', () => {
      const p = parsePolicy(
        'p.yaml',
        bytes(
          policy(
            `  - name: ci
    keyless:
      trustRoot: hospital-private
      identityRegexp: 'https://github\\.com/vendor/.*'
      issuerRegexp: 'https://token\\..*'
      githubWorkflowRepository: vendor/algo
      githubWorkflowRef: refs/heads/main
      githubWorkflowName: release
      githubWorkflowTrigger: push
      githubWorkflowSha: abc123
    tlog: optional
    annotations: { stage: "release", build: "42" }
  - name: corp
    certificate: { trustRoot: corporate, identityRegexp: '.*@corp\\.example' }
`,
            'mode: warn\nmatchDockerReference: repository\ndefault: true\nthreshold: 1\n',
          ),
        ),
        resolver,
      );
      assert.equal(p.mode, 'warn');
      assert.equal(p.matchDockerReference, 'repository');
      assert.equal(p.isDefault, true);
      assert.equal(p.threshold, 1);
      assert.deepEqual(p.signers[0], {
        kind: 'keyless',
        name: 'ci',
        trustRoot: 'hospital-private',
        identity: { regexp: 'https://github\\.com/vendor/.*' },
        issuer: { regexp: 'https://token\\..*' },
        githubWorkflowRepository: 'vendor/algo',
        githubWorkflowRef: 'refs/heads/main',
        githubWorkflowName: 'release',
        githubWorkflowTrigger: 'push',
        githubWorkflowSha: 'abc123',
        tlog: 'optional',
        annotations: { stage: 'release', build: '42' },
      });
      assert.deepEqual(p.signers[1], {
        kind: 'certificate',
        name: 'corp',
        trustRoot: 'corporate',
        identity: { regexp: '.*@corp\\.example' },
        tlog: 'optional',
        annotations: {},
      });
    });
    it('lets a default policy omit images', () => {
      const p = parsePolicy(
        'd.yaml',
        bytes('name: d\ndefault: true\nsigners:\n  - { name: s, key: security.pub }\n'),
        resolver,
      );
      assert.deepEqual(p.images, []);
      assert.equal(p.isDefault, true);
    });
  });

  describe('when the file has problems', () => {
    it('throws POLICY_INVALID naming file, line and field', () => {
      assert.throws(
        () => parsePolicy('bad.yaml', bytes(`${EXAMPLE}colour: red\n`), resolver),
        (e: unknown) =>
          e instanceof CountersignError &&
          e.code === 'POLICY_INVALID' &&
          /^bad\.yaml:14: colour: unknown field/u.test(e.message),
      );
    });
    it('reports every problem, not only the first', () => {
      const problems = lines(
        'name: "bad name"\nimages: ["reg//x"]\nsigners:\n  - name: a\n    key: 5\n  - key: k.pub\nthreshold: two\nmode: audit\nextra: 1\n',
      );
      assert.deepEqual(problems, [
        'p.yaml:1: name: "bad name" is not a valid name ([A-Za-z0-9._-], at most 64)',
        'p.yaml:2: images[0]: empty path segment (leading, trailing or double "/"): "reg//x"',
        'p.yaml:5: signers[0].key: must be a string, got number (quote it)',
        'p.yaml:6: signers[1].name: missing',
        'p.yaml:7: threshold: must be an integer',
        'p.yaml:8: mode: must be one of enforce, warn',
        'p.yaml:9: extra: unknown field (allowed: name, images, signers, threshold, required, mode, matchDockerReference, default, allowUnsafeOverlappingSigners)',
      ]);
    });
    it('reports YAML syntax errors with their line', () => {
      assert.deepEqual(lines('name: p\nimages: ["a"]\nsigners:\n  - name: a\n   key: b\n'), [
        'p.yaml:5: YAML: Sequence item without - indicator',
      ]);
    });
    it('rejects duplicate keys', () => {
      const problems = lint(
        'name: p\nname: q\nimages: ["reg/**"]\nsigners:\n  - { name: s, key: security.pub }\n',
      );
      assert.equal(problems.length, 1);
      assert.equal(problems[0]!.line, 2);
      assert.match(problems[0]!.message, /YAML: .*unique/iu);
    });
    it('rejects several documents in one file', () => {
      const problems = lint(`${EXAMPLE}---\n${EXAMPLE}`);
      assert.deepEqual(problems.map(formatProblem), [
        'p.yaml:15: one policy per file (found several YAML documents)',
      ]);
    });
    it('rejects an empty file and a non-mapping', () => {
      assert.match(formatProblem(lint('')[0] ?? { file: '', field: '', message: '' }), /holds no policy/u);
      assert.deepEqual(lines('- a\n- b\n'), ['p.yaml:1: must be a mapping, got a list']);
    });
    it('rejects aliases', () => {
      const problems = lines(
        'name: p\nimages: ["reg/**"]\nsigners:\n  - { name: &n s, key: security.pub }\n  - { name: t, key: *n }\n',
      );
      assert.deepEqual(problems, ['p.yaml:5: signers[1].key: aliases are not allowed']);
    });
    it('rejects a signer with no kind or two kinds', () => {
      assert.deepEqual(lines(policy('  - name: a\n')), [
        'p.yaml:4: signers[0]: needs exactly one of key, keyless, certificate (found none)',
      ]);
      assert.deepEqual(
        lines(
          policy(
            '  - name: a\n    key: security.pub\n    certificate: { trustRoot: corporate, identity: x }\n',
          ),
        ),
        ['p.yaml:4: signers[0]: needs exactly one of key, keyless, certificate (found key, certificate)'],
      );
    });
    it('rejects identity and identityRegexp together, or neither', () => {
      assert.deepEqual(
        lines(
          policy(
            '  - name: a\n    keyless: { trustRoot: hospital-private, identity: a, identityRegexp: b, issuer: i }\n',
          ),
        ),
        ['p.yaml:5: signers[0].keyless.identity: needs exactly one of identity, identityRegexp'],
      );
      assert.deepEqual(
        lines(policy('  - name: a\n    keyless: { trustRoot: hospital-private, identity: a }\n')),
        ['p.yaml:5: signers[0].keyless.issuer: needs exactly one of issuer, issuerRegexp'],
      );
    });
    it('rejects an invalid regular expression', () => {
      const problems = lines(
        policy('  - name: a\n    certificate: { trustRoot: corporate, identityRegexp: "(" }\n'),
      );
      assert.equal(problems.length, 1);
      assert.match(
        problems[0] ?? '',
        /^p\.yaml:5: signers\[0\]\.certificate\.identityRegexp: invalid regular expression/u,
      );
    });
    it('rejects unknown fields inside a signer kind', () => {
      assert.deepEqual(
        lines(policy('  - name: a\n    certificate: { trustRoot: corporate, identity: x, issuer: y }\n')),
        [
          'p.yaml:5: signers[0].certificate.issuer: unknown field (allowed: trustRoot, identity, identityRegexp)',
        ],
      );
    });
    it('rejects trustRoot beside a keyless signer', () => {
      assert.deepEqual(
        lines(
          policy(
            '  - name: a\n    trustRoot: corporate\n    certificate: { trustRoot: corporate, identity: x }\n',
          ),
        ),
        ['p.yaml:5: signers[0].trustRoot: belongs inside certificate'],
      );
    });
    it('rejects non-string annotation values', () => {
      assert.deepEqual(
        lines(policy('  - name: a\n    key: security.pub\n    annotations: { build: 42 }\n')),
        ['p.yaml:6: signers[0].annotations.build: must be a string, got number (quote it)'],
      );
    });
    it('rejects missing images on a non-default policy, and empty signers', () => {
      assert.deepEqual(lines('name: p\nsigners: []\n'), [
        'p.yaml:1: images: missing (only a default policy may omit it)',
        'p.yaml:2: signers: at least one signer is needed',
      ]);
    });
    it('rejects matchDockerReference: true', () => {
      assert.deepEqual(
        lines(policy('  - { name: a, key: security.pub }\n', 'matchDockerReference: true\n')),
        ['p.yaml:5: matchDockerReference: must be false or repository'],
      );
    });
    it('rejects key names that are paths', () => {
      assert.deepEqual(lines(policy('  - { name: a, key: ../secret.pub }\n')), [
        'p.yaml:4: signers[0].key: "../secret.pub" is not a valid key file name',
      ]);
    });
    it('rejects a file that is not UTF-8', () => {
      const r = lintPolicy('p.yaml', new Uint8Array([0x6e, 0xff, 0xfe]), resolver);
      assert.deepEqual(r.problems.map(formatProblem), ['p.yaml: file is not valid UTF-8']);
    });
  });

  describe('when load-time checks fail', () => {
    it('rejects a threshold below 1 or above the number of signers', () => {
      assert.deepEqual(lines(policy('  - { name: a, key: security.pub }\n', 'threshold: 0\n')), [
        'p.yaml:5: threshold: must be between 1 and the number of signers (1), got 0',
      ]);
      assert.deepEqual(lines(policy('  - { name: a, key: security.pub }\n', 'threshold: 2\n')), [
        'p.yaml:5: threshold: must be between 1 and the number of signers (1), got 2',
      ]);
    });
    it('rejects unknown and repeated required signers', () => {
      assert.deepEqual(lines(policy('  - { name: a, key: security.pub }\n', 'required: [a, b, a]\n')), [
        'p.yaml:5: required[1]: unknown signer "b"',
        'p.yaml:5: required[2]: "a" listed twice',
      ]);
    });
    it('rejects duplicate signer names', () => {
      assert.deepEqual(
        lines(policy('  - { name: a, key: security.pub }\n  - { name: a, key: vendor-release.pub }\n')),
        ['p.yaml:5: signers[1].name: duplicate signer name "a"'],
      );
    });
    it('rejects unknown keys and trust roots', () => {
      assert.deepEqual(
        lines(
          policy(
            '  - { name: a, key: missing.pub }\n  - name: b\n    keyless: { trustRoot: nowhere, identity: x, issuer: y }\n',
          ),
        ),
        [
          'p.yaml:4: signers[0].key: unknown key "missing.pub" (not in keys/)',
          'p.yaml:6: signers[1].keyless.trustRoot: unknown trust root "nowhere" (not in trust-root/)',
        ],
      );
    });
    it('rejects keyless on a CA-only root and certificate on a logged root', () => {
      assert.deepEqual(
        lines(
          policy(
            '  - name: a\n    keyless: { trustRoot: corporate, identity: x, issuer: y }\n' +
              '  - name: b\n    certificate: { trustRoot: hospital-private, identity: z }\n',
          ),
        ),
        [
          'p.yaml:5: signers[0].keyless.trustRoot: trust root "corporate" is CA-only: use a certificate signer',
          'p.yaml:7: signers[1].certificate.trustRoot: trust root "hospital-private" is not CA-only: use a keyless signer',
        ],
      );
    });
    it('rejects tlog: required where no log can vouch', () => {
      assert.deepEqual(
        lines(
          policy(
            '  - { name: a, key: security.pub, tlog: required }\n' +
              '  - name: b\n    keyless: { trustRoot: no-tlog, identity: x, issuer: y }\n',
          ),
        ),
        [
          'p.yaml:4: signers[0].tlog: required needs trustRoot (whose Rekor keys check the entry) on a key signer',
          'p.yaml:5: signers[1].tlog: required, but trust root "no-tlog" has no transparency log',
        ],
      );
    });
    it('accepts tlog: required on a key signer with a logged trust root', () => {
      const p = parsePolicy(
        'p.yaml',
        bytes(policy('  - { name: a, key: security.pub, tlog: required, trustRoot: hospital-private }\n')),
        resolver,
      );
      assert.deepEqual(p.signers[0], {
        kind: 'key',
        name: 'a',
        key: 'security.pub',
        trustRoot: 'hospital-private',
        tlog: 'required',
        annotations: {},
      });
    });
    it('rejects the same key file twice', () => {
      const problems = lines(
        policy('  - { name: a, key: security.pub }\n  - { name: b, key: security.pub }\n'),
      );
      assert.equal(problems.length, 1);
      assert.match(
        problems[0] ?? '',
        /^p\.yaml:5: signers\[1\]: signers "a" and "b" could be satisfied by one identity \(both use key security\.pub\)/u,
      );
    });
    it('rejects two key files holding the same key', () => {
      const problems = lines(
        policy('  - { name: a, key: vendor-release.pub }\n  - { name: b, key: vendor-copy.pub }\n'),
      );
      assert.equal(problems.length, 1);
      assert.match(problems[0] ?? '', /are the same key/u);
    });
    it('rejects keyless signers whose identities may overlap', () => {
      const problems = lines(
        policy(
          '  - name: a\n    keyless: { trustRoot: hospital-private, identityRegexp: ".*@h\\\\.example", issuer: i }\n' +
            '  - name: b\n    keyless: { trustRoot: hospital-private, identity: qa@h.example, issuer: i }\n',
        ),
      );
      assert.equal(problems.length, 1);
      assert.match(
        problems[0] ?? '',
        /^p\.yaml:6: signers\[1\]: .*identity matchers on trust root hospital-private may overlap/u,
      );
    });
    it('accepts overlapping signers with allowUnsafeOverlappingSigners: true', () => {
      const p = parsePolicy(
        'p.yaml',
        bytes(
          policy(
            '  - { name: a, key: security.pub }\n  - { name: b, key: security.pub }\n',
            'allowUnsafeOverlappingSigners: true\n',
          ),
        ),
        resolver,
      );
      assert.equal(p.allowUnsafeOverlappingSigners, true);
    });
    it('accepts keyless signers proven disjoint', () => {
      const p = parsePolicy(
        'p.yaml',
        bytes(
          policy(
            '  - name: a\n    keyless: { trustRoot: hospital-private, identityRegexp: "ci-.*", issuer: i }\n' +
              '  - name: b\n    keyless: { trustRoot: hospital-private, identityRegexp: "qa-.*", issuer: i }\n',
          ),
        ),
        resolver,
      );
      assert.equal(p.signers.length, 2);
    });
  });
});
