#!/usr/bin/env node
// Entry point of the `countersign` binary: the compiled CLI when `npm run build` has written
// dist/, else the TypeScript sources run by Node 24's type stripping (a checkout, the container).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
/** @type {{ runCli: () => Promise<void> }} */
const cli = await import(
  existsSync(compiled) ? compiled.href : new URL('../src/cli/main.ts', import.meta.url).href
);
await cli.runCli();
