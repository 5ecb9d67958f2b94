import { describe, expect, it } from 'vitest';
import { setptsExpression } from './frames.js';
import { timestampsOf, toRuns } from './probe.js';

describe('frame timestamps', () => {
  const vfr = [0, 512, 1024, 2048, 2560, 3072, 3584, 4608];

  it('packs timestamps into runs of constant step and gives any range back', () => {
    const runs = toRuns(vfr);
    expect(runs).toEqual([
      { pts: 0, step: 512, count: 3 },
      { pts: 2048, step: 512, count: 4 },
      { pts: 4608, step: 0, count: 1 },
    ]);
    expect(timestampsOf(runs, 0, vfr.length)).toEqual(vfr);
    expect(timestampsOf(runs, 2, 4)).toEqual(vfr.slice(2, 6));
    expect(timestampsOf(runs, 7, 5)).toEqual([4608]);
    expect(toRuns(Array.from({ length: 1000 }, (_, i) => 1000 + i * 40))).toHaveLength(1);
  });

  it('gives each piped frame its timestamp with a flat setpts expression (one term per run: ffmpeg limits nesting, not length)', () => {
    const expression = setptsExpression(vfr);
    expect(expression).toBe('between(N,0,2)*(0+(N-0)*512)+between(N,3,6)*(2048+(N-3)*512)+eq(N,7)*4608');
  });
});
