/**
 * LiveDisplay's update queue, against a stand-in for tslab's display writer
 * (registered where display.ts looks for tslab's jupyter module): one send at
 * a time, concurrent updates coalesced into the newest, a busy socket waited
 * for, a failing writer reported once and never passed on to the caller.
 * The real kernel: live-display.test.ts.
 */
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

type Write = (content: { data: Record<string, unknown>; transient: { display_id?: string } }, update: boolean) => void;
const fake: { lastWriteDisplayData: Write | null } = { lastWriteDisplayData: null };
const FAKE_PATH = '/stand-in/node_modules/tslab/dist/jupyter.js';
const req = createRequire(__filename);
req.cache[FAKE_PATH] = { exports: fake } as unknown as NodeModule;

import { LiveDisplay } from '../../kernel-lib/notebook/display';

interface Sent {
  text: string;
  update: boolean;
  id?: string;
}

/** A writer like tslab's on zeromq 6: every `every`-th send is deferred to the next turn; a send meanwhile throws EBUSY. */
function zeromqLike(sent: Sent[], every = 4): { busyErrors: () => number } {
  let count = 0;
  let deferred = false;
  let busy = 0;
  fake.lastWriteDisplayData = (content, update) => {
    if (deferred) {
      busy++;
      throw Object.assign(new Error('Socket is busy writing; only one send operation may be in progress at any time'), { code: 'EBUSY' });
    }
    sent.push({ text: String(content.data['text/plain']), update, id: content.transient.display_id });
    if (++count % every === 0) {
      deferred = true;
      setImmediate(() => (deferred = false));
    }
  };
  return { busyErrors: () => busy };
}

describe('LiveDisplay update queue', () => {
  const rejections: unknown[] = [];
  const onRejection = (r: unknown) => rejections.push(r);
  before(() => process.on('unhandledRejection', onRejection));
  after(() => process.off('unhandledRejection', onRejection));
  beforeEach(() => (rejections.length = 0));

  it('a thousand concurrent updates: sent one at a time, in order, coalesced; the newest is shown last', async () => {
    const sent: Sent[] = [];
    const socket = zeromqLike(sent, 2);
    const live = new LiveDisplay(0);
    const all: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) all.push(live.updateBundle({ 'text/plain': `update ${i}` }, i % 3 === 0));
    for (let i = 0; i < 1000; i++) void live.updateBundle({ 'text/plain': `void ${i}` });
    const last = live.updateBundle({ 'text/plain': 'newest' }, true);
    await Promise.all([...all, last]);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(sent[sent.length - 1].text, 'newest');
    assert.ok(sent.length <= 3, `coalesced: ${sent.map((s) => s.text).join(', ')}`);
    assert.deepEqual(sent.map((s) => s.update), sent.map((_, i) => i > 0), 'the first send creates the output, later ones replace it');
    assert.ok(sent.every((s) => s.id === live.id));
    assert.equal(socket.busyErrors(), 0, 'no send while one was deferred');
    assert.equal(live.failedUpdates, 0);
    assert.deepEqual(rejections, []);
  });

  it('a busy socket (a send made around the queue) is waited for, not reported', async () => {
    const sent: Sent[] = [];
    zeromqLike(sent, 1);
    const live = new LiveDisplay(0);
    fake.lastWriteDisplayData!({ data: { 'text/plain': 'someone else' }, transient: {} }, false); // defers the next send
    await live.updateBundle({ 'text/plain': 'mine' }, true);
    assert.deepEqual(sent.map((s) => s.text), ['someone else', 'mine']);
    assert.equal(live.failedUpdates, 0);
  });

  it('a failing writer: every update resolves, the failure is reported once, later updates are still tried', async () => {
    let calls = 0;
    fake.lastWriteDisplayData = () => {
      calls++;
      throw new Error('socket closed');
    };
    const written: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
    const live = new LiveDisplay(0);
    try {
      for (let round = 0; round < 5; round++) {
        const updates = Array.from({ length: 50 }, (_, i) => live.updateBundle({ 'text/plain': `r${round} u${i}` }, true));
        await Promise.all(updates);
      }
    } finally {
      process.stderr.write = write;
    }
    assert.ok(calls >= 5 && calls <= 15, `tried again after failures, coalesced (${calls} sends)`);
    assert.equal(live.failedUpdates, calls);
    const reports = written.filter((w) => w.includes(live.id));
    assert.equal(reports.length, 1, written.join(''));
    assert.match(reports[0], /an update failed \(training goes on.*\): socket closed/);
    assert.deepEqual(rejections, []);
  });

  it('throttled updates are kept as the newest and sent by flush; forced ones are not throttled', async () => {
    const sent: Sent[] = [];
    zeromqLike(sent, 1000);
    const live = new LiveDisplay(60_000);
    await live.updateBundle({ 'text/plain': 'first' });
    await live.updateBundle({ 'text/plain': 'throttled 1' });
    await live.updateBundle({ 'text/plain': 'throttled 2' });
    assert.deepEqual(sent.map((s) => s.text), ['first']);
    await live.flush();
    assert.deepEqual(sent.map((s) => s.text), ['first', 'throttled 2']);
    await live.flush();
    await live.updateBundle({ 'text/plain': 'forced' }, true);
    assert.deepEqual(sent.map((s) => s.text), ['first', 'throttled 2', 'forced']);
  });
});
