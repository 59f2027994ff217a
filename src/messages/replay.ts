import type { Db } from '../storage/database.js';
import type { StreamEvent } from '../realtime/events.js';
import { presentMessage } from './schemas.js';

/**
 * Replaces the text of deleted messages in stored events before they are
 * replayed, so a client resuming from an old position never receives text
 * that was deleted since. Returns the events with those payloads swapped.
 * TODO: the deleted text still sits in the stored payloads until retention removes the events.
 */
export async function redactDeletedMessages(db: Db, events: StreamEvent[]): Promise<StreamEvent[]> {
  const ids = new Set<string>();
  for (const event of events) {
    const id = messageIdOf(event);
    if (id !== undefined) ids.add(id);
  }
  if (ids.size === 0) return events;

  const deleted = await db
    .selectFrom('messages')
    .selectAll()
    .where('id', 'in', [...ids])
    .where('deleted_at', 'is not', null)
    .execute();
  if (deleted.length === 0) return events;

  const views = new Map(deleted.map((row) => [row.id, presentMessage(row)]));
  return events.map((event) => {
    const id = messageIdOf(event);
    const view = id === undefined ? undefined : views.get(id);
    return view === undefined ? event : { ...event, data: { ...event.data, message: view } };
  });
}

function messageIdOf(event: StreamEvent): string | undefined {
  if (event.type !== 'message.posted' && event.type !== 'message.edited') return undefined;
  const message = event.data.message as { id?: unknown } | undefined;
  return typeof message?.id === 'string' ? message.id : undefined;
}
