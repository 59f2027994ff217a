import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes a synthetic Slack export of a given size, for the import benchmark
 * and the resume test. The shape follows real exports: users.json,
 * channels.json, one folder per channel with a JSON file per day, about one
 * message in eight a thread reply, one in twenty with a reaction, one in fifty
 * edited, and Slack markup (mentions, links, entities) in the text. The
 * content is deterministic, so two exports of one size are identical.
 */
export interface GeneratedExportOptions {
  messages: number;
  channels?: number;
  users?: number;
  messagesPerDay?: number;
}

/** Counts of what the generated export contains, taken while writing it. */
export interface GeneratedExportCounts {
  users: number;
  channels: number;
  messages: number;
  replies: number;
  /** Thread roots that have at least one reply. */
  threads: number;
  reactions: number;
  edits: number;
}

const WORDS = (
  'deploy build cache queue shard index latency replica backup config release branch merge review test ' +
  'failure retry timeout socket schema migration rollback metric alert dashboard ticket customer invoice'
).split(' ');

export function generateSlackExport(folder: string, options: GeneratedExportOptions): GeneratedExportCounts {
  const userCount = options.users ?? 200;
  const channelCount = options.channels ?? 20;
  const perDay = options.messagesPerDay ?? 200;
  const counts: GeneratedExportCounts = { users: userCount, channels: channelCount, messages: 0, replies: 0, threads: 0, reactions: 0, edits: 0 };

  fs.mkdirSync(folder, { recursive: true });
  const users = Array.from({ length: userCount }, (_, i) => ({
    id: `U${String(i).padStart(8, '0')}`,
    name: `member${i}`,
    real_name: `Member ${i}`,
    profile: { email: `member${i}@generated.invalid`, display_name: `member${i}` },
  }));
  fs.writeFileSync(path.join(folder, 'users.json'), JSON.stringify(users));
  const channels = Array.from({ length: channelCount }, (_, i) => ({
    id: `C${String(i).padStart(8, '0')}`,
    name: `channel-${i}`,
    created: 1_500_000_000,
    creator: users[0]!.id,
    is_archived: false,
    members: users.filter((_, u) => u % channelCount === i || u < 5).map((user) => user.id),
    topic: { value: `Topic of channel ${i}` },
    purpose: { value: '' },
  }));
  fs.writeFileSync(path.join(folder, 'channels.json'), JSON.stringify(channels));

  let seed = 1;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;

  const threadsWithReplies = new Set<string>();
  for (let c = 0; c < channelCount; c += 1) {
    const channel = channels[c]!;
    fs.mkdirSync(path.join(folder, channel.name), { recursive: true });
    const total = Math.floor(options.messages / channelCount) + (c < options.messages % channelCount ? 1 : 0);
    let second = 1_500_000_000;
    let openThread: string | undefined;
    for (let written = 0, day = 0; written < total; day += 1) {
      const messages: unknown[] = [];
      for (let i = 0; i < perDay && written < total; i += 1, written += 1) {
        second += 1 + Math.floor(random() * 300);
        const ts = `${second}.${String(i).padStart(6, '0')}`;
        const user = pick(channel.members);
        const text = Array.from({ length: 4 + Math.floor(random() * 12) }, () => pick(WORDS)).join(' ');
        const message: Record<string, unknown> = { type: 'message', user, ts, text: random() < 0.1 ? `<@${pick(channel.members)}> ${text} &amp; <https://example.com/${pick(WORDS)}|link>` : text };
        if (openThread !== undefined && random() < 0.125) {
          message.thread_ts = openThread;
          counts.replies += 1;
          threadsWithReplies.add(`${c}:${openThread}`);
        } else if (random() < 0.05) {
          openThread = ts;
          message.thread_ts = ts;
        }
        if (random() < 0.05) {
          message.reactions = [{ name: pick(['+1', 'heart', 'tada', 'eyes']), users: [user], count: 1 }];
          counts.reactions += 1;
        }
        if (random() < 0.02) {
          message.edited = { user, ts: `${second + 5}.000000` };
          counts.edits += 1;
        }
        messages.push(message);
      }
      counts.messages += messages.length;
      const date = new Date(Date.UTC(2017, 0, 1) + day * 86_400_000).toISOString().slice(0, 10);
      fs.writeFileSync(path.join(folder, channel.name, `${date}.json`), JSON.stringify(messages));
    }
  }
  counts.threads = threadsWithReplies.size;
  return counts;
}
