// SHA-256 in portable C++ (FIPS 180-4 §6.2), for CPUs without SHA extensions.
// The chain is compiled twice: for any CPU, and for x86 CPUs with BMI2, whose
// RORX and ANDN do the rotations and Ch in fewer instructions (the
// portable-bmi2 kernel, offered where CPUID reports BMI2: cpu.h).
#include <cstring>

#include "sha256.h"

#if defined(__x86_64__) || defined(__i386__)
#define POH_HAS_BMI2_BUILD 1
#define POH_BMI2 __attribute__((target("bmi,bmi2")))
#endif

#define POH_INLINE inline __attribute__((always_inline))

namespace poh {

namespace {

POH_INLINE uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
POH_INLINE uint32_t big_sigma0(uint32_t x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
POH_INLINE uint32_t big_sigma1(uint32_t x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
POH_INLINE uint32_t small_sigma0(uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
POH_INLINE uint32_t small_sigma1(uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }
POH_INLINE uint32_t choose(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (~x & z); }
POH_INLINE uint32_t majority(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (x & z) ^ (y & z); }

// The 64 rounds over one block's message words w[0..15] (consumed as the
// rolling 16-word schedule), added into state.
POH_INLINE void rounds(uint32_t state[8], uint32_t w[16]) {
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
#pragma GCC unroll 64
  for (int t = 0; t < 64; t++) {
    if (t >= 16) {
      w[t & 15] += small_sigma1(w[(t - 2) & 15]) + w[(t - 7) & 15] + small_sigma0(w[(t - 15) & 15]);
    }
    const uint32_t t1 = h + big_sigma1(e) + choose(e, f, g) + kRoundConstants[t] + w[t & 15];
    const uint32_t t2 = big_sigma0(a) + majority(a, b, c);
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  state[5] += f;
  state[6] += g;
  state[7] += h;
}

POH_INLINE void chain(uint32_t state[8], uint64_t n) {
  uint32_t w[16];
  for (uint64_t i = 0; i < n; i++) {
    // The message is the previous digest: its words are the state words,
    // followed by the padding of a 256-bit message (FIPS 180-4 §5.1.1).
    std::memcpy(w, state, 32);
    w[8] = 0x80000000;
    w[9] = w[10] = w[11] = w[12] = w[13] = w[14] = 0;
    w[15] = 256;
    std::memcpy(state, kInitialState, 32);
    rounds(state, w);
  }
}

POH_INLINE void compress(uint32_t state[8], const uint8_t* blocks, size_t block_count) {
  uint32_t w[16];
  for (size_t block_index = 0; block_index < block_count; block_index++) {
    const uint8_t* block = blocks + 64 * block_index;
    for (int i = 0; i < 16; i++) {
      w[i] = (uint32_t{block[4 * i]} << 24) | (uint32_t{block[4 * i + 1]} << 16) |
             (uint32_t{block[4 * i + 2]} << 8) | uint32_t{block[4 * i + 3]};
    }
    rounds(state, w);
  }
}

}  // namespace

void chain_portable(uint32_t state[8], uint64_t n) { chain(state, n); }

#ifdef POH_HAS_BMI2_BUILD
POH_BMI2 void chain_portable_bmi2(uint32_t state[8], uint64_t n) { chain(state, n); }
#else
// Unreachable: cpu_features().bmi2 is false off x86, and the addon refuses
// an unavailable kernel before hashing.
void chain_portable_bmi2(uint32_t state[8], uint64_t n) { chain(state, n); }
#endif

// Mixins are one or two blocks per entry: the build for any CPU serves both
// portable kernels.
void compress_portable(uint32_t state[8], const uint8_t* blocks, size_t block_count) {
  compress(state, blocks, block_count);
}

}  // namespace poh
