// The "require" entry of package.json's exports. avgk is an ES module: Node versions with
// require(esm) (20.19+, 22.12+) load it from here; older ones get a clear error instead of
// Node's "No exports main defined".
'use strict';
try {
  module.exports = require('../dist/src/index.js');
} catch (e) {
  if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
    throw new Error(
      "avgk is an ES module: use `import { ... } from 'avgk'` or `await import('avgk')` " +
        '(require() of ES modules needs Node 20.19+ or 22.12+)',
      { cause: e },
    );
  }
  throw e;
}
