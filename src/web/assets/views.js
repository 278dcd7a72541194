// The dashboard's pages. Each view is `render(ctx)` returning the nodes of <main>; it reads and
// writes only through the public API (api.js). Long-running work (backups, restores) is polled
// and its progress spoken through a polite live region.

import { api, download } from "./api.js";
import { announce, badge, field, form, h, link, problem, save, svg, table, when } from "./ui.js";

const enc = encodeURIComponent;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rerender() {
  window.dispatchEvent(new Event("butterfly:rerender"));
}

function teamPicker(session) {
  if (session.teams.length < 2) return null;
  const select = h(
    "select",
    {
      name: "team",
      onchange: (e) => {
        sessionStorage.setItem("butterfly.team", e.target.value);
        session.team = session.teams.find((t) => t.id === e.target.value);
        rerender();
      },
    },
    session.teams.map((t) => h("option", { value: t.id, selected: t.id === session.team.id }, t.name)),
  );
  return field("Team", select);
}

/** Repeats `step` until it returns true, while the view is still shown. */
async function poll(ctx, step, ms = 1000) {
  while (ctx.alive()) {
    if (await step()) return;
    await sleep(ms);
  }
}

// ---- connections ----

const OKTA_HELP = [
  "In the Okta Admin Console, sign in as a super administrator of the org to back up.",
  "Create a read-only administrator for Butterfly (Security → Administrators → Add administrator, role Read-only Administrator), then sign in as it.",
  "Create its token: Security → API → Tokens → Create token. Okta shows the value once; paste it below.",
  "Butterfly verifies the token against the org, seals it with your team's key and never shows it again. Restores need a token of an administrator allowed to write what they restore.",
];

async function connectionsView(ctx) {
  const { connections } = await api("GET", "/connections");
  const mine = connections.filter((c) => c.team_id === ctx.session.team.id);
  const rows = mine.map((c) => [
    link(`#/connections/${c.id}`, c.org_domain),
    badge(c.status),
    c.last_error || "—",
    when(c.verified_at),
  ]);
  const add = form(
    "Add a connection",
    [
      field(
        "Okta org domain",
        h("input", { name: "org_domain", required: true, placeholder: "example.okta.com", autocomplete: "off" }),
        "The org's own domain, without https://",
      ),
      field(
        "Okta API token",
        h("input", { name: "api_token", type: "password", required: true, autocomplete: "off" }),
        "An SSWS token of a read-only administrator (see the steps above).",
      ),
    ],
    "Connect",
    async (data, status) => {
      const { connection } = await api("POST", "/connections", {
        org_domain: data.get("org_domain").trim(),
        api_token: data.get("api_token"),
        team_id: ctx.session.team.id,
      });
      announce(`Connected ${connection.org_domain}`);
      location.hash = `#/connections/${connection.id}`;
    },
  );
  return [
    h("h1", {}, "Connections"),
    teamPicker(ctx.session),
    table("Okta orgs of this team", ["Org", "Status", "Last error", "Verified"], rows, "No Okta org connected yet."),
    h(
      "section",
      { "aria-labelledby": "add-h" },
      h("h2", { id: "add-h" }, "Connect an Okta org"),
      h("ol", { class: "steps" }, OKTA_HELP.map((s) => h("li", {}, s))),
      add,
    ),
  ];
}

function backupRow(b) {
  const counts = b.counts && typeof b.counts === "object" ? b.counts : null;
  const progress =
    b.status === "running"
      ? counts
        ? `${Object.values(counts).reduce((a, n) => a + (Number(n) || 0), 0)} items so far`
        : "collecting…"
      : b.object_count != null
        ? `${b.object_count} objects`
        : b.error || "—";
  return [
    link(`#/backups/${b.id}`, when(b.started_at)),
    badge(b.status),
    b.trigger,
    progress,
    when(b.finished_at),
  ];
}

function compareForm(id, complete) {
  if (complete.length < 2) return h("p", { class: "empty" }, "Two complete backups are needed to compare.");
  const options = (selected) => complete.map((b, i) => h("option", { value: b.id, selected: i === selected }, when(b.started_at)));
  return form(
    "Compare two backups",
    [field("From", h("select", { name: "from" }, options(1))), field("To", h("select", { name: "to" }, options(0)))],
    "Show changes",
    async (data) => {
      location.hash = `#/connections/${id}/diff?from=${enc(data.get("from"))}&to=${enc(data.get("to"))}`;
    },
  );
}

/** Labels a connection production or sandbox: drills and sandbox restores write only into a sandbox. */
function environmentForm(connection) {
  const current = connection.environment || "production";
  return form(
    "Environment label",
    [
      field(
        "Label this org as",
        h("select", { name: "environment" }, ["production", "sandbox"].map((e) => h("option", { value: e, selected: e === current }, e))),
        "A sandbox org may be written by recovery drills and restored into without a second approver.",
      ),
    ],
    "Save the label",
    async (data, status) => {
      const { environment } = await api("PATCH", `/connections/${connection.id}/environment`, { environment: data.get("environment") });
      status.textContent = `Labelled ${environment}.`;
      announce(status.textContent);
    },
  );
}

async function connectionView(ctx) {
  const id = ctx.params.id;
  const [{ connection }, { backups }] = await Promise.all([
    api("GET", `/connections/${id}`),
    api("GET", `/connections/${id}/backups`),
  ]);
  const live = h("div", { class: "progress", role: "status", "aria-live": "polite" });
  const list = h("div", {});
  const compareBox = h("div", {});
  const restoreItem = h("li", {});
  const drawList = (items) => {
    list.replaceChildren(
      table("Backups, newest first", ["Started", "Status", "Trigger", "Progress", "Finished"], items.map((b) => backupRow(b)), "No backup yet."),
    );
    const complete = items.filter((b) => b.status === "complete");
    compareBox.replaceChildren(compareForm(id, complete));
    restoreItem.replaceChildren(complete.length ? link(`#/connections/${id}/restore?backup=${complete[0].id}`, "Restore from the latest backup") : "");
  };
  drawList(backups);

  const follow = async (backupId) => {
    await poll(ctx, async () => {
      const { backup } = await api("GET", `/backups/${backupId}`);
      const fresh = await api("GET", `/connections/${id}/backups`);
      drawList(fresh.backups);
      if (backup.status === "running") {
        live.textContent = `Backup running: ${backupRow(backup)[3]}`;
        return false;
      }
      live.textContent = backup.status === "complete" ? `Backup complete: ${backup.object_count} objects.` : `Backup ${backup.status}: ${backup.error || ""}`;
      return true;
    });
  };
  const running = backups.find((b) => b.status === "running");
  if (running) follow(running.id);

  const start = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        start.disabled = true;
        try {
          const { backup } = await api("POST", `/connections/${id}/backups`);
          live.textContent = "Backup started.";
          await follow(backup.id);
        } catch (e) {
          live.replaceChildren(problem(e));
        } finally {
          start.disabled = false;
        }
      },
    },
    "Run a backup now",
  );

  return [
    h("h1", {}, connection.org_domain),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Status"),
      h("dd", {}, badge(connection.status)),
      h("dt", {}, "Health"),
      h("dd", {}, connection.last_error ? `Last error: ${connection.last_error}` : "No error reported"),
      h("dt", {}, "Verified"),
      h("dd", {}, when(connection.verified_at)),
      h("dt", {}, "Granted scopes"),
      h("dd", {}, (connection.granted_scopes || []).join(", ") || "—"),
      h("dt", {}, "Environment"),
      h("dd", {}, badge(connection.environment || "production")),
    ),
    environmentForm(connection),
    h(
      "nav",
      { "aria-label": "This connection", class: "subnav" },
      h(
        "ul",
        {},
        h("li", {}, link(`#/connections/${id}/drift`, "Drift alerts")),
        h("li", {}, link(`#/compliance?connection=${id}`, "Compliance findings")),
        h("li", {}, link(`#/connections/${id}/drills`, "Recovery drills")),
        restoreItem,
      ),
    ),
    h("section", { "aria-labelledby": "bk-h" }, h("h2", { id: "bk-h" }, "Backups"), start, live, list),
    h("section", { "aria-labelledby": "cmp-h" }, h("h2", { id: "cmp-h" }, "Compare backups"), compareBox),
  ];
}

// ---- backups ----

async function backupView(ctx) {
  const { backup } = await api("GET", `/backups/${ctx.params.id}`);
  const counts = backup.counts && typeof backup.counts === "object" ? backup.counts : {};
  const types = Object.keys(counts).sort();
  const rows = types.map((type) => {
    const slot = h("span", {});
    const get = h(
      "button",
      {
        type: "button",
        class: "small",
        "aria-label": `Get link for ${type}`,
        onclick: async () => {
          try {
            const { url, expires_at } = await api("GET", `/backups/${backup.id}/objects/${enc(type)}/url`);
            slot.replaceChildren(
              h("a", { href: url, download: `${type}.json`, class: "download" }, `Download ${type}.json`),
              ` (link valid until ${when(expires_at * 1000)})`,
            );
            slot.querySelector("a").focus();
          } catch (e) {
            slot.replaceChildren(problem(e));
          }
        },
      },
      "Get link",
    );
    const value = counts[type];
    return [type, typeof value === "object" ? JSON.stringify(value) : String(value), backup.status === "complete" ? h("span", {}, get, " ", slot) : "—"];
  });
  return [
    h("h1", {}, `Backup of ${when(backup.started_at)}`),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Status"),
      h("dd", {}, badge(backup.status)),
      h("dt", {}, "Finished"),
      h("dd", {}, when(backup.finished_at)),
      h("dt", {}, "Objects"),
      h("dd", {}, backup.object_count ?? "—"),
      backup.error ? [h("dt", {}, "Error"), h("dd", {}, backup.error)] : null,
    ),
    h(
      "p",
      {},
      link(`#/connections/${backup.connection_id}`, "Back to the connection"),
      backup.status === "complete" ? [" · ", link(`#/connections/${backup.connection_id}/restore?backup=${backup.id}`, "Restore from this backup")] : null,
    ),
    h("p", { class: "hint" }, "Links are signed for one object, valid for five minutes, and every one is recorded in the audit log."),
    table("Objects in this backup", ["Object", "Items", "Download"], rows, "No objects recorded."),
  ];
}

// ---- diff and history ----

function fieldText(fields) {
  return (fields || []).map((f) => (f.secret && f.before === undefined && f.after === undefined ? `${f.path}: (secret withheld)` : `${f.path}: ${short(f.before)} → ${short(f.after)}`)).join("; ");
}

function changeRows(connectionId, changes) {
  return changes.map((c) => {
    const rid = String(c.id);
    return [
      c.resource,
      /^[A-Za-z0-9_-]+$/.test(rid) ? link(`#/connections/${connectionId}/history/${enc(c.resource)}/${enc(rid)}`, rid) : rid,
      badge(c.kind),
      fieldText(c.fields) || "—",
    ];
  });
}

function short(value) {
  if (value === undefined) return "∅";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 80 ? text.slice(0, 77) + "…" : text;
}

async function diffView(ctx) {
  const id = ctx.params.id;
  const from = ctx.query.get("from");
  const to = ctx.query.get("to");
  const cursor = ctx.query.get("cursor");
  let path = `/connections/${id}/diff?from=${enc(from)}&to=${enc(to)}&limit=100`;
  if (cursor) path += `&cursor=${enc(cursor)}`;
  const diff = await api("GET", path);
  const types = (diff.summary && diff.summary.types) || [];
  const summaryRows = types
    .filter((t) => t.added || t.removed || t.changed)
    .map((t) => [t.resource, String(t.added || 0), String(t.removed || 0), String(t.changed || 0), String(t.unchanged ?? "—")]);
  return [
    h("h1", {}, "Changes between backups"),
    h("p", {}, `From ${when(diff.from.started_at || diff.from.created_at)} to ${when(diff.to.started_at || diff.to.created_at)}: ${diff.total} ${diff.total === 1 ? "change" : "changes"}. Secret values are withheld.`),
    table("Changes per type", ["Type", "Added", "Removed", "Changed", "Unchanged"], summaryRows, "No type changed."),
    table("Changed resources", ["Type", "Resource", "Change", "Fields"], changeRows(id, diff.changes), "Nothing changed."),
    diff.next_cursor
      ? h("p", {}, link(`#/connections/${id}/diff?from=${enc(from)}&to=${enc(to)}&cursor=${enc(diff.next_cursor)}`, "Next page"))
      : null,
    h("p", {}, link(`#/connections/${id}`, "Back to the connection")),
  ];
}

async function historyView(ctx) {
  const { id, type, oktaId } = ctx.params;
  const history = await api("GET", `/connections/${id}/resources/${enc(type)}/${enc(oktaId)}/history?limit=50`);
  const rows = history.versions.map((v) => [
    when(v.captured_at),
    badge(v.change.kind),
    v.actor_display_name || v.actor_id || (v.backup_id ? "seen in a backup" : "—"),
    v.backup_id ? link(`#/backups/${v.backup_id}`, "backup") : v.capture_id ? "drift capture" : "—",
    fieldText(v.change.fields) || "—",
  ]);
  return [
    h("h1", {}, `History of ${type} ${oktaId}`),
    table("Recorded versions", ["When", "Change", "By", "Source", "Fields"], rows, "No version recorded."),
    h("p", {}, link(`#/connections/${id}`, "Back to the connection")),
  ];
}

// ---- drift ----

async function driftView(ctx) {
  const id = ctx.params.id;
  const drift = await api("GET", `/connections/${id}/drift`);
  const rows = drift.alerts.map((a) => {
    const act = (to, text) =>
      h(
        "button",
        {
          type: "button",
          class: "small",
          "aria-label": `${text}: ${a.kind} on ${a.resource_type} ${a.resource_id}`,
          onclick: async () => {
            await api("POST", `/connections/${id}/drift/alerts/${a.id}/transitions`, { to });
            announce(`Alert ${to}`);
            rerender();
          },
        },
        text,
      );
    return [
      a.severity,
      `${a.resource_type} ${a.resource_id}`,
      a.kind,
      badge(a.status),
      when(a.last_seen_at),
      a.status === "open" ? h("span", {}, act("acknowledged", "Acknowledge"), " ", act("accepted", "Accept as baseline")) : "—",
    ];
  });
  return [
    h("h1", {}, "Drift alerts"),
    h("p", {}, `Checked every ${drift.interval_minutes} minutes; last check ${when(drift.last_checked_at)}, next ${when(drift.next_due_at)}.`),
    table("Alerts", ["Severity", "Resource", "Change", "Status", "Last seen", "Actions"], rows, "No drift alert."),
    h("p", {}, link(`#/connections/${id}`, "Back to the connection")),
  ];
}

// ---- compliance ----

function trendChart(points) {
  const days = points.filter((p) => p.pass_rate !== null);
  if (!days.length) return h("p", { class: "empty" }, "No completed run yet: the trend appears after the first.");
  const W = 600, H = 160, pad = 24;
  const step = days.length > 1 ? (W - 2 * pad) / (days.length - 1) : 0;
  const pts = days.map((p, i) => [pad + i * step, H - pad - (H - 2 * pad) * p.pass_rate]);
  const summary = days.map((p) => `${p.day}: ${Math.round(p.pass_rate * 100)}%`).join(", ");
  return h(
    "figure",
    {},
    svg(
      "svg",
      { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Pass rate by day: ${summary}`, class: "chart" },
      svg("line", { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, class: "axis" }),
      svg("line", { x1: pad, y1: pad, x2: pad, y2: H - pad, class: "axis" }),
      svg("polyline", { points: pts.map((p) => p.join(",")).join(" "), class: "line" }),
      pts.map(([x, y]) => svg("circle", { cx: x, cy: y, r: 4, class: "dot" })),
    ),
    h("figcaption", {}, `Pass rate by day (${summary}).`),
  );
}

async function complianceView(ctx) {
  const team = ctx.session.team.id;
  const { connections } = await api("GET", "/connections");
  const mine = connections.filter((c) => c.team_id === team);
  const connectionId = ctx.query.get("connection") || (mine[0] && mine[0].id);
  const { trend } = await api("GET", `/teams/${team}/compliance-trend`);
  const head = [h("h1", {}, "Compliance"), teamPicker(ctx.session)];
  if (!connectionId) return [...head, h("p", {}, "Connect an Okta org first.")];
  const picker = field(
    "Connection",
    h(
      "select",
      { name: "connection", onchange: (e) => (location.hash = `#/compliance?connection=${e.target.value}`) },
      mine.map((c) => h("option", { value: c.id, selected: c.id === connectionId }, c.org_domain)),
    ),
  );
  const outcome = ctx.query.get("outcome") || "";
  const findings = await api("GET", `/connections/${connectionId}/findings${outcome ? `?outcome=${enc(outcome)}` : ""}`);
  const live = h("div", { role: "status", "aria-live": "polite" });
  const run = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        run.disabled = true;
        live.textContent = "Running the checks…";
        try {
          const result = await api("POST", `/connections/${connectionId}/compliance-runs`);
          live.textContent = `Run ${result.run.status}: ${result.run.pass_count} passed, ${result.run.fail_count} failed.`;
          rerender();
        } catch (e) {
          live.replaceChildren(problem(e));
        } finally {
          run.disabled = false;
        }
      },
    },
    "Run the checks now",
  );
  const rows = findings.findings.map((f) => [
    h("span", {}, h("strong", {}, f.title || f.check_id), h("br"), h("span", { class: "mono" }, f.check_id)),
    f.cis_safeguard,
    f.severity,
    badge(f.outcome),
    f.message,
    f.state ? badge(f.state.state) : "—",
    f.outcome === "fail" ? remediate(connectionId, f) : "—",
  ]);
  return [
    ...head,
    picker,
    h("section", { "aria-labelledby": "trend-h" }, h("h2", { id: "trend-h" }, "Trend"), trendChart(trend)),
    h(
      "section",
      { "aria-labelledby": "find-h" },
      h("h2", { id: "find-h" }, "Findings"),
      h("p", {}, findings.run ? `Latest run ${when(findings.run.started_at)}: ${findings.run.pass_count} passed, ${findings.run.fail_count} failed.` : "No run yet."),
      run,
      live,
      h(
        "p",
        {},
        "Show: ",
        link(`#/compliance?connection=${connectionId}`, "all"),
        " · ",
        link(`#/compliance?connection=${connectionId}&outcome=fail`, "failing only"),
      ),
      table("Findings of the latest run", ["Check", "CIS safeguard", "Severity", "Outcome", "Message", "Remediation", "Action"], rows, "No findings."),
    ),
  ];
}

function remediate(connectionId, finding) {
  const select = h(
    "select",
    { name: "to" },
    h("option", { value: "acknowledged" }, "Acknowledge"),
    h("option", { value: "open" }, "Reopen"),
    h("option", { value: "risk_accepted" }, "Accept the risk"),
  );
  const justification = h("input", { name: "justification" });
  const expires = h("input", { name: "expires_at", type: "date" });
  // Risk acceptance alone asks for a justification and an expiry: shown only when chosen.
  const riskFields = h("div", { hidden: true }, field("Justification", justification), field("Risk accepted until", expires));
  select.addEventListener("change", () => {
    const accepting = select.value === "risk_accepted";
    riskFields.hidden = !accepting;
    justification.required = accepting;
    expires.required = accepting;
  });
  return form(
    `Remediation of ${finding.check_id}`,
    [field(`Move ${finding.check_id} to`, select), riskFields],
    "Apply",
    async (data, status) => {
      const body = { to: data.get("to") };
      if (body.to === "risk_accepted") {
        body.justification = data.get("justification");
        body.expires_at = data.get("expires_at") ? new Date(data.get("expires_at")).toISOString() : null;
      }
      const { remediation } = await api("POST", `/connections/${connectionId}/findings/${enc(finding.check_id)}/transitions`, body);
      status.textContent = `${finding.check_id} is now ${remediation.state}.`;
      announce(status.textContent);
    },
  );
}

// ---- restore ----

const RESTORABLE = ["groups", "group_members", "users", "apps", "app_group_assignments", "policies", "policy_rules"];

async function restoreNewView(ctx) {
  const id = ctx.params.id;
  const backupId = ctx.query.get("backup");
  const [{ backup }, { connections }] = await Promise.all([api("GET", `/backups/${backupId}`), api("GET", "/connections")]);
  const source = connections.find((c) => c.id === backup.connection_id);
  const targets = connections.filter((c) => c.team_id === (source ? source.team_id : ctx.session.team.id) && c.status !== "revoked");
  const target = field(
    "Restore into",
    h(
      "select",
      { name: "target" },
      targets.map((c) => h("option", { value: c.id, selected: c.id === id }, `${c.org_domain} (${c.environment || "production"})`)),
    ),
    "The org the restore writes to: the backup's own org, or another org of this team such as a sandbox.",
  );
  const out = h("div", {});
  const scope = h(
    "fieldset",
    {},
    h("legend", {}, "What to restore"),
    h("div", {}, h("input", { type: "radio", name: "kind", value: "types", id: "k-types", checked: true }), h("label", { for: "k-types" }, "Only the types below")),
    h("div", {}, h("input", { type: "radio", name: "kind", value: "tenant", id: "k-tenant" }), h("label", { for: "k-tenant" }, "The whole tenant (needs a second approver unless the target is a sandbox)")),
    RESTORABLE.map((t) =>
      h("div", { class: "check" }, h("input", { type: "checkbox", name: "types", value: t, id: `t-${t}`, checked: t === "groups" }), h("label", { for: `t-${t}` }, t)),
    ),
  );
  const options = h(
    "fieldset",
    {},
    h("legend", {}, "Options"),
    h("div", { class: "check" }, h("input", { type: "checkbox", name: "delete_missing", id: "o-del" }), h("label", { for: "o-del" }, "Delete what the org has and the backup does not")),
  );
  const preview = form("Plan a restore", [target, scope, options], "Preview the plan", async (data) => {
    const kind = data.get("kind");
    const body = {
      source_backup_id: backupId,
      scope: kind === "tenant" ? { kind } : { kind, resources: data.getAll("types") },
      options: { delete_missing: data.get("delete_missing") === "on" },
    };
    const planned = await api("POST", `/connections/${enc(data.get("target"))}/restores`, body);
    location.hash = `#/restores/${planned.restore.id}`;
  });
  return [
    h("h1", {}, "Restore"),
    h("p", {}, `Source: the backup of ${source ? source.org_domain : "this connection"} taken ${when(backup.started_at)}. A preview writes nothing to Okta.`),
    preview,
    out,
  ];
}

function planTable(plan) {
  const ops = (plan.operations || []).filter((o) => o.action !== "skip");
  const rows = ops.slice(0, 200).map((o) => [
    o.resource,
    badge(o.action),
    o.name || o.target_id || o.source_id || "—",
    fieldText(o.fields) || "—",
  ]);
  return table(`Writes the restore would make (${ops.length})`, ["Type", "Action", "Resource", "Fields"], rows, "Nothing to write: the org already matches the backup.");
}

async function restoreView(ctx) {
  const id = ctx.params.id;
  const view = await api("GET", `/restores/${id}`);
  const row = view.restore;
  const live = h("div", { class: "progress", role: "status", "aria-live": "polite" });
  const receipt = h("div", {});
  const showReceipt = async () => {
    try {
      const shown = await api("GET", `/restores/${id}/receipt`);
      const r = shown.receipt;
      receipt.replaceChildren(
        h("h2", { id: "rc-h" }, "Receipt"),
        h(
          "dl",
          { class: "facts", "aria-labelledby": "rc-h" },
          h("dt", {}, "SHA-256"),
          h("dd", { class: "mono" }, shown.sha256),
          h("dt", {}, "Plan digest"),
          h("dd", { class: "mono" }, r.plan_digest || "—"),
          h("dt", {}, "Applied by"),
          h("dd", {}, r.applied_by || "—"),
          h("dt", {}, "Outcome"),
          h("dd", {}, badge(r.status)),
          h("dt", {}, "Finished"),
          h("dd", {}, when(r.finished_at)),
          h("dt", {}, "Writes"),
          h("dd", {}, r.counts ? `${r.counts.applied} applied, ${r.counts.failed} failed, ${r.counts.skipped} skipped of ${r.counts.total}` : "—"),
        ),
      );
    } catch (e) {
      receipt.replaceChildren(problem(e));
    }
  };
  const progressText = (r) => {
    const p = r.progress || {};
    return `Restore ${String(r.apply_status).replace(/_/g, " ")}: ${p.done ?? 0} of ${p.total ?? "?"} operations done, ${p.failed ?? 0} failed.`;
  };
  const follow = async () => {
    await poll(ctx, async () => {
      const { restore } = await api("GET", `/restores/${id}`);
      live.textContent = progressText(restore);
      if (restore.apply_status === "running") return false;
      await showReceipt();
      return true;
    });
  };
  const actions = h("div", { class: "actions" });
  if (!row.apply_status && row.status === "ready" && !view.expired) {
    actions.append(
      h(
        "button",
        {
          type: "button",
          onclick: async (e) => {
            e.target.disabled = true;
            try {
              await api("POST", `/restores/${id}/apply`);
              live.textContent = "Restore started.";
              await follow();
            } catch (err) {
              live.replaceChildren(problem(err));
              e.target.disabled = false;
            }
          },
        },
        "Approve and apply",
      ),
      " ",
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: async () => {
            try {
              await api("POST", `/restores/${id}/approvals`);
              live.textContent = "Approved.";
            } catch (err) {
              live.replaceChildren(problem(err));
            }
          },
        },
        "Approve another member's restore",
      ),
    );
  }
  if (row.apply_status === "running") follow();
  else if (row.apply_status) {
    live.textContent = progressText(row);
    showReceipt();
  }
  return [
    h("h1", {}, "Restore plan"),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Plan status"),
      h("dd", {}, badge(row.status)),
      h("dt", {}, "Expires"),
      h("dd", {}, view.expired ? "Expired: make a new plan" : when(row.expires_at)),
      h("dt", {}, "Digest"),
      h("dd", { class: "mono" }, row.digest),
    ),
    planTable(view.plan || {}),
    actions,
    live,
    receipt,
    h("p", {}, link(`#/connections/${row.target_connection_id}`, "Back to the connection")),
  ];
}

// ---- recovery drills ----

/** Seconds as "1 h 2 min 3 s" (the API reports whole seconds). */
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.abs(Math.round(Number(seconds)));
  const parts = [
    [Math.floor(s / 86400), "d"],
    [Math.floor((s % 86400) / 3600), "h"],
    [Math.floor((s % 3600) / 60), "min"],
    [s % 60, "s"],
  ].filter(([n]) => n > 0);
  return parts.length ? parts.map(([n, unit]) => `${n} ${unit}`).join(" ") : "0 s";
}

function documentedText(documented) {
  if (!documented) return "unexplained";
  if (typeof documented === "string") return documented.replace(/_/g, " ");
  if (documented.skipped) return `skipped: ${String(documented.skipped).replace(/_/g, " ")}`;
  return JSON.stringify(documented);
}

/** RTO per finished drill, oldest first, against the objective. */
function drillChart(points, objective) {
  const done = points.filter((p) => p.rto_seconds !== null && p.rto_seconds !== undefined);
  if (!done.length) return h("p", { class: "empty" }, "No finished drill yet: the trend appears after the first.");
  const W = 600, H = 160, pad = 24;
  const top = Math.max(objective || 0, ...done.map((p) => p.rto_seconds), 1);
  const y = (v) => H - pad - (H - 2 * pad) * (v / top);
  const step = done.length > 1 ? (W - 2 * pad) / (done.length - 1) : 0;
  const pts = done.map((p, i) => [pad + i * step, y(p.rto_seconds)]);
  const summary = done.map((p) => `${when(p.started_at)}: ${p.status}, RTO ${duration(p.rto_seconds)}`).join("; ");
  return h(
    "figure",
    {},
    svg(
      "svg",
      { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `RTO per drill, oldest first, objective ${duration(objective)}: ${summary}`, class: "chart" },
      svg("line", { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, class: "axis" }),
      svg("line", { x1: pad, y1: pad, x2: pad, y2: H - pad, class: "axis" }),
      objective ? svg("line", { x1: pad, y1: y(objective), x2: W - pad, y2: y(objective), class: "objective" }) : null,
      svg("polyline", { points: pts.map((p) => p.join(",")).join(" "), class: "line" }),
      pts.map(([cx, cy], i) => svg("circle", { cx, cy, r: 4, class: done[i].status === "passed" ? "dot" : "dot dot-failed" })),
    ),
    h("figcaption", {}, "RTO of each finished drill, oldest first; the dashed line is the objective."),
  );
}

/** One drill's report: timings, the restore, fidelity per type, differences and failures. */
function drillReport(drill) {
  const report = drill.report || {};
  const fidelity = report.fidelity || null;
  const restore = report.restore || null;
  const types = fidelity ? Object.entries(fidelity.types || {}) : [];
  const typeRows = types.map(([type, t]) => [
    type,
    String(t.matched ?? 0),
    String(t.differing ?? 0),
    String(t.not_restorable ?? 0),
    Object.entries(t.reasons || {}).map(([r, n]) => `${r.replace(/_/g, " ")}: ${n}`).join(", ") || "—",
  ]);
  const diffs = fidelity ? fidelity.differences || [] : [];
  const unexplained = diffs.filter((d) => !d.documented);
  const documented = diffs.filter((d) => d.documented);
  const diffRows = (list) => list.map((d) => [d.resource, badge(d.action), d.id || "—", (d.fields || []).join(", ") || "—", d.reason || documentedText(d.documented)]);
  const failures = report.failures || [];
  const restoreFailed = report.restore_failed_operations;
  const failedCount = Array.isArray(restoreFailed) ? restoreFailed.length : Number(restoreFailed) || 0;
  const progress = restore && restore.progress ? restore.progress : null;
  const facts = [
    ["Status", badge(drill.status)],
    ["Trigger", drill.trigger],
    ["Started", when(drill.started_at)],
    ["Finished", when(drill.finished_at)],
    ["RTO", `${duration(drill.rto_seconds)} (objective ${duration(drill.rto_objective_seconds)})${report.rto_over_objective ? ": over the objective" : ""}`],
    ["RPO", `${duration(drill.rpo_seconds)} (the restored backup's age when the drill started)`],
    ["Restore", restore ? `${String(restore.apply_status || "not applied").replace(/_/g, " ")}${progress ? `: ${progress.done ?? 0} of ${progress.total ?? "?"} operations, ${progress.failed ?? 0} failed${progress.unsupported ? `, ${progress.unsupported} of a type restore cannot write yet` : ""}` : ""}` : "not reached"],
    ["Receipt SHA-256", restore && restore.receipt_sha256 ? h("span", { class: "mono" }, restore.receipt_sha256) : "—"],
    ["Differences", fidelity ? `${fidelity.unexplained} unexplained, ${fidelity.documented} documented` : "not compared"],
  ];
  if (failedCount) facts.push(["Restore writes refused", `${failedCount} (they left no difference, so the drill does not fail on them)`]);
  if (drill.error) facts.push(["Error", drill.error]);
  return h(
    "section",
    { "aria-labelledby": "report-h" },
    h("h2", { id: "report-h" }, `Drill report of ${when(drill.started_at)}`),
    h("dl", { class: "facts" }, facts.flatMap(([dt, dd]) => [h("dt", {}, dt), h("dd", {}, dd)])),
    failures.length
      ? h("div", {}, h("h3", {}, "Failures"), h("ul", {}, failures.map((f) => h("li", {}, h("span", { class: "mono" }, f.code), f.message ? `: ${f.message}` : f.unexplained != null ? `: ${f.unexplained} unexplained differences` : ""))))
      : h("p", {}, drill.status === "running" ? "Running: the report is complete when the drill ends." : "No failure."),
    h("h3", {}, "Fidelity per type"),
    table("Fidelity per type", ["Type", "Matched", "Unexplained", "Documented", "Documented reasons"], typeRows, "Nothing compared yet."),
    fidelity && fidelity.not_compared && fidelity.not_compared.length ? h("p", {}, `Not compared (the backup or the sandbox holds none): ${fidelity.not_compared.join(", ")}.`) : null,
    h("h3", {}, "Unexplained differences"),
    table("Unexplained differences", ["Type", "Action", "Key", "Fields", "Reason"], diffRows(unexplained), "None: every difference is documented."),
    h("h3", {}, "Documented differences"),
    table("Documented differences", ["Type", "Action", "Key", "Fields", "Why it is allowed"], diffRows(documented), "None."),
    fidelity && fidelity.manual_steps && fidelity.manual_steps.length
      ? h("div", {}, h("h3", {}, "Manual steps"), h("ul", {}, fidelity.manual_steps.map((m) => h("li", {}, `${m.step}${m.objects && m.objects.count != null ? ` (${m.objects.count})` : ""}`))))
      : null,
  );
}

async function drillsView(ctx) {
  const id = ctx.params.id;
  const [{ connection }, { connections }, listing] = await Promise.all([
    api("GET", `/connections/${id}`),
    api("GET", "/connections"),
    api("GET", `/connections/${id}/drills`),
  ]);
  const settings = listing.settings;
  const sandboxes = connections.filter((c) => c.team_id === connection.team_id && c.id !== id && c.environment === "sandbox" && c.status !== "revoked");
  const live = h("div", { class: "progress", role: "status", "aria-live": "polite" });
  const reportBox = h("div", {});
  const historyBox = h("div", {});
  const trendBox = h("div", {});

  const draw = (view, shown) => {
    const t = view.trend;
    const objective = view.settings ? view.settings.rto_objective_seconds : null;
    trendBox.replaceChildren(
      h(
        "p",
        {},
        `${t.finished} finished: ${t.passed} passed, ${t.failed} failed, ${t.over_objective} over the objective. ` +
          `Last RTO ${duration(t.last_rto_seconds)}, median ${duration(t.median_rto_seconds)}` +
          (t.rto_change_seconds != null ? `, ${t.rto_change_seconds <= 0 ? "faster" : "slower"} than the one before by ${duration(t.rto_change_seconds)}.` : "."),
      ),
      drillChart(t.points || [], objective),
    );
    historyBox.replaceChildren(
      table(
        "Drills, newest first",
        ["Started", "Status", "Trigger", "RTO", "RPO", "Over objective"],
        view.drills.map((d) => [
          link(`#/connections/${id}/drills?drill=${d.id}`, when(d.started_at)),
          badge(d.status),
          d.trigger,
          duration(d.rto_seconds),
          duration(d.rpo_seconds),
          d.status === "running" ? "—" : d.rto_seconds != null && d.rto_seconds > d.rto_objective_seconds ? "yes" : "no",
        ]),
        "No drill yet.",
      ),
    );
    const pick = shown || view.drills.find((d) => d.id === ctx.query.get("drill")) || view.drills[0];
    reportBox.replaceChildren(pick ? drillReport(pick) : h("p", { class: "empty" }, "Run a drill to see its report."));
  };
  draw(listing);

  const follow = async (drillId) => {
    await poll(ctx, async () => {
      const { drill } = await api("GET", `/drills/${drillId}`);
      if (drill.status === "running") {
        live.textContent = `Drill running since ${when(drill.started_at)}: planning, restoring into the sandbox, then comparing it with the backup.`;
        return false;
      }
      draw(await api("GET", `/connections/${id}/drills`), drill);
      live.textContent = `Drill ${drill.status}: RTO ${duration(drill.rto_seconds)}.`;
      return true;
    }, 2000);
  };
  const running = listing.drills.find((d) => d.status === "running");
  if (running) follow(running.id);

  const objectiveMinutes = settings ? Math.round(settings.rto_objective_seconds / 60) : 60;
  const configure = sandboxes.length
    ? form(
        "Drill settings",
        [
          field(
            "Sandbox org",
            h(
              "select",
              { name: "sandbox_connection_id", required: true },
              sandboxes.map((c) => h("option", { value: c.id, selected: settings && settings.sandbox_connection_id === c.id }, c.org_domain)),
            ),
            "The drill restores the latest complete backup into this org: it must hold nothing you need.",
          ),
          field("RTO objective (minutes)", h("input", { name: "rto_minutes", type: "number", min: 1, max: 10080, required: true, value: objectiveMinutes }), "From 1 minute to 7 days; a slower drill alerts the owners and admins."),
          h(
            "div",
            { class: "check" },
            h("input", { type: "checkbox", name: "enabled", id: "d-enabled", checked: settings ? settings.enabled : true }),
            h("label", { for: "d-enabled" }, "Run a drill every week (Mondays 05:11 UTC)"),
          ),
        ],
        "Save the drill settings",
        async (data, status) => {
          const saved = await api("PUT", `/connections/${id}/drills/settings`, {
            sandbox_connection_id: data.get("sandbox_connection_id"),
            enabled: data.get("enabled") === "on",
            rto_objective_seconds: Math.round(Number(data.get("rto_minutes")) * 60),
          });
          status.textContent = `Saved: objective ${duration(saved.settings.rto_objective_seconds)}, weekly drills ${saved.settings.enabled ? "on" : "off"}.`;
          announce(status.textContent);
          runNow.disabled = false;
        },
      )
    : h("p", {}, "No sandbox org in this team: connect one, then label it sandbox on its connection page.");

  const runNow = h(
    "button",
    {
      type: "button",
      disabled: !settings,
      onclick: async () => {
        runNow.disabled = true;
        try {
          const { drill } = await api("POST", `/connections/${id}/drills`);
          live.textContent = "Drill started.";
          draw(await api("GET", `/connections/${id}/drills`), drill);
          await follow(drill.id);
        } catch (e) {
          live.replaceChildren(problem(e));
        } finally {
          runNow.disabled = false;
        }
      },
    },
    "Run a drill now",
  );

  return [
    h("h1", {}, `Recovery drills: ${connection.org_domain}`),
    h("p", {}, "A drill restores this org's latest complete backup into a sandbox org, compares the sandbox with the backup, and reports how long it took (RTO), how old the backup was (RPO) and what differs."),
    h("section", { "aria-labelledby": "ds-h" }, h("h2", { id: "ds-h" }, "Settings"), configure),
    h("section", { "aria-labelledby": "dr-h" }, h("h2", { id: "dr-h" }, "Run"), runNow, live),
    reportBox,
    h("section", { "aria-labelledby": "dt-h" }, h("h2", { id: "dt-h" }, "Trend"), trendBox),
    h("section", { "aria-labelledby": "dh-h" }, h("h2", { id: "dh-h" }, "History"), historyBox),
    h("p", {}, link(`#/connections/${id}`, "Back to the connection")),
  ];
}

// ---- team, invitations, API keys ----

const ROLES = ["owner", "admin", "operator", "viewer", "auditor"];

async function teamView(ctx) {
  const team = ctx.session.team;
  const [{ members }, invitations] = await Promise.all([
    api("GET", `/teams/${team.id}/members`),
    api("GET", `/teams/${team.id}/invitations`).catch((e) => ({ error: e })),
  ]);
  const memberRows = members.map((m) => {
    const who = m.email || m.user_id;
    const status = h("span", { "aria-live": "polite" });
    const role = h(
      "select",
      {
        "aria-label": `Role of ${who}`,
        onchange: async (e) => {
          try {
            await api("PATCH", `/teams/${team.id}/members/${m.user_id}`, { role: e.target.value });
            status.textContent = ` Now ${e.target.value}.`;
          } catch (err) {
            status.replaceChildren(problem(err));
            e.target.value = m.role;
          }
        },
      },
      ROLES.map((r) => h("option", { value: r, selected: r === m.role }, r)),
    );
    const remove = h(
      "button",
      {
        type: "button",
        class: "small secondary",
        "aria-label": `Remove ${who} from the team`,
        onclick: async () => {
          try {
            await api("DELETE", `/teams/${team.id}/members/${m.user_id}`);
            rerender();
          } catch (err) {
            status.replaceChildren(problem(err));
          }
        },
      },
      "Remove",
    );
    return [who, h("span", {}, role, status), remove];
  });
  const invited = invitations.error
    ? problem(invitations.error)
    : table(
        "Open invitations",
        ["Email", "Role", "Expires", "Actions"],
        invitations.invitations.map((i) => [
          i.email,
          i.role,
          when(i.expires_at),
          h(
            "button",
            {
              type: "button",
              class: "small",
              "aria-label": `Revoke the invitation of ${i.email}`,
              onclick: async () => {
                await api("DELETE", `/teams/${team.id}/invitations/${i.id}`);
                rerender();
              },
            },
            "Revoke",
          ),
        ]),
        "No open invitation.",
      );
  const invite = form(
    "Invite a member",
    [
      field("Email", h("input", { name: "email", type: "email", required: true })),
      field("Role", h("select", { name: "role" }, ROLES.filter((r) => r !== "owner").map((r) => h("option", { value: r }, r)))),
    ],
    "Send invitation",
    async (data, status) => {
      await api("POST", `/teams/${team.id}/invitations`, { email: data.get("email"), role: data.get("role") });
      status.textContent = `Invited ${data.get("email")}.`;
      announce(status.textContent);
      rerender();
    },
  );
  return [
    h("h1", {}, `Team: ${team.name}`),
    teamPicker(ctx.session),
    table("Members", ["Member", "Role", "Actions"], memberRows),
    h("section", { "aria-labelledby": "inv-h" }, h("h2", { id: "inv-h" }, "Invitations"), invited, invite),
  ];
}

async function apiKeysView(ctx) {
  const { api_keys } = await api("GET", "/api-keys");
  const rows = api_keys.map((k) => [
    k.name,
    h("span", { class: "mono" }, k.prefix),
    k.scopes.join(", "),
    when(k.created_at),
    when(k.last_used_at),
    k.revoked_at
      ? `revoked ${when(k.revoked_at)}`
      : h(
          "button",
          {
            type: "button",
            class: "small",
            "aria-label": `Revoke the key ${k.name}`,
            onclick: async () => {
              await api("DELETE", `/api-keys/${k.id}`);
              rerender();
            },
          },
          "Revoke",
        ),
  ]);
  const shown = h("div", { "aria-live": "polite" });
  const create = form(
    "Create an API key",
    [
      field("Name", h("input", { name: "name", required: true, maxlength: 100 })),
      h(
        "fieldset",
        {},
        h("legend", {}, "Scopes"),
        ["read", "backup", "restore", "admin"].map((s) =>
          h("div", { class: "check" }, h("input", { type: "checkbox", name: "scopes", value: s, id: `s-${s}`, checked: s === "read" }), h("label", { for: `s-${s}` }, s)),
        ),
      ),
    ],
    "Create key",
    async (data) => {
      const created = await api("POST", "/api-keys", { name: data.get("name"), scopes: data.getAll("scopes"), team_id: ctx.session.team.id });
      shown.replaceChildren(
        h("p", {}, "Copy the key now: it is shown only once."),
        h("p", {}, h("code", { class: "mono secret" }, created.key)),
      );
      announce("API key created; it is shown once.");
    },
  );
  return [h("h1", {}, "API keys"), table("Your API keys", ["Name", "Prefix", "Scopes", "Created", "Last used", "Actions"], rows, "No API key."), h("section", { "aria-labelledby": "new-key-h" }, h("h2", { id: "new-key-h" }, "New key"), create, shown)];
}

// ---- billing ----

async function billingView(ctx) {
  const team = ctx.session.team;
  const plan = await api("GET", `/teams/${team.id}/plan`);
  const quota = (q) => (q && q.max !== undefined ? String(q.max) : "unlimited");
  const rows = (plan.limits || []).map((l) => [String(l.limit).replace(/_/g, " "), String(l.used ?? "—"), quota(l.quota)]);
  const go = (path, body, text) =>
    h(
      "button",
      {
        type: "button",
        onclick: async (e) => {
          try {
            const session = await api("POST", path, body);
            location.assign(session.url);
          } catch (err) {
            e.target.after(problem(err));
          }
        },
      },
      text,
    );
  return [
    h("h1", {}, "Billing"),
    teamPicker(ctx.session),
    h("p", {}, `Plan: ${plan.name || plan.plan}. Subscription: ${plan.subscription ? plan.subscription.status : "none"}.`),
    table("Limits and usage", ["Limit", "Used", "Allowed"], rows, "No limits reported."),
    plan.billing_enabled ? null : h("p", {}, "Billing is not enabled on this deployment."),
    h(
      "div",
      { class: "actions" },
      go("/billing/checkout", { plan: "standard", team_id: team.id }, "Upgrade to Standard"),
      " ",
      go("/billing/checkout", { plan: "business", team_id: team.id }, "Upgrade to Business"),
      " ",
      go("/billing/portal", { team_id: team.id }, "Manage the subscription"),
    ),
  ];
}

// ---- audit ----

async function auditView(ctx) {
  const team = ctx.session.team;
  const status = h("div", { role: "status", "aria-live": "polite" });
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 30 * 86400000);
  const day = (d) => d.toISOString().slice(0, 10);
  const exporter = form(
    "Export an audit pack",
    [
      field("From", h("input", { name: "from", type: "date", value: day(monthAgo), required: true })),
      field("To", h("input", { name: "to", type: "date", value: day(new Date(today.getTime() + 86400000)), required: true })),
    ],
    "Export the audit pack",
    async (data, out) => {
      out.textContent = "Preparing the pack…";
      const from = new Date(data.get("from")).toISOString();
      const to = new Date(data.get("to")).toISOString();
      const { blob, name } = await download(`/export/audit-pack?team_id=${team.id}&from=${enc(from)}&to=${enc(to)}`);
      save(blob, name);
      out.textContent = `Audit pack ready: ${name} (${blob.size} bytes).`;
      announce(out.textContent);
    },
  );
  const verify = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        try {
          const { verification } = await api("GET", `/teams/${team.id}/audit/verify`);
          status.textContent =
            verification.status === "intact"
              ? `Activity chain verified: intact${verification.rows != null ? ` (${verification.rows} rows)` : ""}.`
              : `The activity chain is ${verification.status}.`;
        } catch (e) {
          status.replaceChildren(problem(e));
        }
      },
    },
    "Verify the activity chain",
  );
  return [
    h("h1", {}, "Audit evidence"),
    teamPicker(ctx.session),
    h("p", {}, "A signed audit pack holds the team's activity log, its hash chain and anchors; check it offline with tools/audit-verify."),
    exporter,
    h("section", { "aria-labelledby": "chain-h" }, h("h2", { id: "chain-h" }, "Activity chain"), verify, status),
  ];
}

function notFound() {
  return [h("h1", {}, "Not found"), h("p", {}, link("#/connections", "Go to connections"))];
}

/** The view for a path (`#/a/b` as ["a", "b"]). */
export function routes(parts) {
  const [a, b, c, d, e] = parts;
  const v = (render, params = {}, title) => ({ render, params, title });
  if (a === "connections" && !b) return v(connectionsView, {}, "Connections");
  if (a === "connections" && b && !c) return v(connectionView, { id: b }, "Connection");
  if (a === "connections" && c === "diff") return v(diffView, { id: b }, "Changes between backups");
  if (a === "connections" && c === "history" && e) return v(historyView, { id: b, type: decodeURIComponent(d), oktaId: decodeURIComponent(e) }, "History");
  if (a === "connections" && c === "drift") return v(driftView, { id: b }, "Drift alerts");
  if (a === "connections" && c === "drills") return v(drillsView, { id: b }, "Recovery drills");
  if (a === "connections" && c === "restore") return v(restoreNewView, { id: b }, "Restore");
  if (a === "backups" && b) return v(backupView, { id: b }, "Backup");
  if (a === "restores" && b) return v(restoreView, { id: b }, "Restore plan");
  if (a === "compliance") return v(complianceView, {}, "Compliance");
  if (a === "team") return v(teamView, {}, "Team");
  if (a === "api-keys") return v(apiKeysView, {}, "API keys");
  if (a === "billing") return v(billingView, {}, "Billing");
  if (a === "audit") return v(auditView, {}, "Audit evidence");
  return v(notFound, {}, "Not found");
}

