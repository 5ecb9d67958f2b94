// The CPU cost of synchronous work on the calling thread (the restorer's conversions). The process's CPU time over
// such a span also counts every other thread's work meanwhile: onnxruntime's intra-op threads spinning after a run
// (the GFPGAN-sized stand-in at 2 threads: 7–9 CPU ms charged to a 3 ms conversion) or, in a GPU task, the
// restorer's thread and the other pipeline threads. Node 20 has no per-thread CPU clock (Linux's
// /proc/thread-self/schedstat advances only at scheduler ticks: 0 or 9 ms for a 3 ms span), so where Node does not
// give one (`process.threadCpuUsage`, Node 23.9 and later) the span's cost is the smaller of its wall time and the
// process's CPU time: the thread cannot use more CPU than either, spinning neighbours inflate only the second and
// preemption only the first.

type CpuUsage = () => { readonly user: number; readonly system: number };

/** Node 23.9 and later: the calling thread's CPU time, in µs. */
const threadCpuUsage = (process as { threadCpuUsage?: CpuUsage }).threadCpuUsage?.bind(process);

const usageMs = (usage: CpuUsage) => {
  const { user, system } = usage();
  return (user + system) / 1000;
};

/** CPU time of the whole process (user + system, every thread), in ms. */
export const processCpuMs = (): number => usageMs(() => process.cpuUsage());

/** True where the span's figure is the thread's own CPU time rather than the bound. */
export const HAS_THREAD_CPU_CLOCK = threadCpuUsage !== undefined;

/**
 * Starts the clock of a span of synchronous work on the calling thread; the function returned gives its CPU ms: the
 * thread's own CPU time (`HAS_THREAD_CPU_CLOCK`), else min(wall time, the process's CPU time) over the span.
 */
export function startSyncCpuClock(): () => number {
  if (threadCpuUsage !== undefined) {
    const start = usageMs(threadCpuUsage);
    return () => usageMs(threadCpuUsage) - start;
  }
  const wallStart = performance.now();
  const cpuStart = processCpuMs();
  return () => Math.min(performance.now() - wallStart, processCpuMs() - cpuStart);
}
