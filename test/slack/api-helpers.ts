import { LogLevel, WebClient } from '@slack/web-api';
import type { TestUser } from '../helpers/factories.js';

export interface TestBot {
  id: string;
  token: string;
  tokenId: string;
}

/** Creates a bot user with a token in a team, as the team admin `owner`. */
export async function buildBot(owner: TestUser, teamId: string, username = `bot_${Math.random().toString(36).slice(2, 8)}`): Promise<TestBot> {
  const created = await owner.api.post<{ bot: { id: string }; token: string; token_id: string }>(`/api/teams/${teamId}/bots`, { username, display_name: 'Test Bot' });
  return { id: created.bot.id, token: created.token, tokenId: created.token_id };
}

/** Returns the official Slack SDK client pointed at a ChatterBox server, failing fast instead of retrying. */
export function slackClient(baseUrl: string, token: string | undefined): WebClient {
  return new WebClient(token, { slackApiUrl: `${baseUrl}/api/slack/`, retryConfig: { retries: 0 }, logLevel: LogLevel.ERROR });
}

/** Returns the Slack error string of a failed SDK call, or undefined when it succeeded. */
export async function slackErrorOf(call: Promise<unknown>): Promise<string | undefined> {
  try {
    await call;
    return undefined;
  } catch (error) {
    const data = (error as { data?: { error?: string } }).data;
    if (data?.error !== undefined) return data.error;
    throw error;
  }
}
