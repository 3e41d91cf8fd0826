// SHA-256 with the x86 SHA extensions (SHA256RNDS2, SHA256MSG1, SHA256MSG2).
// The instructions keep the working variables in two registers, lanes from
// high to low (A,B,E,F) and (C,D,G,H); two rounds turn (A,B,E,F) into the
// next (C,D,G,H), so the two registers swap roles every call. Compiled with
// a per-function target so the rest of the addon runs on any x86-64 CPU;
// only called after CPUID reports the extensions (cpu.h).
#include "sha256.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define POH_SHA_NI __attribute__((target("sha,sse4.1,ssse3")))

namespace poh {

namespace {

// Words (A,B,C,D),(E,F,G,H) with A in the lowest lane -> the instructions'
// (A,B,E,F),(C,D,G,H) with A in the highest lane.
POH_SHA_NI inline void to_instruction_layout(__m128i& low, __m128i& high) {
  const __m128i low_pairs_swapped = _mm_shuffle_epi32(low, 0xB1);    // B,A,D,C
  const __m128i high_pairs_swapped = _mm_shuffle_epi32(high, 0xB1);  // F,E,H,G
  low = _mm_unpacklo_epi64(high_pairs_swapped, low_pairs_swapped);   // F,E,B,A
  high = _mm_unpackhi_epi64(high_pairs_swapped, low_pairs_swapped);  // H,G,D,C
}

// The inverse of to_instruction_layout.
POH_SHA_NI inline void to_word_layout(__m128i& abef, __m128i& cdgh) {
  const __m128i abef_pairs_swapped = _mm_shuffle_epi32(abef, 0xB1);     // E,F,A,B
  const __m128i cdgh_pairs_swapped = _mm_shuffle_epi32(cdgh, 0xB1);     // G,H,C,D
  abef = _mm_unpackhi_epi64(abef_pairs_swapped, cdgh_pairs_swapped);   // A,B,C,D
  cdgh = _mm_unpacklo_epi64(abef_pairs_swapped, cdgh_pairs_swapped);   // E,F,G,H
}

POH_SHA_NI inline void four_rounds(__m128i& abef, __m128i& cdgh, __m128i message, int first_round) {
  __m128i message_plus_constants = _mm_add_epi32(
      message, _mm_loadu_si128(reinterpret_cast<const __m128i*>(&kRoundConstants[first_round])));
  cdgh = _mm_sha256rnds2_epu32(cdgh, abef, message_plus_constants);
  message_plus_constants = _mm_shuffle_epi32(message_plus_constants, 0x0E);
  abef = _mm_sha256rnds2_epu32(abef, cdgh, message_plus_constants);
}

// The 64 rounds over message words (W0..W3),(W4..W7),(W8..W11),(W12..W15),
// each with the lowest-numbered word in the lowest lane.
POH_SHA_NI inline void rounds(__m128i& abef, __m128i& cdgh, __m128i w0, __m128i w1, __m128i w2, __m128i w3) {
  four_rounds(abef, cdgh, w0, 0);
  four_rounds(abef, cdgh, w1, 4);
  four_rounds(abef, cdgh, w2, 8);
  four_rounds(abef, cdgh, w3, 12);
#pragma GCC unroll 12
  for (int round = 16; round < 64; round += 4) {
    // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16]: MSG1 adds the σ0
    // terms, the byte shift brings W[t-7], MSG2 adds the σ1 terms.
    const __m128i partial = _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8(w3, w2, 4));
    const __m128i next = _mm_sha256msg2_epu32(partial, w3);
    four_rounds(abef, cdgh, next, round);
    w0 = w1;
    w1 = w2;
    w2 = w3;
    w3 = next;
  }
}

}  // namespace

POH_SHA_NI void chain_sha_ni(uint32_t state[8], uint64_t n) {
  __m128i initial_abef = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&kInitialState[0]));
  __m128i initial_cdgh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&kInitialState[4]));
  to_instruction_layout(initial_abef, initial_cdgh);
  // The message of every hash but its first eight words: the padding of a
  // 256-bit message (FIPS 180-4 §5.1.1).
  const __m128i padding_low = _mm_set_epi32(0, 0, 0, static_cast<int>(0x80000000u));
  const __m128i padding_high = _mm_set_epi32(256, 0, 0, 0);

  __m128i digest_low = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[0]));
  __m128i digest_high = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[4]));
  for (uint64_t i = 0; i < n; i++) {
    __m128i abef = initial_abef;
    __m128i cdgh = initial_cdgh;
    rounds(abef, cdgh, digest_low, digest_high, padding_low, padding_high);
    digest_low = _mm_add_epi32(abef, initial_abef);
    digest_high = _mm_add_epi32(cdgh, initial_cdgh);
    to_word_layout(digest_low, digest_high);
  }
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), digest_low);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), digest_high);
}

POH_SHA_NI void compress_sha_ni(uint32_t state[8], const uint8_t* blocks, size_t block_count) {
  // Big-endian message bytes to words: reverse the bytes of every lane.
  const __m128i byte_swap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
  __m128i abef = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[0]));
  __m128i cdgh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[4]));
  to_instruction_layout(abef, cdgh);
  for (size_t block_index = 0; block_index < block_count; block_index++) {
    const __m128i* block = reinterpret_cast<const __m128i*>(blocks + 64 * block_index);
    const __m128i saved_abef = abef;
    const __m128i saved_cdgh = cdgh;
    rounds(abef, cdgh, _mm_shuffle_epi8(_mm_loadu_si128(block), byte_swap),
           _mm_shuffle_epi8(_mm_loadu_si128(block + 1), byte_swap),
           _mm_shuffle_epi8(_mm_loadu_si128(block + 2), byte_swap),
           _mm_shuffle_epi8(_mm_loadu_si128(block + 3), byte_swap));
    abef = _mm_add_epi32(abef, saved_abef);
    cdgh = _mm_add_epi32(cdgh, saved_cdgh);
  }
  to_word_layout(abef, cdgh);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), abef);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), cdgh);
}

}  // namespace poh

#else

namespace poh {

// Unreachable: cpu_features().sha_ni is false off x86, and the addon
// refuses an unavailable kernel before hashing.
void chain_sha_ni(uint32_t state[8], uint64_t n) { chain_portable(state, n); }
void compress_sha_ni(uint32_t state[8], const uint8_t* blocks, size_t block_count) {
  compress_portable(state, blocks, block_count);
}

}  // namespace poh

#endif
