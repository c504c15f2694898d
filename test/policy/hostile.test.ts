/**
 * Hostile and broken policy documents: every one ends in POLICY_INVALID problems naming the file,
 * the line and the field, quickly. Each case is guarded by a test timeout and by its measured time
 * (synchronous code cannot be interrupted by a timeout, so the time is asserted as well).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CountersignError } from '../../src/errors.ts';
import {
  MAX_IMAGE_PATTERN_LENGTH,
  MAX_POLICY_BYTES,
  MAX_POLICY_NESTING,
  MAX_POLICY_SIGNERS,
  formatProblem,
  lintPolicy,
  lintPolicySet,
  matchersMayOverlap,
  parsePolicy,
} from '../../src/policy/index.ts';
import type { PolicyProblem } from '../../src/policy/index.ts';
import { anchoredRegExp } from '../../src/verify/regexp.ts';
import { memoryResolver } from './fakes.ts';

const FILE = 'policies/hostile.yaml';
const BUDGET_MS = 1000;
const resolver = memoryResolver(
  { 'vendor.pub': 'fp-vendor', 'qa.pub': 'fp-qa' },
  { corp: { caOnly: true, hasTlogs: false }, sigstore: { caOnly: false, hasTlogs: true } },
);
const HEAD = 'name: hostile\nimages: ["registry.example/**"]\nsigners:\n';

/** Lints the text, asserting it took well under a second; returns `file:line: field: message`. */
function lint(text: string | Uint8Array): string[] {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const start = performance.now();
  const { problems, policy } = lintPolicy(FILE, bytes, resolver);
  const took = performance.now() - start;
  assert.ok(took < BUDGET_MS, `took ${took.toFixed(0)} ms`);
  assert.equal(policy, undefined, 'a hostile document must not yield a policy');
  assert.ok(problems.length > 0);
  return problems.map(formatProblem);
}

/** parsePolicy throws POLICY_INVALID whose message lists the same problems. */
function assertParseRefuses(text: string, expected: RegExp): void {
  assert.throws(
    () => parsePolicy(FILE, new TextEncoder().encode(text), resolver),
    (e: unknown) => {
      assert.ok(e instanceof CountersignError);
      assert.equal(e.code, 'POLICY_INVALID');
      assert.match(e.message, expected);
      return true;
    },
  );
}

const guarded = { timeout: BUDGET_MS * 5 };

describe('policy documents from a hostile or careless author', () => {
  describe('when the YAML does not parse', () => {
    const cases: [string, string, RegExp][] = [
      ['an unclosed flow sequence', `${HEAD}  - [ name: a\n`, /^policies\/hostile\.yaml:\d+: YAML: /],
      ['a key without its colon', `${HEAD}  - name: a\n   key: : [\n`, /^policies\/hostile\.yaml:5: YAML: /],
      ['a tab as indentation', `${HEAD}\t- name: a\n`, /^policies\/hostile\.yaml:4: YAML: /],
      ['an unterminated quoted string', `${HEAD}  - name: "a\n`, /^policies\/hostile\.yaml:\d+: YAML: /],
    ];
    for (const [what, text, expected] of cases) {
      it(`reports ${what} as a YAML problem with its line`, guarded, () => {
        const problems = lint(text);
        assert.match(problems[0] ?? '', expected, problems.join('\n'));
        assertParseRefuses(text, /YAML: /);
      });
    }

    it('reports a duplicate key with the line of the repetition', guarded, () => {
      assert.deepEqual(lint(`${HEAD}  - { name: a, key: vendor.pub, key: qa.pub }\n`), [
        'policies/hostile.yaml:4: YAML: Map keys must be unique',
      ]);
    });

    it('refuses several documents in one file', guarded, () => {
      assert.deepEqual(lint(`${HEAD}  - { name: a, key: vendor.pub }\n---\nname: other\n`), [
        'policies/hostile.yaml:6: one policy per file (found several YAML documents)',
      ]);
    });

    it('refuses bytes that are not UTF-8', guarded, () => {
      const bytes = new Uint8Array([...new TextEncoder().encode(HEAD), 0xff, 0xfe, 0x0a]);
      assert.deepEqual(lint(bytes), ['policies/hostile.yaml: file is not valid UTF-8']);
    });
  });

  describe('when fields have the wrong type', () => {
    it('names every wrong field with its line', guarded, () => {
      const text = [
        'name: 5',
        'images: registry.example/**',
        'signers:',
        '  - name: a',
        '    key: vendor.pub',
        '    tlog: maybe',
        '    annotations: [release]',
        'threshold: "two"',
        'mode: strict',
        'default: "yes"',
        '',
      ].join('\n');
      assert.deepEqual(lint(text), [
        'policies/hostile.yaml:1: name: must be a string, got number (quote it)',
        'policies/hostile.yaml:2: images: must be a list, got string',
        'policies/hostile.yaml:6: signers[0].tlog: must be one of required, optional',
        'policies/hostile.yaml:7: signers[0].annotations: must be a mapping of key: value, got a list',
        'policies/hostile.yaml:8: threshold: must be an integer',
        'policies/hostile.yaml:9: mode: must be one of enforce, warn',
        'policies/hostile.yaml:10: default: must be true or false',
      ]);
    });

    it('refuses a signers mapping instead of a list', guarded, () => {
      assert.deepEqual(lint('name: p\nimages: ["r/**"]\nsigners: { a: vendor.pub }\n'), [
        'policies/hostile.yaml:3: signers: must be a list, got a mapping',
      ]);
    });
  });

  describe('when fields are unknown', () => {
    it('names each unknown field, at every level, with the allowed ones', guarded, () => {
      const text = `${HEAD}  - name: a\n    keys: vendor.pub\n  - name: b\n    keyless: { trustRoot: sigstore, subject: x, issuer: y }\nthreshhold: 1\n`;
      const problems = lint(text);
      assert.ok(
        problems.includes(
          'policies/hostile.yaml:5: signers[0].keys: unknown field (allowed: name, key, keyless, certificate, trustRoot, tlog, annotations)',
        ),
        problems.join('\n'),
      );
      assert.ok(
        problems.some((p) =>
          p.startsWith('policies/hostile.yaml:7: signers[1].keyless.subject: unknown field'),
        ),
        problems.join('\n'),
      );
      assert.ok(
        problems.some((p) => p.startsWith('policies/hostile.yaml:8: threshhold: unknown field')),
        problems.join('\n'),
      );
    });
  });

  describe('when patterns are very long', () => {
    it('refuses an identity regexp over the length limit', guarded, () => {
      const text = `${HEAD}  - name: a\n    certificate: { trustRoot: corp, identityRegexp: "${'a'.repeat(5000)}" }\n`;
      assert.deepEqual(lint(text), [
        'policies/hostile.yaml:5: signers[0].certificate.identityRegexp: invalid regular expression: pattern longer than 1024 characters',
      ]);
    });

    it('refuses an image pattern over the length limit, quoting only its start', guarded, () => {
      const pattern = `registry.example/${'**/'.repeat(60_000)}x`;
      assert.ok(pattern.length > MAX_IMAGE_PATTERN_LENGTH);
      const problems = lint(`name: p\nimages: ["${pattern}"]\nsigners:\n  - { name: a, key: vendor.pub }\n`);
      assert.equal(problems.length, 1);
      assert.match(
        problems[0] ?? '',
        /^policies\/hostile\.yaml:2: images\[0\]: pattern longer than 1024 characters: "registry\.example\/\*\*\/.*\.\.\."$/,
      );
      assert.ok((problems[0] ?? '').length < 200);
    });

    it('refuses a policy with more signers than the limit', guarded, () => {
      let text = HEAD;
      for (let i = 0; i < 3000; i++)
        text += `  - { name: s${i}, certificate: { trustRoot: corp, identityRegexp: 'a.*b${i}' } }\n`;
      assert.deepEqual(lint(text), [
        `policies/hostile.yaml:4: signers: at most ${MAX_POLICY_SIGNERS} signers (found 3000)`,
      ]);
    });

    it('checks overlap among the most signers allowed, with long exact identities, quickly', guarded, () => {
      let text = HEAD;
      for (let i = 0; i < MAX_POLICY_SIGNERS / 2; i++) {
        text += `  - { name: e${i}, certificate: { trustRoot: corp, identity: '${'b'.repeat(250)}${i}' } }\n`;
        text += `  - { name: r${i}, certificate: { trustRoot: corp, identityRegexp: '(\\pL|\\pN){99${i % 10}}' } }\n`;
      }
      const problems = lint(text);
      // Patterns that compile to too large a program are refused; the rest are checked for overlap.
      assert.ok(
        problems.every((p) => /could be satisfied by one identity|too complex/.test(p)),
        problems[0],
      );
      assert.ok(problems.some((p) => /too complex/.test(p)));
    });
  });

  describe('when a regexp would backtrack catastrophically in a backtracking engine', () => {
    const hostile = ['(a+)+$', '(a|aa)+$', '(a|a?)+b', '(.*a){20}', '^(([a-z])+.)+[A-Z]([a-z])+$'];
    for (const pattern of hostile) {
      it(`accepts ${pattern} (RE2 semantics) and matches a hostile input in linear time`, guarded, () => {
        const text = `${HEAD}  - name: a\n    keyless: { trustRoot: sigstore, identityRegexp: '${pattern}', issuer: https://sso.example }\n`;
        const policy = parsePolicy(FILE, new TextEncoder().encode(text), resolver);
        const signer = policy.signers[0];
        assert.ok(signer?.kind === 'keyless');
        assert.deepEqual(signer.identity, { regexp: pattern });
        const start = performance.now();
        const matched = anchoredRegExp(pattern).test(`${'a'.repeat(50_000)}!`);
        assert.equal(matched, false);
        assert.ok(performance.now() - start < BUDGET_MS);
      });
    }

    it(
      'runs the load-time overlap check of a hostile regexp against a hostile exact identity quickly',
      guarded,
      () => {
        const start = performance.now();
        assert.equal(matchersMayOverlap({ regexp: '(a+)+$' }, { exact: `${'a'.repeat(200)}!` }), false);
        assert.equal(matchersMayOverlap({ regexp: '(a+)+$' }, { exact: 'a'.repeat(200) }), true);
        assert.ok(performance.now() - start < BUDGET_MS);
      },
    );

    const refused: [string, RegExp][] = [
      ['(a)\\\\1', /invalid escape sequence/],
      ['(?=a)a', /invalid or unsupported Perl syntax/],
      ['((a{100}){100}){100}', /invalid repeat count/],
      ['(.{0,1000}){0,1000}', /expression too large|invalid repeat count/],
      ['(unclosed', /missing closing \)/],
    ];
    for (const [pattern, why] of refused) {
      it(`refuses ${pattern} (not RE2, or too large) with its line`, guarded, () => {
        const text = `${HEAD}  - name: a\n    keyless: { trustRoot: sigstore, identity: x, issuerRegexp: "${pattern}" }\n`;
        const problems = lint(text);
        assert.equal(problems.length, 1, problems.join('\n'));
        assert.match(
          problems[0] ?? '',
          /^policies\/hostile\.yaml:5: signers\[0\]\.keyless\.issuerRegexp: invalid regular expression: /,
        );
        assert.match(problems[0] ?? '', why);
      });
    }
  });

  describe('when the YAML is nested deeply', () => {
    const cases: [string, string][] = [
      ['100 000 nested flow sequences', `${HEAD}  - ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`],
      ['nested flow mappings', `${HEAD}  - ${'{a: '.repeat(20_000)}1${'}'.repeat(20_000)}\n`],
      ['compact block sequences on one line', `${HEAD}  ${'- '.repeat(100_000)}x\n`],
    ];
    for (const [what, text] of cases) {
      it(`refuses ${what} before composing, with the line`, guarded, () => {
        assert.ok(text.length < MAX_POLICY_BYTES);
        assert.deepEqual(lint(text), [
          `policies/hostile.yaml:4: YAML nesting deeper than ${MAX_POLICY_NESTING} levels`,
        ]);
      });
    }

    it('still accepts brackets inside quoted and plain scalars', guarded, () => {
      const regexp = '[[][[][[]'.repeat(8);
      const text = `${HEAD}  - name: a\n    keyless: { trustRoot: sigstore, identityRegexp: '${regexp}', issuer: "${'['.repeat(40)}" }\n`;
      const { policy, problems } = lintPolicy(FILE, new TextEncoder().encode(text), resolver);
      assert.deepEqual(problems, []);
      assert.equal(policy?.name, 'hostile');
    });
  });

  describe('when the file is larger than the limit', () => {
    it('refuses it unread, naming the limit', guarded, () => {
      const text = `${HEAD}  - { name: a, key: vendor.pub }\n# ${'x'.repeat(MAX_POLICY_BYTES)}\n`;
      assert.deepEqual(lint(text), [`policies/hostile.yaml: file is larger than ${MAX_POLICY_BYTES} bytes`]);
    });

    it('refuses it in a policy set too, keeping the other files’ problems apart', guarded, () => {
      const big = new TextEncoder().encode(`# ${'x'.repeat(MAX_POLICY_BYTES)}\n`);
      const ok = new TextEncoder().encode(`${HEAD}  - { name: a, key: vendor.pub }\n`);
      const { policies, problems } = lintPolicySet(
        [
          { file: 'policies/big.yaml', bytes: big },
          { file: 'policies/ok.yaml', bytes: ok },
        ],
        resolver,
      );
      assert.deepEqual(
        policies.map((p) => p.name),
        ['hostile'],
      );
      assert.deepEqual(problems.map(formatProblem), [
        `policies/big.yaml: file is larger than ${MAX_POLICY_BYTES} bytes`,
      ]);
    });

    it(
      'parses a near-limit file of many annotation keys quickly (duplicate keys found in linear time)',
      guarded,
      () => {
        let annotations = '';
        for (let i = 0; i < 20_000; i++) annotations += `k${i}: v, `;
        const text = `${HEAD}  - name: a\n    key: vendor.pub\n    annotations: { ${annotations}k0: again }\n`;
        assert.ok(text.length < MAX_POLICY_BYTES);
        assert.deepEqual(lint(text), ['policies/hostile.yaml:6: YAML: Map keys must be unique']);
      },
    );
  });

  describe('when the file is an alias bomb ("billion laughs")', () => {
    const bomb = (): string => {
      let text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
      for (let i = 1; i < 10; i++) {
        const name = String.fromCharCode(97 + i);
        const prev = String.fromCharCode(96 + i);
        text += `${name}: &${name} [${Array.from({ length: 9 }, () => `*${prev}`).join(', ')}]\n`;
      }
      return text;
    };

    it('never expands the aliases: the anchors’ keys are unknown fields, reported at once', guarded, () => {
      const problems = lint(bomb());
      assert.ok(
        problems.includes(
          'policies/hostile.yaml:1: a: unknown field (allowed: name, images, signers, threshold, required, mode, matchDockerReference, default, allowUnsafeOverlappingSigners)',
        ),
        problems.join('\n'),
      );
      assert.ok(
        problems.includes(
          'policies/hostile.yaml:10: j: unknown field (allowed: name, images, signers, threshold, required, mode, matchDockerReference, default, allowUnsafeOverlappingSigners)',
        ),
      );
    });

    it('refuses the bomb where it is used: signers, images, annotations, scalars', guarded, () => {
      const problems = (body: string): PolicyProblem[] =>
        lintPolicy(
          FILE,
          new TextEncoder().encode(bomb().replace(/^(\w): /gmu, 'x$1: ') + body),
          resolver,
        ).problems.filter((p) => !p.field.startsWith('x'));
      const used = problems(
        'name: p\nimages: *xj\nsigners:\n  - { name: *xa, key: vendor.pub, annotations: *xj }\n  - *xj\n',
      ).map(formatProblem);
      assert.deepEqual(used, [
        'policies/hostile.yaml:12: images: must be a list, got an alias',
        'policies/hostile.yaml:14: signers[0].name: aliases are not allowed',
        'policies/hostile.yaml:14: signers[0].annotations: must be a mapping of key: value, got an alias',
        'policies/hostile.yaml:15: signers[1]: must be a mapping, got an alias',
      ]);
    });
  });
});
