// The openai Node SDK's Responses API against the gateway (tests/clients/test_node_sdks.py):
// node openai_responses.mjs BASE_URL KEY MODEL → one JSON line.
import OpenAI from "openai";
import { readFileSync } from "node:fs";

const [baseURL, apiKey, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const version = JSON.parse(readFileSync(new URL("./node_modules/openai/package.json", import.meta.url))).version;

const created = await client.responses.create({
  model,
  instructions: "Be brief.",
  input: "Greet me [[reply:Hello from Node]]",
});

const stream = client.responses.stream({ model, input: "Tell me about gates" });
const events = [];
let deltas = "";
for await (const event of stream) {
  events.push([event.type, event.sequence_number]);
  if (event.type === "response.output_text.delta") deltas += event.delta;
}
const final = await stream.finalResponse();

console.log(
  JSON.stringify({
    version,
    created: { id: created.id, text: created.output_text, usage: created.usage, model: created.model },
    events,
    deltas,
    final: { id: final.id, text: final.output_text, usage: final.usage, status: final.status },
  }),
);
