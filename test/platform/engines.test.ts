import fs from 'node:fs';
import semver from 'semver';
import { expect, test } from 'vitest';

// Every installed package must declare support for the oldest Node.js version in package.json's
// engines field and for the version running the tests.

interface LockPackage {
  engines?: { node?: string } | string[];
}

const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, LockPackage> };
const project = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { engines: { node: string } };

function findUnsupported(nodeVersion: string): string[] {
  const unsupported: string[] = [];
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (location === '' || entry.engines === undefined || Array.isArray(entry.engines)) continue;
    const range = entry.engines.node;
    if (range !== undefined && !semver.satisfies(nodeVersion, range)) unsupported.push(`${location} (node ${range})`);
  }
  return unsupported;
}

test('dependencies support the oldest node', () => {
  const oldest = semver.minVersion(project.engines.node);
  expect(oldest).not.toBeNull();
  expect(findUnsupported(oldest!.version)).toEqual([]);
});

test('dependencies support the running node', () => {
  expect(findUnsupported(process.versions.node)).toEqual([]);
});
