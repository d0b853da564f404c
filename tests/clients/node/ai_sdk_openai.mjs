// The Vercel AI SDK's OpenAI provider (`openai(model)` speaks the Responses API) against the
// gateway (tests/clients/test_node_sdks.py): node ai_sdk_openai.mjs BASE_URL KEY MODEL → JSON.
import { generateText, streamText } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { readFileSync } from "node:fs";

const [baseURL, apiKey, model] = process.argv.slice(2);
const versionOf = (name) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;
const openai = createOpenAI({ baseURL, apiKey });

const generated = await generateText({
  model: openai(model),
  system: "Be brief.",
  prompt: "Greet me [[reply:Hello from the AI SDK]]",
  maxRetries: 0,
});

const streamed = streamText({ model: openai(model), prompt: "Tell me about gates", maxRetries: 0 });
let text = "";
for await (const piece of streamed.textStream) text += piece;

console.log(
  JSON.stringify({
    versions: { ai: versionOf("ai"), "@ai-sdk/openai": versionOf("@ai-sdk/openai") },
    generated: { text: generated.text, usage: generated.usage, finishReason: generated.finishReason },
    streamed: { text, usage: await streamed.usage, finishReason: await streamed.finishReason },
  }),
);
