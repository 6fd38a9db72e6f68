/**
 * The job spec the contract tests and the gas benchmark send (UTF-8 JSON in `redeem`): one example
 * of what a wallet sends, so that a benchmark measures the spec the tests exercise.
 */
export function exampleJobSpec(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "llm-finetune",
    image: `registry.example.com/team/train@sha256:${"ab".repeat(32)}`,
    command: ["python", "train.py"],
    gpus: 2,
    hours: 1,
    priority: "normal",
    ...overrides,
  };
}
