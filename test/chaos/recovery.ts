// Time from each SIGKILL of a coordinator to the first progress of the sagas
// it was driving, from the sagas' histories. Pure.

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
}

export interface Recovery {
  node: string;
  at: number;
  /** Sagas of the node's partitions that existed and were unfinished at the kill. */
  inFlight: number;
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
    for (const saga of sagas) {
      if (!owned.has(saga.partition)) continue;
      const created = saga.eventTimes[0];
      if (created === undefined || created > kill.at) continue;
      if (saga.finishedAt !== undefined && saga.finishedAt <= kill.at) continue;
      inFlight++;
      const next = saga.eventTimes.find((t) => t > kill.at);
      if (next !== undefined) firsts.push(next);
    }
    const first = firsts.length ? Math.min(...firsts) : undefined;
    return {
      node: kill.node,
      at: kill.at,
      inFlight,
      ...(first !== undefined ? { firstProgressMs: first - kill.at } : {}),
      ...(firsts.length === inFlight && inFlight > 0
        ? { allProgressedMs: Math.max(...firsts) - kill.at }
        : {}),
      byAnotherNode: first !== undefined && first < kill.restartedAt,
    };
  });
}
