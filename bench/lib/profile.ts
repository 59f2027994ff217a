import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  functionName: string;
  location: string;
  selfMs: number;
  /** Share of the busy samples, which exclude V8's "(idle)" node. */
  selfPercent: number;
}

export interface ProfileSummary {
  entries: ProfileEntry[];
  /** Share of all samples that V8 marked "(idle)": the server waiting for I/O. */
  idlePercent: number;
}

/** Reads the newest .cpuprofile in a folder and returns the functions with the most self time. */
export function summariseProfile(folder: string, top = 15): ProfileSummary {
  const files = fs
    .readdirSync(folder)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => path.join(folder, name))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (files[0] === undefined) throw new Error(`No .cpuprofile file in ${folder}`);
  const profile = JSON.parse(fs.readFileSync(files[0], 'utf8')) as CpuProfile;

  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (let index = 0; index < profile.samples.length; index += 1) {
    const node = byId.get(profile.samples[index]!);
    const delta = profile.timeDeltas[index] ?? 0;
    if (node === undefined) continue;
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') {
      idleUs += delta;
      continue;
    }
    const url = frame.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'node_modules/').replace(/^.*\/dist\//, 'dist/');
    const key = `${frame.functionName || '(anonymous)'}\t${url === '' ? '(native)' : `${url}:${frame.lineNumber + 1}`}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + delta);
    totalUs += delta;
  }

  const entries = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, us]) => {
      const [functionName, location] = key.split('\t') as [string, string];
      return { functionName, location, selfMs: us / 1000, selfPercent: (100 * us) / totalUs };
    });
  return { entries, idlePercent: (100 * idleUs) / (totalUs + idleUs) };
}
