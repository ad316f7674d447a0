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
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { args, Test, pick } from "./harness.mjs";

const { darkchatd, shots } = args("two_pages.mjs");
const t = new Test(darkchatd, 200);
const tmp = t.tmp;

try {
  const alice = await t.start("alice", ["--web", "0"]), bob = await t.start("bob", ["--web", "0"]);

  // Without the token there is no page.
  const bare = await fetch(alice.base + "/");
  t.check(bare.status === 401, "the page without its token is refused (401)");

  await t.rpc(alice, "ping", { host: "127.0.0.1", port: bob.port });
  await t.rpc(alice, "add", { user: "bob" });
  await t.rpc(bob, "add", { user: "alice" });
  t.check(await t.until("both online", async () =>
    (await t.rpc(alice, "users", { which: "online" })).length === 1 && (await t.rpc(bob, "users", { which: "online" })).length === 1),
    "alice and bob see each other online");

  const [pa, pb] = await t.pages(2);
  await pa.goto(alice.url, { waitUntil: "load" });
  await pb.goto(bob.url, { waitUntil: "load" });

  // Contacts with presence.
  t.check(await t.until("bob online in alice's page", () =>
    pa.$$eval("#users li", (lis) => lis.some((li) => li.textContent.includes("bob") && li.querySelector(".dot.on")))),
    "alice's page lists bob, online");

  // Alice opens bob and writes; bob's page shows it live.
  await pick(pb, "#users", "alice");
  await pa.bringToFront();
  await pick(pa, "#users", "bob");
  await pa.waitForSelector("#text:not([disabled])");
  await pa.type("#text", "hello bob, from a page");
  await pa.click("#send");
  t.check(await t.until("bob's page to show the message", () =>
    pb.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("hello bob, from a page")))),
    "bob's page shows alice's message as it arrives");
  t.check(await t.until("delivered mark in alice's page", () =>
    pa.$$eval(".msg.own", (ms) => ms.some((m) => m.textContent.includes("hello bob, from a page") && m.textContent.includes("✓✓")))),
    "alice's page marks it delivered");

  // Markup from a peer is text, never markup.
  await pb.bringToFront();
  await pb.type("#text", "<img src=x onerror=\"document.title='owned'\"><b>bold?</b>");
  await pb.click("#send");
  t.check(await t.until("the markup line in alice's page", () =>
    pa.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("<b>bold?</b>")))),
    "a peer's markup arrives as text");
  t.check((await pa.$$eval(".msg img, .msg b", (x) => x.length)) === 0 && (await pa.title()) === "darkchat",
    "no element and no script from a peer's text");

  // History that scrolls back: 60 more lines, then the page shows the newest 50 and loads the rest.
  for (let i = 0; i < 60; i++) await t.rpc(bob, "chat", { to: "alice", text: "line " + i });
  await t.until("60 lines stored", async () => (await t.rpc(alice, "history", { user: "bob", count: 100 })).length >= 62);
  await pa.bringToFront();
  await pick(pa, "#users", "bob");
  t.check(await t.until("the older button", () => pa.$eval("#older", (b) => getComputedStyle(b).display !== "none")),
    "a long conversation offers older messages");
  const before = await pa.$$eval(".msg", (ms) => ms.length);
  await pa.click("#older");
  t.check(await t.until("older messages", async () => (await pa.$$eval(".msg", (ms) => ms.length)) > before),
    "older messages load above (" + before + " shown first)");

  // A group request from bob, answered with alice's button.
  await t.rpc(bob, "connect", { user: "alice" });
  t.check(await t.until("the request in alice's page", () =>
    pa.$$eval("#requests .request", (rs) => rs.some((r) => r.textContent.includes("bob")))), "alice's page shows bob's request");
  await pa.evaluate(() => [...document.querySelectorAll("#requests button")].find((b) => b.textContent === "Yes").click());
  t.check(await t.until("the group in both pages", async () =>
    (await pa.$$eval("#groups li", (l) => l.length)) === 1 && (await pb.$$eval("#groups li", (l) => l.length)) === 1),
    "the group appears in both pages");

  // An image from bob, accepted by alice's node, shown inline in her page.
  await pa.bringToFront();
  await pick(pa, "#users", "bob");
  const png = join(tmp, "dot.png");
  writeFileSync(png, Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAIAAAA7ljmRAAAAEElEQVR4nGP4z8AARww4OQD1MQv1NXv7ggAAAABJRU5ErkJggg==", "base64"));
  await t.rpc(bob, "send_file", { to: "alice", path: png });
  let offer = null;
  await t.until("the offer at alice", async () => {
    offer = (await t.rpc(alice, "files", {})).find((t) => !t.sending && t.name === "dot.png");
    return !!offer;
  });
  if (offer) await t.rpc(alice, "accept_file", { id: offer.id });
  t.check(await t.until("the image in alice's page", () =>
    pa.$$eval(".msg img", (imgs) => imgs.some((i) => i.complete && i.naturalWidth === 4 && i.naturalHeight === 3))),
    "an image received is shown inline (4x3)");

  // A group's lines are kept: opening the group shows them from the node's history, older ones on demand.
  const gid = (await t.rpc(alice, "groups", {}))[0].id;
  for (let i = 0; i < 55; i++) await t.rpc(bob, "say", { group: gid, text: "group line " + i });
  await t.until("55 group lines kept", async () => (await t.rpc(alice, "history", { group: gid, count: 100 })).length >= 55);
  await pa.bringToFront();
  await pa.evaluate(() => document.querySelector("#groups li").click());
  t.check(await t.until("group lines from history", () =>
    pa.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("group line 54")))),
    "a group opened shows its stored lines");
  t.check(await t.until("the older button for the group", () => pa.$eval("#older", (b) => getComputedStyle(b).display !== "none")),
    "a long group offers older lines");
  await pa.click("#older");
  t.check(await t.until("older group lines", () =>
    pa.$$eval(".msg", (ms) => ms.some((m) => m.textContent.includes("group line 0")))),
    "older lines of the group load");
  t.check(await pa.$eval("#members", (m) => m.textContent.includes("alice") && m.textContent.includes("bob")),
    "the group's members are shown");

  // A PNG chosen in alice's page goes to bob: bob's page offers it, bob accepts with its button, and sees it inline.
  await pb.bringToFront();
  await pick(pb, "#users", "alice");
  await pa.bringToFront();
  await pick(pa, "#users", "bob");
  await pa.waitForSelector("#attach:not([disabled])");
  const square = join(tmp, "squares.png");
  writeFileSync(square, Buffer.from("iVBORw0KGgoAAAANSUhEUgAAADAAAAAgCAIAAADbtmxLAAAAR0lEQVR42mNQKtyIFX3YooEV0Vo9w6iDRh006qAR56CBshiX+lEHjTpo1EEjz0GjJfWog0YdNOqg0fbQaNUx6qBRB41wBwEAnlgwiD0st7gAAAAASUVORK5CYII=", "base64"));
  const [chooser] = await Promise.all([pa.waitForFileChooser(), pa.click("#attach")]);
  await chooser.accept([square]);
  t.check(await t.until("alice's page says it was offered", () =>
    pa.$$eval(".note", (ns) => ns.some((n) => n.textContent.includes("offered squares.png to bob")))),
    "alice's page uploads the file and the node offers it");
  await pb.bringToFront();
  t.check(await t.until("the offer in bob's page", () =>
    pb.$$eval("#requests .request", (rs) => rs.some((r) => r.textContent.includes("squares.png")))), "bob's page shows the offer");
  await pb.evaluate(() => [...document.querySelectorAll("#requests .request")].find((r) => r.textContent.includes("squares.png"))
    .querySelector("button").click());
  t.check(await t.until("the image in bob's page", () =>
    pb.$$eval(".msg img", (imgs) => imgs.some((i) => i.complete && i.naturalWidth === 48 && i.naturalHeight === 32))),
    "the image sent from alice's page is shown inline in bob's (48x32)");
  t.check(await pb.$$eval("#requests .request", (rs) => !rs.some((r) => r.textContent.includes("squares.png"))),
    "the offer answered leaves bob's requests");
  const forged = await fetch(alice.base + "/upload?to=bob&name=x.png", { method: "POST", body: "x" });
  t.check(forged.status === 401, "an upload without the token is refused (401)");

  // What the page uploads is kept under alice's data directory only while a transfer reads it.
  const uploads = join(tmp, "alice", "uploads");
  const upload = async (query, body) => (await fetch(alice.base + "/upload?" + query,
    { method: "POST", headers: { Authorization: "Bearer " + alice.token }, body })).json();
  t.check(await t.until("alice's upload removed", () => readdirSync(uploads).length === 0),
    "the upload bob has taken leaves alice's uploads folder" +
    (readdirSync(uploads).length ? " (left: " + readdirSync(uploads).join(", ") + ")" : ""));
  const refused = await upload("to=mallory&name=nobody.txt", "for nobody");
  t.check(!!refused.error && readdirSync(uploads).length === 0, "an upload to a stranger is refused and not kept");
  const shared = await upload("group=" + gid + "&name=minutes.txt", "kept for the group");
  t.check(shared.result !== undefined && readdirSync(uploads).includes("minutes.txt"),
    "an upload shared with a group stays, to serve its members");

  await t.screenshots(shots, [[pa, "web-alice.png"], [pb, "web-bob.png"]]);
} catch (e) {
  await t.finish(e);
}
await t.finish();
