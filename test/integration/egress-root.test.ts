// Egress allowlist, root design: a netns + veth, nft in the host namespace, proxy + DNS in
// Warden. Real namespaces; traffic only to namespaces this test makes.
import { egressSuite } from './helpers/egress-suite.js';

egressSuite('root');
