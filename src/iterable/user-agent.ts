import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedUserAgent: string | undefined;

/**
 * `iterable-sync/<version>`, the version read from the package's own package.json (found by
 * walking up from this file, which sits at a different depth in `src/` and `dist/src/`).
 */
export function userAgent(): string {
  cachedUserAgent ??= `iterable-sync/${readPackageVersion()}`;
  return cachedUserAgent;
}

function readPackageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth += 1) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'iterable-sync' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No package.json here; keep walking up.
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return 'unknown';
}
