import { chatMethods } from './chat.js';
import { conversationMethods } from './conversations.js';
import { fileMethods } from './files.js';
import { otherMethods } from './other-methods.js';
import type { SlackMethod } from './call.js';

/** Every Slack Web API method ChatterBox serves, by Slack's name. docs/slack.md lists them. */
export const SLACK_METHODS: ReadonlyMap<string, SlackMethod> = new Map(
  Object.entries({ ...chatMethods, ...conversationMethods, ...otherMethods, ...fileMethods }),
);
