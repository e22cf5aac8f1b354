// Auto-refresh: call a function every few seconds while the tab is visible. A hidden tab asks nothing of
// the server; when it shows again it refreshes at once. Calls never overlap: a slow answer delays the next.

/**
 * Start polling `fn` (an async function) every `intervalMs`. Returns a controller:
 * stop() for good, now() to refresh at once, and paused (get/set) to hold it without stopping.
 */
export function poller(fn, intervalMs) {
  let timer = null;
  let running = false;
  let stopped = false;
  let paused = false;
  let again = false;

  const schedule = () => {
    clearTimeout(timer);
    timer = null;
    if (!stopped && !paused && document.visibilityState === "visible") timer = setTimeout(tick, intervalMs);
  };

  async function tick() {
    if (stopped) return;
    if (running) {
      again = true; // asked for while a call is on its way: once more when it ends
      return;
    }
    running = true;
    clearTimeout(timer);
    try {
      await fn();
    } catch (err) {
      console.warn("refresh failed", err);
    } finally {
      running = false;
    }
    if (again) {
      again = false;
      tick();
    } else {
      schedule();
    }
  }

  const onVisibility = () => {
    if (document.visibilityState === "visible") tick();
    else clearTimeout(timer);
  };
  document.addEventListener("visibilitychange", onVisibility);
  schedule();

  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisibility);
    },
    now: tick,
    get paused() {
      return paused;
    },
    set paused(value) {
      paused = Boolean(value);
      if (paused) clearTimeout(timer);
      else schedule();
    },
  };
}
