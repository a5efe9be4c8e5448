// Time from each SIGKILL of a coordinator to the first progress of the sagas
// it was driving, from the sagas' histories. Pure. Only sagas waiting on a
// participant call at the kill are measured: the new owner re-sends such a
// call as soon as it takes the partition, so their progress times the
// failover. A saga waiting out a retry backoff progresses when its backoff
// ends, whoever owns it; it is counted in flight but not timed.

export interface KillRecord {
  node: string;
  /** Epoch ms the SIGKILL was sent. */
  at: number;
  /** Epoch ms the node was started again. */
  restartedAt: number;
  /** Partitions the node owned just before the kill. */
  partitions: number[];
}

export interface SagaTimeline {
  sagaId: string;
  partition: number;
  /** Epoch ms of every history event, in order. */
  eventTimes: number[];
  /** Epoch ms of the terminal status change, if the saga finished. */
  finishedAt?: number;
  /** Participant calls from the history: dispatched at, and the step's next event (the answer) at. */
  calls?: { sentAt: number; endedAt?: number }[];
}

/** Whether a call of the saga was dispatched and not answered at `t`. */
function waitingOnCall(saga: SagaTimeline, t: number): boolean {
  return (saga.calls ?? []).some((c) => c.sentAt <= t && (c.endedAt === undefined || c.endedAt > t));
}

export interface Recovery {
  node: string;
  at: number;
  /** Sagas of the node's partitions that existed and were unfinished at the kill. */
  inFlight: number;
  /** Those of them waiting on a participant call at the kill: the ones timed below. */
  waitingOnCall: number;
  /** ms from the kill to the first event of any of them; undefined when none progressed. */
  firstProgressMs?: number;
  /** ms from the kill until every one of them had progressed at least once. */
  allProgressedMs?: number;
  /** True when the first progress came before the killed node was back (so another node made it). */
  byAnotherNode: boolean;
}

export function recoveries(kills: readonly KillRecord[], sagas: readonly SagaTimeline[]): Recovery[] {
  return kills.map((kill) => {
    const owned = new Set(kill.partitions);
    const firsts: number[] = [];
    let inFlight = 0;
    let waiting = 0;
    for (const saga of sagas) {
      if (!owned.has(saga.partition)) continue;
      const created = saga.eventTimes[0];
      if (created === undefined || created > kill.at) continue;
      if (saga.finishedAt !== undefined && saga.finishedAt <= kill.at) continue;
      inFlight++;
      if (!waitingOnCall(saga, kill.at)) continue;
      waiting++;
      const next = saga.eventTimes.find((t) => t > kill.at);
      if (next !== undefined) firsts.push(next);
    }
    const first = firsts.length ? Math.min(...firsts) : undefined;
    return {
      node: kill.node,
      at: kill.at,
      inFlight,
      waitingOnCall: waiting,
      ...(first !== undefined ? { firstProgressMs: first - kill.at } : {}),
      ...(firsts.length === waiting && waiting > 0 ? { allProgressedMs: Math.max(...firsts) - kill.at } : {}),
      byAnotherNode: first !== undefined && first < kill.restartedAt,
    };
  });
}
