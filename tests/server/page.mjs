// The page at GET / in headless Chromium (Debian's, driven by playwright-core):
// a Chinese text query shows result thumbnails with scores; dropping an
// image searches with it (its own item comes first, score 1); the similarity
// panel compares two inputs. Screenshots go to SAIL_SHOTS (build/test-output).
// Run by tests/test_server.py with SAIL_URL, SAIL_FIXTURES, SAIL_SHOTS and
// SAIL_CHROMIUM set; prints TAP lines.
import { readFileSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { chromium } from "playwright-core";

const fixtures = JSON.parse(process.env.SAIL_FIXTURES);
const shots = process.env.SAIL_SHOTS;
let n = 0;
let failed = 0;
function check(ok, name) {
  n++;
  if (!ok) failed++;
  console.log(`${ok ? "ok" : "not ok"} ${n} - page: ${name}`);
}

// Thumbnails are fetched after the cards are drawn: wait until no tile is
// still loading and every image that arrived has decoded.
async function thumbsSettled(page) {
  await page.waitForFunction(() => !document.querySelector("#results .thumb[data-thumb=loading]") &&
    [...document.querySelectorAll("#results .result img")].every((i) => i.complete), null, { timeout: 15000 });
}

async function main() {
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.SAIL_CHROMIUM, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(process.env.SAIL_URL + "/");
    await page.waitForFunction(() => /items indexed/.test(document.getElementById("status").textContent), null,
      { timeout: 10000 });
    check(true, "loads and shows the model and the index size");

    await page.fill("#q", "红色连衣裙");
    await page.press("#q", "Enter");
    await page.waitForSelector("#results .result img", { timeout: 15000 });
    await thumbsSettled(page);
    const r1 = await page.$$eval("#results .result", (cards) => cards.map((c) => ({
      score: c.querySelector(".score").textContent, img: !!c.querySelector(".thumb img"),
      text: c.querySelector(".text").textContent, modality: c.querySelector(".modality")?.textContent,
    })));
    check(r1.length >= 3 && r1.every((r) => /^-?\d\.\d{4}$/.test(r.score)) && r1[0].text === "红色连衣裙" &&
      r1[0].score === "1.0000" && r1[0].modality === "text" && r1.some((r) => r.modality === "image"),
      `a Chinese query lists ${r1.length} results with scores and modalities, its own item first (1.0000, text)`);
    const thumbs = r1.filter((r) => r.img).length;
    check(thumbs >= 3, `result thumbnails are shown (${thumbs}, PNG, JPEG and PPM sources)`);
    await page.screenshot({ path: join(shots, "server_page_text_query.png"), fullPage: true });

    // Drag-and-drop an image file onto the drop zone.
    const shoe = fixtures["shoe.png"];
    const b64 = readFileSync(shoe).toString("base64");
    await page.fill("#q", "");
    const dt = await page.evaluateHandle(({ b64, name }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const d = new DataTransfer();
      d.items.add(new File([bytes], name, { type: "image/png" }));
      return d;
    }, { b64, name: basename(shoe) });
    await page.dispatchEvent("#drop", "drop", { dataTransfer: dt });
    await page.waitForFunction(() => /results in/.test(document.getElementById("search-msg").textContent) &&
      document.querySelector("#drop img"), null, { timeout: 15000 });
    await thumbsSettled(page);
    const top = await page.$eval("#results .result", (c) => ({
      score: c.querySelector(".score").textContent, img: c.querySelector(".thumb img")?.naturalWidth ?? 0,
    }));
    check(top.score === "1.0000" && top.img === 96,
      `dropping an image searches with it: its own item (indexed by sail index add) first (${top.score}), thumbnail shown (width ${top.img})`);
    await page.screenshot({ path: join(shots, "server_page_image_query.png"), fullPage: true });

    await page.fill("#sim-a-text", "黑色高帮运动鞋");
    await page.fill("#sim-b-text", "黑色高帮运动鞋");
    await page.click("#sim-btn");
    await page.waitForFunction(() => /^-?\d\.\d{4}$/.test(document.getElementById("sim-value").textContent), null, { timeout: 10000 });
    const same = await page.textContent("#sim-value");
    await page.fill("#sim-b-text", "a red dress");
    await page.click("#sim-btn");
    await page.waitForFunction((prev) => document.getElementById("sim-value").textContent !== prev, same, { timeout: 10000 });
    const diff = Number(await page.textContent("#sim-value"));
    check(same === "1.0000" && diff < 0.9999 && diff > -1, `similarity panel: identical inputs 1.0000, different ${diff}`);
    await page.screenshot({ path: join(shots, "server_page_similarity.png"), fullPage: true });
    check(errors.length === 0, `no script errors (${errors.join("; ")})`);
  } finally {
    await browser.close();
  }
  console.log(`# page: ${n} checks, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.log(`not ok ${n + 1} - page: unexpected exception ${e?.stack ?? e}`);
  process.exitCode = 1;
});
