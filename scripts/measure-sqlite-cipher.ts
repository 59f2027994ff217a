/**
 * Compares the cost of SQLite commits and reads under
 * better-sqlite3-multiple-ciphers without a key and with a SQLCipher 4 key,
 * on one-row transactions in WAL mode with synchronous=NORMAL, as the server
 * runs. Prints the median of seven rounds, in microseconds per operation.
 *
 *   npx tsx scripts/measure-sqlite-cipher.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import MultipleCiphers from 'better-sqlite3-multiple-ciphers';

type Database = MultipleCiphers.Database;

/** Times 10,000 one-row commits, then 10,000 reads of the newest 50 rows of one of 50 conversations. */
function measure(make: (file: string) => Database): [number, number] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-cipher-'));
  const db = make(path.join(dir, 'x.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('create table m(id integer primary key, conv text, text text); create index mi on m(conv, id)');
  const insert = db.prepare('insert into m(conv, text) values (?, ?)');
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 10_000; i += 1) db.transaction(() => insert.run('c' + (i % 50), 'hello world message number ' + i + ' '.repeat(100)))();
  const t1 = process.hrtime.bigint();
  const select = db.prepare('select * from m where conv = ? order by id desc limit 50');
  for (let i = 0; i < 10_000; i += 1) select.all('c' + (i % 50));
  const t2 = process.hrtime.bigint();
  db.close();
  fs.rmSync(dir, { recursive: true });
  return [Number(t1 - t0) / 10_000 / 1000, Number(t2 - t1) / 10_000 / 1000];
}
const makers: Record<string, (file: string) => Database> = {
  'ciphers, no key': (file) => new MultipleCiphers(file),
  'ciphers, key': (file) => {
    const db = new MultipleCiphers(file);
    db.pragma("cipher = 'sqlcipher'");
    db.pragma('legacy = 4');
    db.key(Buffer.from('a-key-of-sixteen-chars'));
    return db;
  },
};
const results: Record<string, number[][]> = {};
for (let round = 0; round < 7; round += 1) {
  for (const [name, make] of Object.entries(makers)) (results[name] ??= []).push(measure(make));
}
const median = (values: Array<number | undefined>) => values.map(Number).sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
for (const [name, rows] of Object.entries(results)) {
  const commit = median(rows.map((row) => row[0])).toFixed(1);
  const read = median(rows.map((row) => row[1])).toFixed(1);
  console.log(`${name.padEnd(16)} commit of one row ${commit} µs, read of 50 rows ${read} µs`);
}
