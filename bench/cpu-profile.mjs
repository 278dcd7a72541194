// The worker's own CPU, measured with V8's CPU profiler over workerd's inspector, for
// scripts/bench.sh. `node --experimental-websocket bench/cpu-profile.mjs WORKERD_PID CONTROL_PORT`.
//
// workerd runs the worker and wrangler's local R2, queue and database simulators in one process,
// so the process's CPU time (/proc) is not the worker's. V8's sampling profiler runs inside the
// worker's isolate only: a sample is taken every SAMPLE_US while the isolate is executing (JS or
// wasm), and the sum of the time deltas of samples that are not "(idle)" is the isolate's busy
// time. On a quiet machine that is its CPU time; when the machine is oversubscribed it also counts
// time the thread waited for a core while in the middle of running, so it is an upper bound.
//
// Slices: the worker logs `queue.start` when a queue invocation begins and `queue.job` when it
// ends; the profile runs continuously and is cut at each of those log lines, so every slice gets
// the samples between its two lines (the inspector delivers the lines a few ms late, which moves
// a few ms across the boundary and loses nothing). Other phases are timed on request: the
// benchmark sends `POST /phase/start` and `POST /phase/stop` (which answers the busy ms since the
// start) to CONTROL_PORT, e.g. around the verifying downloads. `GET /slices` answers the slices
// so far as JSON.
import http from "node:http";
import { execFileSync } from "node:child_process";

const [pid, controlPort] = process.argv.slice(2);
const SAMPLE_US = 250;

/// Listening TCP ports of the workerd process; its inspector is the one that lists targets.
function listeningPorts() {
  const out = execFileSync("ss", ["-ltnpH"], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((l) => l.includes(`pid=${pid},`))
    .map((l) => Number(l.trim().split(/\s+/)[3].split(":").pop()));
}

async function findTarget() {
  for (let attempt = 0; attempt < 100; attempt++) {
    for (const port of listeningPorts()) {
      try {
        const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
        const target = list.find((t) => /butterfly/.test(t.title || t.url || ""));
        if (target) return target.webSocketDebuggerUrl.replace("localhost", "127.0.0.1");
      } catch {
        // Not the inspector.
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("no inspector target for the worker");
}

const ws = new WebSocket(await findTarget());
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = reject;
});
let nextId = 1;
const pending = new Map();
const send = (method, params = {}) =>
  new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params }));
  });

/// Busy microseconds of a profile: the deltas of every sample that is not idle. A delta longer
/// than ten sampling intervals spans a pause of the sampler (the isolate was not running), so it
/// counts as one interval.
function busyUs(profile) {
  const idle = new Set(
    profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id),
  );
  let busy = 0;
  profile.samples.forEach((node, i) => {
    if (idle.has(node)) return;
    const delta = profile.timeDeltas[i] ?? 0;
    busy += delta > 10 * SAMPLE_US ? SAMPLE_US : delta;
  });
  return busy;
}

/// Stops the running profile, returns its busy ms, and starts the next one.
let cutting = Promise.resolve();
function cut() {
  const done = cutting.then(async () => {
    const { profile } = await send("Profiler.stop");
    await send("Profiler.start");
    return busyUs(profile) / 1000;
  });
  cutting = done.catch(() => {});
  return done;
}

const slices = [];
let phaseMs = null;
let inSlice = false;
ws.onmessage = async (event) => {
  const message = JSON.parse(event.data);
  if (message.id && pending.has(message.id)) {
    const { resolve, reject } = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) reject(new Error(JSON.stringify(message.error)));
    else resolve(message.result);
    return;
  }
  if (message.method !== "Runtime.consoleAPICalled") return;
  const text = message.params.args.map((a) => a.value ?? "").join(" ");
  if (text.includes('"event":"queue.start"')) {
    const outside = await cut();
    if (phaseMs !== null) phaseMs += outside;
    inSlice = true;
  } else if (text.includes('"event":"queue.job"') && inSlice) {
    inSlice = false;
    const ms = await cut();
    if (phaseMs !== null) phaseMs += ms;
    slices.push(ms);
  }
};

await send("Runtime.enable");
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: SAMPLE_US });
await send("Profiler.start");

http
  .createServer(async (req, res) => {
    let body;
    if (req.method === "POST" && req.url === "/phase/start") {
      await cut();
      phaseMs = 0;
      body = {};
    } else if (req.method === "POST" && req.url === "/phase/stop") {
      const ms = (phaseMs ?? 0) + (await cut());
      phaseMs = null;
      body = { busy_ms: ms };
    } else if (req.method === "GET" && req.url === "/slices") {
      body = { slices_ms: slices };
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  })
  .listen(Number(controlPort), "127.0.0.1", () => console.log(`cpu-profile ready ${controlPort}`));
