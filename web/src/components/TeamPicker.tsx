import { useState, type FormEvent } from 'react';
import { ApiError } from '../../../src/client/api.js';
import { useStore } from '../app/hooks.js';
import { navigate, paths, rememberTeam } from '../app/routes.js';
import { errorText } from './AuthScreen.js';

/** Lists the user's teams and creates new ones. */
export function TeamPicker() {
  const store = useStore();
  const teams = Object.values(store.state?.teams ?? {}).sort((a, b) => a.name.localeCompare(b.name));
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  async function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const name = String(new FormData(event.currentTarget).get('name') ?? '').trim();
    setBusy(true);
    setError(undefined);
    try {
      const team = await store.createTeam(name);
      open(team.id);
    } catch (caught) {
      setError(caught instanceof ApiError ? errorText(caught) : 'No response from the server. Check the connection and try again.');
    } finally {
      setBusy(false);
    }
  }

  function open(teamId: string) {
    rememberTeam(teamId);
    navigate(paths.team(teamId));
  }

  return (
    <main className="center-screen">
      <div className="card team-picker">
        <h1>Choose a team</h1>
        {teams.length === 0 ? (
          <p className="muted">You are not in a team yet. Create one, or ask a teammate to invite you by your username, {store.state?.me.username}.</p>
        ) : (
          <ul className="team-list" aria-label="Your teams">
            {teams.map((team) => (
              <li key={team.id}>
                <button type="button" onClick={() => open(team.id)}>
                  <span className="team-initial" aria-hidden="true">
                    {[...team.name][0]?.toUpperCase()}
                  </span>
                  {team.name}
                </button>
              </li>
            ))}
          </ul>
        )}
        <form onSubmit={(event) => void create(event)} className="inline-form">
          <label>
            New team name
            <input name="name" required maxLength={80} />
          </label>
          <button type="submit" className="primary" disabled={busy}>
            Create team
          </button>
        </form>
        {error !== undefined && (
          <p role="alert" className="form-error">
            {error}
          </p>
        )}
        <button type="button" className="link" onClick={() => void store.logout()}>
          Sign out
        </button>
      </div>
    </main>
  );
}
