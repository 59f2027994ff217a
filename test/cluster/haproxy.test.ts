import { afterAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { findFreePort } from '../../scripts/lib/ports.js';
import { expectError } from '../helpers/assertions.js';
import { HAPROXY_INSTALLED, startHaproxy, type Haproxy } from '../helpers/haproxy.js';

// CI does not install HAProxy; `npm run faults` does, and runs this file too.
describe.runIf(HAPROXY_INSTALLED)('deploy/haproxy.cfg', () => {
  let haproxy: Haproxy | undefined;

  afterAll(async () => {
    await haproxy?.close();
  });

  it('answers JSON 503 with no node up', async () => {
    // Free ports with nothing listening: every node is down.
    haproxy = await startHaproxy([await findFreePort(), await findFreePort()]);
    const response = await new ApiClient(haproxy.url).raw('GET', '/api/teams');

    expectError(response, 503, 'UNAVAILABLE');
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('retry-after')).toBe('1');
  });
});
