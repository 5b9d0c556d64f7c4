/**
 * A small typed event emitter: one payload per event.
 *
 * Unlike node:events, an "error" event with no listener is not thrown, so a
 * registration loop never crashes the process because nobody subscribed. A
 * listener that throws does not stop the emitter or the other listeners; its
 * exception is rethrown on a microtask (like EventTarget), so it surfaces as an
 * uncaught exception instead of being swallowed.
 */
export interface Emitter<Events extends object> {
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void;
  /** Removes a listener added with `on`. */
  off<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): void;
}

export interface EmitterSource<Events extends object> extends Emitter<Events> {
  emit<K extends keyof Events>(event: K, payload: Events[K]): void;
}

export function createEmitter<Events extends object>(): EmitterSource<Events> {
  const listeners = new Map<keyof Events, Set<(payload: never) => void>>();
  const off: Emitter<Events>["off"] = (event, listener) => {
    listeners.get(event)?.delete(listener);
  };
  return {
    on(event, listener) {
      let set = listeners.get(event);
      if (set === undefined) listeners.set(event, (set = new Set()));
      set.add(listener);
      return () => off(event, listener);
    },
    off,
    emit(event, payload) {
      for (const listener of [...(listeners.get(event) ?? [])]) {
        try {
          (listener as (p: typeof payload) => void)(payload);
        } catch (e) {
          queueMicrotask(() => {
            throw e;
          });
        }
      }
    },
  };
}
