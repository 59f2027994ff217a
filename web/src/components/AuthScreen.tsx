import { useState, type FormEvent } from 'react';
import { ApiError } from '../../../src/client/api.js';
import { navigate, paths } from '../app/routes.js';
import { store } from '../lib/store.js';

/** Sign-in and registration forms. */
export function AuthScreen({ mode }: { mode: 'login' | 'register' }) {
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const value = (name: string) => String(form.get(name) ?? '');
    setBusy(true);
    setError(undefined);
    try {
      if (mode === 'login') {
        await store.login(value('login'), value('password'));
      } else {
        await store.register({ email: value('email'), username: value('username'), password: value('password'), display_name: value('display_name') });
      }
      // From the sign-in pages, go to the team used last; any other address stays.
      if (window.location.pathname === paths.login() || window.location.pathname === paths.register()) navigate(paths.home(), { replace: true });
    } catch (caught) {
      setError(caught instanceof ApiError ? errorText(caught) : 'No response from the server. Check the connection and try again.');
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="center-screen">
      <form className="card auth-form" onSubmit={(event) => void submit(event)} aria-labelledby="auth-title">
        <h1 id="auth-title">{mode === 'login' ? 'Sign in to ChatterBox' : 'Create your ChatterBox account'}</h1>
        {mode === 'login' ? (
          <>
            <label>
              E-mail or username
              <input name="login" autoComplete="username" required autoFocus />
            </label>
            <label>
              Password
              <input name="password" type="password" autoComplete="current-password" required />
            </label>
          </>
        ) : (
          <>
            <label>
              E-mail
              <input name="email" type="email" autoComplete="email" required autoFocus />
            </label>
            <label>
              Username
              <input name="username" autoComplete="username" required pattern="[\p{L}\p{N}][\p{L}\p{N}._\-]{0,31}" title="A letter or digit, then letters, digits, dots, underscores or hyphens; at most 32 characters" />
            </label>
            <label>
              Display name
              <input name="display_name" autoComplete="name" required />
            </label>
            <label>
              Password
              <input name="password" type="password" autoComplete="new-password" required minLength={8} />
            </label>
          </>
        )}
        {error !== undefined && (
          <p role="alert" className="form-error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {mode === 'login' ? 'Sign in' : 'Create account'}
        </button>
        <p className="muted">
          {mode === 'login' ? (
            <>
              New here?{' '}
              <a href={paths.register()} onClick={(event) => follow(event, paths.register())}>
                Create an account
              </a>
            </>
          ) : (
            <>
              Have an account?{' '}
              <a href={paths.login()} onClick={(event) => follow(event, paths.login())}>
                Sign in
              </a>
            </>
          )}
        </p>
      </form>
    </main>
  );
}

function follow(event: React.MouseEvent, path: string) {
  event.preventDefault();
  navigate(path);
}

/** Words the server's error for a form: its message, with the field it names. */
export function errorText(error: ApiError): string {
  const message = (error.body as { error?: { message?: string } } | undefined)?.error?.message ?? error.message;
  return error.field === undefined ? message : `${message} (${error.field})`;
}
