import net from 'node:net';

/**
 * Finds a free TCP port on 127.0.0.1 by listening on port 0 and closing again.
 * NOTE: another process could take the port before the caller binds it; the caller then fails at start.
 */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
