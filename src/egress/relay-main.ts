// Entry point of the rootless relay process: `node relay-main.js TCPPORT DNSPORT TCPSOCK DNSSOCK [TAG]`
// (TAG only marks the command line for stale cleanup).
// Prints READY once listening; exits when Warden (its stdin) goes away.
import { startRelay } from './relay.js';

const [tcpPort, dnsPort, tcpSocket, dnsSocket] = process.argv.slice(2);
if (!tcpPort || !dnsPort || !tcpSocket || !dnsSocket) {
  process.stderr.write('usage: relay-main TCPPORT DNSPORT TCPSOCK DNSSOCK\n');
  process.exit(2);
}
startRelay({ tcpPort: Number(tcpPort), dnsPort: Number(dnsPort), tcpSocket, dnsSocket }).then(
  (relay) => {
    process.stdout.write('READY\n');
    const stop = () => {
      relay.close();
      process.exit(0);
    };
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
    process.on('SIGTERM', stop);
  },
  (err: Error) => {
    process.stderr.write(`warden relay: ${err.message}\n`);
    process.exit(1);
  },
);
