// What the browser tests share (two_pages.mjs, rooms_page.mjs): darkchatd
// processes in a temporary folder, their API over HTTP, bounded waiting, the
// checks counted as doctest counts them, and Debian's chromium.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);

// The arguments DARKCHATD SHOT_DIR, or exit 2 (usage) or 77 (a skip: no chromium).
export function args(script) {
  const [darkchatd, shots] = process.argv.slice(2);
  if (!darkchatd || !shots) {
    console.error("usage: node " + script + " DARKCHATD SHOT_DIR");
    process.exit(2);
  }
  if (!chromium) {
    console.log("no chromium: the browser test is skipped (apt-get install chromium)");
    process.exit(77);
  }
  return { darkchatd, shots };
}

export class Test {
  constructor(darkchatd, seconds) {
    this.darkchatd = darkchatd;
    this.tmp = mkdtempSync(join(tmpdir(), "darkchat-web-"));
    this.children = [];
    this.passed = 0;
    this.failed = 0;
    this.deadline = Date.now() + seconds * 1000;  // the whole test, bounded
    this.browser = null;
    this.outside = [];  // requests a page made to anything but the node
    this.errors = [];   // script errors in a page
  }

  check(ok, what) {
    if (ok) { this.passed++; console.log("ok   " + what); }
    else { this.failed++; console.log("FAIL " + what); }
  }

  dir(name) { return join(this.tmp, name); }

  // darkchatd with these flags (after -u name -p 0 --bind 127.0.0.1 --data-dir):
  // resolves once its log says it is ready (and gives its page's address with
  // --web). role: "user", "directory" or "relay".
  start(name, flags = [], role = "user") {
    const argv = [...(role === "user" ? [] : ["--" + role]), "-u", name, "-p", "0", "--bind", "127.0.0.1",
                  "--data-dir", this.dir(name), ...flags];
    const web = flags.includes("--web");
    return new Promise((resolve, reject) => {
      const p = spawn(this.darkchatd, argv, { stdio: ["ignore", "ignore", "pipe"] });
      this.children.push(p);
      let log = "", url = null, port = null;
      const timer = setTimeout(() => reject(new Error(name + " did not start: " + log)), 10000);
      p.stderr.on("data", (d) => {
        log += d;
        url ??= log.match(/web page: (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)/)?.[1];
        port ??= log.match(/ready: \S+ at 127\.0\.0\.1:(\d+)/)?.[1];
        if (port && (url || !web)) {
          clearTimeout(timer);
          resolve({ name, url, port: Number(port), proc: p, addr: "127.0.0.1:" + port,
                    token: url && url.split("token=")[1], base: url && url.split("/?")[0] });
        }
      });
      p.on("exit", (code) => reject(new Error(name + " exited with " + code + ": " + log)));
    });
  }

  // One JSON-RPC call through the node's page (POST /rpc): its result, or throws its error.
  async rpc(node, method, params) {
    const r = await fetch(node.base + "/rpc", { method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + node.token },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
    const j = await r.json();
    if (j.error) throw new Error(method + ": " + j.error.message);
    return j.result;
  }

  // pred until it holds: at most 200 tries 100 ms apart, and never past the deadline.
  async until(what, pred) {
    for (let i = 0; i < 200 && Date.now() < this.deadline; i++) {
      if (await pred()) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log("     (waited in vain for " + what + ")");
    return false;
  }

  // Headless chromium, and n pages of 1000x600 whose outside requests and errors are kept.
  async pages(n) {
    const { default: puppeteer } = await import("puppeteer-core");
    this.browser = await puppeteer.launch({ executablePath: chromium, headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-timer-throttling",
             "--disable-backgrounding-occluded-windows", "--disable-renderer-backgrounding"] });
    const out = [];
    for (let i = 0; i < n; i++) {
      const p = await this.browser.newPage();
      await p.setViewport({ width: 1000, height: 600 });
      p.on("request", (req) => { if (!req.url().startsWith("http://127.0.0.1:")) this.outside.push(req.url()); });
      p.on("requestfailed", (req) => console.log("     request failed: " + req.url().replace(/token=\w+/, "token=…") +
                                                  " " + (req.failure() && req.failure().errorText)));
      p.on("pageerror", (e) => { this.errors.push(String(e)); console.log("     page error: " + e); });
      out.push(p);
    }
    return out;
  }

  // Screenshots of [page, file name] pairs into dir, then the checks every page owes.
  async screenshots(dir, shots) {
    mkdirSync(dir, { recursive: true });
    for (const [p, name] of shots) {
      await p.bringToFront();  // a tab in the background is not painted
      await p.screenshot({ path: join(dir, name) });
    }
    console.log("screenshots: " + shots.map(([, name]) => join(dir, name)).join(", "));
    this.check(this.errors.length === 0, "no script error in any page");
    this.check(this.outside.length === 0,
               "no page fetched anything from outside the node" + (this.outside.length ? ": " + this.outside[0] : ""));
  }

  // The browser closed, every process stopped (by its pid), the folder removed,
  // the summary printed (scripts/count-tests.py counts it), and the exit status.
  async finish(error) {
    if (error) {
      this.failed++;
      console.log("FAIL " + (error && error.stack || error));
    }
    await this.stop();
    console.log(`[doctest] test cases: ${this.passed + this.failed} | ${this.passed} passed | ${this.failed} failed | 0 skipped`);
    process.exit(this.failed ? 1 : 0);
  }

  // The browser closed, every process stopped (by its pid), the folder removed.
  async stop() {
    if (this.browser) await this.browser.close().catch(() => {});
    for (const c of this.children) if (c.exitCode === null) c.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    for (const c of this.children) if (c.exitCode === null) c.kill("SIGKILL");
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

// The list item of a page's list (#users, #groups, #rooms) whose text has `text`, clicked.
export async function pick(page, list, text) {
  await page.evaluate((list, text) =>
    [...document.querySelectorAll(list + " li")].find((li) => li.textContent.includes(text)).click(), list, text);
}
