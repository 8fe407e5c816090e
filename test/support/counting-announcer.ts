import type { Announcer } from "../../src/store/change-notifier";

/**
 * Sends notices through a database (`Database.notify`) and keeps each payload sent, so that a
 * test counts the notices a notifier sends on either database (a NOTIFY statement on PostgreSQL,
 * a hand-over in memory on PGlite).
 */
export class CountingAnnouncer implements Announcer {
  readonly sent: string[] = [];

  constructor(private readonly through: () => Announcer) {}

  notify(channel: string, payload: string): Promise<void> {
    this.sent.push(payload);
    return this.through().notify(channel, payload);
  }
}
