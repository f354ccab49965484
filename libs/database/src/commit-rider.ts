/**
 * Work that must commit with another module's write, or not at all, carried
 * by that write's statement: the statement evaluates `expression` once for the
 * row it wrote, only if it wrote one, so both reach the database in one round
 * trip and one commit. How an upload's audit record commits with the file's
 * `available` mark: no stored file without its record, no record of a file
 * that was not stored.
 */
export interface CommitRider {
  /**
   * A SQL expression (values quoted by `literal`), evaluated once for the written row. It must
   * be volatile (a call of a volatile function): Postgres folds a constant expression while
   * planning, so it would run even when no row was written.
   */
  expression(literal: (value: string) => string): string;
  /**
   * Told how the statement ended: with nothing once it committed, else with
   * its error. Answers the error the writer throws: the rider's own error for
   * a failure of its own part, the statement's otherwise.
   */
  settle(error?: unknown): unknown;
}
