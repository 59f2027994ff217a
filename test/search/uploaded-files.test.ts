import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { uploadFile } from '../helpers/files.js';
import { startServer, type TestServer } from '../helpers/server.js';

interface FilePage {
  results: Array<{ file: { id: string; message_id: string } }>;
}

describe('search of files uploaded through the API', () => {
  let server: TestServer;
  let ada: TestUser;
  let bob: TestUser;
  let team: TestTeam;

  beforeAll(async () => {
    server = await startServer();
    ada = await buildUser(server.url, 'ada');
    bob = await buildUser(server.url, 'bob');
    team = await buildTeam(ada, [bob]);
  });

  afterAll(async () => {
    await server?.close();
  });

  const search = async (user: TestUser, q: string) =>
    (await user.api.get<FilePage>(`/api/search/files?q=${encodeURIComponent(q)}`)).results.map((result) => result.file.id);

  test('found once shared, gone when deleted', async () => {
    const file = await uploadFile(server.url, bob, team.generalId, Buffer.from('quarterly numbers'), { name: 'budget-forecast.csv', type: 'text/csv' });
    expect(await search(ada, 'forecast')).toEqual([]);

    const message = await bob.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'numbers', file_ids: [file.id] });
    expect(await search(ada, 'forecast')).toEqual([file.id]);
    const withFile = await ada.api.get<{ results: Array<{ message: { id: string } }> }>(`/api/search?q=${encodeURIComponent('has:file numbers')}`);
    expect(withFile.results.map((result) => result.message.id)).toEqual([message.id]);

    await bob.api.delete(`/api/files/${file.id}`);
    expect(await search(ada, 'forecast')).toEqual([]);

    const second = await uploadFile(server.url, bob, team.generalId, Buffer.from('more'), { name: 'budget-forecast-2.csv', type: 'text/csv' });
    await bob.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'again', file_ids: [second.id] });
    expect(await search(ada, 'forecast')).toEqual([second.id]);
    const messages = await ada.api.get<{ results: Array<{ message: { id: string } }> }>(`/api/search?q=${encodeURIComponent('has:file again')}`);
    expect(messages.results).toHaveLength(1);
    await bob.api.delete(`/api/messages/${messages.results[0]!.message.id}`);
    expect(await search(ada, 'forecast')).toEqual([]);
  });
});
