import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { anchoredRegExp, matchersMayOverlap, signersOverlap } from '../../src/policy/index.ts';
import type { PolicySigner, StringMatcher } from '../../src/policy/index.ts';

const ex = (exact: string): StringMatcher => ({ exact });
const re = (regexp: string): StringMatcher => ({ regexp });

describe('matchersMayOverlap', () => {
  describe('when both are exact', () => {
    it('overlaps only when equal', () => {
      assert.equal(matchersMayOverlap(ex('a@x'), ex('a@x')), true);
      assert.equal(matchersMayOverlap(ex('a@x'), ex('b@x')), false);
    });
  });
  describe('when one is exact', () => {
    it('overlaps when the anchored regexp matches it', () => {
      assert.equal(matchersMayOverlap(ex('ci@vendor.example'), re('.*@vendor\\.example')), true);
      assert.equal(matchersMayOverlap(re('.*@vendor\\.example'), ex('qa@hospital.example')), false);
      // Anchored: a substring match is not a match.
      assert.equal(matchersMayOverlap(ex('xci@vendor.example.evil'), re('ci@vendor\\.example')), false);
    });
  });
  describe('when both are regexps', () => {
    it('proves disjointness by literal prefix', () => {
      assert.equal(matchersMayOverlap(re('ci-.*'), re('qa-.*')), false);
      assert.equal(matchersMayOverlap(re('ci-\\d+'), re('ci-.*')), true);
    });
    it('proves disjointness by literal suffix', () => {
      assert.equal(matchersMayOverlap(re('.*@vendor\\.example'), re('.*@hospital\\.example')), false);
      assert.equal(matchersMayOverlap(re('.*@vendor\\.example'), re('[a-z]+@vendor\\.example')), true);
    });
    it('treats a plain literal regexp as exact', () => {
      assert.equal(matchersMayOverlap(re('qa@hospital'), ex('qa@hospital')), true);
      assert.equal(matchersMayOverlap(re('qa@hospital'), re('q.*l')), true);
      assert.equal(matchersMayOverlap(re('qa@hospital'), re('ci.*')), false);
    });
    it('ignores a quantified last literal in the prefix', () => {
      // `abc?` can match `ab`, so the prefix is only `ab`.
      assert.equal(matchersMayOverlap(re('abc?.*'), re('abd.*')), true);
    });
    it('treats a quantified astral character as one atom', () => {
      // `😀?b.*` matches "b": the optional emoji must not leave half of itself in the prefix.
      assert.equal(matchersMayOverlap(re('😀?b.*'), re('b.*')), true);
      assert.equal(matchersMayOverlap(re('😀b.*'), re('b.*')), false);
    });
    it('is conservative about what it does not understand', () => {
      assert.equal(matchersMayOverlap(re('a.*|b.*'), re('c.*')), true);
      assert.equal(matchersMayOverlap(re('\\x41.*'), re('B.*')), true);
      assert.equal(matchersMayOverlap(re('.*'), re('anything')), true);
    });
    it('never claims disjointness when a common string exists (random instances)', () => {
      const pieces = ['a', 'b', '@', '\\.', '.', '.*', '[ab]', 'a?', 'b+', '(ab)?', '^', '$', '[^a]'];
      const alphabet = ['a', 'b', '@', '.'];
      const strings: string[] = [''];
      for (let len = 1; len <= 5; len++) {
        for (const s of strings.filter((x) => x.length === len - 1))
          for (const c of alphabet) strings.push(s + c);
      }
      let seed = 7;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed % n;
      };
      const make = (): string => {
        const n = 1 + rand(4);
        let s = '';
        for (let i = 0; i < n; i++) {
          const p = pieces[rand(pieces.length)] ?? '';
          if ((p === '^' && i !== 0) || (p === '$' && i !== n - 1)) continue;
          s += p;
        }
        return s === '' ? 'a' : s;
      };
      let disjointSeen = 0;
      for (let trial = 0; trial < 600; trial++) {
        const a = make();
        const b = make();
        if (matchersMayOverlap(re(a), re(b))) continue;
        disjointSeen++;
        const ra = anchoredRegExp(a);
        const rb = anchoredRegExp(b);
        const common = strings.find((s) => ra.test(s) && rb.test(s));
        assert.equal(common, undefined, `${a} and ${b} both match "${common ?? ''}"`);
      }
      assert.ok(disjointSeen > 20, `only ${disjointSeen} disjoint pairs exercised`);
    });
  });
});

describe('signersOverlap', () => {
  const none = (): undefined => undefined;
  const key = (name: string, file: string): PolicySigner => ({
    kind: 'key',
    name,
    key: file,
    tlog: 'optional',
    annotations: {},
  });
  const keyless = (
    name: string,
    root: string,
    identity: StringMatcher,
    issuer: StringMatcher,
  ): PolicySigner => ({
    kind: 'keyless',
    name,
    trustRoot: root,
    identity,
    issuer,
    tlog: 'required',
    annotations: {},
  });
  const cert = (name: string, root: string, identity: StringMatcher): PolicySigner => ({
    kind: 'certificate',
    name,
    trustRoot: root,
    identity,
    tlog: 'optional',
    annotations: {},
  });

  it('flags the same key file twice', () => {
    assert.match(signersOverlap(key('a', 'k.pub'), key('b', 'k.pub'), none) ?? '', /both use key k\.pub/u);
  });
  it('flags two files holding the same key', () => {
    const fp = (n: string): string => (n === 'x.pub' || n === 'y.pub' ? 'same' : n);
    assert.match(signersOverlap(key('a', 'x.pub'), key('b', 'y.pub'), fp) ?? '', /same key/u);
    assert.equal(signersOverlap(key('a', 'x.pub'), key('b', 'z.pub'), fp), undefined);
  });
  it('never mixes keys and certificates', () => {
    assert.equal(signersOverlap(key('a', 'k.pub'), cert('b', 'corp', re('.*')), none), undefined);
  });
  it('flags keyless signers on one root whose identities and issuers may overlap', () => {
    const a = keyless('a', 'priv', re('.*@h\\.example'), ex('https://sso'));
    const b = keyless('b', 'priv', ex('qa@h.example'), ex('https://sso'));
    assert.notEqual(signersOverlap(a, b, none), undefined);
  });
  it('separates keyless signers by issuer or by trust root', () => {
    const a = keyless('a', 'priv', ex('qa@h.example'), ex('https://sso-a'));
    const b = keyless('b', 'priv', ex('qa@h.example'), ex('https://sso-b'));
    const c = keyless('c', 'public', ex('qa@h.example'), ex('https://sso-a'));
    assert.equal(signersOverlap(a, b, none), undefined);
    assert.equal(signersOverlap(a, c, none), undefined);
  });
  it('treats a certificate signer as accepting any issuer', () => {
    const a = keyless('a', 'corp', ex('qa@h.example'), ex('https://sso-a'));
    assert.notEqual(signersOverlap(a, cert('b', 'corp', re('qa@.*')), none), undefined);
    assert.equal(signersOverlap(a, cert('b', 'corp', re('ci@.*')), none), undefined);
  });
});
