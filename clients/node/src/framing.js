// framing: the bytes of nng's SP protocols on a stream, both directions.
//
// What goes on the wire (checked against nng 1.5.2, the version jobd is
// built with: src/sp/transport/tcp/tcp.c, src/sp/transport/ipc/ipc.c and
// src/sp/protocol/reqrep0/req.c):
//
// - The handshake (RFC sp-tcp-mapping-01 section 3, sp-ipc-mapping-01):
//   right after the connection opens, each side sends 8 bytes,
//   0x00 'S' 'P' 0x00, its protocol id as a 16-bit big-endian number
//   (REQ = 48, REP = 49), 0x00 0x00. A client checks that the peer speaks
//   REP; nng's tcp.c and ipc.c refuse any other bytes 0-3, 6 and 7.
// - tcp:// and tls+tcp:// (sp-tcp-mapping-01 section 4; TLS carries the
//   same bytes inside): each message is its size as a 64-bit big-endian
//   number, then its bytes.
// - ipc:// (sp-ipc-mapping-01; nng's ipc.c writes `tx_head[0] = 1`): each
//   message is one byte 0x01 (the message type), the 64-bit size, the bytes.
// - REQ/REP (sp-request-reply-01 section 3): a request's body begins with
//   a 32-bit big-endian request id whose high bit is set (nng allocates
//   them from 0x80000000..0xffffffff), and the reply begins with the same
//   four bytes. The "backtrace" has one element: a client talks to jobd
//   directly, with no devices between.
//
// FrameDecoder takes the bytes of a stream in whatever chunks they come and
// gives back whole messages; it reads the peer's handshake first. A peer
// that breaks the rules (another protocol, a message type other than 1, a
// message over the size limit) makes push() throw a FramingError: the
// caller closes the connection.

export const PROTO_REQ = 48;
export const PROTO_REP = 49;
export const HANDSHAKE_LEN = 8;

/** The 8-byte SP handshake of a socket of protocol `proto`. */
export function handshake(proto) {
  return Buffer.from([0x00, 0x53, 0x50, 0x00, (proto >> 8) & 0xff, proto & 0xff, 0x00, 0x00]);
}

export class FramingError extends Error {
  constructor(message) {
    super(message);
    this.name = 'FramingError';
  }
}

/** The header (size prefix) of one message of `size` bytes: 8 bytes, or 9 for ipc://. */
export function messageHeader(size, ipc) {
  const h = Buffer.allocUnsafe(ipc ? 9 : 8);
  if (ipc) h[0] = 0x01;
  h.writeBigUInt64BE(BigInt(size), ipc ? 1 : 0);
  return h;
}

/** A request message's body: the 4-byte request id (high bit set), then `payload`. */
export function requestBody(requestId, payload) {
  const b = Buffer.allocUnsafe(4 + payload.length);
  b.writeUInt32BE(requestId >>> 0, 0);
  b.set(payload, 4);
  return b;
}

/** A whole request as it goes on the wire: the size prefix, the request id, `payload`. */
export function requestFrame(requestId, payload, ipc) {
  const hl = ipc ? 9 : 8;
  const f = Buffer.allocUnsafe(hl + 4 + payload.length);
  if (ipc) f[0] = 0x01;
  f.writeBigUInt64BE(BigInt(4 + payload.length), hl - 8);
  f.writeUInt32BE(requestId >>> 0, hl);
  f.set(payload, hl + 4);
  return f;
}

/** Splits a reply message into its request id and its payload; null when too short or not a reply. */
export function splitReply(msg) {
  if (msg.length < 4) return null;
  const id = msg.readUInt32BE(0);
  if ((id & 0x80000000) === 0) return null;
  return { id, payload: msg.subarray(4) };
}

export class FrameDecoder {
  /**
   * @param {{ipc: boolean, maxMessage: number, peerProto: number}} opts
   */
  constructor({ ipc, maxMessage, peerProto }) {
    this.ipc = ipc;
    this.maxMessage = maxMessage;
    this.peerProto = peerProto;
    this.handshaken = false;
    this.chunks = [];
    this.avail = 0;
    this.need = -1; // bytes of the message being read; -1: reading a header
  }

  /** Adds a chunk of the stream; returns the messages it completes (Buffers). */
  push(chunk) {
    this.chunks.push(chunk);
    this.avail += chunk.length;
    const out = [];
    for (;;) {
      if (this.need < 0) {
        const hlen = !this.handshaken ? HANDSHAKE_LEN : this.ipc ? 9 : 8;
        if (this.avail < hlen) break;
        const h = this.take(hlen);
        if (!this.handshaken) {
          this.checkHandshake(h);
          this.handshaken = true;
          continue;
        }
        if (this.ipc && h[0] !== 0x01) {
          throw new FramingError(`ipc message type ${h[0]}, not 1`);
        }
        const size = h.readBigUInt64BE(this.ipc ? 1 : 0);
        if (size > BigInt(this.maxMessage)) {
          throw new FramingError(`a reply of ${size} bytes, over the client's limit of ${this.maxMessage}`);
        }
        this.need = Number(size);
      }
      if (this.avail < this.need) break;
      out.push(this.take(this.need));
      this.need = -1;
    }
    return out;
  }

  checkHandshake(h) {
    if (h[0] !== 0 || h[1] !== 0x53 || h[2] !== 0x50 || h[3] !== 0 || h[6] !== 0 || h[7] !== 0) {
      throw new FramingError(`the peer's first bytes are not an SP handshake (${h.toString('hex')})`);
    }
    const proto = h.readUInt16BE(4);
    if (proto !== this.peerProto) {
      throw new FramingError(`the peer speaks SP protocol ${proto}, not ${this.peerProto} (REP)`);
    }
  }

  take(n) {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length >= n) {
      this.avail -= n;
      if (first.length === n) {
        this.chunks.shift();
        return first;
      }
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    let used = 0; // whole chunks consumed, removed at once below
    while (off < n) {
      const c = this.chunks[used];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      if (k === c.length) used++;
      else this.chunks[used] = c.subarray(k);
      off += k;
    }
    this.chunks.splice(0, used);
    this.avail -= n;
    return out;
  }
}
