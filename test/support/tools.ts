/**
 * Locates the real outside tools the integration tests drive. Tests never skip for a missing tool:
 * a missing tool is an error that says how to install it.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export type TestTool = 'cosign' | 'skopeo' | 'docker-registry' | 'htpasswd' | 'openssl';

/** The project root (this file lives in test/support/). */
export const projectRoot = path.resolve(import.meta.dirname, '..', '..');

const projectToolsBin = path.join(projectRoot, '.tools', 'bin');

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The executable for a test tool: the project's `.tools/bin` first (the trixie cosign and skopeo
 * wrappers), then PATH. Throws when it is nowhere, naming the install script.
 */
export function requireTool(name: TestTool): string {
  const dirs = [projectToolsBin, ...(process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean)];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  throw new Error(
    `test tool '${name}' not found in .tools/bin or PATH: run \`bash scripts/install-test-tools.sh\` ` +
      '(or `bash scripts/setup.sh --with-test-tools`) first',
  );
}
