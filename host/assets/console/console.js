// The admin console: a page per section, each drawn from the public admin
// API with the token kept in this tab's session storage (shared with the
// API reference at /docs). Plain DOM, no framework: `h` builds elements,
// `api` makes requests, each `show*` function draws one section.
"use strict";

const TOKEN_KEY = "kai-token";
const view = document.getElementById("view");
const toastLine = document.getElementById("toast");

// ---------------------------------------------------------------- helpers

/** An element: `h("td", {class: "x"}, "text", child)`. */
function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** An SVG element. */
function svg(tag, attributes, ...children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes || {})) element.setAttribute(name, value);
  for (const child of children.flat()) {
    if (child !== undefined && child !== null) element.append(child);
  }
  return element;
}

/** Replaces the section's content; null children are left out. */
function render(...children) {
  view.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function table(headings, rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headings.map((heading) => h("th", { scope: "col" }, heading)))),
    h("tbody", {}, rows));
}

function toast(message, isError) {
  toastLine.textContent = message;
  toastLine.className = isError ? "error" : "";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { toastLine.textContent = ""; }, isError ? 10000 : 4000);
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

/** A failed request: its status and the API's error code and message. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls the API with the token. `body` is sent as JSON, or as is with
 * `contentType`. Answers the parsed JSON (or text); throws ApiError.
 */
async function api(method, path, body, contentType) {
  const headers = { Authorization: "Bearer " + token() };
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = contentType || "application/json";
    payload = contentType ? body : JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload });
  const type = response.headers.get("Content-Type") || "";
  const data = response.status === 204 ? null
    : type.startsWith("application/json") ? await response.json() : await response.text();
  if (!response.ok) {
    const error = (data && data.error) || {};
    if (response.status === 401) signOut("The token was refused; sign in again.");
    throw new ApiError(response.status, error.code || "error", error.message || response.statusText);
  }
  return data;
}

/** Runs an action, reporting its failure; refreshes the view after it. */
async function act(description, action) {
  try {
    const result = await action();
    toast(description);
    await route();
    return result;
  } catch (error) {
    toast(`${error.message}`, true);
    return undefined;
  }
}

const when = (text) => (text ? new Date(text).toLocaleString() : "");
const json = (value) => h("pre", {}, JSON.stringify(value, null, 2));

// ---------------------------------------------------------------- sign in

async function signIn(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
  try {
    const me = await api("GET", "/api/v1/me");
    if (me.role !== "admin") {
      signOut(`${me.email} is a member: the console is for admins.`);
      return;
    }
    document.getElementById("who").textContent = me.email;
    document.getElementById("sign-in").hidden = true;
    document.getElementById("nav").hidden = false;
    document.getElementById("sign-out").hidden = false;
    await route();
  } catch (error) {
    if (error.status !== 401) toast(error.message, true);
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  stopPolling();
  document.getElementById("who").textContent = "";
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("sign-in").hidden = false;
  render();
  if (message) toast(message, true);
}

document.getElementById("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const field = document.getElementById("token");
  const value = field.value.trim();
  field.value = "";
  if (value) signIn(value);
});
document.getElementById("sign-out").addEventListener("click", () => signOut());

// ---------------------------------------------------------------- sections

const sections = {
  plugins: showPlugins,
  routes: showRoutes,
  users: showUsers,
  credentials: showCredentials,
  metrics: showMetrics,
  analytics: showAnalytics,
  workflows: showWorkflows,
};

async function route() {
  if (!token()) return;
  const name = location.hash.slice(1).split("/")[0] || "plugins";
  for (const link of document.querySelectorAll("#nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === "#" + name);
    if (link.hasAttribute("aria-current")) link.setAttribute("aria-current", "page");
  }
  if (name !== "metrics") stopPolling();
  const show = sections[name] || showPlugins;
  try {
    await show();
  } catch (error) {
    render(h("p", { class: "state-refused" }, error.message));
  }
}
window.addEventListener("hashchange", route);

// ---------------------------------------------------------------- plugins

function stateOf(plugin) {
  if (plugin.status === "awaiting_grant") return "awaiting grant";
  if (plugin.status === "refused") return "refused";
  return plugin.status === "disabled" ? "disabled" : "serving";
}

function stateBadge(state) {
  return h("span", { class: `state state-${state.replace(" ", "-")}` }, state);
}

async function showPlugins() {
  const listing = await api("GET", "/api/v1/admin/plugins");
  const open = location.hash.split("/")[1];
  const rows = [
    ...listing.plugins.map((p) => ({ ...p, state: stateOf(p) })),
    ...listing.pending
      .filter((p) => !listing.plugins.some((serving) => serving.name === p.name))
      .map((p) => ({ ...p, state: "awaiting grant" })),
    ...listing.refused.map((p) => ({ name: p.origin, version: "", state: "refused", error: p.error })),
  ];
  const upgrades = listing.pending.filter((p) => listing.plugins.some((serving) => serving.name === p.name));
  render(
    h("h2", {}, "Plugins"),
    uploadZone(),
    table(["Name", "Version", "Kind", "State", "Routes", ""], rows.map((p) => h("tr", { "data-plugin": p.name },
      h("td", {}, p.name),
      h("td", {}, p.version),
      h("td", {}, p.kind === "wasi-http" ? `wasi:http at ${p.mount}` : p.kind ? "kai:fusion" : ""),
      h("td", {}, stateBadge(p.state), p.error ? h("div", { class: "muted" }, p.error) : null),
      h("td", {}, (p.routes || []).length || ""),
      h("td", {}, p.state === "refused" ? null
        : h("a", { href: `#plugins/${p.name}` }, "Details"))))),
    upgrades.length ? h("p", { class: "state-awaiting-grant" },
      `Awaiting a grant to upgrade: ${upgrades.map((p) => `${p.name} ${p.version}`).join(", ")}`) : null,
    h("p", { class: "muted" },
      `Compile cache: ${listing.compile_cache.hits} hits, ${listing.compile_cache.misses} misses. Allocator: ${listing.allocator}.`),
  );
  if (open) view.append(await pluginDetail(open));
}

async function pluginDetail(name) {
  const plugin = await api("GET", `/api/v1/admin/plugins/${encodeURIComponent(name)}`);
  const enc = encodeURIComponent(name);
  const serving = plugin.status === "active" || plugin.status === "disabled";
  const actions = h("div", { class: "actions" },
    plugin.pending ? h("button", {
      class: "primary",
      onclick: () => act(`${name}: granted what it requests`,
        () => api("POST", `/api/v1/admin/plugins/${enc}/grants`, { accept_requested: true })),
    }, `Grant what ${plugin.pending.version} requests`) : null,
    plugin.status === "active" ? h("button", {
      onclick: () => act(`${name}: disabled`, () => api("POST", `/api/v1/admin/plugins/${enc}/disable`)),
    }, "Disable") : null,
    plugin.status === "disabled" ? h("button", {
      onclick: () => act(`${name}: enabled`, () => api("POST", `/api/v1/admin/plugins/${enc}/enable`)),
    }, "Enable") : null,
    serving && (plugin.versions || []).length > 1 ? h("button", {
      onclick: () => act(`${name}: rolled back`, () => api("POST", `/api/v1/admin/plugins/${enc}/rollback`)),
    }, "Roll back") : null,
    h("button", {
      class: "danger",
      onclick: () => {
        if (!confirm(`Remove ${name}? Its tables stay unless you purge them with the API.`)) return;
        act(`${name}: removed`, async () => {
          await api("DELETE", `/api/v1/admin/plugins/${enc}`);
          location.hash = "#plugins";
        });
      },
    }, "Remove"),
  );
  return h("section", { class: "card", "aria-label": `Plugin ${name}` },
    h("h3", {}, `${name} ${plugin.version || ""}`),
    plugin.description ? h("p", {}, plugin.description) : null,
    actions,
    plugin.pending ? h("div", { class: "plan" },
      h("p", {}, `Version ${plugin.pending.version} awaits a grant. It requests:`),
      json(plugin.pending.requested),
      plugin.pending.missing ? h("p", {}, "Not yet granted:") : null,
      plugin.pending.missing ? json(plugin.pending.missing) : null) : null,
    plugin.routes ? h("h3", {}, "Routes") : null,
    plugin.routes ? table(["Method", "Path", "Public"], plugin.routes.map((r) =>
      h("tr", {}, h("td", {}, r.method), h("td", {}, h("code", {}, r.path)), h("td", {}, r.public ? "yes" : "")))) : null,
    plugin.requested ? h("h3", {}, "Capabilities: requested, then granted") : null,
    plugin.requested ? json(plugin.requested) : null,
    plugin.granted ? json(plugin.granted) : null,
    h("h3", {}, "Versions"),
    json(plugin.versions),
    h("h3", {}, "History"),
    table(["When", "Action", "From", "To", "By"], (plugin.history || []).map((e) => h("tr", {},
      h("td", {}, when(e.at)), h("td", {}, e.action), h("td", {}, e.from_version || ""),
      h("td", {}, e.to_version || ""), h("td", {}, e.actor || "")))),
  );
}

function uploadZone() {
  const input = h("input", { type: "file", accept: ".wasm,application/wasm", id: "upload" });
  const zone = h("div", { class: "dropzone", id: "dropzone" },
    h("p", {}, "Drop a plugin's .wasm here to install or upgrade it, or "),
    h("label", { for: "upload" }, "choose a file: "),
    input,
    h("div", { id: "upload-result" }));
  input.addEventListener("change", () => input.files[0] && upload(input.files[0], ""));
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) upload(file, "");
  });
  return zone;
}

/** Uploads a .wasm; a destructive migration or an older version asks first. */
async function upload(file, query) {
  const result = document.getElementById("upload-result");
  try {
    const report = await api("POST", `/api/v1/admin/plugins${query}`, file, "application/wasm");
    const name = report.name;
    toast(`${name}: ${report.action || "installed"}, ${report.status}`);
    location.hash = `#plugins/${name}`;
    await route();
  } catch (error) {
    if (error.code === "confirmation_required" || error.code === "version_not_newer") {
      const destructive = error.code === "confirmation_required";
      result.replaceChildren(h("div", { class: "plan", role: "alertdialog", "aria-label": "Confirm the upload" },
        h("p", {}, destructive ? "This upgrade's migration drops data. The plan:" : "This version is not newer than the installed one."),
        h("pre", {}, error.message),
        h("div", { class: "actions" },
          h("button", {
            class: destructive ? "danger" : "primary",
            onclick: () => upload(file, destructive ? "?confirm_destructive=true" : "?force=true"),
          }, destructive ? "Apply the plan" : "Install anyway"),
          h("button", { onclick: () => result.replaceChildren() }, "Cancel"))));
    } else {
      result.replaceChildren(h("p", { class: "state-refused" }, `Refused: ${error.message}`));
    }
  }
}

// ---------------------------------------------------------------- routes

async function showRoutes() {
  const { routes } = await api("GET", "/api/v1/admin/routes");
  render(
    h("h2", {}, "Routes"),
    h("p", { class: "muted" }, `${routes.length} routes: the core's and every serving plugin's.`),
    table(["Method", "Path", "Owner", "Version", "Public"], routes.map((r) => h("tr", {},
      h("td", {}, r.method), h("td", {}, h("code", {}, r.path)), h("td", {}, r.owner),
      h("td", {}, r.version || ""), h("td", {}, r.public ? "yes" : "")))));
}

// ---------------------------------------------------------------- users

async function showUsers() {
  const { items: users } = await api("GET", "/api/v1/users");
  const selected = location.hash.split("/")[1] || (users[0] && users[0].id);
  const tokens = selected ? (await api("GET", `/api/v1/tokens?user_id=${encodeURIComponent(selected)}`)).items : [];
  const owner = users.find((u) => u.id === selected);
  const secret = h("div", { id: "new-token" });
  render(
    h("h2", {}, "Users and tokens"),
    table(["Email", "Role", "State", "Created", ""], users.map((u) => h("tr", {},
      h("td", {}, h("a", { href: `#users/${u.id}` }, u.email)),
      h("td", {}, u.role),
      h("td", {}, u.disabled ? "disabled" : "active"),
      h("td", {}, when(u.created_at)),
      h("td", { class: "actions" },
        h("button", {
          onclick: () => act(`${u.email} is now ${u.role === "admin" ? "a member" : "an admin"}`,
            () => api("PATCH", `/api/v1/users/${u.id}`, { role: u.role === "admin" ? "member" : "admin" })),
        }, u.role === "admin" ? "Make member" : "Make admin"),
        h("button", {
          onclick: () => act(`${u.email} ${u.disabled ? "enabled" : "disabled"}`,
            () => api("PATCH", `/api/v1/users/${u.id}`, { disabled: !u.disabled })),
        }, u.disabled ? "Enable" : "Disable"))))),
    h("h3", {}, "New user"),
    h("form", {
      class: "inline",
      onsubmit: (event) => {
        event.preventDefault();
        const form = new FormData(event.target);
        act("user created", () => api("POST", "/api/v1/users", { email: form.get("email"), role: form.get("role") }));
      },
    },
      h("label", {}, "Email", h("input", { name: "email", type: "email", required: true })),
      h("label", {}, "Role", h("select", { name: "role" }, h("option", {}, "member"), h("option", {}, "admin"))),
      h("button", { type: "submit", class: "primary" }, "Create")),
    owner ? h("h3", {}, `Tokens of ${owner.email}`) : null,
    owner ? table(["Name", "Created", "Expires", "Last used", "State", ""], tokens.map((t) => h("tr", {},
      h("td", {}, t.name), h("td", {}, when(t.created_at)), h("td", {}, when(t.expires_at)),
      h("td", {}, when(t.last_used_at)), h("td", {}, t.revoked_at ? "revoked" : "live"),
      h("td", {}, t.revoked_at ? null : h("button", {
        class: "danger",
        onclick: () => act(`token ${t.name} revoked`, () => api("DELETE", `/api/v1/tokens/${t.id}`)),
      }, "Revoke"))))) : null,
    owner ? h("form", {
      class: "inline",
      onsubmit: async (event) => {
        event.preventDefault();
        const form = new FormData(event.target);
        const days = form.get("days");
        try {
          const created = await api("POST", "/api/v1/tokens", {
            name: form.get("name"), user_id: owner.id, expires_in_days: days ? Number(days) : undefined,
          });
          await route();
          document.getElementById("new-token").replaceChildren(h("p", { class: "secret" },
            "The new token, shown this once: ", h("code", {}, created.token)));
        } catch (error) {
          toast(error.message, true);
        }
      },
    },
      h("label", {}, "Token name", h("input", { name: "name", required: true })),
      h("label", {}, "Expires in days", h("input", { name: "days", type: "number", min: 1 })),
      h("button", { type: "submit", class: "primary" }, "Create token")) : null,
    secret,
  );
}

// ---------------------------------------------------------------- credentials

async function showCredentials() {
  const { items } = await api("GET", "/api/v1/credentials");
  render(
    h("h2", {}, "Credentials"),
    h("p", { class: "muted" }, "Metadata only: a secret is write-only, here as in the API."),
    table(["Name", "Service", "Owner", "Plugins allowed", "Opens", "Updated", ""], items.map((c) => h("tr", {},
      h("td", {}, c.name), h("td", {}, c.service_type), h("td", {}, h("code", {}, c.owner)),
      h("td", {}, c.allowed_plugins.join(", ")), h("td", {}, c.readable === false ? "no: set a new secret" : "yes"),
      h("td", {}, when(c.updated_at)),
      h("td", {}, h("button", {
        class: "danger",
        onclick: () => confirm(`Delete the credential ${c.name}?`)
          && act(`credential ${c.name} deleted`, () => api("DELETE", `/api/v1/credentials/${c.id}`)),
      }, "Delete"))))),
    h("h3", {}, "New credential"),
    h("form", {
      class: "inline",
      onsubmit: (event) => {
        event.preventDefault();
        const form = new FormData(event.target);
        let secret;
        try {
          secret = JSON.parse(form.get("secret"));
        } catch (error) {
          toast("secret: not JSON", true);
          return;
        }
        const plugins = String(form.get("plugins")).split(",").map((p) => p.trim()).filter(Boolean);
        act("credential stored", () => api("POST", "/api/v1/credentials", {
          name: form.get("name"), service_type: form.get("service_type"), secret, allowed_plugins: plugins,
        }));
      },
    },
      h("label", {}, "Name", h("input", { name: "name", required: true })),
      h("label", {}, "Service type", h("input", { name: "service_type", required: true })),
      h("label", {}, "Secret (a JSON object)", h("textarea", { name: "secret", rows: 2, required: true, autocomplete: "off" })),
      h("label", {}, "Plugins allowed (comma-separated)", h("input", { name: "plugins" })),
      h("button", { type: "submit", class: "primary" }, "Store")),
  );
}

// ---------------------------------------------------------------- metrics

const POLL_MS = 5000;
const KEEP_POINTS = 60;
let poller = null;
let lastScrape = null;
const series = new Map(); // plugin -> {rate, p50, p99, errors, timeouts: number[]}

function stopPolling() {
  clearInterval(poller);
  poller = null;
}

/** Prometheus text: [{name, labels, value}]. */
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = line.match(/^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/);
    if (!match) continue;
    const labels = {};
    for (const [, key, raw] of (match[3] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = raw.replace(/\\(.)/g, "$1");
    }
    samples.push({ name: match[1], labels, value: Number(match[4]) });
  }
  return samples;
}

/** Per plugin: calls, errors, timeouts and duration buckets (summed over versions). */
function perPlugin(samples) {
  const plugins = new Map();
  const of = (name) => {
    if (!plugins.has(name)) plugins.set(name, { calls: 0, errors: 0, timeouts: 0, buckets: new Map() });
    return plugins.get(name);
  };
  for (const s of samples) {
    if (s.name === "kai_plugin_calls_total") {
      const p = of(s.labels.plugin);
      p.calls += s.value;
      if (s.labels.outcome !== "ok") p.errors += s.value;
      if (s.labels.outcome === "timeout") p.timeouts += s.value;
    } else if (s.name === "kai_plugin_call_duration_seconds_bucket") {
      const p = of(s.labels.plugin);
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      p.buckets.set(le, (p.buckets.get(le) || 0) + s.value);
    }
  }
  return plugins;
}

/** The quantile `q` in ms of cumulative bucket counts (a Prometheus histogram). */
function quantile(q, buckets) {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) || 0;
  if (!total) return null;
  const rank = q * total;
  let previousBound = 0;
  let previousCount = 0;
  for (const bound of bounds) {
    const count = buckets.get(bound);
    if (count >= rank) {
      if (bound === Infinity) return previousBound * 1000;
      const share = count === previousCount ? 0 : (rank - previousCount) / (count - previousCount);
      return (previousBound + (bound - previousBound) * share) * 1000;
    }
    previousBound = bound;
    previousCount = count;
  }
  return null;
}

async function scrape() {
  const now = performance.now();
  const plugins = perPlugin(parseMetrics(await api("GET", "/metrics")));
  if (lastScrape) {
    const seconds = (now - lastScrape.at) / 1000;
    for (const [name, p] of plugins) {
      const before = lastScrape.plugins.get(name) || { calls: 0, errors: 0, timeouts: 0, buckets: new Map() };
      const delta = new Map([...p.buckets].map(([le, count]) => [le, count - (before.buckets.get(le) || 0)]));
      const point = {
        rate: (p.calls - before.calls) / seconds,
        errors: (p.errors - before.errors) / seconds,
        timeouts: p.timeouts - before.timeouts,
        p50: quantile(0.5, delta),
        p99: quantile(0.99, delta),
      };
      const history = series.get(name) || { rate: [], p50: [], p99: [], errors: [], timeouts: [] };
      for (const key of Object.keys(history)) {
        history[key].push(point[key]);
        if (history[key].length > KEEP_POINTS) history[key].shift();
      }
      series.set(name, history);
    }
  }
  lastScrape = { at: now, plugins };
}

/** A line chart of `values` (nulls are gaps), with its latest value in the caption. */
function sparkline(title, values, unit) {
  const width = 240;
  const height = 60;
  const known = values.filter((v) => v !== null && Number.isFinite(v));
  const top = Math.max(...known, 1e-9);
  const step = (width - 4) / Math.max(KEEP_POINTS - 1, 1);
  const offset = (KEEP_POINTS - values.length) * step;
  let path = "";
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) return;
    const x = offset + i * step;
    const y = height - (v / top) * (height - 4) - 2;
    path += `${path && values[i - 1] !== null ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
  });
  const latest = known.length ? known[known.length - 1] : null;
  const last = values.length - 1;
  const dot = latest === null || values[last] === null ? null
    : svg("circle", { cx: offset + last * step, cy: height - (values[last] / top) * (height - 4) - 2, r: 3, fill: "#2563eb" });
  const label = latest === null ? "no calls yet" : `${latest.toFixed(latest < 10 ? 2 : 0)} ${unit}`;
  return h("figure", {},
    svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title}: ${label}` },
      svg("title", {}, `${title}: ${label}`),
      svg("path", { d: path || "M0,0", fill: "none", stroke: "#2563eb", "stroke-width": "2" }),
      dot),
    h("figcaption", {}, `${title}: ${label}`));
}

async function showMetrics() {
  const draw = () => {
    const names = [...series.keys()].sort();
    render(
      h("h2", {}, "Metrics"),
      h("p", { class: "muted" }, `Per plugin, from GET /metrics every ${POLL_MS / 1000} s (rates per second over each interval).`),
      names.length ? null : h("p", {}, "Waiting for two scrapes..."),
      ...names.map((name) => {
        const s = series.get(name);
        return h("section", { class: "card", "data-metrics-plugin": name },
          h("h3", {}, name),
          h("div", { class: "charts" },
            sparkline("requests", s.rate, "/s"),
            sparkline("p50", s.p50, "ms"),
            sparkline("p99", s.p99, "ms"),
            sparkline("errors", s.errors, "/s"),
            sparkline("timeouts", s.timeouts, "")));
      }));
  };
  const tick = async () => {
    try {
      await scrape();
      if (location.hash.startsWith("#metrics")) draw();
    } catch (error) {
      toast(error.message, true);
    }
  };
  draw();
  if (!poller) {
    await tick();
    poller = setInterval(tick, POLL_MS);
  }
}

// ---------------------------------------------------------------- analytics

/** Horizontal bars: [{label, value}]. */
function bars(title, entries) {
  const rowHeight = 22;
  const width = 360;
  const top = Math.max(...entries.map((e) => e.value), 1);
  const height = Math.max(entries.length * rowHeight, rowHeight);
  const summary = entries.map((e) => `${e.label} ${e.value}`).join(", ") || "none";
  return h("figure", {},
    svg("svg", { class: "bars", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title}: ${summary}` },
      svg("title", {}, `${title}: ${summary}`),
      ...entries.map((e, i) => svg("g", {},
        svg("rect", { x: 120, y: i * rowHeight + 3, width: ((width - 170) * e.value) / top, height: rowHeight - 6, fill: "#2563eb" }),
        svg("text", { x: 0, y: i * rowHeight + 16, "font-size": 12 }, String(e.label).slice(0, 18)),
        svg("text", { x: 124 + ((width - 170) * e.value) / top, y: i * rowHeight + 16, "font-size": 12 }, String(e.value))))),
    h("figcaption", {}, title));
}

/** Columns per day: created and last changed. */
function activityChart(activity) {
  const width = 600;
  const height = 120;
  const top = Math.max(...activity.map((d) => Math.max(d.created, d.last_changed)), 1);
  const slot = width / Math.max(activity.length, 1);
  const total = activity.reduce((sum, d) => sum + d.created, 0);
  return h("figure", {},
    svg("svg", { class: "bars", viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `Activity per day: ${total} documents created over ${activity.length} days` },
      svg("title", {}, `Activity: ${total} created`),
      ...activity.map((d, i) => svg("g", {},
        svg("rect", { x: i * slot + 1, y: height - (d.created / top) * height, width: slot / 2 - 1, height: (d.created / top) * height, fill: "#2563eb" },
          svg("title", {}, `${d.date}: ${d.created} created`)),
        svg("rect", { x: i * slot + slot / 2, y: height - (d.last_changed / top) * height, width: slot / 2 - 1, height: (d.last_changed / top) * height, fill: "#f59e0b" },
          svg("title", {}, `${d.date}: ${d.last_changed} last changed`))))),
    h("figcaption", {}, `Per day from ${activity.length ? activity[0].date : ""}: created (blue), last changed (amber)`));
}

async function showAnalytics() {
  const { items: collections } = await api("GET", "/api/v1/collections?limit=1000");
  const selected = location.hash.split("/")[1] || "";
  let data;
  try {
    data = await api("GET", selected ? `/api/v1/collections/${selected}/analytics` : "/api/v1/analytics/overview");
  } catch (error) {
    render(h("h2", {}, "Analytics"), h("p", {}, error.status === 404
      ? "The collection-analytics plugin is not serving: install or enable it." : error.message));
    return;
  }
  render(
    h("h2", {}, "Analytics"),
    h("label", {}, "Collection ",
      h("select", { onchange: (event) => { location.hash = `#analytics/${event.target.value}`; } },
        h("option", { value: "" }, "All collections"),
        collections.map((c) => h("option", { value: c.id, selected: c.id === selected }, c.name)))),
    h("p", {}, `${data.documents.total} documents (${data.documents.archived} archived), ${data.word_count.total} words, from ${data.range.from} to ${data.range.to}.`),
    activityChart(data.activity),
    h("div", { class: "charts" },
      bars("Formats", Object.entries(data.by_format).map(([label, value]) => ({ label, value }))),
      bars("Top tags", data.top_tags.map((t) => ({ label: t.tag, value: t.count })))),
  );
}

// ---------------------------------------------------------------- workflows

const RUN_STATES = { succeeded: "serving", failed: "refused", cancelled: "disabled" };
const STARTED_BY = {
  manual: "Started by a request", event: "Started by an event", schedule: "Started by its schedule",
  webhook: "Started by its webhook", workflow: "Started as a sub-run of ",
};

function runBadge(status) {
  return h("span", { class: `state state-${RUN_STATES[status] || "awaiting-grant"}` }, status);
}

/** Milliseconds as a short duration. */
function duration(ms) {
  return ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function triggerText(t) {
  if (t.type === "event") return `${t.event} in ${t.collection_id}`;
  if (t.type === "schedule") return `cron ${t.cron}`;
  return t.type;
}

/** `#workflows`, `#workflows/<id>` (its runs) or `#workflows/<id>/<run>`. */
async function showWorkflows() {
  const [, id, run] = location.hash.slice(1).split("/");
  if (id && run) return showRun(id, run);
  if (id) return showWorkflow(id);
  const { items } = await api("GET", "/api/v1/workflows?limit=1000");
  render(
    h("h2", {}, "Workflows"),
    h("p", { class: "muted" }, `${items.length} workflows, every user's.`),
    table(["Name", "Owner", "Version", "Nodes", "Triggers", "Updated"], items.map((w) => h("tr", { "data-workflow": w.id },
      h("td", {}, h("a", { href: `#workflows/${w.id}` }, w.name)),
      h("td", {}, h("code", {}, w.owner)), h("td", {}, w.version), h("td", {}, w.nodes.length),
      h("td", {}, w.triggers.map(triggerText).join("; ")), h("td", {}, when(w.updated_at))))),
  );
}

async function showWorkflow(id) {
  const workflow = await api("GET", `/api/v1/workflows/${id}`);
  const { items: runs } = await api("GET", `/api/v1/workflows/${id}/executions?limit=100`);
  render(
    h("p", {}, h("a", { href: "#workflows" }, "All workflows")),
    h("h2", {}, `${workflow.name} (version ${workflow.version})`),
    workflow.description ? h("p", {}, workflow.description) : null,
    h("div", { class: "charts" },
      h("section", { class: "card", "aria-label": "Nodes" }, h("h3", {}, "Nodes"),
        table(["Node", "Kind", "Goes to"], workflow.nodes.map((n) => h("tr", {},
          h("td", {}, n.id), h("td", {}, h("code", {}, n.kind)),
          h("td", {}, workflow.edges.filter((e) => e.from === n.id)
            .map((e) => e.condition ? `${e.to} if ${e.condition}` : e.to).join(", ")))))),
      h("section", { class: "card", "aria-label": "Triggers" }, h("h3", {}, "Triggers"),
        workflow.triggers.length ? h("ul", {}, workflow.triggers.map((t) => h("li", {}, triggerText(t))))
          : h("p", { class: "muted" }, "Started by requests only."))),
    h("h3", {}, "Runs, newest first"),
    h("button", { onclick: () => route() }, "Refresh"),
    table(["Run", "Status", "Started by", "Created", "Finished", "Steps", "Error"], runs.map((r) => h("tr", { "data-run": r.id },
      h("td", {}, h("a", { href: `#workflows/${id}/${r.id}` }, r.id.slice(-12))),
      h("td", {}, runBadge(r.status)), h("td", {}, r.trigger),
      h("td", {}, when(r.created_at)), h("td", {}, when(r.finished_at)), h("td", {}, r.steps),
      h("td", {}, r.error || "")))),
  );
}

/** One run, replayed step by step: each attempt with what went in and out. */
async function showRun(id, runId) {
  const path = `/api/v1/workflows/${id}/executions/${runId}`;
  const run = await api("GET", path);
  const live = ["queued", "running", "waiting"].includes(run.status);
  render(
    h("p", {}, h("a", { href: `#workflows/${id}` }, "All runs of this workflow")),
    h("h2", {}, "Run ", h("code", {}, run.id), " ", runBadge(run.status)),
    h("p", {}, STARTED_BY[run.trigger] || run.trigger,
      run.parent_id ? h("code", {}, run.parent_id) : null,
      `, version ${run.version}, created ${when(run.created_at)}`,
      run.finished_at ? `, finished ${when(run.finished_at)}` : ""),
    run.error ? h("p", { class: "state-refused" }, run.error) : null,
    h("div", { class: "actions" },
      h("button", { onclick: () => route() }, "Refresh"),
      live ? h("button", {
        class: "danger", onclick: () => act("run cancelled", () => api("POST", `${path}/cancel`)),
      }, "Cancel") : null,
      run.status === "failed" ? h("button", {
        class: "primary", onclick: () => act("run retried from the node that failed", () => api("POST", `${path}/retry`)),
      }, "Retry from the failed node") : null),
    h("div", { class: "charts" },
      h("section", { class: "card", "aria-label": "Input" }, h("h3", {}, "Input"), json(run.input)),
      run.output !== undefined ? h("section", { class: "card", "aria-label": "Output" }, h("h3", {}, "Output"), json(run.output)) : null),
    h("h3", {}, "Timeline"),
    table(["#", "Node", "Kind", "Attempt", "Status", "Started", "Took", "In and out"], run.timeline.map((step) => h("tr", { "data-step": step.seq },
      h("td", {}, step.seq), h("td", {}, step.node_id), h("td", {}, h("code", {}, step.kind)),
      h("td", {}, step.attempt), h("td", {}, runBadge(step.status)),
      h("td", {}, when(step.started_at)), h("td", {}, duration(step.duration_ms)),
      h("td", {}, step.error ? h("div", { class: "state-refused" }, step.error) : null,
        h("details", {}, h("summary", {}, "Input"), json(step.input)),
        step.output !== undefined && step.output !== null
          ? h("details", {}, h("summary", {}, "Output"), json(step.output)) : null)))),
    run.timeline_next ? h("p", { class: "muted" }, "The timeline goes on: the API pages it with ?after=.") : null,
  );
}

// ---------------------------------------------------------------- start

if (token()) signIn(token());
else document.getElementById("sign-in").hidden = false;
