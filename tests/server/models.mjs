// The official `openai` npm client against one `sail serve` holding several
// models (--model NAME=PATH repeated): models.list / models.retrieve in
// OpenAI's shape, each model's vectors by name equal to `sail embed` with
// that model's file, an unknown model as the client's NotFoundError with
// code model_not_found, and concurrent requests to every model answered
// correctly. Run by tests/test_server.py with SAIL_URL, SAIL_BIN,
// SAIL_MODELS ({"name": path, ...}, in --model order) and SAIL_DIMS
// ({"name": dim}) set; prints TAP lines.
import { execFileSync } from "node:child_process";
import OpenAI from "openai";

const models = JSON.parse(process.env.SAIL_MODELS);
const dims = JSON.parse(process.env.SAIL_DIMS);
const names = Object.keys(models);
let n = 0;
let failed = 0;
function check(ok, name) {
  n++;
  if (!ok) failed++;
  console.log(`${ok ? "ok" : "not ok"} ${n} - openai client, several models: ${name}`);
}

function cliEmbed(path, args) {
  const out = execFileSync(process.env.SAIL_BIN, ["embed", "--model", path, "--separate", ...args]);
  return JSON.parse(out).data.map((d) => Float32Array.from(d.embedding));
}

// Batch padding moves float sums by a few ulp: compare to 1e-6.
function same(a, b) {
  if (a.length !== b.length || !a.length) return false;
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= 1e-6)) return false;
  return true;
}

async function main() {
  const client = new OpenAI({ baseURL: `${process.env.SAIL_URL}/v1`, apiKey: "unused", maxRetries: 0 });

  const list = await client.models.list();
  const ids = list.data.map((m) => m.id);
  check(JSON.stringify(ids) === JSON.stringify(names) &&
    list.data.every((m) => m.object === "model" && m.owned_by === "sail" && Number.isInteger(m.created) &&
      m.created > 1e9),
    `models.list(): ${ids.join(", ")} (object "model", owned_by "sail", created a Unix time)`);
  const one = await client.models.retrieve(names[1]);
  check(one.id === names[1] && one.object === "model" && one.owned_by === "sail",
    `models.retrieve("${names[1]}")`);
  try {
    await client.models.retrieve("no-such-model");
    check(false, "models.retrieve of an unknown id: no error");
  } catch (e) {
    check(e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === "model_not_found",
      `models.retrieve of an unknown id -> ${e.status} ${e.constructor.name} ${e.code}`);
  }

  const texts = ["红色连衣裙", "a red dress", "黑色高帮运动鞋"];
  const ref = {};
  for (const name of names) ref[name] = cliEmbed(models[name], texts.flatMap((t) => ["--text", t]));
  for (const name of names) {
    const r = await client.embeddings.create({ model: name, input: texts });
    check(r.model === name && r.data.length === 3 && r.data.every((d, i) => d.embedding.length === dims[name] &&
      same(d.embedding, ref[name][i])),
      `embeddings.create({model: "${name}"}): ${dims[name]}-d vectors equal to sail embed --model ${name}'s file`);
  }
  // The two different models really differ (a server that ignored "model"
  // would pass the checks above only if they did not).
  const a = await client.embeddings.create({ model: names[0], input: texts[0], dimensions: 64 });
  const b = await client.embeddings.create({ model: names[1], input: texts[0], dimensions: 64 });
  check(!same(a.data[0].embedding, b.data[0].embedding), "the same text through two different models differs");

  try {
    await client.embeddings.create({ model: "no-such-model", input: "x" });
    check(false, "embeddings.create with an unknown model: no error");
  } catch (e) {
    check(e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === "model_not_found" &&
      e.error?.type === "invalid_request_error" && e.error?.message.includes(names[0]),
      `embeddings.create with an unknown model -> ${e.status} ${e.constructor.name} ${e.code}: ${e.error?.message}`);
  }

  // Concurrent requests, interleaved over every model, each answered with
  // its own model's vector.
  const jobs = [];
  for (let i = 0; i < 24; i++) {
    const name = names[i % names.length], t = texts[i % texts.length];
    jobs.push(client.embeddings.create({ model: name, input: t }).then((r) => ({ r, name, i })));
  }
  const done = await Promise.all(jobs);
  check(done.every(({ r, name, i }) => r.model === name && same(r.data[0].embedding, ref[name][i % texts.length])),
    "24 concurrent requests over the models: each vector is its model's");
  console.log(`# openai client, several models: ${n} checks, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.log(`not ok ${n + 1} - openai client, several models: unexpected exception ${e?.stack ?? e}`);
  process.exitCode = 1;
});
