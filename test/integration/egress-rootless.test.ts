// Egress allowlist, rootless design: unshare -Ur + unshare -n, nft inside the namespace, a
// relay that hands each connection (with its original destination) to the proxy outside.
import { egressSuite } from './helpers/egress-suite.js';

egressSuite('rootless');
