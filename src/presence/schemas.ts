import { Type, type Static } from '@sinclair/typebox';
import { Id, IsoTime, toIso } from '../http/schemas.js';
import type { DndSchedule, PresenceView } from './status.js';

const ClockTime = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'Local time, HH:MM (24-hour)' });

export const DndScheduleSchema = Type.Object(
  {
    start: ClockTime,
    end: ClockTime,
    days: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0, maximum: 6 }), {
        minItems: 1,
        maxItems: 7,
        uniqueItems: true,
        description: 'Days on which the window starts, 0 for Sunday; every day when left out',
      }),
    ),
  },
  { additionalProperties: false, description: 'A daily window in the user\'s time zone; one that ends before it starts crosses midnight' },
);

/** The availability fields that both PATCH /api/presence/me and PATCH /api/notifications/preferences accept. */
export const AvailabilityChanges = {
  dnd_until: Type.Optional(Type.Union([IsoTime, Type.Null()], { description: 'End of do-not-disturb set by hand; null ends it' })),
  dnd_schedule: Type.Optional(Type.Union([DndScheduleSchema, Type.Null()], { description: 'Daily do-not-disturb window; null removes it' })),
};

export const UpdatePresenceBody = Type.Object(
  {
    manual_status: Type.Optional(Type.Union([Type.Literal('away'), Type.Null()], { description: '"away" until set back to null' })),
    ...AvailabilityChanges,
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdatePresenceBody = Static<typeof UpdatePresenceBody>;

export const PresenceState = Type.Object({
  user_id: Id,
  status: Type.Union([Type.Literal('online'), Type.Literal('away'), Type.Literal('dnd'), Type.Literal('offline')]),
  since: Type.Union([IsoTime, Type.Null()]),
  last_active_at: Type.Union([IsoTime, Type.Null()]),
  dnd_until: Type.Union([IsoTime, Type.Null()]),
});

export const OwnPresence = Type.Composite([
  PresenceState,
  Type.Object({
    manual_status: Type.Union([Type.Literal('away'), Type.Null()]),
    dnd_schedule: Type.Union([DndScheduleSchema, Type.Null()]),
    time_zone: Type.String(),
  }),
]);

export interface DndScheduleInput {
  start: string;
  end: string;
  days?: number[];
}

/** Fills in the days of a schedule given without them. */
export function normalizeSchedule(input: DndScheduleInput): DndSchedule {
  return { start: input.start, end: input.end, days: [...(input.days ?? [0, 1, 2, 3, 4, 5, 6])].sort() };
}

export function presentPresence(view: PresenceView): Static<typeof PresenceState> {
  return {
    user_id: view.user_id,
    status: view.status,
    since: view.since > 0 ? toIso(view.since) : null,
    last_active_at: toIso(view.last_active_at),
    dnd_until: toIso(view.dnd_until),
  };
}
