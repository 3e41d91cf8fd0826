// SHA-256 (FIPS 180-4) specialised for Proof of History: a chain of hashes of
// 32-byte values, where each hash is exactly one compression of the previous
// digest followed by a constant padding block, plus the general hash of
// (hash || mixin) that records a mixin.
#pragma once

#include <cstddef>
#include <cstdint>

namespace poh {

constexpr size_t kHashBytes = 32;

// The compression kernels this build can run; ShaNi and PortableBmi2 only
// where the CPU has the SHA extensions or BMI2 (checked at run time).
enum class Kernel : int { Portable = 0, ShaNi = 1, PortableBmi2 = 2 };

extern const uint32_t kRoundConstants[64];
extern const uint32_t kInitialState[8];

// state is the digest as eight big-endian words; n hashes of it, in place.
void chain_portable(uint32_t state[8], uint64_t n);
void chain_portable_bmi2(uint32_t state[8], uint64_t n);
// Compresses whole 64-byte blocks into state.
void compress_portable(uint32_t state[8], const uint8_t* blocks, size_t block_count);

void chain_sha_ni(uint32_t state[8], uint64_t n);
void compress_sha_ni(uint32_t state[8], const uint8_t* blocks, size_t block_count);

bool kernel_available(Kernel kernel);

// h <- sha256^n(h) on 32 digest bytes, in place.
void hash_chain(Kernel kernel, uint8_t hash[kHashBytes], uint64_t n);
// h <- sha256(h || mixin), in place.
void hash_mixin(Kernel kernel, uint8_t hash[kHashBytes], const uint8_t* mixin, size_t mixin_length);

}  // namespace poh
