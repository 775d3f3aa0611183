// The official `openai` npm client pointed at `sail serve` (baseURL): strings
// and image parts give the vectors of `sail embed`, and the client surfaces
// the server's errors as its typed exceptions. Run by tests/test_server.py
// with SAIL_URL, SAIL_BIN, SAIL_MODEL and SAIL_FIXTURES set; prints TAP lines.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import OpenAI from "openai";

const url = process.env.SAIL_URL;
const fixtures = JSON.parse(process.env.SAIL_FIXTURES);
let n = 0;
let failed = 0;
function check(ok, name) {
  n++;
  if (!ok) failed++;
  console.log(`${ok ? "ok" : "not ok"} ${n} - openai client: ${name}`);
}

function cliEmbed(args) {
  const out = execFileSync(process.env.SAIL_BIN, ["embed", "--model", process.env.SAIL_MODEL, ...args]);
  return JSON.parse(out).data.map((d) => Float32Array.from(d.embedding));
}

// Batch padding moves float sums by a few ulp: compare to 1e-6.
function same(a, b) {
  if (a.length !== b.length || !a.length) return false;
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= 1e-6)) return false;
  return true;
}

const dataUrl = (p, mime) => `data:${mime};base64,${readFileSync(p).toString("base64")}`;

async function main() {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 });
  const texts = ["红色连衣裙", "a red dress", "黑色高帮运动鞋"];
  const ref = cliEmbed(["--separate", ...texts.flatMap((t) => ["--text", t])]);

  // The client asks for base64 by default and decodes it to floats.
  const r1 = await client.embeddings.create({ model: "sail-tiny", input: texts });
  check(r1.data.length === 3 && r1.data.every((d, i) => same(d.embedding, ref[i])),
    "embeddings.create(strings), default (base64) encoding: the vectors of sail embed");
  check(r1.object === "list" && r1.model === "sail-tiny" && r1.usage.prompt_tokens > 0 &&
    r1.usage.total_tokens === r1.usage.prompt_tokens, "response object, model and usage");

  const r2 = await client.embeddings.create({ model: "sail-tiny", input: texts[1], encoding_format: "float" });
  check(r2.data.length === 1 && same(r2.data[0].embedding, ref[1]), "encoding_format float, one string");

  const r3 = await client.embeddings.create({ model: "sail-tiny", input: texts, dimensions: 128 });
  const ref128 = cliEmbed(["--separate", "--dim", "128", ...texts.flatMap((t) => ["--text", t])]);
  check(r3.data.every((d, i) => same(d.embedding, ref128[i])),
    "dimensions 128 equals sail embed --dim 128");

  const shoe = fixtures["shoe.png"], dress = fixtures["dress.jpg"];
  const refImg = cliEmbed(["--separate", "--image", shoe, "--image", dress]);
  const refJoint = cliEmbed(["--text", texts[2], "--image", shoe]);
  const r4 = await client.embeddings.create({
    model: "sail-tiny",
    input: [
      [{ type: "image_url", image_url: { url: dataUrl(shoe, "image/png") } }],
      [{ type: "image_url", image_url: { url: dataUrl(dress, "image/jpeg") } }],
      [{ type: "text", text: texts[2] }, { type: "image_url", image_url: { url: dataUrl(shoe, "image/png") } }],
    ],
  });
  check(same(r4.data[0].embedding, refImg[0]) && same(r4.data[1].embedding, refImg[1]),
    "image parts (PNG and JPEG data URLs) equal sail embed --image");
  check(same(r4.data[2].embedding, refJoint[0]), "a text+image part list equals sail embed --text T --image F");

  async function expectError(args, status, code, name, c = client) {
    try {
      await c.embeddings.create(args);
      check(false, `${name}: no error`);
    } catch (e) {
      check(e instanceof OpenAI.APIError && e.status === status && (code === null || e.code === code) &&
        typeof e.error?.message === "string" && e.error.type === "invalid_request_error",
        `${name} -> ${e.status} ${e.constructor.name} (${e.error?.message ?? e.message})`);
    }
  }
  await expectError({ model: "m", input: [] }, 400, null, "empty input list");
  await expectError({ model: "m", input: "x", dimensions: 9999 }, 400, "invalid_value", "dimensions too large");
  await expectError({ model: "m", input: [[{ type: "image_url", image_url: { url: "http://example.com/a.png" } }]] },
    400, "remote_url_refused", "a remote image URL");
  await expectError({ model: "m", input: [[{ type: "image_url", image_url: { url: "data:image/png;base64,@@@" } }]] },
    400, "invalid_base64", "bad base64");
  await expectError({ model: "m", input: [[{ type: "image_url", image_url: { url: dataUrl(fixtures["anim.gif"], "image/gif") } }]] },
    400, "invalid_image", "an unsupported image (GIF)");
  console.log(`# openai client: ${n} checks, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.log(`not ok ${n + 1} - openai client: unexpected exception ${e?.stack ?? e}`);
  process.exitCode = 1;
});
