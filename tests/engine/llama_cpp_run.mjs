// Drives llama.cpp (the prebuilt CPU build bundled in node-llama-cpp) for lopper's engine tests.
// Usage: node llama_cpp_run.mjs ENGINE_DIR REQUEST.json
//   ENGINE_DIR: the folder where scripts/install-deps.sh installed node-llama-cpp (has node_modules/)
//   REQUEST: {"model": "x.gguf", "kv_f32": true, "tokenize": ["text", ...],
//             "prompt": [ids], "n": 32}
// Texts are tokenized with special tokens recognised (as `tokenizers` matches added tokens) and
// without BOS/EOS.
// Prints one JSON object: {"arch": "...", "tokenize": [[ids], ...], "generated": [ids]}.
// Nothing is downloaded or compiled: getLlama({gpu: false, build: "never"}).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [engineDir, requestFile] = process.argv.slice(2);
const req = JSON.parse(readFileSync(requestFile, "utf8"));
const nlc = await import(pathToFileURL(join(engineDir, "node_modules", "node-llama-cpp", "dist", "index.js")).href);

const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: req.model });
const out = { arch: model.fileInfo?.metadata?.general?.architecture ?? null };

out.tokenize = (req.tokenize ?? []).map((t) => Array.from(model.tokenize(t, true)));

if (req.prompt) {
  const kv = req.kv_f32 ? { experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" } : {};
  const context = await model.createContext({
    contextSize: Math.max(64, req.prompt.length + req.n + 8), batchSize: 512, threads: 1,  // one thread: deterministic, and immune to a busy machine (ggml spins)
    flashAttention: false, ...kv,
  });
  const seq = context.getSequence();
  const generated = [];
  if (req.n > 0) {
    for await (const token of seq.evaluate(req.prompt, { temperature: 0, yieldEogToken: true })) {
      generated.push(token);
      if (generated.length >= req.n) break;
    }
  }
  out.generated = generated;
  await context.dispose();
}
await model.dispose();
await llama.dispose();
process.stdout.write(JSON.stringify(out) + "\n");
