// The official `openai` npm client against `sail serve` of a converted CLIP
// or Chinese-CLIP: embeds the texts (strings) and the images (content parts
// with data URLs) that tests/test_pipeline_clip.py gives it, checks the
// responses' shape, and writes the vectors it received to SAIL_OUT as JSON
// ({"texts": [[...]], "images": [[...]], "texts_float": [[...]]}) for the
// Python side to compare with the CLI, the C API, the binding and PyTorch.
// Environment: SAIL_URL, SAIL_NAME (a label), SAIL_INPUTS
// ({"texts": [...], "images": [[path, mime], ...]}), SAIL_OUT. Prints TAP lines.
import { readFileSync, writeFileSync } from "node:fs";
import OpenAI from "openai";

const name = process.env.SAIL_NAME;
const inputs = JSON.parse(process.env.SAIL_INPUTS);
let n = 0;
function check(ok, what) {
  n++;
  console.log(`${ok ? "ok" : "not ok"} ${n} - openai client, ${name}: ${what}`);
}

const dataUrl = (p, mime) => `data:${mime};base64,${readFileSync(p).toString("base64")}`;
const rows = (r) => r.data.map((d) => Array.from(d.embedding));

async function main() {
  const client = new OpenAI({ baseURL: `${process.env.SAIL_URL}/v1`, apiKey: "unused", maxRetries: 0 });
  const t = await client.embeddings.create({ model: name, input: inputs.texts });
  check(t.object === "list" && t.model === name && t.data.length === inputs.texts.length &&
    t.data.every((d, i) => d.index === i && d.object === "embedding") && t.usage.prompt_tokens > 0,
    `embeddings.create of ${inputs.texts.length} texts (default base64 encoding): list, indices, usage`);
  const tf = await client.embeddings.create({ model: name, input: inputs.texts, encoding_format: "float" });
  check(tf.data.length === inputs.texts.length, "the same texts with encoding_format float");
  const parts = inputs.images.map(([p, mime]) => [{ type: "image_url", image_url: { url: dataUrl(p, mime) } }]);
  const im = await client.embeddings.create({ model: name, input: parts });
  check(im.data.length === inputs.images.length && im.data.every((d, i) => d.index === i) &&
    im.usage.prompt_tokens === 0,
    `embeddings.create of ${inputs.images.length} images as image_url content parts (PNG and JPEG data URLs)`);
  writeFileSync(process.env.SAIL_OUT, JSON.stringify({ texts: rows(t), texts_float: rows(tf), images: rows(im) }));
}

main().catch((e) => {
  check(false, `request failed: ${e?.status ?? ""} ${e?.message ?? e}`);
  process.exit(1);
});
