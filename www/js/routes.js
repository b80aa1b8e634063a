// Hash routes: `#/` is the overview, `#/ports/<id>` one port, `#/groups/<id>`
// one group, `#/prices` the price table. The port and group ids are
// encoded (they are user data); the token never goes in the URL.

/** The link to a port's page. */
export function portHref(port) {
  return `#/ports/${encodeURIComponent(port)}`;
}

/** The link to a group's page. */
export function groupHref(group) {
  return `#/groups/${encodeURIComponent(group)}`;
}

/** The link to the price table. */
export const PRICES_HREF = "#/prices";

/** Which view the current hash asks for: `{ view: "overview" }`, `{ view: "prices" }`, `{ view: "port", port }` or `{ view: "group", group }`. */
export function currentRoute(hash = location.hash) {
  if (hash === PRICES_HREF) return { view: "prices" };
  const m = /^#\/(ports|groups)\/([^/]+)$/.exec(hash);
  if (m) {
    try {
      const id = decodeURIComponent(m[2]);
      return m[1] === "ports" ? { view: "port", port: id } : { view: "group", group: id };
    } catch {
      return { view: "overview" };
    }
  }
  return { view: "overview" };
}
