import { inlineProjections } from "../../projections/index";
import type { Clock } from "../domain/clock";
import type { Database } from "./database";
import { ChangeNotifier } from "./change-notifier";
import { PostgresEventStore, type AppendObserver, type EventStore } from "./event-store";

/** The event store with every inline projection wired in. */
export function createEventStore(database: Database, clock: Clock, observer?: AppendObserver, notifier?: ChangeNotifier): EventStore {
  return new PostgresEventStore(database.db, inlineProjections, clock, observer, notifier ?? new ChangeNotifier(database));
}
