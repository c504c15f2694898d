#!/usr/bin/env node
// countersign-cosign, installed as `cosign` on hosts that shell out to `cosign verify`: the
// compiled shim when `npm run build` has written dist/, else the TypeScript sources (Node 24).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/shim/main.js', import.meta.url);
await import(existsSync(compiled) ? compiled.href : new URL('../src/shim/main.ts', import.meta.url).href);
