import type { Consumer } from 'sqs-consumer';

/**
 * Stops an sqs-consumer and resolves once it has: `stop()` alone returns at once, while a message being handled may
 * still write, so the local stack waits for the `stopped` event before it tears the emulators down.
 */
export async function stopConsumer(consumer: Consumer): Promise<void> {
  const stopped = new Promise<void>((resolve) => consumer.once('stopped', () => resolve()));
  consumer.stop();
  await stopped;
}
