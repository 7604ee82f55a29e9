/**
 * End the current turn. A Durable Object commits its SQLite writes when a turn ends, and the output gate holds every
 * message sent meanwhile until that commit; so whatever follows this (CPU work, slow logging, closes) no longer
 * delays events already broadcast. Microtasks do not end a turn; a zero-delay timer does.
 */
export function endTurn(): Promise<void> {
  return scheduler.wait(0);
}

/** Run `task` once this turn has ended and the events it emitted are on their way. */
export function afterTurn(task: () => void): void {
  void endTurn().then(task);
}
