/**
 * The raw delivery baseline: a minimal server on the `ws` package with no
 * storage and no authentication. A client joins rooms with one text frame
 * `{"join":["room-a","room-b"]}` and gets `{"joined":N}` back. Any later frame
 * of the form `<room>:<payload>` is sent unchanged to every member of that room.
 *
 * Environment: PORT (required). Prints "ready <port>" on stdout once listening.
 */
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

const ROOM_SEPARATOR = 0x3a; // ':'

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error(`PORT must be a positive integer, got "${process.env.PORT ?? ''}"`);
  process.exit(2);
}

const rooms = new Map<string, Set<WebSocket>>();
const server = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });

server.on('connection', (socket) => {
  const joined: string[] = [];
  let hasJoined = false;

  socket.on('message', (data: RawData) => {
    const buffer = data as Buffer;
    if (!hasJoined) {
      hasJoined = true;
      const request = JSON.parse(buffer.toString()) as { join: string[] };
      for (const room of request.join) {
        let members = rooms.get(room);
        if (members === undefined) {
          members = new Set();
          rooms.set(room, members);
        }
        members.add(socket);
        joined.push(room);
      }
      socket.send(JSON.stringify({ joined: joined.length }));
      return;
    }

    const separator = buffer.indexOf(ROOM_SEPARATOR);
    if (separator <= 0) return;
    const members = rooms.get(buffer.toString('latin1', 0, separator));
    if (members === undefined) return;
    for (const member of members) member.send(buffer, { binary: false });
  });

  socket.on('close', () => {
    for (const room of joined) rooms.get(room)?.delete(socket);
  });
  socket.on('error', () => socket.terminate());
});

server.on('listening', () => console.log(`ready ${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
