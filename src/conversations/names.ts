import { invalidField } from '../platform/errors.js';
import { MAX_CHANNEL_NAME_CHARS } from './schemas.js';

// Slack's rules: lowercase letters (or letters without case), digits, hyphens and underscores.
const CHANNEL_NAME = /^[\p{Ll}\p{Lo}\p{Lm}\p{N}_-]+$/u;

/** Throws INVALID_CHANNEL_NAME, suggesting the valid form, unless the name follows the channel naming rules. */
export function checkChannelName(name: string): void {
  if ([...name].length <= MAX_CHANNEL_NAME_CHARS && CHANNEL_NAME.test(name)) return;

  const suggestion = name
    .toLowerCase()
    .replace(/\s+/g, '-')
    .replace(/[^\p{Ll}\p{Lo}\p{Lm}\p{N}_-]/gu, '')
    .slice(0, MAX_CHANNEL_NAME_CHARS);
  throw invalidField(
    'name',
    `Channel names use lowercase letters, digits, "-" and "_", with no spaces, at most ${MAX_CHANNEL_NAME_CHARS} characters` +
      (suggestion !== '' ? `; try "${suggestion}"` : ''),
    'INVALID_CHANNEL_NAME',
  );
}
