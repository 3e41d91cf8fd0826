// Node-API surface of the BLAKE3 and accounts-lattice functions (blake3.h),
// added to the addon's exports beside the PoH functions.
#pragma once

#include <node_api.h>

namespace blake3 {

// Defines blake3Kernels, blake3Hash, latticeElements and latticeApply on
// exports; false with a pending exception if Node-API fails.
bool define_exports(napi_env env, napi_value exports);

}  // namespace blake3
