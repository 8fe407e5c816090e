// The console's login: the token is kept in this browser tab's sessionStorage, and nowhere else
// (no cookie, no localStorage, never in a URL). The same key as the /docs page's, so logging in
// to one logs in to the other in the same tab. Closing the tab forgets it.
const TOKEN = "drydock-token";
// What the token may do, learned at login; it only decides which links to show: the API decides
// what the token may see and do.
const ROLE = "drydock-console-role";

export function token() {
  return sessionStorage.getItem(TOKEN);
}

export function role() {
  return sessionStorage.getItem(ROLE);
}

export function isAdmin() {
  return role() === "admin";
}

export function remember(newToken, newRole) {
  sessionStorage.setItem(TOKEN, newToken);
  sessionStorage.setItem(ROLE, newRole);
}

export function forget() {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(ROLE);
}
