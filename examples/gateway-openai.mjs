// Calls the metering gateway with the official `openai` client: a streamed chat completion that
// reports its usage and what it cost. CTK_API_KEY from `ctk credits key create`.
import OpenAI from "openai";

const client = new OpenAI({ apiKey: process.env.CTK_API_KEY, baseURL: process.env.CTK_GATEWAY_URL ?? "http://127.0.0.1:8788/v1" });
const stream = await client.chat.completions.create({
  model: "stories260K",
  messages: [{ role: "user", content: "Once upon a time" }],
  max_tokens: 32,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  process.stdout.write(chunk.choices[0]?.delta?.content ?? "");
  if (chunk.usage) console.log(`\n${chunk.usage.prompt_tokens} + ${chunk.usage.completion_tokens} tokens, ${chunk.usage.cost} credits`);
}
