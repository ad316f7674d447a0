// The web page (darkchat-api(7), THE WEB PAGE) in a real browser: two
// darkchatd -u nodes on loopback, each with --web, and Debian's chromium
// (headless, driven by puppeteer-core) showing one page for each. Alice picks
// bob and writes; bob's page shows it live; bob answers; markup from a peer
// stays text; older messages scroll back; a group request is answered with a
// button; a group's stored lines scroll back; a PNG chosen in alice's page is
// uploaded, offered, accepted with bob's button and shown inline in bob's page;
// the upload is then removed from alice's data directory (one shared with a
// group stays).
// Screenshots of both pages are saved. Prints a doctest-style summary
// (scripts/count-tests.py counts its cases).
//
// usage: node two_pages.mjs DARKCHATD SHOT_DIR   (exit 77: no chromium here)
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [darkchatd, shots] = process.argv.slice(2);
const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);
if (!darkchatd || !shots) {
  console.error("usage: node two_pages.mjs DARKCHATD SHOT_DIR");
  process.exit(2);
}
if (!chromium) {
  console.log("no chromium: the browser test is skipped (apt-get install chromium)");
  process.exit(77);
}
const { default: puppeteer } = await import("puppeteer-core");

const tmp = mkdtempSync(join(tmpdir(), "darkchat-web-"));
const children = [];
let passed = 0, failed = 0;
const deadline = Date.now() + 200000;  // the whole test, bounded

function check(ok, what) {
  if (ok) { passed++; console.log("ok   " + what); }
  else { failed++; console.log("FAIL " + what); }
}

// darkchatd -u name --web 0: its page's address and its node's port, from its log.
function start(name) {
  return new Promise((resolve, reject) => {
    const p = spawn(darkchatd, ["-u", name, "-p", "0", "--bind", "127.0.0.1", "--data-dir", join(tmp, name), "--web", "0"],
                    { stdio: ["ignore", "ignore", "pipe"] });
    children.push(p);
    let log = "", url = null, port = null;
    const timer = setTimeout(() => reject(new Error(name + " did not start: " + log)), 10000);
    p.stderr.on("data", (d) => {
      log += d;
      url ??= log.match(/web page: (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)/)?.[1];
      port ??= log.match(/ready: \S+ at 127\.0\.0\.1:(\d+)/)?.[1];
      if (url && port) { clearTimeout(timer); resolve({ name, url, port: Number(port), proc: p,
        token: url.split("token=")[1], base: url.split("/?")[0] }); }
    });
    p.on("exit", (code) => reject(new Error(name + " exited with " + code + ": " + log)));
  });
}

async function rpc(node, method, params) {
  const r = await fetch(node.base + "/rpc", { method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + node.token },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  return (await r.json()).result;
}

async function until(what, pred) {
  for (let i = 0; i < 200 && Date.now() < deadline; i++) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log("     (waited in vain for " + what + ")");
  return false;
}

let browser;
try {
  const alice = await start("alice"), bob = await start("bob");

  // Without the token there is no page.
  const bare = await fetch(alice.base + "/");
  check(bare.status === 401, "the page without its token is refused (401)");

  await rpc(alice, "ping", { host: "127.0.0.1", port: bob.port });
  await rpc(alice, "add", { user: "bob" });
  await rpc(bob, "add", { user: "alice" });
  check(await until("both online", async () =>
    (await rpc(alice, "users", { which: "online" })).length === 1 && (await rpc(bob, "users", { which: "online" })).length === 1),
    "alice and bob see each other online");

  browser = await puppeteer.launch({ executablePath: chromium, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-timer-throttling",
           "--disable-backgrounding-occluded-windows", "--disable-renderer-backgrounding"] });
  const pa = await browser.newPage(), pb = await browser.newPage();
  const outside = [], errors = [];
  for (const p of [pa, pb]) {
    await p.setViewport({ width: 1000, height: 600 });
    p.on("request", (req) => { if (!req.url().startsWith("http://127.0.0.1:")) outside.push(req.url()); });
    p.on("requestfailed", (req) => console.log("     request failed: " + req.url().replace(/token=\w+/, "token=…") + " " + (req.failure() && req.failure().errorText)));
    p.on("pageerror", (e) => { errors.push(String(e)); console.log("     page error: " + e); });
  }
  await pa.goto(alice.url, { waitUntil: "load" });
  await pb.goto(bob.url, { waitUntil: "load" });

  // Contacts with presence.
  check(await until("bob online in alice's page", () =>
    pa.$$eval("#users li", (lis) => lis.some((li) => li.textContent.includes("bob") && li.querySelector(".dot.on")))),
    "alice's page lists bob, online");

  // Alice opens bob and writes; bob's page shows it live.
  await pb.evaluate(() => [...document.querySelectorAll("#users li")].find((li) => li.textContent.includes("alice")).click());
  await pa.bringToFront();
  await pa.evaluate(() => [...document.querySelectorAll("#users li")].find((li) => li.textContent.includes("bob")).click());
  await pa.waitForSelector("#text:not([disabled])");
  await pa.type("#text", "hello bob, from a page");
  await pa.click("#send");
  check(await until("bob's page to show the message", () =>
    pb.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("hello bob, from a page")))),
    "bob's page shows alice's message as it arrives");
  check(await until("delivered mark in alice's page", () =>
    pa.$$eval(".msg.own", (ms) => ms.some((m) => m.textContent.includes("hello bob, from a page") && m.textContent.includes("✓✓")))),
    "alice's page marks it delivered");

  // Markup from a peer is text, never markup.
  await pb.bringToFront();
  await pb.type("#text", "<img src=x onerror=\"document.title='owned'\"><b>bold?</b>");
  await pb.click("#send");
  check(await until("the markup line in alice's page", () =>
    pa.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("<b>bold?</b>")))),
    "a peer's markup arrives as text");
  check((await pa.$$eval(".msg img, .msg b", (x) => x.length)) === 0 && (await pa.title()) === "darkchat",
    "no element and no script from a peer's text");

  // History that scrolls back: 60 more lines, then the page shows the newest 50 and loads the rest.
  for (let i = 0; i < 60; i++) await rpc(bob, "chat", { to: "alice", text: "line " + i });
  await until("60 lines stored", async () => (await rpc(alice, "history", { user: "bob", count: 100 })).length >= 62);
  await pa.bringToFront();
  await pa.evaluate(() => [...document.querySelectorAll("#users li")].find((li) => li.textContent.includes("bob")).click());
  check(await until("the older button", () => pa.$eval("#older", (b) => getComputedStyle(b).display !== "none")),
    "a long conversation offers older messages");
  const before = await pa.$$eval(".msg", (ms) => ms.length);
  await pa.click("#older");
  check(await until("older messages", async () => (await pa.$$eval(".msg", (ms) => ms.length)) > before),
    "older messages load above (" + before + " shown first)");

  // A group request from bob, answered with alice's button.
  await rpc(bob, "connect", { user: "alice" });
  check(await until("the request in alice's page", () =>
    pa.$$eval("#requests .request", (rs) => rs.some((r) => r.textContent.includes("bob")))), "alice's page shows bob's request");
  await pa.evaluate(() => [...document.querySelectorAll("#requests button")].find((b) => b.textContent === "Yes").click());
  check(await until("the group in both pages", async () =>
    (await pa.$$eval("#groups li", (l) => l.length)) === 1 && (await pb.$$eval("#groups li", (l) => l.length)) === 1),
    "the group appears in both pages");

  // An image from bob, accepted by alice's node, shown inline in her page.
  await pa.bringToFront();
  await pa.evaluate(() => [...document.querySelectorAll("#users li")].find((li) => li.textContent.includes("bob")).click());
  const png = join(tmp, "dot.png");
  writeFileSync(png, Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAIAAAA7ljmRAAAAEElEQVR4nGP4z8AARww4OQD1MQv1NXv7ggAAAABJRU5ErkJggg==", "base64"));
  await rpc(bob, "send_file", { to: "alice", path: png });
  let offer = null;
  await until("the offer at alice", async () => {
    offer = (await rpc(alice, "files", {})).find((t) => !t.sending && t.name === "dot.png");
    return !!offer;
  });
  if (offer) await rpc(alice, "accept_file", { id: offer.id });
  check(await until("the image in alice's page", () =>
    pa.$$eval(".msg img", (imgs) => imgs.some((i) => i.complete && i.naturalWidth === 4 && i.naturalHeight === 3))),
    "an image received is shown inline (4x3)");

  // A group's lines are kept: opening the group shows them from the node's history, older ones on demand.
  const gid = (await rpc(alice, "groups", {}))[0].id;
  for (let i = 0; i < 55; i++) await rpc(bob, "say", { group: gid, text: "group line " + i });
  await until("55 group lines kept", async () => (await rpc(alice, "history", { group: gid, count: 100 })).length >= 55);
  await pa.bringToFront();
  await pa.evaluate(() => document.querySelector("#groups li").click());
  check(await until("group lines from history", () =>
    pa.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("group line 54")))),
    "a group opened shows its stored lines");
  check(await until("the older button for the group", () => pa.$eval("#older", (b) => getComputedStyle(b).display !== "none")),
    "a long group offers older lines");
  await pa.click("#older");
  check(await until("older group lines", () =>
    pa.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("group line 0")))),
    "older lines of the group load");
  check(await pa.$eval("#members", (m) => m.textContent.includes("alice") && m.textContent.includes("bob")),
    "the group's members are shown");

  // A PNG chosen in alice's page goes to bob: bob's page offers it, bob accepts with its button, and sees it inline.
  await pb.bringToFront();
  await pb.evaluate(() => [...document.querySelectorAll("#users li")].find((li) => li.textContent.includes("alice")).click());
  await pa.bringToFront();
  await pa.evaluate(() => [...document.querySelectorAll("#users li")].find((li) => li.textContent.includes("bob")).click());
  await pa.waitForSelector("#attach:not([disabled])");
  const square = join(tmp, "squares.png");
  writeFileSync(square, Buffer.from("iVBORw0KGgoAAAANSUhEUgAAADAAAAAgCAIAAADbtmxLAAAAR0lEQVR42mNQKtyIFX3YooEV0Vo9w6iDRh006qAR56CBshiX+lEHjTpo1EEjz0GjJfWog0YdNOqg0fbQaNUx6qBRB41wBwEAnlgwiD0st7gAAAAASUVORK5CYII=", "base64"));
  const [chooser] = await Promise.all([pa.waitForFileChooser(), pa.click("#attach")]);
  await chooser.accept([square]);
  check(await until("alice's page says it was offered", () =>
    pa.$$eval(".note", (ns) => ns.some((n) => n.textContent.includes("offered squares.png to bob")))),
    "alice's page uploads the file and the node offers it");
  await pb.bringToFront();
  check(await until("the offer in bob's page", () =>
    pb.$$eval("#requests .request", (rs) => rs.some((r) => r.textContent.includes("squares.png")))), "bob's page shows the offer");
  await pb.evaluate(() => [...document.querySelectorAll("#requests .request")].find((r) => r.textContent.includes("squares.png"))
    .querySelector("button").click());
  check(await until("the image in bob's page", () =>
    pb.$$eval(".msg img", (imgs) => imgs.some((i) => i.complete && i.naturalWidth === 48 && i.naturalHeight === 32))),
    "the image sent from alice's page is shown inline in bob's (48x32)");
  check(await pb.$$eval("#requests .request", (rs) => !rs.some((r) => r.textContent.includes("squares.png"))),
    "the offer answered leaves bob's requests");
  const forged = await fetch(alice.base + "/upload?to=bob&name=x.png", { method: "POST", body: "x" });
  check(forged.status === 401, "an upload without the token is refused (401)");

  // What the page uploads is kept under alice's data directory only while a transfer reads it.
  const uploads = join(tmp, "alice", "uploads");
  const upload = async (query, body) => (await fetch(alice.base + "/upload?" + query,
    { method: "POST", headers: { Authorization: "Bearer " + alice.token }, body })).json();
  check(await until("alice's upload removed", () => readdirSync(uploads).length === 0),
    "the upload bob has taken leaves alice's uploads folder" +
    (readdirSync(uploads).length ? " (left: " + readdirSync(uploads).join(", ") + ")" : ""));
  const refused = await upload("to=mallory&name=nobody.txt", "for nobody");
  check(!!refused.error && readdirSync(uploads).length === 0, "an upload to a stranger is refused and not kept");
  const shared = await upload("group=" + gid + "&name=minutes.txt", "kept for the group");
  check(shared.result !== undefined && readdirSync(uploads).includes("minutes.txt"),
    "an upload shared with a group stays, to serve its members");

  mkdirSync(shots, { recursive: true });
  for (const [p, name] of [[pa, "web-alice.png"], [pb, "web-bob.png"]]) {
    await p.bringToFront();  // a tab in the background is not painted
    await p.screenshot({ path: join(shots, name) });
  }
  console.log("screenshots: " + join(shots, "web-alice.png") + ", " + join(shots, "web-bob.png"));
  check(errors.length === 0, "no script error in either page");
  check(outside.length === 0, "no page fetched anything from outside the node" + (outside.length ? ": " + outside[0] : ""));
} catch (e) {
  failed++;
  console.log("FAIL " + (e && e.stack || e));
} finally {
  if (browser) await browser.close().catch(() => {});
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`[doctest] test cases: ${passed + failed} | ${passed} passed | ${failed} failed | 0 skipped`);
process.exit(failed ? 1 : 0);
