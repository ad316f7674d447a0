// Resident memory of an idle darkchatd -u with its web page open in a real
// browser (issue 19, point 6), against the same daemon idle with no page, in
// the same run. Two nodes on loopback (alice with --web, bob her contact);
// alice's RSS (VmRSS of /proc/PID/status) is sampled:
//   1. idle with no client, after 300 messages from bob and the quiet spell in
//      which the driver gives back what work left resident (5 s, src/io/loop.cpp);
//   2. with the page open in headless chromium (it subscribes to events over
//      server-sent events and lists contacts, groups and rooms), idle again;
//   3. after 300 more messages from bob shown live in the open page, idle again;
//   4. after the page is closed, idle again.
// Each idle sample is the median of 5, 1 s apart, after 7 s of quiet.
// Chromium's own memory (all its processes) is printed for scale.
//
// usage: node bench/web_memory.mjs [DARKCHATD]   (default build/darkchatd)
// Needs chromium and tests/web/node_modules (scripts/web-test.sh installs it).
import { readFileSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import { Test, chromium, pick } from "../tests/web/harness.mjs";

const darkchatd = resolve(process.argv[2] || "build/darkchatd");
if (!chromium) {
  console.log("no chromium (apt-get install chromium)");
  process.exit(77);
}
const t = new Test(darkchatd, 300);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rss_kb(pid) {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) : NaN;
}
// Every process whose command line names chromium, and the sum of their RSS.
function chromium_kb() {
  let sum = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0")[0].includes("chromium")) continue;
      sum += rss_kb(d) || 0;
    } catch (e) { /* gone */ }
  }
  return sum;
}
async function idle_kb(pid) {
  await sleep(7000);
  const s = [];
  for (let i = 0; i < 5; i++) { s.push(rss_kb(pid)); await sleep(1000); }
  s.sort((a, b) => a - b);
  return s[2];
}

let code = 0;
try {
  const alice = await t.start("alice", ["--web", "0"]), bob = await t.start("bob", ["--web", "0"]);
  await t.rpc(alice, "ping", { host: "127.0.0.1", port: bob.port });
  await t.rpc(alice, "add", { user: "bob" });
  await t.rpc(bob, "add", { user: "alice" });
  if (!await t.until("both online", async () => (await t.rpc(alice, "users", { which: "online" })).length === 1))
    throw new Error("alice and bob did not see each other online");
  const pid = alice.proc.pid;
  const messages = async (from) => {
    for (let i = from; i < from + 300; i++) await t.rpc(bob, "chat", { to: "alice", text: "message " + i });
    if (!await t.until("message " + (from + 299) + " at alice", async () =>
      (await t.rpc(alice, "history", { user: "bob", count: 1 }))[0]?.text === "message " + (from + 299)))
      throw new Error("alice did not get the messages");
  };

  await messages(0);
  const idle = await idle_kb(pid);
  const chromium_before = chromium_kb();
  const [page] = await t.pages(1);
  await page.goto(alice.url, { waitUntil: "load" });
  await t.until("bob in the page", () => page.$$eval("#users li", (lis) => lis.some((li) => li.textContent.includes("bob"))));
  await pick(page, "#users", "bob");
  const open = await idle_kb(pid);
  const browser_kb = chromium_kb() - chromium_before;

  await messages(300);
  if (!await t.until("the 600th message in the page", () =>
    page.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("message 599")))))
    throw new Error("the page did not show the messages");
  const after = await idle_kb(pid);

  await page.close();
  const closed = await idle_kb(pid);

  const row = (what, kb, base) => console.log(`| ${what} | ${kb} KiB | ${base ? (kb / base).toFixed(2) + "x" : "-"} |`);
  console.log("| alice's darkchatd, idle | resident | ratio to idle, no page |\n|---|---|---|");
  row("no page, no client (after 300 messages)", idle);
  row("page open (subscribed, contacts and bob's chat shown)", open, idle);
  row("page open, after 300 more messages shown live", after, idle);
  row("page closed again", closed, idle);
  console.log(`(chromium for the page: ${browser_kb} KiB in all its processes; ${darkchatd})`);
} catch (e) {
  console.log("failed: " + (e && e.stack || e));
  code = 1;
}
await t.stop();
process.exit(code);
