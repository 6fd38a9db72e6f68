/** Pieces every form of the web app shares. */

/** How a form's last submission went: one line, green or red. */
export interface FormResult {
  ok: boolean;
  text: string;
}

/** The line under a form that says how its last submission went (nothing before the first). */
export function ResultNote(props: { result: FormResult | undefined; testId?: string }) {
  const r = props.result;
  if (!r) return null;
  return (
    <p class={r.ok ? "ok" : "problems"} role="status" data-testid={props.testId}>
      {r.text}
    </p>
  );
}

/** A labelled drop-down, one option per choice (its label defaults to its value). */
export function Choice(props: { id: string; label: string; value: string; onChange: (value: string) => void; choices: readonly { value: string; label?: string }[] }) {
  return (
    <>
      <label for={props.id}>{props.label}</label>
      <select id={props.id} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        {props.choices.map((c) => (
          <option key={c.value} value={c.value}>
            {c.label ?? c.value}
          </option>
        ))}
      </select>
    </>
  );
}
