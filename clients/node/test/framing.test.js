// framing.js on its own: the SP handshake and message frames of tcp:// and
// ipc://, taken in any chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FrameDecoder, FramingError, PROTO_REP, PROTO_REQ, handshake, messageHeader, requestBody, requestFrame, splitReply,
} from '../src/framing.js';

const frame = (payload, ipc) => Buffer.concat([messageHeader(payload.length, ipc), payload]);

test('the handshake bytes are nng 1.5.2\'s', () => {
  assert.deepEqual([...handshake(PROTO_REQ)], [0, 0x53, 0x50, 0, 0, 48, 0, 0]);
  assert.deepEqual([...handshake(PROTO_REP)], [0, 0x53, 0x50, 0, 0, 49, 0, 0]);
});

test('message headers: 8-byte big-endian size; ipc adds the type byte 1', () => {
  assert.deepEqual([...messageHeader(0x0102, false)], [0, 0, 0, 0, 0, 0, 1, 2]);
  assert.deepEqual([...messageHeader(0x0102, true)], [1, 0, 0, 0, 0, 0, 0, 1, 2]);
});

test('a request body begins with its id, high bit set, big-endian', () => {
  const b = requestBody(0x80000005, Buffer.from('xy'));
  assert.deepEqual([...b], [0x80, 0, 0, 5, 0x78, 0x79]);
  assert.deepEqual(splitReply(b), { id: 0x80000005, payload: Buffer.from('xy') });
  assert.equal(splitReply(Buffer.from([0, 0, 0, 5, 1])), null); // no high bit: not a reply
  assert.equal(splitReply(Buffer.from([0x80, 0])), null);
});

test('a request frame is the size prefix, then the id and the payload', () => {
  const p = Buffer.from('envelope');
  assert.deepEqual(requestFrame(0x80000001, p, false), frame(requestBody(0x80000001, p), false));
  assert.deepEqual(requestFrame(0xfffffffe, p, true), frame(requestBody(0xfffffffe, p), true));
});

for (const ipc of [false, true]) {
  const name = ipc ? 'ipc' : 'tcp';
  const stream = Buffer.concat([
    handshake(PROTO_REP),
    frame(Buffer.from('first'), ipc),
    frame(Buffer.alloc(0), ipc),
    frame(Buffer.alloc(70000, 7), ipc),
    frame(Buffer.from('last'), ipc),
  ]);
  const want = [Buffer.from('first'), Buffer.alloc(0), Buffer.alloc(70000, 7), Buffer.from('last')];

  test(`${name}: the whole stream in one chunk`, () => {
    const d = new FrameDecoder({ ipc, maxMessage: 1 << 20, peerProto: PROTO_REP });
    assert.deepEqual(d.push(stream), want);
    assert.ok(d.handshaken);
  });

  test(`${name}: the stream one byte at a time`, () => {
    const d = new FrameDecoder({ ipc, maxMessage: 1 << 20, peerProto: PROTO_REP });
    const got = [];
    for (let i = 0; i < stream.length; i++) got.push(...d.push(stream.subarray(i, i + 1)));
    assert.deepEqual(got, want);
  });

  test(`${name}: the stream in chunks that split headers and bodies anywhere`, () => {
    for (const size of [3, 7, 9, 13, 4096, 65537]) {
      const d = new FrameDecoder({ ipc, maxMessage: 1 << 20, peerProto: PROTO_REP });
      const got = [];
      for (let i = 0; i < stream.length; i += size) got.push(...d.push(stream.subarray(i, i + size)));
      assert.deepEqual(got, want, `chunks of ${size}`);
    }
  });
}

test('a peer that is not REP is refused', () => {
  const d = new FrameDecoder({ ipc: false, maxMessage: 100, peerProto: PROTO_REP });
  assert.throws(() => d.push(handshake(PROTO_REQ)), FramingError);
  const e = new FrameDecoder({ ipc: false, maxMessage: 100, peerProto: PROTO_REP });
  assert.throws(() => e.push(Buffer.from('HTTP/1.1 400 Bad')), /not an SP handshake/);
});

test('a message over the limit is refused before its body is read', () => {
  const d = new FrameDecoder({ ipc: false, maxMessage: 16, peerProto: PROTO_REP });
  assert.deepEqual(d.push(Buffer.concat([handshake(PROTO_REP), frame(Buffer.alloc(16), false)])), [Buffer.alloc(16)]);
  assert.throws(() => d.push(messageHeader(17, false)), /17 bytes, over the client's limit of 16/);
  const big = new FrameDecoder({ ipc: false, maxMessage: 16 << 20, peerProto: PROTO_REP });
  big.push(handshake(PROTO_REP));
  assert.throws(() => big.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), FramingError);
});

test('ipc: a message type other than 1 is refused', () => {
  const d = new FrameDecoder({ ipc: true, maxMessage: 100, peerProto: PROTO_REP });
  d.push(handshake(PROTO_REP));
  assert.throws(() => d.push(Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 1, 0])), /type 2/);
});
