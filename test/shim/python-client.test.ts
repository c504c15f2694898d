import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

const CLIENT_DIR = path.join(import.meta.dirname, '../../clients/python');

describe('clients/python/countersign_client.py', () => {
  describe('when its unittest suite runs against the stdlib fake appliance', () => {
    it('passes every test', async () => {
      const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
        execFile(
          'python3',
          ['-m', 'unittest', '-v'],
          // Leave no __pycache__ in the source tree.
          {
            cwd: CLIENT_DIR,
            timeout: 60_000,
            env: { PATH: process.env['PATH'] ?? '', PYTHONDONTWRITEBYTECODE: '1' },
          },
          (error, stdout, stderr) => {
            const exit = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
            resolve({ code: exit, output: `${stdout}${stderr}` });
          },
        );
      });
      assert.equal(code, 0, output);
      const ran = /^Ran (\d+) tests? in/m.exec(output);
      assert.ok(ran !== null && Number(ran[1]) >= 10, output);
      assert.match(output, /^OK$/m);
    });
  });
});
