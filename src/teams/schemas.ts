import { Type, type Static } from '@sinclair/typebox';
import { Id, Label, Strict, toIso } from '../http/schemas.js';
import { PublicUser, presentUser } from '../accounts/schemas.js';
import type { TeamRole, TeamRow, UserRow } from '../storage/schema.js';

export const Role = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')]);

export const CreateTeamBody = Strict({ name: Label(80) });
export type CreateTeamBody = Static<typeof CreateTeamBody>;

export const AddMemberBody = Type.Object(
  { user_id: Type.Optional(Id), username: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })), role: Type.Optional(Role) },
  { additionalProperties: false, minProperties: 1 },
);
export type AddMemberBody = Static<typeof AddMemberBody>;

export const ChangeRoleBody = Strict({ role: Role });
export type ChangeRoleBody = Static<typeof ChangeRoleBody>;

export const TeamParams = Strict({ teamId: Id });
export const TeamMemberParams = Strict({ teamId: Id, userId: Id });

export const Team = Type.Object({
  id: Id,
  name: Type.String(),
  created_at: Type.String(),
  general_conversation_id: Type.Union([Id, Type.Null()]),
  role: Role,
});
export type Team = Static<typeof Team>;

export const TeamMember = Type.Object({ user: PublicUser, role: Role, joined_at: Type.String() });
export type TeamMember = Static<typeof TeamMember>;

export function presentTeam(row: TeamRow, role: TeamRole): Team {
  return {
    id: row.id,
    name: row.name,
    created_at: toIso(row.created_at),
    general_conversation_id: row.general_conversation_id,
    role,
  };
}

export function presentTeamMember(user: UserRow, role: TeamRole, joinedAt: number): TeamMember {
  return { user: presentUser(user), role, joined_at: toIso(joinedAt) };
}
