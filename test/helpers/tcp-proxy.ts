import net from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a real service, for fault tests: it
 * forwards bytes both ways until told to cut, which resets every open
 * connection and refuses new ones, as a crashed or restarting server would.
 */
export interface TcpProxy {
  port: number;
  /** URL of the target with its host and port replaced by the proxy's. */
  url(targetUrl: string): string;
  /** Resets every connection and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  /** Connections open through the proxy now. */
  openConnections(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  let down = false;

  const server = net.createServer((client) => {
    if (down) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    url: (targetUrl) => {
      const parsed = new URL(targetUrl);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    cut: () => {
      down = true;
      for (const [client, upstream] of pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    restore: () => {
      down = false;
    },
    openConnections: () => pairs.size,
    close: async () => {
      down = true;
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
