// Every function validates its arguments and throws a TypeError or RangeError
// before writing anything. Outputs must not share memory with inputs: a batch
// is read while its result is written.
#include "blake3_addon.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "blake3.h"

namespace blake3 {

namespace {

bool ok(napi_env env, napi_status status) {
  if (status == napi_ok) return true;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, nullptr, "Node-API call failed");
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

struct Bytes {
  uint8_t* data = nullptr;
  size_t length = 0;  // in elements
  size_t byte_length = 0;
};

bool get_typed_array(napi_env env, napi_value value, napi_typedarray_type type, const char* what, Bytes* out) {
  bool is_typed_array = false;
  if (!ok(env, napi_is_typedarray(env, value, &is_typed_array))) return false;
  napi_typedarray_type actual_type;
  void* raw = nullptr;
  if (is_typed_array &&
      !ok(env, napi_get_typedarray_info(env, value, &actual_type, &out->length, &raw, nullptr, nullptr))) {
    return false;
  }
  if (!is_typed_array || actual_type != type) {
    napi_throw_type_error(env, nullptr, (std::string(what) + " has the wrong type").c_str());
    return false;
  }
  out->data = static_cast<uint8_t*>(raw);
  out->byte_length = out->length * (type == napi_uint16_array ? 2 : 1);
  return true;
}

bool get_integer(napi_env env, napi_value value, const char* what, double min, double max, size_t* out) {
  double number = 0;
  if (napi_get_value_double(env, value, &number) != napi_ok) {
    napi_throw_type_error(env, nullptr, (std::string(what) + " must be a number").c_str());
    return false;
  }
  if (!(number >= min && number <= max) || std::floor(number) != number) {
    napi_throw_range_error(env, nullptr, (std::string(what) + " is out of range").c_str());
    return false;
  }
  *out = static_cast<size_t>(number);
  return true;
}

bool get_kernel(napi_env env, napi_value value, Kernel* kernel) {
  int32_t number = -1;
  if (napi_get_value_int32(env, value, &number) != napi_ok || number < static_cast<int32_t>(Kernel::Portable) ||
      number > static_cast<int32_t>(Kernel::Avx512)) {
    napi_throw_type_error(env, nullptr, "unknown BLAKE3 kernel");
    return false;
  }
  *kernel = static_cast<Kernel>(number);
  if (!kernel_available(*kernel)) {
    napi_throw_error(env, nullptr, "this CPU cannot run that BLAKE3 kernel");
    return false;
  }
  return true;
}

bool disjoint(napi_env env, const Bytes& a, const Bytes& b, const char* what) {
  const auto a_start = reinterpret_cast<uintptr_t>(a.data), b_start = reinterpret_cast<uintptr_t>(b.data);
  if (a.byte_length == 0 || b.byte_length == 0 || a_start + a.byte_length <= b_start ||
      b_start + b.byte_length <= a_start) {
    return true;
  }
  napi_throw_range_error(env, nullptr, (std::string(what) + " must not share memory with the inputs").c_str());
  return false;
}

// The inputs of a lattice batch: count inputs of input_length bytes back to back.
bool get_inputs(napi_env env, napi_value inputs_value, napi_value length_value, Bytes* inputs, size_t* input_length,
                size_t* count) {
  if (!get_typed_array(env, inputs_value, napi_uint8_array, "inputs", inputs) ||
      !get_integer(env, length_value, "inputLength", 1, static_cast<double>(kBlockBytes), input_length)) {
    return false;
  }
  if (inputs->length % *input_length != 0) {
    napi_throw_range_error(env, nullptr, "inputs is not a whole number of inputs");
    return false;
  }
  *count = inputs->length / *input_length;
  return true;
}

// blake3Kernels(): the kernels this CPU runs, fastest first.
napi_value Kernels(napi_env env, napi_callback_info) {
  napi_value list;
  if (!ok(env, napi_create_array(env, &list))) return nullptr;
  uint32_t index = 0;
  for (Kernel kernel : {Kernel::Avx512, Kernel::Avx2, Kernel::Simd128, Kernel::Portable}) {
    if (!kernel_available(kernel)) continue;
    napi_value id;
    if (!ok(env, napi_create_int32(env, static_cast<int32_t>(kernel), &id)) ||
        !ok(env, napi_set_element(env, list, index++, id))) {
      return nullptr;
    }
  }
  return list;
}

// blake3Hash(input, out, kernel): out <- BLAKE3(input) extended to out.length bytes.
napi_value Hash(napi_env env, napi_callback_info info) {
  napi_value args[3];
  Bytes input, out;
  Kernel kernel;
  if (!get_args(env, info, 3, args) || !get_typed_array(env, args[0], napi_uint8_array, "input", &input) ||
      !get_typed_array(env, args[1], napi_uint8_array, "out", &out) || !get_kernel(env, args[2], &kernel)) {
    return nullptr;
  }
  // The whole input is read before the first output byte is written, so the two may overlap.
  hash(kernel, input.data, input.length, out.data, out.length);
  return nullptr;
}

// latticeElements(inputs, inputLength, out, kernel): out <- the 2048-byte element of each input.
napi_value LatticeElements(napi_env env, napi_callback_info info) {
  napi_value args[4];
  Bytes inputs, out;
  size_t input_length = 0, count = 0;
  Kernel kernel;
  if (!get_args(env, info, 4, args) || !get_inputs(env, args[0], args[1], &inputs, &input_length, &count) ||
      !get_typed_array(env, args[2], napi_uint8_array, "out", &out) || !get_kernel(env, args[3], &kernel)) {
    return nullptr;
  }
  if (out.length != count * kLatticeBytes) {
    napi_throw_range_error(env, nullptr, "out must hold 2048 bytes per input");
    return nullptr;
  }
  if (!disjoint(env, out, inputs, "out")) return nullptr;
  lattice_elements(kernel, inputs.data, input_length, count, out.data);
  return nullptr;
}

// latticeApply(lanes, inputs, inputLength, negate, kernel): lanes <- lanes ± the element of each input.
napi_value LatticeApply(napi_env env, napi_callback_info info) {
  napi_value args[5];
  Bytes lanes, inputs, negate;
  size_t input_length = 0, count = 0;
  Kernel kernel;
  if (!get_args(env, info, 5, args) || !get_typed_array(env, args[0], napi_uint16_array, "lanes", &lanes) ||
      !get_inputs(env, args[1], args[2], &inputs, &input_length, &count) ||
      !get_typed_array(env, args[3], napi_uint8_array, "negate", &negate) || !get_kernel(env, args[4], &kernel)) {
    return nullptr;
  }
  if (lanes.length != kLatticeLanes) {
    napi_throw_range_error(env, nullptr, "lanes must be 1024 lanes");
    return nullptr;
  }
  if (negate.length != count) {
    napi_throw_range_error(env, nullptr, "negate must have one entry per input");
    return nullptr;
  }
  if (!disjoint(env, lanes, inputs, "lanes") || !disjoint(env, lanes, negate, "lanes")) return nullptr;
  lattice_apply(kernel, reinterpret_cast<uint16_t*>(lanes.data), inputs.data, input_length, negate.data, count);
  return nullptr;
}

}  // namespace

bool define_exports(napi_env env, napi_value exports) {
  const napi_property_descriptor properties[] = {
      {"blake3Kernels", nullptr, Kernels, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"blake3Hash", nullptr, Hash, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"latticeElements", nullptr, LatticeElements, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"latticeApply", nullptr, LatticeApply, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  return ok(env, napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties));
}

}  // namespace blake3
