// Rootless relay, run inside the sandbox's user and network namespace. It decides nothing:
// it reads each redirected connection's original destination and hands the connection, with
// that destination, to the policy proxy outside over a unix socket; DNS queries go the same
// way. Killing it only cuts the sandbox off (nft still redirects everything to its ports).
import dgram from 'node:dgram';
import net from 'node:net';
import { pipeline } from 'node:stream';
import { encodeHeader, frame, FrameReader, hardClose } from './framing.js';
import { originalDst } from './original-dst.js';
import { spliceEngine } from './splice.js';

export interface RelayOptions {
  tcpPort: number;
  dnsPort: number;
  tcpSocket: string;
  dnsSocket: string;
}

export interface Relay {
  close(): void;
}

export async function startRelay(o: RelayOptions): Promise<Relay> {
  const tcp = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (c) => {
    c.on('error', () => {});
    const dst = originalDst(c);
    const header = encodeHeader({
      dst: dst?.ip ?? null,
      dport: dst?.port ?? null,
      src: c.remoteAddress?.replace(/^::ffff:/, ''),
      sport: c.remotePort,
    });
    const u = net.connect({ path: o.tcpSocket, allowHalfOpen: true });
    u.on('error', () => hardClose(c));
    u.once('connect', () => {
      // Zero-copy from here on; the header goes out first. If the proxy ends the stream without a
      // byte (a refusal), the client gets a reset rather than an empty reply.
      const engine = spliceEngine();
      if (engine && engine.handOff(c, u, header, Buffer.alloc(0), () => {}, { resetAOnSilentEnd: true }) !== undefined) return;
      let gotData = false;
      u.once('data', () => (gotData = true));
      u.on('close', () => {
        if (!gotData) hardClose(c);
      });
      u.write(header);
      pipeline(c, u, () => {});
      pipeline(u, c, () => {});
      c.resume();
    });
  });
  await new Promise<void>((res, rej) => tcp.once('error', rej).listen(o.tcpPort, '127.0.0.1', () => res()));

  const udp = dgram.createSocket('udp4');
  const pending = new Map<number, { id: number; port: number; address: string; at: number }>();
  let nextId = 1;
  let dns: net.Socket | undefined;
  const dnsConn = (): net.Socket => {
    if (dns && !dns.destroyed) return dns;
    const s = net.connect({ path: o.dnsSocket });
    const reader = new FrameReader((f) => {
      if (f.length < 12) return;
      const p = pending.get(f.readUInt16BE(0));
      if (!p) return;
      pending.delete(f.readUInt16BE(0));
      f.writeUInt16BE(p.id, 0);
      udp.send(f, p.port, p.address);
    });
    s.on('data', (d) => reader.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      if (dns === s) dns = undefined;
    });
    return (dns = s);
  };
  udp.on('message', (msg, rinfo) => {
    if (msg.length < 12 || msg.length > 4096) return;
    const now = Date.now();
    if (pending.size > 1024) for (const [k, v] of pending) if (now - v.at > 5000) pending.delete(k);
    if (pending.size > 4096) return;
    const id = nextId;
    nextId = (nextId % 65535) + 1;
    pending.set(id, { id: msg.readUInt16BE(0), port: rinfo.port, address: rinfo.address, at: now });
    const q = Buffer.from(msg);
    q.writeUInt16BE(id, 0);
    dnsConn().write(frame(q));
  });
  await new Promise<void>((res, rej) => {
    udp.once('error', rej);
    udp.bind(o.dnsPort, '127.0.0.1', () => res());
  });
  return {
    close() {
      tcp.close();
      udp.close();
      dns?.destroy();
    },
  };
}
