// The admin API client. The token lives in this tab's sessionStorage only: it goes in the
// Authorization header of each call and never in a URL, a cookie or localStorage.

const KEY = "whp.admin-token";

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `${status} ${code}`);
    this.status = status;
    this.code = code;
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

// A query string of the set values only (empty strings and null are left out).
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export async function call(method, path, { body, signal, bearer } = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${bearer ?? token.get() ?? ""}` };
  const init = { method, headers, signal, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/api${path}`, init);
  if (response.status === 401) throw new Unauthorized("the admin token was refused");
  let payload = null;
  const text = await response.text();
  if (text) {
    try {
      payload = JSON.parse(text);
    } catch {
      throw new ApiError(response.status, "bad_response", `the server answered ${response.status} with no JSON`);
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, payload?.error ?? "error", payload?.detail ?? `${response.status}`);
  }
  return payload;
}

export const get = (path, options) => call("GET", path, options);
export const post = (path, body, options) => call("POST", path, { ...options, body });
