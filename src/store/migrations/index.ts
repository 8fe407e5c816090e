import type { Migration, MigrationProvider } from "kysely";
import * as m001 from "./001-event-store";
import * as m002 from "./002-projections";

/** Numbered migrations, applied in order on start. Never edit one that has shipped: add the next. */
export const migrations: Record<string, Migration> = {
  "001-event-store": m001,
  "002-projections": m002,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
