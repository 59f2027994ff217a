import { AppError } from '../platform/errors.js';
import { COMMON_PASSWORD_LIST } from './common-password-list.js';

/**
 * Password rules after NIST SP 800-63B (section 5.1.1.2): a length of at
 * least 8 characters, up to 256 so that long passphrases fit, no rules on
 * character classes, and no password that is common, breached, repetitive
 * or made of the account's own name.
 */
export const MIN_PASSWORD_CHARS = 8;
export const MAX_PASSWORD_CHARS = 256;

let commonPasswords: Set<string> | undefined;

function isCommonPassword(lowercase: string): boolean {
  commonPasswords ??= new Set(COMMON_PASSWORD_LIST.split('\n'));
  return commonPasswords.has(lowercase);
}

/** Returns true for one repeated character ("aaaaaaaa") or one run up or down ("12345678", "hgfedcba"). */
function isRepetitiveOrSequential(password: string): boolean {
  const points = [...password].map((char) => char.codePointAt(0) ?? 0);
  if (points.every((point) => point === points[0])) return true;
  const step = (points[1] ?? 0) - (points[0] ?? 0);
  if (Math.abs(step) !== 1) return false;
  return points.every((point, index) => index === 0 || point - (points[index - 1] ?? 0) === step);
}

/** Names and words the account's own details give an attacker. */
function contextWords(account: { username: string; email: string }): string[] {
  const email = account.email.toLowerCase();
  return [account.username.toLowerCase(), email, email.split('@')[0] ?? '', 'chatterbox'];
}

/**
 * Throws WEAK_PASSWORD, naming `field`, for a password that is on the common
 * list, repeats or runs one character, or is the username, the e-mail address
 * or its local part or the service's name, ignoring case and trailing digits
 * ("Ada1985" for the user "ada"). Length is checked by the route's schema.
 */
export function checkPasswordStrength(password: string, account: { username: string; email: string }, field: string): void {
  const lowercase = password.toLowerCase();
  if (isCommonPassword(lowercase)) {
    throw new AppError('WEAK_PASSWORD', 'This password is on a list of common or breached passwords; choose another', { field, reason: 'common' });
  }
  if (isRepetitiveOrSequential(password)) {
    throw new AppError('WEAK_PASSWORD', 'This password repeats or runs one character; choose another', { field, reason: 'repetitive' });
  }
  const isAccountWord = (word: string) =>
    word !== '' && lowercase.startsWith(word) && /^[\d\W_]*$/u.test(lowercase.slice(word.length));
  if (contextWords(account).some(isAccountWord)) {
    throw new AppError('WEAK_PASSWORD', 'The password must not be your username, e-mail address or the name of this service', {
      field,
      reason: 'account_name',
    });
  }
}
