import WebSocket from 'ws';

/** One open member socket; `onFrame` receives every frame after the subscribe handshake. */
export interface MemberSocket {
  socket: WebSocket;
  onFrame: ((frame: Buffer) => void) | undefined;
}

function openSocket(url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers, perMessageDeflate: false });
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
    socket.once('unexpected-response', (_request, response) => reject(new Error(`WebSocket upgrade to ${url} failed with HTTP ${response.statusCode}`)));
  });
}

/** Waits for the first frame on a socket, which is the server's response to the subscribe step. */
function firstFrame(socket: WebSocket, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for the subscribe response`)), timeoutMs);
    socket.once('message', (data: Buffer) => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`Socket closed with code ${code} before its subscribe response`));
    });
  });
}

function attach(socket: WebSocket): MemberSocket {
  const member: MemberSocket = { socket, onFrame: undefined };
  socket.on('message', (data: Buffer) => member.onFrame?.(data));
  socket.on('error', () => {});
  return member;
}

/** Opens a ChatterBox socket with a bearer header, sends hello and waits for the ready frame. */
export async function openChatterBoxMember(wsUrl: string, token: string, timeoutMs = 60_000): Promise<MemberSocket> {
  const socket = await openSocket(wsUrl, { authorization: `Bearer ${token}` });
  const ready = firstFrame(socket, timeoutMs);
  socket.send(JSON.stringify({ type: 'hello', positions: {} }));
  const frame = JSON.parse((await ready).toString()) as { type: string };
  if (frame.type !== 'ready') throw new Error(`Expected a ready frame, got ${JSON.stringify(frame).slice(0, 200)}`);
  return attach(socket);
}

/** Opens a raw-server socket and joins rooms. */
export async function openRawMember(wsUrl: string, rooms: readonly string[], timeoutMs = 60_000): Promise<MemberSocket> {
  const socket = await openSocket(wsUrl, {});
  const joined = firstFrame(socket, timeoutMs);
  socket.send(JSON.stringify({ join: rooms }));
  await joined;
  return attach(socket);
}

/** Opens a raw-server socket without joining anything: the connect-storm baseline. */
export async function openRawSocket(wsUrl: string): Promise<WebSocket> {
  const socket = await openSocket(wsUrl, {});
  socket.on('error', () => {});
  return socket;
}

/** Runs `open(i)` for i in [0, count) with at most `concurrency` attempts in flight. */
export async function openMany<T>(count: number, concurrency: number, open: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < count) {
      const index = next;
      next += 1;
      results[index] = await open(index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, () => worker()));
  return results;
}

/** Closes sockets and waits (bounded) until each has closed. */
export async function closeAll(sockets: readonly WebSocket[], timeoutMs = 10_000): Promise<void> {
  const closed = sockets.map(
    (socket) =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) return resolve();
        socket.once('close', () => resolve());
        socket.close(1000, 'benchmark done');
      }),
  );
  const timer = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
  await Promise.race([Promise.all(closed), timer]);
  for (const socket of sockets) if (socket.readyState !== WebSocket.CLOSED) socket.terminate();
}
