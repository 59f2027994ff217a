import { Type, type Static } from '@sinclair/typebox';
import { Id, Label, Strict } from '../http/schemas.js';
import type { UserRow } from '../storage/schema.js';

export const USERNAME_PATTERN = '^[\\p{L}\\p{N}][\\p{L}\\p{N}._-]*$';

export const Username = Type.String({
  minLength: 2,
  maxLength: 32,
  pattern: USERNAME_PATTERN,
  description: 'Letters, digits, ".", "_" and "-"; starts with a letter or digit; unique regardless of case',
});
export const Email = Type.String({
  minLength: 3,
  maxLength: 254,
  pattern: '^[^\\s@\\u0000-\\u001f\\u007f]+@[^\\s@\\u0000-\\u001f\\u007f]+\\.[^\\s@\\u0000-\\u001f\\u007f]+$',
});
export const Password = Type.String({ minLength: 8, maxLength: 256 });
export const DisplayName = Label(80);
export const StatusText = Label(100, 0);
export const TimeZone = Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone name' });

export const RegisterBody = Strict({
  email: Email,
  username: Username,
  password: Password,
  display_name: DisplayName,
});
export type RegisterBody = Static<typeof RegisterBody>;

export const LoginBody = Strict({
  login: Type.String({ minLength: 1, maxLength: 254, description: 'E-mail address or username' }),
  password: Type.String({ minLength: 1, maxLength: 256 }),
});
export type LoginBody = Static<typeof LoginBody>;

export const UpdateProfileBody = Type.Object(
  { display_name: Type.Optional(DisplayName), status_text: Type.Optional(StatusText), time_zone: Type.Optional(TimeZone) },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateProfileBody = Static<typeof UpdateProfileBody>;

export const ChangePasswordBody = Strict({ current_password: Type.String({ maxLength: 256 }), new_password: Password });
export type ChangePasswordBody = Static<typeof ChangePasswordBody>;

export const PublicUser = Type.Object({
  id: Id,
  username: Type.String(),
  display_name: Type.String(),
  status_text: Type.String(),
  time_zone: Type.String(),
});
export type PublicUser = Static<typeof PublicUser>;

export const SelfUser = Type.Composite([PublicUser, Type.Object({ email: Type.String(), created_at: Type.String() })]);
export type SelfUser = Static<typeof SelfUser>;

export const SessionBody = Type.Object({ user: SelfUser, token: Type.String(), session_id: Id, expires_at: Type.String() });

/** Presents the profile any teammate may see. */
export function presentUser(row: UserRow): PublicUser {
  return {
    id: row.id,
    username: row.username,
    display_name: row.display_name,
    status_text: row.status_text,
    time_zone: row.time_zone,
  };
}

/** Presents the profile with private fields, for its owner only. */
export function presentSelf(row: UserRow): SelfUser {
  return { ...presentUser(row), email: row.email, created_at: new Date(Number(row.created_at)).toISOString() };
}
