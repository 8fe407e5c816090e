import type { Migration, MigrationProvider } from "kysely";
import * as m001 from "./001-event-store";
import * as m002 from "./002-projections";
import * as m003 from "./003-auth";
import * as m004 from "./004-resource-health";
import * as m005 from "./005-blueprint-name-unique";
import * as m006 from "./006-lease-authorizing-object";
import * as m007 from "./007-stream-state";
import * as m008 from "./008-lease-ttl";
import * as m009 from "./009-failing-targets";
import * as m010 from "./010-token-expiry";
import * as m011 from "./011-bounded-capacity-reads";
import * as m012 from "./012-lease-priority";
import * as m013 from "./013-resource-holds";
import * as m014 from "./014-lease-quotas";
import * as m015 from "./015-blueprint-lease-cap";
import * as m016 from "./016-blueprint-pool-policy";
import * as m017 from "./017-append-guard";
import * as m018 from "./018-append-condition";
import * as m019 from "./019-work-item-failures";

/** Numbered migrations, applied in order on start. Never edit one that has shipped: add the next. */
export const migrations: Record<string, Migration> = {
  "001-event-store": m001,
  "002-projections": m002,
  "003-auth": m003,
  "004-resource-health": m004,
  "005-blueprint-name-unique": m005,
  "006-lease-authorizing-object": m006,
  "007-stream-state": m007,
  "008-lease-ttl": m008,
  "009-failing-targets": m009,
  "010-token-expiry": m010,
  "011-bounded-capacity-reads": m011,
  "012-lease-priority": m012,
  "013-resource-holds": m013,
  "014-lease-quotas": m014,
  "015-blueprint-lease-cap": m015,
  "016-blueprint-pool-policy": m016,
  "017-append-guard": m017,
  "018-append-condition": m018,
  "019-work-item-failures": m019,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
