// The dashboard's only way to the server: the public /api/v1 with the signed-in user's token
// in the Authorization header. The token lives in sessionStorage (this tab only, gone when it
// closes) and is never put in a cookie, so no request can be forged cross-site.

const TOKEN_KEY = "butterfly.token";

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

function setting(name) {
  const meta = document.querySelector(`meta[name="butterfly-${name}"]`);
  return meta ? meta.content : "";
}

export const settings = {
  authUrl: setting("auth-url"),
  anonKey: setting("anon-key"),
  devSignIn: setting("dev-sign-in") === "on",
};

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: fall through to the status line.
  }
  const e = body && body.error;
  if (e) return new ApiError(response.status, e.code, e.message, e.field);
  return new ApiError(response.status, "http_" + response.status, response.statusText || "request failed");
}

/** Supabase Auth's password grant (GoTrue), straight from the page. */
export async function signInWithPassword(email, password) {
  const response = await fetch(`${settings.authUrl}/token?grant_type=password`, {
    method: "POST",
    headers: { "content-type": "application/json", apikey: settings.anonKey },
    body: JSON.stringify({ email, password }),
  });
  if (!response.ok) {
    throw new ApiError(response.status, "sign_in_failed", "Email or password not accepted.");
  }
  const session = await response.json();
  sessionStorage.setItem(TOKEN_KEY, session.access_token);
}

/** The local stack's dev-only sign-in (404 unless the stack enabled it). */
export async function devSignIn() {
  const response = await fetch("/app/dev-session", { method: "POST" });
  if (!response.ok) throw await errorOf(response);
  const session = await response.json();
  sessionStorage.setItem(TOKEN_KEY, session.access_token);
}

/** One API call; JSON in, JSON out. A 401 signs the tab out. */
export async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token()}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/api/v1${path}`, init);
  if (response.status === 401) {
    signOut();
    window.dispatchEvent(new Event("butterfly:signed-out"));
  }
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

/** A binary answer (the audit pack), as a Blob with the server's file name. */
export async function download(path) {
  const response = await fetch(`/api/v1${path}`, {
    headers: { authorization: `Bearer ${token()}` },
  });
  if (!response.ok) throw await errorOf(response);
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  return { blob: await response.blob(), name: match ? match[1] : "download" };
}
