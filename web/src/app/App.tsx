import { useEffect, useState } from 'react';
import { AuthScreen } from '../components/AuthScreen.js';
import { OfflineBanner, Toasts } from '../components/Banners.js';
import { TeamPicker } from '../components/TeamPicker.js';
import { Workspace } from '../components/Workspace.js';
import { useStore } from './hooks.js';
import { LAST_TEAM_KEY, navigate, paths, useRoute } from './routes.js';

/** Chooses the screen: sign-in, loading, team picker or the workspace of one team. */
export function App() {
  const store = useStore();
  const route = useRoute();
  const [loadError, setLoadError] = useState<string | undefined>();
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    setLoadError(undefined);
    store.start().catch((error: unknown) => {
      setLoadError(error instanceof Error ? error.message : String(error));
    });
  }, [store, attempt]);

  if (store.signedOut) {
    return (
      <>
        <AuthScreen mode={route.name === 'register' ? 'register' : 'login'} />
        <Toasts />
      </>
    );
  }

  if (!store.ready || store.state === undefined) {
    return (
      <main className="center-screen" aria-busy={loadError === undefined}>
        {loadError === undefined ? (
          <p role="status">Loading ChatterBox…</p>
        ) : (
          <div role="alert" className="card">
            <p>ChatterBox could not load: {loadError}</p>
            <button type="button" className="primary" onClick={() => setAttempt((value) => value + 1)}>
              Try again
            </button>
          </div>
        )}
      </main>
    );
  }

  const teamId = 'teamId' in route ? route.teamId : undefined;
  if (teamId === undefined || store.state.teams[teamId] === undefined) {
    return (
      <>
        <OfflineBanner />
        <TeamPickerOrRedirect requestedTeam={teamId} />
        <Toasts />
      </>
    );
  }

  return (
    <>
      <OfflineBanner />
      <Workspace key={teamId} teamId={teamId} route={route} />
      <Toasts />
    </>
  );
}

/** Opens the team used last at / and after signing in; /teams and a team the user left show the picker. */
function TeamPickerOrRedirect({ requestedTeam }: { requestedTeam: string | undefined }) {
  const store = useStore();
  const route = useRoute();
  const teams = store.state?.teams ?? {};
  const last = localStorage.getItem(LAST_TEAM_KEY);
  const lastTeamExists = last !== null && teams[last] !== undefined;
  const redirect = route.name !== 'teams' && requestedTeam === undefined && lastTeamExists ? last : undefined;

  useEffect(() => {
    if (redirect !== undefined) navigate(paths.team(redirect), { replace: true });
  }, [redirect]);

  if (redirect !== undefined) return null;
  return <TeamPicker />;
}
