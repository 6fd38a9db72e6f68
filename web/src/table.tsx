/** Pieces every table of the web app shares. */

/** A column heading: its text, and whether the column holds numbers (right-aligned). */
export type Heading = string | { head: string; num: true };

/** A table's head row: one `<th scope="col">` per heading. */
export function TableHead(props: { columns: readonly Heading[] }) {
  return (
    <thead>
      <tr>
        {props.columns.map((c) =>
          typeof c === "string" ? (
            <th key={c} scope="col">
              {c}
            </th>
          ) : (
            <th key={c.head} scope="col" class="num">
              {c.head}
            </th>
          ),
        )}
      </tr>
    </thead>
  );
}
