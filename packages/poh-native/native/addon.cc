// Node-API surface of the PoH addon. Every function validates its arguments
// and throws a TypeError or RangeError before touching any state. The async
// functions copy their inputs, so the caller may reuse its buffers at once.
#include <node_api.h>

#include <cmath>
#include <cstring>
#include <string>

#include "blake3_addon.h"
#include "sha256.h"
#include "verify.h"

namespace {

using poh::EntryBatch;
using poh::Kernel;
using poh::kHashBytes;

constexpr double kMaxCount = 9007199254740992.0;  // 2^53: the largest exact integer in a number
constexpr double kMaxThreads = 65535;

bool ok(napi_env env, napi_status status) {
  if (status == napi_ok) return true;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info* info = nullptr;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, nullptr, info != nullptr && info->error_message != nullptr ? info->error_message
                                                                                    : "Node-API call failed");
  }
  return false;
}

bool get_args(napi_env env, napi_callback_info info, size_t expected, napi_value* args) {
  size_t count = expected;
  if (!ok(env, napi_get_cb_info(env, info, &count, args, nullptr, nullptr))) return false;
  if (count < expected) {
    napi_throw_type_error(env, nullptr, ("expected " + std::to_string(expected) + " arguments").c_str());
    return false;
  }
  return true;
}

template <typename T>
bool get_typed_array(napi_env env, napi_value value, napi_typedarray_type type, const char* what, T** data,
                     size_t* length) {
  bool is_typed_array = false;
  if (!ok(env, napi_is_typedarray(env, value, &is_typed_array))) return false;
  napi_typedarray_type actual_type;
  void* raw = nullptr;
  if (is_typed_array && !ok(env, napi_get_typedarray_info(env, value, &actual_type, length, &raw, nullptr, nullptr))) {
    return false;
  }
  if (!is_typed_array || actual_type != type) {
    napi_throw_type_error(env, nullptr, (std::string(what) + " has the wrong type").c_str());
    return false;
  }
  *data = static_cast<T*>(raw);
  return true;
}

bool get_hash(napi_env env, napi_value value, const char* what, uint8_t** hash) {
  size_t length = 0;
  if (!get_typed_array(env, value, napi_uint8_array, what, hash, &length)) return false;
  if (length != kHashBytes) {
    napi_throw_range_error(env, nullptr, (std::string(what) + " must be 32 bytes").c_str());
    return false;
  }
  return true;
}

bool get_count(napi_env env, napi_value value, const char* what, uint64_t* count) {
  double number = 0;
  if (napi_get_value_double(env, value, &number) != napi_ok) {
    napi_throw_type_error(env, nullptr, (std::string(what) + " must be a number").c_str());
    return false;
  }
  if (!(number >= 0 && number <= kMaxCount) || std::floor(number) != number) {
    napi_throw_range_error(env, nullptr, (std::string(what) + " must be an integer in [0, 2^53]").c_str());
    return false;
  }
  *count = static_cast<uint64_t>(number);
  return true;
}

bool get_kernel(napi_env env, napi_value value, Kernel* kernel) {
  int32_t number = -1;
  if (napi_get_value_int32(env, value, &number) != napi_ok ||
      number < static_cast<int32_t>(Kernel::Portable) || number > static_cast<int32_t>(Kernel::PortableBmi2)) {
    napi_throw_type_error(env, nullptr, "unknown SHA-256 kernel");
    return false;
  }
  *kernel = static_cast<Kernel>(number);
  if (!poh::kernel_available(*kernel)) {
    napi_throw_error(env, nullptr, "this CPU cannot run that SHA-256 kernel");
    return false;
  }
  return true;
}

bool get_batch(napi_env env, const napi_value* args, EntryBatch* batch) {
  uint8_t* start = nullptr;
  uint8_t* hashes = nullptr;
  double* num_hashes = nullptr;
  uint8_t* mixins = nullptr;
  uint32_t* mixin_ends = nullptr;
  size_t hashes_length = 0, entries = 0, mixins_length = 0, ends_length = 0;
  if (!get_hash(env, args[0], "start", &start) ||
      !get_typed_array(env, args[1], napi_uint8_array, "hashes", &hashes, &hashes_length) ||
      !get_typed_array(env, args[2], napi_float64_array, "numHashes", &num_hashes, &entries) ||
      !get_typed_array(env, args[3], napi_uint8_array, "mixins", &mixins, &mixins_length) ||
      !get_typed_array(env, args[4], napi_uint32_array, "mixinEnds", &mixin_ends, &ends_length)) {
    return false;
  }
  if (hashes_length != kHashBytes * entries || ends_length != entries) {
    napi_throw_range_error(env, nullptr, "hashes, numHashes and mixinEnds describe different entry counts");
    return false;
  }
  uint32_t previous_end = 0;
  for (size_t i = 0; i < entries; i++) {
    if (mixin_ends[i] < previous_end || mixin_ends[i] > mixins_length) {
      napi_throw_range_error(env, nullptr, "mixinEnds must ascend within mixins");
      return false;
    }
    previous_end = mixin_ends[i];
  }
  std::memcpy(batch->start, start, kHashBytes);
  batch->hashes.assign(hashes, hashes + hashes_length);
  batch->num_hashes.assign(num_hashes, num_hashes + entries);
  batch->mixins.assign(mixins, mixins + mixins_length);
  batch->mixin_ends.assign(mixin_ends, mixin_ends + entries);
  return true;
}

bool get_threads(napi_env env, napi_value value, unsigned* threads) {
  double number = 0;
  if (napi_get_value_double(env, value, &number) != napi_ok) {
    napi_throw_type_error(env, nullptr, "threads must be a number");
    return false;
  }
  if (!(number >= 0 && number <= kMaxThreads) || std::floor(number) != number) {
    napi_throw_range_error(env, nullptr, "threads must be an integer in [0, 65535]");
    return false;
  }
  *threads = static_cast<unsigned>(number);
  return true;
}

napi_value make_hash(napi_env env, const uint8_t hash[kHashBytes]) {
  void* data = nullptr;
  napi_value buffer;
  napi_value array;
  if (!ok(env, napi_create_arraybuffer(env, kHashBytes, &data, &buffer))) return nullptr;
  std::memcpy(data, hash, kHashBytes);
  if (!ok(env, napi_create_typedarray(env, napi_uint8_array, kHashBytes, buffer, 0, &array))) return nullptr;
  return array;
}

// kernels(): the kernels this CPU runs, fastest first.
napi_value Kernels(napi_env env, napi_callback_info) {
  napi_value list;
  if (!ok(env, napi_create_array(env, &list))) return nullptr;
  uint32_t index = 0;
  for (Kernel kernel : {Kernel::ShaNi, Kernel::PortableBmi2, Kernel::Portable}) {
    if (!poh::kernel_available(kernel)) continue;
    napi_value id;
    if (!ok(env, napi_create_int32(env, static_cast<int32_t>(kernel), &id)) ||
        !ok(env, napi_set_element(env, list, index++, id))) {
      return nullptr;
    }
  }
  return list;
}

// hashChain(state, n, kernel): state <- sha256^n(state), in place.
napi_value HashChain(napi_env env, napi_callback_info info) {
  napi_value args[3];
  uint8_t* state = nullptr;
  uint64_t n = 0;
  Kernel kernel;
  if (!get_args(env, info, 3, args) || !get_hash(env, args[0], "state", &state) ||
      !get_count(env, args[1], "n", &n) || !get_kernel(env, args[2], &kernel)) {
    return nullptr;
  }
  poh::hash_chain(kernel, state, n);
  return nullptr;
}

// hashMixin(state, mixin, kernel): state <- sha256(state || mixin), in place.
napi_value HashMixin(napi_env env, napi_callback_info info) {
  napi_value args[3];
  uint8_t* state = nullptr;
  uint8_t* mixin = nullptr;
  size_t mixin_length = 0;
  Kernel kernel;
  if (!get_args(env, info, 3, args) || !get_hash(env, args[0], "state", &state) ||
      !get_typed_array(env, args[1], napi_uint8_array, "mixin", &mixin, &mixin_length) ||
      !get_kernel(env, args[2], &kernel)) {
    return nullptr;
  }
  // The mixin may be a view of the state itself: hash a copy, write back at the end.
  uint8_t hash[kHashBytes];
  std::memcpy(hash, state, kHashBytes);
  poh::hash_mixin(kernel, hash, mixin, mixin_length);
  std::memcpy(state, hash, kHashBytes);
  return nullptr;
}

// firstInvalidEntry(start, hashes, numHashes, mixins, mixinEnds, threads, kernel) -> index or -1.
napi_value FirstInvalidEntry(napi_env env, napi_callback_info info) {
  napi_value args[7];
  EntryBatch batch;
  unsigned threads = 0;
  Kernel kernel;
  if (!get_args(env, info, 7, args) || !get_batch(env, args, &batch) || !get_threads(env, args[5], &threads) ||
      !get_kernel(env, args[6], &kernel)) {
    return nullptr;
  }
  napi_value result;
  if (!ok(env, napi_create_double(env, static_cast<double>(poh::first_invalid_entry(batch, kernel, threads)),
                                  &result))) {
    return nullptr;
  }
  return result;
}

struct AsyncChain {
  uint8_t hash[kHashBytes];
  uint64_t n;
  Kernel kernel;
  napi_deferred deferred;
  napi_async_work work;
};

struct AsyncVerify {
  EntryBatch batch;
  unsigned threads;
  Kernel kernel;
  int64_t result;
  napi_deferred deferred;
  napi_async_work work;
};

// Settles a promise from a completion callback: an error from Node-API
// itself rejects it rather than being lost.
void settle(napi_env env, napi_deferred deferred, napi_value value) {
  if (value != nullptr) {
    napi_resolve_deferred(env, deferred, value);
    return;
  }
  napi_value error;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_get_and_clear_last_exception(env, &error);
  } else {
    napi_value message;
    napi_create_string_utf8(env, "PoH addon failed to return its result", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, nullptr, message, &error);
  }
  napi_reject_deferred(env, deferred, error);
}

bool queue(napi_env env, const char* name, napi_async_execute_callback execute,
           napi_async_complete_callback complete, void* data, napi_async_work* work) {
  napi_value resource_name;
  return ok(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name)) &&
         ok(env, napi_create_async_work(env, nullptr, resource_name, execute, complete, data, work)) &&
         ok(env, napi_queue_async_work(env, *work));
}

// hashChainAsync(start, n, kernel) -> Promise<Uint8Array>: hashes on a libuv worker thread.
napi_value HashChainAsync(napi_env env, napi_callback_info info) {
  napi_value args[3];
  uint8_t* start = nullptr;
  uint64_t n = 0;
  Kernel kernel;
  if (!get_args(env, info, 3, args) || !get_hash(env, args[0], "start", &start) ||
      !get_count(env, args[1], "n", &n) || !get_kernel(env, args[2], &kernel)) {
    return nullptr;
  }
  auto* job = new AsyncChain{};
  std::memcpy(job->hash, start, kHashBytes);
  job->n = n;
  job->kernel = kernel;
  napi_value promise;
  if (!ok(env, napi_create_promise(env, &job->deferred, &promise))) {
    delete job;
    return nullptr;
  }
  const bool queued = queue(
      env, "simd23.poh.hashChain",
      [](napi_env, void* data) {
        auto* chain = static_cast<AsyncChain*>(data);
        poh::hash_chain(chain->kernel, chain->hash, chain->n);
      },
      [](napi_env completion_env, napi_status, void* data) {
        auto* chain = static_cast<AsyncChain*>(data);
        settle(completion_env, chain->deferred, make_hash(completion_env, chain->hash));
        napi_delete_async_work(completion_env, chain->work);
        delete chain;
      },
      job, &job->work);
  if (!queued) {
    if (job->work != nullptr) napi_delete_async_work(env, job->work);
    settle(env, job->deferred, nullptr);
    delete job;
  }
  return promise;
}

// firstInvalidEntryAsync(same arguments as firstInvalidEntry) -> Promise<number>.
napi_value FirstInvalidEntryAsync(napi_env env, napi_callback_info info) {
  napi_value args[7];
  auto* job = new AsyncVerify{};
  if (!get_args(env, info, 7, args) || !get_batch(env, args, &job->batch) ||
      !get_threads(env, args[5], &job->threads) || !get_kernel(env, args[6], &job->kernel)) {
    delete job;
    return nullptr;
  }
  napi_value promise;
  if (!ok(env, napi_create_promise(env, &job->deferred, &promise))) {
    delete job;
    return nullptr;
  }
  const bool queued = queue(
      env, "simd23.poh.firstInvalidEntry",
      [](napi_env, void* data) {
        auto* verify = static_cast<AsyncVerify*>(data);
        verify->result = poh::first_invalid_entry(verify->batch, verify->kernel, verify->threads);
      },
      [](napi_env completion_env, napi_status, void* data) {
        auto* verify = static_cast<AsyncVerify*>(data);
        napi_value result = nullptr;
        if (!ok(completion_env, napi_create_double(completion_env, static_cast<double>(verify->result), &result))) {
          result = nullptr;
        }
        settle(completion_env, verify->deferred, result);
        napi_delete_async_work(completion_env, verify->work);
        delete verify;
      },
      job, &job->work);
  if (!queued) {
    if (job->work != nullptr) napi_delete_async_work(env, job->work);
    settle(env, job->deferred, nullptr);
    delete job;
  }
  return promise;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor properties[] = {
      {"kernels", nullptr, Kernels, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"hashChain", nullptr, HashChain, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"hashMixin", nullptr, HashMixin, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"hashChainAsync", nullptr, HashChainAsync, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"firstInvalidEntry", nullptr, FirstInvalidEntry, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"firstInvalidEntryAsync", nullptr, FirstInvalidEntryAsync, nullptr, nullptr, nullptr, napi_enumerable,
       nullptr},
  };
  if (!ok(env, napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties)) ||
      !blake3::define_exports(env, exports)) {
    return nullptr;
  }
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
