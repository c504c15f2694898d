import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { imagePatternProblem, matchImagePattern } from '../../src/policy/index.ts';

const matches = (pattern: string, name: string): boolean => matchImagePattern(pattern, name);

describe('matchImagePattern', () => {
  describe('when the pattern has no wildcard', () => {
    it('matches only the exact name', () => {
      assert.equal(matches('reg.example/vendor/algo', 'reg.example/vendor/algo'), true);
      assert.equal(matches('reg.example/vendor/algo', 'reg.example/vendor/algo2'), false);
      assert.equal(matches('reg.example/vendor', 'reg.example/vendor/algo'), false);
      assert.equal(matches('vendor/algo', 'reg.example/vendor/algo'), false);
    });
    it('is case-sensitive', () => {
      assert.equal(matches('reg.example/Vendor/algo', 'reg.example/vendor/algo'), false);
    });
  });

  describe('when the pattern has a single star', () => {
    it('matches within one segment only', () => {
      assert.equal(matches('reg.example/vendor/*', 'reg.example/vendor/algo'), true);
      assert.equal(matches('reg.example/vendor/*', 'reg.example/vendor/a/b'), false);
      assert.equal(matches('reg.example/*/algo', 'reg.example/vendor/algo'), true);
      assert.equal(matches('reg.example/*/algo', 'reg.example/a/b/algo'), false);
    });
    it('matches part of a segment, anchored at both ends', () => {
      assert.equal(matches('reg.example/algo-*', 'reg.example/algo-1.4'), true);
      assert.equal(matches('reg.example/algo-*', 'reg.example/x-algo-1'), false);
      assert.equal(matches('*.hospital.example/x', 'registry.hospital.example/x'), true);
      assert.equal(matches('*.hospital.example/x', 'registry.hospital.example.evil/x'), false);
      assert.equal(matches('reg/a*b*c', 'reg/aXbYc'), true);
      assert.equal(matches('reg/a*b*c', 'reg/aXbYcd'), false);
    });
    it('matches hosts with ports', () => {
      assert.equal(matches('localhost:5000/*', 'localhost:5000/app'), true);
      assert.equal(matches('localhost:*/app', 'localhost:5000/app'), true);
    });
  });

  describe('when the pattern has a double star', () => {
    it('as the last segment, matches one or more segments', () => {
      assert.equal(matches('reg.example/vendor/**', 'reg.example/vendor/algo'), true);
      assert.equal(matches('reg.example/vendor/**', 'reg.example/vendor/a/b/c'), true);
      assert.equal(matches('reg.example/vendor/**', 'reg.example/vendor'), false);
      assert.equal(matches('reg.example/vendor/**', 'reg.example/vendorx/algo'), false);
    });
    it('in the middle, matches zero or more segments', () => {
      assert.equal(matches('reg.example/**/algo', 'reg.example/algo'), true);
      assert.equal(matches('reg.example/**/algo', 'reg.example/a/b/algo'), true);
      assert.equal(matches('reg.example/**/algo', 'reg.example/a/b/algo2'), false);
    });
    it('at the start, matches any registry', () => {
      assert.equal(matches('**/vendor/algo', 'reg.example/vendor/algo'), true);
      assert.equal(matches('**/vendor/algo', 'other:5000/x/vendor/algo'), true);
      assert.equal(matches('**', 'anything/at/all'), true);
    });
    it('stays fast with many double stars', () => {
      const name = Array.from({ length: 40 }, (_, i) => `s${i}`).join('/');
      assert.equal(matches('**/**/**/**/**/**/**/**/nope', name), false);
    });
  });
});

describe('imagePatternProblem', () => {
  it('accepts well-formed patterns', () => {
    for (const p of ['reg/x', 'reg/**', '**/x', 'reg/*-algo/**', 'localhost:5000/a']) {
      assert.equal(imagePatternProblem(p), undefined, p);
    }
  });
  it('rejects malformed patterns', () => {
    for (const p of ['', 'reg//x', '/reg/x', 'reg/x/', 'reg/**x', 'reg/***', 'reg/a b']) {
      assert.notEqual(imagePatternProblem(p), undefined, p);
    }
  });
});
