// The dashboard's shell: sign-in, navigation, and a hash router that renders one view at a
// time into <main>, moves focus to its heading and names it in the document title.

import { api, devSignIn, settings, signInWithPassword, signOut, token } from "./api.js";
import { announce, field, form, h, problem } from "./ui.js";
import { routes } from "./views.js";

const NAV = [
  ["#/connections", "Connections"],
  ["#/compliance", "Compliance"],
  ["#/team", "Team"],
  ["#/api-keys", "API keys"],
  ["#/billing", "Billing"],
  ["#/audit", "Audit"],
];

const main = document.getElementById("main");

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/connections";
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean), query: new URLSearchParams(query) };
}

function renderNav(signedIn) {
  const nav = document.getElementById("nav");
  const account = document.getElementById("account");
  if (!signedIn) {
    nav.replaceChildren();
    account.replaceChildren();
    return;
  }
  const current = "#/" + (parseHash().parts[0] || "connections");
  nav.replaceChildren(
    h(
      "ul",
      {},
      NAV.map(([href, text]) =>
        h("li", {}, h("a", { href, "aria-current": href === current ? "page" : null }, text)),
      ),
    ),
  );
  account.replaceChildren(
    h(
      "button",
      {
        type: "button",
        class: "link-button",
        onclick: () => {
          signOut();
          start();
        },
      },
      "Sign out",
    ),
  );
}

function signInView() {
  renderNav(false);
  document.title = "Sign in · Butterfly";
  const parts = [h("h1", {}, "Sign in to Butterfly")];
  if (settings.authUrl) {
    parts.push(
      form(
        "Sign in",
        [
          field("Email", h("input", { name: "email", type: "email", autocomplete: "username", required: true })),
          field(
            "Password",
            h("input", { name: "password", type: "password", autocomplete: "current-password", required: true }),
          ),
        ],
        "Sign in",
        async (data) => {
          await signInWithPassword(data.get("email"), data.get("password"));
          start();
        },
      ),
    );
  }
  if (settings.devSignIn) {
    const status = h("div", { "aria-live": "polite" });
    parts.push(
      h(
        "section",
        { class: "dev", "aria-labelledby": "dev-h" },
        h("h2", { id: "dev-h" }, "Local development"),
        h("p", {}, "This stack allows a dev-only sign-in as the demo user. Production never offers it."),
        h(
          "button",
          {
            type: "button",
            onclick: async () => {
              try {
                await devSignIn();
                start();
              } catch (e) {
                status.replaceChildren(problem(e));
              }
            },
          },
          "Sign in as the demo user",
        ),
        status,
      ),
    );
  }
  if (!settings.authUrl && !settings.devSignIn) {
    parts.push(h("p", {}, "Sign-in is not configured for this deployment."));
  }
  main.replaceChildren(...parts);
  const heading = main.querySelector("h1");
  heading.setAttribute("tabindex", "-1");
  heading.focus();
}

export const session = { teams: [], team: null };

async function loadTeams() {
  const { teams } = await api("GET", "/teams");
  session.teams = teams;
  const saved = sessionStorage.getItem("butterfly.team");
  session.team = teams.find((t) => t.id === saved) || teams.find((t) => t.personal) || teams[0] || null;
}

let generation = 0;

async function render() {
  if (!token()) return signInView();
  renderNav(true);
  const mine = ++generation;
  const { parts, query } = parseHash();
  const view = routes(parts);
  main.replaceChildren(h("p", {}, "Loading…"));
  try {
    if (!session.team) await loadTeams();
    const content = await view.render({ params: view.params, query, session, alive: () => mine === generation });
    if (mine !== generation) return;
    main.replaceChildren(...[content].flat().filter((node) => node !== null && node !== undefined && node !== false));
  } catch (e) {
    if (mine !== generation) return;
    main.replaceChildren(h("h1", { tabindex: "-1" }, view.title || "Error"), problem(e));
  }
  const heading = main.querySelector("h1");
  document.title = `${heading ? heading.textContent : "Butterfly"} · Butterfly`;
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
  announce(`${heading ? heading.textContent : "Page"} loaded`);
}

function start() {
  session.team = null;
  render();
}

window.addEventListener("hashchange", render);
window.addEventListener("butterfly:signed-out", () => signInView());
window.addEventListener("butterfly:rerender", render);
start();
