import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CountersignError } from '../../src/errors.ts';
import { formatProblem, lintPolicySet, loadPolicySet, selectPolicies } from '../../src/policy/index.ts';
import type { PolicyFile } from '../../src/policy/index.ts';
import { keyPolicy, memoryResolver } from './fakes.ts';

const resolver = memoryResolver({ 'k.pub': 'fp' }, {});
const file = (name: string, text: string): PolicyFile => ({
  file: name,
  bytes: new TextEncoder().encode(text),
});
const simple = (name: string, extra = ''): string =>
  `name: ${name}\nimages: ["reg/**"]\nsigners:\n  - { name: s, key: k.pub }\n${extra}`;

describe('lintPolicySet', () => {
  describe('when every file is valid', () => {
    it('returns the policies in file-name order', () => {
      const r = lintPolicySet([file('b.yaml', simple('b')), file('a.yaml', simple('a'))], resolver);
      assert.deepEqual(r.problems, []);
      assert.deepEqual(
        r.policies.map((p) => p.name),
        ['a', 'b'],
      );
    });
  });
  describe('when files have problems', () => {
    it('reports the problems of every file', () => {
      const r = lintPolicySet(
        [file('a.yaml', simple('a', 'colour: red\n')), file('b.yaml', simple('b', 'mode: x\n'))],
        resolver,
      );
      assert.deepEqual(r.problems.map(formatProblem), [
        'a.yaml:5: colour: unknown field (allowed: name, images, signers, threshold, required, mode, matchDockerReference, default, allowUnsafeOverlappingSigners)',
        'b.yaml:5: mode: must be one of enforce, warn',
      ]);
    });
    it('rejects two policies with one name', () => {
      const r = lintPolicySet([file('a.yaml', simple('same')), file('b.yaml', simple('same'))], resolver);
      assert.deepEqual(r.problems.map(formatProblem), [
        'b.yaml: name: policy "same" is also defined in a.yaml',
      ]);
    });
    it('rejects two default policies', () => {
      const r = lintPolicySet(
        [file('a.yaml', simple('a', 'default: true\n')), file('b.yaml', simple('b', 'default: true\n'))],
        resolver,
      );
      assert.deepEqual(r.problems.map(formatProblem), [
        'b.yaml: default: a default policy is already defined in a.yaml',
      ]);
    });
  });
});

describe('loadPolicySet', () => {
  it('throws POLICY_INVALID listing every problem', () => {
    assert.throws(
      () =>
        loadPolicySet(
          [file('a.yaml', simple('a', 'colour: red\n')), file('b.yaml', simple('b', 'mode: x\n'))],
          resolver,
        ),
      (e: unknown) =>
        e instanceof CountersignError && e.code === 'POLICY_INVALID' && e.message.split('\n').length === 2,
    );
  });
});

describe('selectPolicies', () => {
  const vendor = keyPolicy('vendor', ['a'], { images: ['reg.example/vendor/**'] });
  const all = keyPolicy('all', ['a'], { images: ['reg.example/**'] });
  const fallback = keyPolicy('fallback', ['a'], { images: [], isDefault: true });
  it('selects every policy whose patterns match', () => {
    const s = selectPolicies('reg.example/vendor/algo', [vendor, all, fallback]);
    assert.deepEqual(
      s.selected.map((p) => p.name),
      ['vendor', 'all'],
    );
    assert.equal(s.usedDefault, false);
  });
  it('selects the default policy when nothing matches', () => {
    const s = selectPolicies('elsewhere.example/x', [vendor, all, fallback]);
    assert.deepEqual(
      s.selected.map((p) => p.name),
      ['fallback'],
    );
    assert.equal(s.usedDefault, true);
  });
  it('selects nothing when nothing matches and there is no default', () => {
    const s = selectPolicies('elsewhere.example/x', [vendor, all]);
    assert.deepEqual(s.selected, []);
    assert.equal(s.usedDefault, false);
  });
});
