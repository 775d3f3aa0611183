// The page at GET / in headless Chromium (Debian's, driven by playwright-core):
// a Chinese text query shows result thumbnails with scores; dropping an
// image searches with it (its own item comes first, score 1); the similarity
// panel compares two inputs; the audio panel says the model has no audio
// encoder. Screenshots go to SAIL_SHOTS (build/test-output). Run by
// tests/test_server.py with SAIL_URL, SAIL_FIXTURES, SAIL_SHOTS and
// SAIL_CHROMIUM set; prints TAP lines.
//
// With SAIL_AUDIO set (tests/test_server_audio.py: a server of an AST model
// with an index of clips) it checks the audio panel instead: a WAV uploaded
// through the file input embeds to `sail embed --audio`'s vector and
// searches (its own item first); a clip recorded with MediaRecorder (the
// browser's fake microphone) is sent as WebM/Opus, format "webm", and embeds
// to `sail embed --audio`'s vector of the same bytes. SAIL_AUDIO: {"wav",
// "want" (its vector), "model" (the model file), "sail" (the binary)}.
import { execFileSync } from "node:child_process";
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { chromium } from "playwright-core";

const fixtures = JSON.parse(process.env.SAIL_FIXTURES || "{}");
const audio = process.env.SAIL_AUDIO ? JSON.parse(process.env.SAIL_AUDIO) : null;
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
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(process.env.SAIL_URL + "/");
    await (audio ? audioChecks(page) : pageChecks(page));
    check(errors.length === 0, `no script errors (${errors.join("; ")})`);
  } finally {
    await browser.close();
  }
  console.log(`# page: ${n} checks, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

async function pageChecks(page) {
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

  const a = await page.evaluate(() => ({
    msg: document.getElementById("audio-msg").textContent,
    off: ["rec-btn", "audio-file", "audio-embed-btn"].every((id) => document.getElementById(id).disabled),
    search: document.getElementById("audio-search-btn").hidden,
  }));
  check(/has no audio encoder/.test(a.msg) && a.off && a.search,
    `a model without an audio tower: the audio panel says so and its controls are off ("${a.msg}")`);
}

// The request the page sends for its next /v1/embeddings or /v1/search call.
function nextRequest(page, path) {
  return page.waitForRequest((r) => r.url().endsWith(path) && r.method() === "POST", { timeout: 15000 })
    .then((r) => JSON.parse(r.postData()));
}

async function embedShown(page) {
  const sent = nextRequest(page, "/v1/embeddings");
  await page.click("#audio-embed-btn");
  const body = await sent;
  await page.waitForFunction(() => !document.getElementById("audio-vector").hidden &&
    /-d vector of/.test(document.getElementById("audio-msg").textContent), null, { timeout: 30000 });
  return { body, vec: JSON.parse(await page.textContent("#audio-vector")) };
}

function maxDiff(a, b) {
  if (!a || !b || a.length !== b.length) return Infinity;
  return Math.max(...a.map((x, i) => Math.abs(x - b[i])));
}

function cliVector(file) {
  const doc = JSON.parse(execFileSync(audio.sail, ["embed", "--model", audio.model, "--audio", file]).toString());
  return doc.data[0].embedding;
}

async function audioChecks(page) {
  await page.waitForFunction(() => /audio/.test(document.getElementById("status").textContent), null,
    { timeout: 10000 });
  const on = await page.evaluate(() => !document.getElementById("rec-btn").disabled &&
    !document.getElementById("audio-file").disabled && !document.getElementById("audio-search-btn").hidden);
  check(on, "an audio model: the status names audio, record, upload and search are offered");

  // Upload: the file input the drop zone opens.
  await page.setInputFiles("#audio-file", audio.wav);
  await page.waitForFunction(() => !document.getElementById("audio-embed-btn").disabled, null, { timeout: 10000 });
  const up = await embedShown(page);
  const part = up.body.input?.[0]?.[0]?.input_audio ?? {};
  const sentBytes = Buffer.from(part.data ?? "", "base64");
  const d = maxDiff(up.vec, audio.want);
  check(part.format === "wav" && sentBytes.equals(readFileSync(audio.wav)) && d <= 1e-6,
    `an uploaded WAV is sent whole as input_audio (format ${part.format}) and its vector equals sail embed --audio (max |diff| ${d})`);

  const sent = nextRequest(page, "/v1/search");
  await page.click("#audio-search-btn");
  const q = await sent;
  await page.waitForFunction(() => /results in/.test(document.getElementById("search-msg").textContent), null,
    { timeout: 30000 });
  const top = await page.$eval("#results .result", (c) => ({
    score: c.querySelector(".score").textContent, modality: c.querySelector(".modality")?.textContent,
    text: c.querySelector(".text").textContent,
  }));
  check(q.query?.[0]?.type === "input_audio" && top.score === "1.0000" && top.modality === "audio",
    `searching with the clip finds its own item first (${top.score}, ${top.modality}, ${top.text})`);
  await page.screenshot({ path: join(shots, "server_page_audio_upload.png"), fullPage: true });

  // Record ~1.5 s from Chromium's fake microphone (a beep).
  await page.click("#rec-btn");
  await page.waitForFunction(() => /recording/.test(document.getElementById("audio-msg").textContent), null,
    { timeout: 10000 });
  await page.waitForTimeout(1500);
  await page.click("#rec-btn");
  await page.waitForFunction(() => /^recorded/.test(document.getElementById("audio-msg").textContent), null,
    { timeout: 10000 });
  const rec = await embedShown(page);
  const rp = rec.body.input?.[0]?.[0]?.input_audio ?? {};
  const bytes = Buffer.from(rp.data ?? "", "base64");
  const file = join(shots, "server_page_recording.webm");
  writeFileSync(file, bytes);
  const ebml = bytes.length > 4 && bytes.readUInt32BE(0) === 0x1a45dfa3;
  const rd = maxDiff(rec.vec, cliVector(file));
  check(rp.format === "webm" && ebml && rd <= 1e-6,
    `a recorded clip is sent as WebM (format ${rp.format}, ${bytes.length} bytes, EBML ${ebml}) and embeds as sail embed --audio does on those bytes (max |diff| ${rd})`);
  await page.screenshot({ path: join(shots, "server_page_audio_recorded.png"), fullPage: true });
}

main().catch((e) => {
  console.log(`not ok ${n + 1} - page: unexpected exception ${e?.stack ?? e}`);
  process.exitCode = 1;
});
