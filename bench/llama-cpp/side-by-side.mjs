// Side by side with llama.cpp: for each GGUF, alternate rounds of `tessera bench` and llama.cpp (node-llama-cpp's
// prebuilt CPU build, which picks its kernels for this CPU at run time) on the same file, the same threads and the
// same prompt length, and print medians and the ratio Tessera / llama.cpp measured in the same rounds.
//
//   cd bench/llama-cpp && npm install          # once (needs the npm registry)
//   node side-by-side.mjs --tessera ../../src/Tessera/bin/Release/net10.0/tessera.dll --threads 2 \
//        --prefill 128 --decode 64 --rounds 3 [--vocab 32000] /tmp/tl-q4_0.gguf /tmp/tl-q8_0.gguf ...
//
// Both sides time the same work: a prompt of N random tokens in one batch into an empty cache (prefill), then
// greedy decoding of D tokens after a 16-token prompt (decode). Weights are memory-mapped by llama.cpp and copied
// by Tessera (its default); the first round of each side is a warm-up and is not counted.
import {execFileSync} from "node:child_process";
import {getLlama} from "node-llama-cpp";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const value = args[i + 1];
  args.splice(i, 2);
  return value;
};
const tessera = option("--tessera", "../../src/Tessera/bin/Release/net10.0/tessera.dll");
const threads = Number(option("--threads", "2"));
const prefill = Number(option("--prefill", "128"));
const decode = Number(option("--decode", "64"));
const rounds = Number(option("--rounds", "3"));
const vocab = Number(option("--vocab", "32000")); // token ids are drawn below this (tessera model synth: 32000)
const models = args;
if (models.length === 0) {
  console.error("usage: node side-by-side.mjs [--tessera DLL] [--threads N] [--prefill N] [--decode N] [--rounds N] MODEL.gguf...");
  process.exit(2);
}

const median = a => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const tokens = (n, vocab, salt) => Array.from({length: n}, (_, i) => 100 + ((i * 7919 + salt * 104729) % (vocab - 200)));

const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});

async function llamaRound(model, vocab, salt) {
  const context = await model.createContext({contextSize: Math.max(1024, prefill + decode + 64), threads, batchSize: Math.max(512, prefill), sequences: 1});
  try {
    const sequence = context.getSequence();
    let start = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(tokens(prefill, vocab, salt));
    const prefillTps = prefill / ((performance.now() - start) / 1000);
    await sequence.clearHistory();
    await sequence.evaluateWithoutGeneratingNewTokens(tokens(16, vocab, salt + 1));
    let n = 0;
    for await (const _ of sequence.evaluate([tokens(1, vocab, salt + 2)[0]], {temperature: 0})) {
      if (n === 0) start = performance.now(); // from the first sampled token on: decode steps only
      if (++n > decode) break;
    }
    return {prefillTps, decodeTps: decode / ((performance.now() - start) / 1000)};
  } finally {
    await context.dispose();
  }
}

function tesseraRound(path) {
  const json = execFileSync("dotnet", [tessera, "bench", "--model", path, "--threads", String(threads), "--runs", "1",
    "--prefill", String(prefill), "--decode-tokens", String(decode), "-o", "json"], {encoding: "utf8", stdio: ["ignore", "pipe", "ignore"]});
  const report = JSON.parse(json);
  return {prefillTps: report.prefill[0].tokens_per_second, decodeTps: report.decode_tokens_per_second, bandwidth: report.bandwidth_g_bps};
}

const rows = [];
for (const path of models) {
  const model = await llama.loadModel({modelPath: path, gpuLayers: 0});
  const t = {prefill: [], decode: [], bandwidth: []}, l = {prefill: [], decode: []};
  for (let r = 0; r <= rounds; r++) {
    const ours = tesseraRound(path);
    const theirs = await llamaRound(model, vocab, r);
    if (r === 0) continue; // warm-up
    t.prefill.push(ours.prefillTps); t.decode.push(ours.decodeTps); t.bandwidth.push(ours.bandwidth);
    l.prefill.push(theirs.prefillTps); l.decode.push(theirs.decodeTps);
    console.error(`${path} round ${r}: tessera ${ours.decodeTps.toFixed(1)} / ${ours.prefillTps.toFixed(1)} t/s, llama.cpp ${theirs.decodeTps.toFixed(1)} / ${theirs.prefillTps.toFixed(1)} t/s (decode / prefill ${prefill})`);
  }
  await model.dispose();
  const ratios = (a, b) => a.map((x, i) => x / b[i]);
  rows.push({model: path, tessera: {decode: median(t.decode), prefill: median(t.prefill)}, llamaCpp: {decode: median(l.decode), prefill: median(l.prefill)},
    decodeRatio: median(ratios(t.decode, l.decode)), prefillRatio: median(ratios(t.prefill, l.prefill)), bandwidthGBps: median(t.bandwidth),
    runs: {tessera: t, llamaCpp: l}});
}

console.log(`llama.cpp: node-llama-cpp 3.22.1, ${llama.systemInfo.trim()}`);
console.log(`| model | Tessera decode | llama.cpp decode | ratio | Tessera prefill ${prefill} | llama.cpp prefill ${prefill} | ratio |`);
console.log("|---|---|---|---|---|---|---|");
for (const r of rows)
  console.log(`| ${r.model} | ${r.tessera.decode.toFixed(1)} | ${r.llamaCpp.decode.toFixed(1)} | ${r.decodeRatio.toFixed(2)} | ${r.tessera.prefill.toFixed(1)} | ${r.llamaCpp.prefill.toFixed(1)} | ${r.prefillRatio.toFixed(2)} |`);
console.log(JSON.stringify(rows));
