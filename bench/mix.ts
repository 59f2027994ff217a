/**
 * Realistic mix: simulated users each hold one socket, post 0.0087 messages/s
 * to a 20-member channel, read the latest history page 0.035 times/s and send
 * a ping frame every 30 s. Passes when the load is sustained (as the delivery
 * driver defines it: nothing lost, no growing queue, p99 within its bound), no
 * read fails and the p95 delivery latency is under 200 ms, with the server on
 * one core.
 *
 * Each channel belongs to one user whose 20 sockets are its 20 members, so
 * the setup registers users/20 accounts instead of one per simulated user.
 * Fan-out per message is the same 20 sockets; the membership tables are
 * smaller than with 20 distinct accounts per channel.
 */
import http from 'node:http';
import { ChatterBoxSender, ChatterBoxSocketSender, DeliveryDriver } from './lib/delivery-driver.js';
import { nowMs } from './lib/payload.js';
import { waitForQuietMachine } from './lib/proc.js';
import { addRow, progress, recordForeignCpu, type RunSettings } from './lib/report.js';
import { makeDataDir, startChatterBox } from './lib/servers.js';
import { createChannel, createTeam, registerUsers } from './lib/setup.js';
import { closeAll, openChatterBoxMember, openMany } from './lib/sockets.js';
import { formatNumber, LatencyHistogram } from './lib/stats.js';

const MESSAGES_PER_USER_PER_SECOND = 0.0087;
const READS_PER_USER_PER_SECOND = 0.035;
const HEARTBEAT_MS = 30_000;
const CHANNEL_MEMBERS = 20;

export async function runMix(settings: RunSettings): Promise<void> {
  const simulatedUsers = settings.smoke ? 400 : 10_000;
  const durationMs = settings.smoke ? 1500 : 60_000;
  const channels = simulatedUsers / CHANNEL_MEMBERS;
  const dataDir = makeDataDir('mix');

  const setupServer = await startChatterBox({ dataDir });
  const channelIds: string[] = [];
  let owners;
  try {
    progress(`mix setup: registering ${channels} channel owners`);
    owners = await registerUsers(setupServer.url, channels, 'mixu');
    for (let index = 0; index < channels; index += 1) {
      const teamId = await createTeam(owners[index]!, [], `Mix ${index}`);
      channelIds.push(await createChannel(owners[index]!, teamId, 'chat', []));
    }
  } finally {
    await setupServer.stop();
  }

  const server = await startChatterBox({ dataDir });
  const members = await openMany(simulatedUsers, 500, (index) => openChatterBoxMember(server.wsUrl, owners[Math.floor(index / CHANNEL_MEMBERS)]!.token));
  // The first socket of each channel posts, as in the delivery scenario, and also counts as one of the 20 receivers. BENCH_POST_VIA=http posts over HTTP instead.
  const sender =
    process.env.BENCH_POST_VIA === 'http'
      ? new ChatterBoxSender(server.url, channelIds, owners.map((owner) => [owner.token]))
      : new ChatterBoxSocketSender(
          channelIds.map((_id, channel) => members[channel * CHANNEL_MEMBERS]!.socket),
          channelIds,
        );
  const driver = new DeliveryDriver({ members, sender, rooms: channels, receiversPerMessage: CHANNEL_MEMBERS, fanout: CHANNEL_MEMBERS, serverPid: server.pid });

  const readAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const readLatency = new LatencyHistogram();
  let readErrors = 0;
  const readsPerSecond = simulatedUsers * READS_PER_USER_PER_SECOND;
  const url = new URL(server.url);
  const started = nowMs();
  let readsSent = 0;
  const readTimer = setInterval(() => {
    const due = Math.min(Math.floor(((nowMs() - started) * readsPerSecond) / 1000), Math.floor((durationMs * readsPerSecond) / 1000));
    for (; readsSent < due; readsSent += 1) {
      const channel = readsSent % channels;
      const scheduledAt = started + (readsSent * 1000) / readsPerSecond;
      const request = http.request(
        { agent: readAgent, host: url.hostname, port: url.port, path: `/api/conversations/${channelIds[channel]}/messages?limit=50`, headers: { authorization: `Bearer ${owners[channel]!.token}` } },
        (response) => {
          response.resume();
          response.once('end', () => {
            if (response.statusCode === 200) readLatency.record(nowMs() - scheduledAt);
            else readErrors += 1;
          });
        },
      );
      request.once('error', () => (readErrors += 1));
      request.end();
    }
  }, 5);

  // Each socket pings once per heartbeat interval, spread evenly over it.
  let pingCursor = 0;
  const pingsPerTick = Math.max(1, Math.round((simulatedUsers * 100) / HEARTBEAT_MS));
  const pingTimer = setInterval(() => {
    for (let count = 0; count < pingsPerTick; count += 1) {
      members[pingCursor % members.length]!.socket.send('{"type":"ping"}');
      pingCursor += 1;
    }
  }, 100);

  try {
    if (settings.quietTimeoutMs > 0) await waitForQuietMachine([server.pid], settings.quietTimeoutMs);
    const step = await driver.runStep({
      deliveriesPerSecond: simulatedUsers * MESSAGES_PER_USER_PER_SECOND * CHANNEL_MEMBERS,
      durationMs,
      drainTimeoutMs: settings.drainTimeoutMs,
    });
    clearInterval(readTimer);
    clearInterval(pingTimer);
    recordForeignCpu('mix', step.foreignCpuFraction);
    const reads = readLatency.summary();
    progress(
      `mix: ${simulatedUsers} users, ${step.sustained ? 'sustained' : `NOT sustained (${step.reason})`}, delivery p95 ${formatNumber(step.latency.p95Ms)} p99 ${formatNumber(step.latency.p99Ms)} ms, ` +
        `generator max lag ${formatNumber(step.generatorMaxLagMs)} ms, ` +
        `reads p95 ${formatNumber(reads.p95Ms)} ms (${readErrors} errors), server cpu ${formatNumber(step.serverCpuFraction * 100)}%, others ${formatNumber(step.foreignCpuFraction * 100)}%`,
    );
    const passed = step.sustained && readErrors === 0 && step.latency.p95Ms < 200;
    const postPath = process.env.BENCH_POST_VIA === 'http' ? 'HTTP POST' : 'post frames on one member socket per channel';
    addRow({
      figure: `realistic mix, ${simulatedUsers} simulated users on one server core`,
      unit: 'ms p95 delivery',
      goal: '>= 10,000 users/core, p95 < 200 ms, nothing lost',
      raw: [],
      chatterbox: [step.latency.p95Ms],
      ratios: [],
      met: settings.smoke ? undefined : passed,
      note:
        `posts as ${postPath}; ${step.deliveries}/${step.expectedDeliveries} deliveries, ${step.sendErrors} post errors, delivery p99 ${formatNumber(step.latency.p99Ms)} ms, ` +
        `generator max lag ${formatNumber(step.generatorMaxLagMs)} ms, reads p95 ${formatNumber(reads.p95Ms)} ms over ${reads.samples} reads, ` +
        `server CPU ${formatNumber(step.serverCpuFraction * 100)}% of its core (estimate of capacity: ${formatNumber(simulatedUsers / Math.max(0.01, step.serverCpuFraction))} users/core if CPU-bound)`,
    });
  } finally {
    clearInterval(readTimer);
    clearInterval(pingTimer);
    readAgent.destroy();
    driver.close();
    await closeAll(members.map((member) => member.socket));
    await server.stop();
  }
}
