import { createContext, useContext } from 'react';

/** Navigation within the signed-in workspace, shared by every component in it. */
export interface Ui {
  teamId: string;
  openConversation: (conversationId: string, messageId?: string) => void;
  /** Opens a thread beside the conversation; messageId highlights one of its replies. */
  openThread: (rootId: string, messageId?: string) => void;
  closeThread: () => void;
  /** Opens the team's channel of that name, joining a public one the user is not in. */
  openChannelByName: (name: string) => void;
  isPhone: boolean;
}

export const UiContext = createContext<Ui | undefined>(undefined);

export function useUi(): Ui {
  const ui = useContext(UiContext);
  if (ui === undefined) throw new Error('useUi is used outside the workspace');
  return ui;
}
