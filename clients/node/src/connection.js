// connection: one stream to jobd, its SP handshake, calls in flight on it
// matched by request id, and the redial after it is lost.
//
// Calls in flight. jobd serves each request of a connection on its own
// (nng contexts on the REP side) and answers in any order, so one
// connection carries any number of calls at once. Each call gets a request
// id (a 31-bit counter with the high bit set, starting at a random value,
// as nng's req.c does) and its whole message (size prefix, id, envelope) is
// built once. A reply is matched to its call by the id; a reply whose call
// has gone (aborted, timed out) is dropped, as nng's REQ socket does.
//
// Connecting. The first call dials. A dial that fails before the client
// ever completed a handshake with the daemon (refused, no such socket
// path, a TLS handshake refused, a peer that is not jobd) fails every call
// waiting on it at once with UNAVAILABLE, naming the address and the error:
// most likely the address or the certificates are wrong, and waiting would
// only hide it. Once a handshake has completed, a lost connection is
// redialed in the background while calls are in flight, after 10 ms,
// doubling up to 500 ms between attempts, for as long as calls wait; and
// every call in flight is sent again, the same bytes (the same request id
// and, for a Submit, the same idempotency key), on the new connection.
// Whether a call still waits is the caller's business (its deadline, its
// AbortSignal: see client.js), which then takes it back with abandon().
// With no call in flight nothing is redialed: the next call dials.
//
// The socket is unref()'d while no call is in flight, so an idle client
// does not keep Node's event loop alive.
//
// Limits: a reply over `maxReply` bytes closes the connection and fails the
// calls in flight with RESOURCE_EXHAUSTED (they would only get the same
// reply again); a peer whose handshake is not REP's, or that sends no
// handshake within `handshakeTimeoutMs`, is a failed dial.
import net from 'node:net';
import tls from 'node:tls';
import { randomInt } from 'node:crypto';
import {
  FrameDecoder, FramingError, PROTO_REP, PROTO_REQ, handshake, requestFrame, splitReply,
} from './framing.js';
import { Code, errorFor } from './errors.js';

const BACKOFF_MIN_MS = 10;
const BACKOFF_MAX_MS = 500;

/** Parses a jobd address: tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc://PATH. */
export function parseAddress(address) {
  if (typeof address !== 'string') throw new TypeError('the address must be a string');
  let m;
  if (address.startsWith('ipc://')) {
    const path = address.slice('ipc://'.length);
    if (path === '') throw new TypeError(`address '${address}' names no socket path`);
    return { transport: 'ipc', path };
  }
  if ((m = /^(tcp|tls\+tcp):\/\/(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(address)) !== null) {
    const port = Number(m[3]);
    if (port < 1 || port > 65535) throw new TypeError(`address '${address}': port out of range`);
    const host = m[2].startsWith('[') ? m[2].slice(1, -1) : m[2];
    return { transport: m[1] === 'tcp' ? 'tcp' : 'tls', host, port };
  }
  throw new TypeError(`address '${address}' is not tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc://PATH`);
}

export class Connection {
  /**
   * @param {string} address
   * @param {{tls?: object, maxReply: number, handshakeTimeoutMs: number}} opts
   */
  constructor(address, opts) {
    this.address = address;
    this.target = parseAddress(address);
    if (this.target.transport === 'tls' && !opts.tls) {
      throw new TypeError(`address '${address}' needs the tls option (at least its ca)`);
    }
    this.tlsOpts = opts.tls;
    this.maxReply = opts.maxReply;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs;
    this.state = 'idle'; // idle | dialing | open | waiting (to redial) | closed
    this.everConnected = false;
    this.calls = new Map(); // request id -> call, in the order they started
    this.nextId = randomInt(0, 0x80000000);
    this.sock = null;
    this.redialTimer = null;
    this.attempt = 0;
  }

  get isOpen() {
    return this.state === 'open';
  }

  /**
   * Starts a call: `call.payload` is the serialized envelope; the connection
   * calls `call.onReply(bytes)` or `call.onError(err)` once, unless the call
   * is abandoned first. Returns the call's request id.
   */
  start(call) {
    let id;
    do {
      id = (this.nextId | 0x80000000) >>> 0;
      this.nextId = (this.nextId + 1) & 0x7fffffff;
    } while (this.calls.has(id));
    call.frame = requestFrame(id, call.payload, this.target.transport === 'ipc');
    this.calls.set(id, call);
    if (this.state === 'open') {
      this.sock.ref();
      this.sock.write(call.frame);
    } else if (this.state === 'idle') {
      this.dial();
    }
    return id;
  }

  /** Takes a call back (it has timed out or was aborted): its reply, if it comes, is dropped. */
  abandon(id) {
    this.calls.delete(id);
    if (this.calls.size === 0) {
      if (this.sock !== null && this.state === 'open') this.sock.unref();
      if (this.state === 'waiting') {
        clearTimeout(this.redialTimer);
        this.redialTimer = null;
        this.state = 'idle';
      }
    }
  }

  /** Closes the connection for good; every call in flight fails with `err`. */
  close(err) {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.redialTimer);
    this.redialTimer = null;
    if (this.sock !== null) {
      this.sock.destroy();
      this.sock = null;
    }
    this.failAll(() => err);
  }

  failAll(makeErr) {
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const c of calls) c.onError(makeErr());
  }

  dial() {
    this.state = 'dialing';
    const t = this.target;
    let sock;
    let connectEvent = 'connect';
    try {
      if (t.transport === 'ipc') {
        sock = net.connect({ path: t.path });
      } else if (t.transport === 'tcp') {
        sock = net.connect({ host: t.host, port: t.port });
      } else {
        const o = this.tlsOpts;
        const servername = o.serverName ?? (net.isIP(t.host) ? undefined : t.host);
        sock = tls.connect({
          host: t.host, port: t.port, servername, ca: o.ca, cert: o.cert, key: o.key, rejectUnauthorized: true,
        });
        connectEvent = 'secureConnect';
      }
    } catch (e) {
      // Options Node refuses at once (a PEM that does not parse): a failed
      // dial like any other, reported from the event loop.
      this.sock = null;
      setImmediate(() => {
        if (this.state === 'dialing' && this.sock === null) this.lost(false, e);
      });
      return;
    }
    this.sock = sock;
    const dec = new FrameDecoder({
      ipc: t.transport === 'ipc', maxMessage: this.maxReply, peerProto: PROTO_REP,
    });
    let opened = false;
    let lastErr = null;
    const timer = setTimeout(() => {
      sock.destroy(new Error(`no SP handshake within ${this.handshakeTimeoutMs} ms`));
    }, this.handshakeTimeoutMs);
    sock.once(connectEvent, () => {
      if (t.transport !== 'ipc') sock.setNoDelay(true);
      sock.write(handshake(PROTO_REQ));
    });
    sock.on('data', (chunk) => {
      let msgs;
      try {
        msgs = dec.push(chunk);
      } catch (e) {
        lastErr = e;
        sock.destroy();
        return;
      }
      if (!opened && dec.handshaken) {
        opened = true;
        clearTimeout(timer);
        this.onOpen(sock);
      }
      for (const m of msgs) this.deliver(m);
    });
    sock.on('error', (e) => {
      lastErr = e;
    });
    sock.on('close', () => {
      clearTimeout(timer);
      this.onClose(sock, opened, lastErr);
    });
  }

  onOpen(sock) {
    if (this.sock !== sock || this.state === 'closed') return;
    this.state = 'open';
    this.everConnected = true;
    this.attempt = 0;
    for (const c of this.calls.values()) sock.write(c.frame);
    if (this.calls.size === 0) sock.unref();
  }

  deliver(msg) {
    const r = splitReply(msg);
    if (r === null) return; // not a reply: nng's REQ drops it too
    const call = this.calls.get(r.id);
    if (call === undefined) return; // its call has gone
    this.calls.delete(r.id);
    if (this.calls.size === 0 && this.sock !== null) this.sock.unref();
    call.onReply(r.payload);
  }

  onClose(sock, opened, err) {
    if (this.sock !== sock || this.state === 'closed') return;
    this.sock = null;
    this.lost(opened, err);
  }

  /** The connection (or the dial) has ended: fail the calls, or redial for them. */
  lost(opened, err) {
    if (err instanceof FramingError && opened) {
      // A reply over the limit (or garbage after the handshake): the same
      // calls would get the same reply again, so they fail here.
      this.state = 'idle';
      this.failAll(() => errorFor(Code.RESOURCE_EXHAUSTED, `${err.message} (from ${this.address})`));
      return;
    }
    if (!this.everConnected) {
      this.state = 'idle';
      const why = err ? err.message : 'connection closed before the SP handshake';
      this.failAll(() => errorFor(Code.UNAVAILABLE, `cannot reach jobd at ${this.address}: ${why}`));
      return;
    }
    if (this.calls.size === 0) {
      this.state = 'idle';
      return;
    }
    this.state = 'waiting';
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(this.attempt, 10));
    this.attempt++;
    this.redialTimer = setTimeout(() => {
      this.redialTimer = null;
      if (this.state === 'waiting') this.dial();
    }, delay);
  }
}
