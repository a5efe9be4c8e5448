import type { SagaDefinition } from "./saga-definition.js";

/** Effective dependencies of every step, and the reverse edges. */
export interface SagaGraph {
  dependencies: ReadonlyMap<string, readonly string[]>;
  dependents: ReadonlyMap<string, readonly string[]>;
}

const cache = new WeakMap<SagaDefinition, SagaGraph>();

/**
 * A saga where no step declares depends_on runs in list order: each step then
 * depends on the one before it. Otherwise depends_on is taken as written.
 * Memoized per definition object because the engine asks on every transition.
 */
export function sagaGraph(definition: SagaDefinition): SagaGraph {
  const cached = cache.get(definition);
  if (cached) return cached;
  const sequential = definition.steps.every((s) => s.dependsOn.length === 0);
  const dependencies = new Map<string, string[]>();
  const dependents = new Map<string, string[]>();
  definition.steps.forEach((step, index) => {
    const previous = definition.steps[index - 1];
    const deps = sequential ? (previous ? [previous.name] : []) : [...step.dependsOn];
    dependencies.set(step.name, deps);
    if (!dependents.has(step.name)) dependents.set(step.name, []);
    for (const dep of deps) {
      const list = dependents.get(dep) ?? [];
      list.push(step.name);
      dependents.set(dep, list);
    }
  });
  const graph = { dependencies, dependents };
  cache.set(definition, graph);
  return graph;
}

/** Every step reachable by following dependency edges from `start` (excluded). */
export function ancestorsOf(graph: SagaGraph, start: string): Set<string> {
  const seen = new Set<string>();
  const stack = [...(graph.dependencies.get(start) ?? [])];
  while (stack.length > 0) {
    const name = stack.pop() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    stack.push(...(graph.dependencies.get(name) ?? []));
  }
  return seen;
}
