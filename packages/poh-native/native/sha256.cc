#include "sha256.h"

#include <cstring>

#include "cpu.h"

namespace poh {

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube
// roots of the first 64 primes.
const uint32_t kRoundConstants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

// FIPS 180-4 §5.3.3: the first 32 bits of the fractional parts of the square
// roots of the first 8 primes.
const uint32_t kInitialState[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

namespace {

void load_words(uint32_t state[8], const uint8_t hash[kHashBytes]) {
  for (int i = 0; i < 8; i++) {
    state[i] = (uint32_t{hash[4 * i]} << 24) | (uint32_t{hash[4 * i + 1]} << 16) |
               (uint32_t{hash[4 * i + 2]} << 8) | uint32_t{hash[4 * i + 3]};
  }
}

void store_words(uint8_t hash[kHashBytes], const uint32_t state[8]) {
  for (int i = 0; i < 8; i++) {
    hash[4 * i] = static_cast<uint8_t>(state[i] >> 24);
    hash[4 * i + 1] = static_cast<uint8_t>(state[i] >> 16);
    hash[4 * i + 2] = static_cast<uint8_t>(state[i] >> 8);
    hash[4 * i + 3] = static_cast<uint8_t>(state[i]);
  }
}

void compress(Kernel kernel, uint32_t state[8], const uint8_t* blocks, size_t block_count) {
  if (kernel == Kernel::ShaNi) {
    compress_sha_ni(state, blocks, block_count);
  } else {
    compress_portable(state, blocks, block_count);
  }
}

}  // namespace

bool kernel_available(Kernel kernel) {
  switch (kernel) {
    case Kernel::Portable:
      return true;
    case Kernel::ShaNi:
      return cpu_features().sha_ni;
    case Kernel::PortableBmi2:
      return cpu_features().bmi2;
  }
  return false;
}

void hash_chain(Kernel kernel, uint8_t hash[kHashBytes], uint64_t n) {
  if (n == 0) return;
  uint32_t state[8];
  load_words(state, hash);
  switch (kernel) {
    case Kernel::ShaNi:
      chain_sha_ni(state, n);
      break;
    case Kernel::PortableBmi2:
      chain_portable_bmi2(state, n);
      break;
    case Kernel::Portable:
      chain_portable(state, n);
      break;
  }
  store_words(hash, state);
}

void hash_mixin(Kernel kernel, uint8_t hash[kHashBytes], const uint8_t* mixin, size_t mixin_length) {
  uint32_t state[8];
  std::memcpy(state, kInitialState, sizeof state);
  const uint64_t message_bits = (uint64_t{kHashBytes} + mixin_length) * 8;

  uint8_t block[64];
  std::memcpy(block, hash, kHashBytes);
  size_t filled = kHashBytes;
  const size_t head = mixin_length < 64 - filled ? mixin_length : 64 - filled;
  std::memcpy(block + filled, mixin, head);
  filled += head;
  size_t consumed = head;
  if (filled == 64) {
    compress(kernel, state, block, 1);
    const size_t whole_blocks = (mixin_length - consumed) / 64;
    compress(kernel, state, mixin + consumed, whole_blocks);
    consumed += whole_blocks * 64;
    filled = mixin_length - consumed;
    std::memcpy(block, mixin + consumed, filled);
  }

  // FIPS 180-4 §5.1.1: a one bit, zeros, then the message length in bits
  // as a 64-bit big-endian integer, ending on a block boundary.
  block[filled++] = 0x80;
  if (filled > 56) {
    std::memset(block + filled, 0, 64 - filled);
    compress(kernel, state, block, 1);
    filled = 0;
  }
  std::memset(block + filled, 0, 56 - filled);
  for (int i = 0; i < 8; i++) block[56 + i] = static_cast<uint8_t>(message_bits >> (56 - 8 * i));
  compress(kernel, state, block, 1);
  store_words(hash, state);
}

}  // namespace poh
