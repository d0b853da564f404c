// The Vercel AI SDK's Anthropic provider against the gateway, as an app would use it:
//   node vercel_anthropic.mjs <gateway base URL, e.g. http://127.0.0.1:PORT/v1> <key> <model>
// generateText, streamText, and a generateText turn with a tool the model calls (two steps).
// Prints one JSON line with what each returned.
import { createAnthropic } from '@ai-sdk/anthropic';
import { generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';

const [baseURL, apiKey, modelName] = process.argv.slice(2);
const anthropic = createAnthropic({ baseURL, apiKey });
const model = anthropic(modelName);

const generated = await generateText({ model, prompt: 'Say hello to the gateway.', maxOutputTokens: 200 });

const streamed = streamText({ model, prompt: 'Say hello again, streamed.', maxOutputTokens: 200 });
let text = '';
let deltas = 0;
for await (const delta of streamed.textStream) {
  text += delta;
  deltas += 1;
}

const seen = [];
const withTool = await generateText({
  model,
  prompt: 'What is the weather in Paris?',
  maxOutputTokens: 200,
  stopWhen: stepCountIs(3),
  tools: {
    get_weather: tool({
      description: 'Current weather of a city',
      inputSchema: jsonSchema({
        type: 'object',
        properties: { city: { type: 'string' } },
        required: ['city'],
      }),
      execute: async ({ city }) => {
        seen.push(city);
        return `sunny in ${city}`;
      },
    }),
  },
});

console.log(JSON.stringify({
  generated: { text: generated.text, finishReason: generated.finishReason, usage: generated.usage },
  streamed: {
    text,
    deltas,
    finishReason: await streamed.finishReason,
    usage: await streamed.usage,
  },
  tool: {
    calls: seen,
    steps: withTool.steps.length,
    text: withTool.text,
    finishReason: withTool.finishReason,
  },
}));
