// BLAKE3 from the paper (J. O'Connor, J.-P. Aumasson, S. Neves, Z. Wilcox-O'Hearn,
// "BLAKE3: one function, fast everywhere", 2020), hash mode only:
//  - compression: BLAKE2s' G on a 4x4 state of the chaining value, IV[0..3],
//    the 64-bit counter, the block length and the flags; 7 rounds, the message
//    words permuted between rounds; the output is the 16 words
//    v[i] ^ v[i+8], v[i+8] ^ cv[i];
//  - a chunk is 1024 bytes chained block by block (CHUNK_START on its first
//    block, CHUNK_END on its last), its counter the chunk index;
//  - chunks are the leaves of a left-full binary tree of PARENT nodes whose
//    block is left cv || right cv;
//  - the root node is compressed again with ROOT under counters 0, 1, 2, ...,
//    each compression giving 64 more bytes of output.
//
// The wide kernels compress N output counters of one root at once, one per
// lane of a GCC/Clang vector type; the x86 ones are compiled with a
// per-function target, so the addon itself runs on any x86-64 CPU.
#include "blake3.h"

#include <cstring>

#define B3_INLINE inline __attribute__((always_inline))

// The vector helpers are always inlined into their kernel, so the note that
// passing wide vectors by value changes the ABI never applies.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#if defined(__x86_64__) || defined(__i386__)
#define B3_HAS_X86_KERNELS 1
#define B3_AVX2 __attribute__((target("avx2")))
#define B3_AVX512 __attribute__((target("avx512f,avx512bw")))
#endif

namespace blake3 {

namespace {

constexpr uint32_t kIv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                             0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

constexpr uint32_t kChunkStart = 1u << 0;
constexpr uint32_t kChunkEnd = 1u << 1;
constexpr uint32_t kParent = 1u << 2;
constexpr uint32_t kRoot = 1u << 3;

constexpr size_t kChunkBytes = 1024;
constexpr int kRounds = 7;
constexpr int kLatticeBlocks = kLatticeBytes / kBlockBytes;  // 32
// An element's single block: the whole input, which is one chunk and the root.
constexpr uint32_t kLatticeFlags = kChunkStart | kChunkEnd | kRoot;

// Which message word each round reads at each position: round 0 reads them in
// order, and each later round applies the paper's permutation once more.
struct Schedule {
  uint8_t word[kRounds][16];
};

constexpr Schedule make_schedule() {
  constexpr uint8_t kPermutation[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};
  Schedule schedule{};
  for (int i = 0; i < 16; i++) schedule.word[0][i] = static_cast<uint8_t>(i);
  for (int r = 1; r < kRounds; r++) {
    for (int i = 0; i < 16; i++) schedule.word[r][i] = schedule.word[r - 1][kPermutation[i]];
  }
  return schedule;
}

constexpr Schedule kSchedule = make_schedule();

B3_INLINE uint32_t load32_le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

B3_INLINE void store32_le(uint8_t* p, uint32_t w) {
  p[0] = static_cast<uint8_t>(w);
  p[1] = static_cast<uint8_t>(w >> 8);
  p[2] = static_cast<uint8_t>(w >> 16);
  p[3] = static_cast<uint8_t>(w >> 24);
}

// Message words of a block of up to 64 bytes, zero-padded.
B3_INLINE void load_block(const uint8_t* bytes, size_t length, uint32_t m[16]) {
  uint8_t block[kBlockBytes] = {};
  std::memcpy(block, bytes, length);
  for (int i = 0; i < 16; i++) m[i] = load32_le(block + 4 * i);
}

// The compression below is written once for a lane type V: uint32_t for one
// compression, or a vector of N uint32_t for N at once.
template <typename V>
B3_INLINE V splat(uint32_t word) {
  return V() + word;
}

template <typename V>
B3_INLINE V rotr(V x, int n) {
  return (x >> n) | (x << (32 - n));
}

template <typename V>
B3_INLINE void g(V v[16], int a, int b, int c, int d, V mx, V my) {
  v[a] = v[a] + v[b] + mx;
  v[d] = rotr(v[d] ^ v[a], 16);
  v[c] = v[c] + v[d];
  v[b] = rotr(v[b] ^ v[c], 12);
  v[a] = v[a] + v[b] + my;
  v[d] = rotr(v[d] ^ v[a], 8);
  v[c] = v[c] + v[d];
  v[b] = rotr(v[b] ^ v[c], 7);
}

// v <- the 7 rounds over message m; then out <- the 16 output words. The
// message words are the same in every lane, so they are splat where used
// (a broadcast operand) rather than held in 16 more registers.
template <typename V>
B3_INLINE void compress_state(V v[16], const uint32_t m[16], const V cv[8], V out[16]) {
#pragma GCC unroll 7
  for (int r = 0; r < kRounds; r++) {
    const uint8_t* s = kSchedule.word[r];
    g(v, 0, 4, 8, 12, splat<V>(m[s[0]]), splat<V>(m[s[1]]));
    g(v, 1, 5, 9, 13, splat<V>(m[s[2]]), splat<V>(m[s[3]]));
    g(v, 2, 6, 10, 14, splat<V>(m[s[4]]), splat<V>(m[s[5]]));
    g(v, 3, 7, 11, 15, splat<V>(m[s[6]]), splat<V>(m[s[7]]));
    g(v, 0, 5, 10, 15, splat<V>(m[s[8]]), splat<V>(m[s[9]]));
    g(v, 1, 6, 11, 12, splat<V>(m[s[10]]), splat<V>(m[s[11]]));
    g(v, 2, 7, 8, 13, splat<V>(m[s[12]]), splat<V>(m[s[13]]));
    g(v, 3, 4, 9, 14, splat<V>(m[s[14]]), splat<V>(m[s[15]]));
  }
  for (int i = 0; i < 8; i++) {
    out[i] = v[i] ^ v[i + 8];
    out[i + 8] = v[i + 8] ^ cv[i];
  }
}

// One compression: the 16 output words (the first 8 are the chaining value).
void compress(const uint32_t cv[8], const uint32_t m[16], uint64_t counter, uint32_t block_length, uint32_t flags,
              uint32_t out[16]) {
  uint32_t v[16] = {cv[0],   cv[1],   cv[2],   cv[3],
                    cv[4],   cv[5],   cv[6],   cv[7],
                    kIv[0],  kIv[1],  kIv[2],  kIv[3],
                    static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), block_length, flags};
  compress_state(v, m, cv, out);
}

// Compressions of one block under counters counter .. counter + N - 1, lane l
// holding counter + l.
template <int N, typename V>
B3_INLINE void compress_counters(const uint32_t cv[8], const uint32_t m[16], uint64_t counter, uint32_t block_length,
                                 uint32_t flags, V out[16]) {
  uint32_t low[N], high[N];
  for (int l = 0; l < N; l++) {
    low[l] = static_cast<uint32_t>(counter + l);
    high[l] = static_cast<uint32_t>((counter + l) >> 32);
  }
  V chaining[8], v[16];
  for (int i = 0; i < 8; i++) chaining[i] = v[i] = splat<V>(cv[i]);
  for (int i = 0; i < 4; i++) v[8 + i] = splat<V>(kIv[i]);
  std::memcpy(&v[12], low, sizeof(V));
  std::memcpy(&v[13], high, sizeof(V));
  v[14] = splat<V>(block_length);
  v[15] = splat<V>(flags);
  compress_state(v, m, chaining, out);
}

// N output blocks (64 N bytes) of a root, from output counter `counter` on.
template <int N, typename V>
B3_INLINE void root_blocks_wide(const uint32_t cv[8], const uint32_t m[16], uint32_t block_length, uint32_t flags,
                                uint64_t counter, uint8_t* out) {
  V words[16];
  compress_counters<N, V>(cv, m, counter, block_length, flags | kRoot, words);
  for (int j = 0; j < 16; j++) {
    uint32_t lanes[N];
    std::memcpy(lanes, &words[j], sizeof(V));
    for (int l = 0; l < N; l++) store32_le(out + kBlockBytes * l + 4 * j, lanes[l]);
  }
}

template <int N, typename V>
B3_INLINE void lattice_elements_wide(const uint8_t* inputs, size_t input_length, size_t count, uint8_t* out) {
  uint32_t m[16];
  for (size_t e = 0; e < count; e++) {
    load_block(inputs + e * input_length, input_length, m);
    for (int k = 0; k < kLatticeBlocks; k += N) {
      root_blocks_wide<N, V>(kIv, m, static_cast<uint32_t>(input_length), kChunkStart | kChunkEnd, k,
                             out + e * kLatticeBytes + k * kBlockBytes);
    }
  }
}

// The batch is summed in the compression's own layout (word j of output
// blocks k .. k + N - 1 in one vector), with 16-bit lane arithmetic on each
// 32-bit word: its low half is lane 2 (16 k + j) of the element, its high half
// the next lane. Only the final sum is rearranged into lattice order, once per
// batch rather than once per element. H is the 16-bit vector of V's size.
template <int N, typename V, typename H>
B3_INLINE void lattice_apply_wide(uint16_t lanes[kLatticeLanes], const uint8_t* inputs, size_t input_length,
                                  const uint8_t* negate, size_t count) {
  constexpr int kGroups = kLatticeBlocks / N;
  V sum[kGroups][16];
  for (int group = 0; group < kGroups; group++) {
    for (int j = 0; j < 16; j++) sum[group][j] = V();
  }
  uint32_t m[16];
  for (size_t e = 0; e < count; e++) {
    load_block(inputs + e * input_length, input_length, m);
    for (int group = 0; group < kGroups; group++) {
      V words[16];
      compress_counters<N, V>(kIv, m, static_cast<uint64_t>(group) * N, static_cast<uint32_t>(input_length),
                              kLatticeFlags, words);
      if (negate[e] != 0) {
        for (int j = 0; j < 16; j++) sum[group][j] = (V)((H)sum[group][j] - (H)words[j]);
      } else {
        for (int j = 0; j < 16; j++) sum[group][j] = (V)((H)sum[group][j] + (H)words[j]);
      }
    }
  }
  for (int group = 0; group < kGroups; group++) {
    for (int j = 0; j < 16; j++) {
      uint32_t words[N];
      std::memcpy(words, &sum[group][j], sizeof(V));
      for (int l = 0; l < N; l++) {
        const size_t lane = static_cast<size_t>(group * N + l) * 32 + 2 * j;
        lanes[lane] = static_cast<uint16_t>(lanes[lane] + (words[l] & 0xFFFF));
        lanes[lane + 1] = static_cast<uint16_t>(lanes[lane + 1] + (words[l] >> 16));
      }
    }
  }
}

typedef uint32_t U32x4 __attribute__((vector_size(16)));
typedef uint16_t U16x8 __attribute__((vector_size(16)));

void root_blocks_portable(const uint32_t cv[8], const uint32_t m[16], uint32_t block_length, uint32_t flags,
                          uint64_t counter, uint8_t* out) {
  uint32_t words[16];
  compress(cv, m, counter, block_length, flags | kRoot, words);
  for (int j = 0; j < 16; j++) store32_le(out + 4 * j, words[j]);
}

void lattice_elements_portable(const uint8_t* inputs, size_t input_length, size_t count, uint8_t* out) {
  uint32_t m[16];
  for (size_t e = 0; e < count; e++) {
    load_block(inputs + e * input_length, input_length, m);
    for (int k = 0; k < kLatticeBlocks; k++) {
      root_blocks_portable(kIv, m, static_cast<uint32_t>(input_length), kChunkStart | kChunkEnd, k,
                           out + e * kLatticeBytes + k * kBlockBytes);
    }
  }
}

void lattice_apply_portable(uint16_t lanes[kLatticeLanes], const uint8_t* inputs, size_t input_length,
                            const uint8_t* negate, size_t count) {
  uint32_t m[16], words[16];
  for (size_t e = 0; e < count; e++) {
    load_block(inputs + e * input_length, input_length, m);
    const uint32_t sign = negate[e] != 0 ? 0xFFFFu : 1u;  // -1 or +1 modulo 2^16
    for (int k = 0; k < kLatticeBlocks; k++) {
      compress(kIv, m, k, static_cast<uint32_t>(input_length), kLatticeFlags, words);
      uint16_t* block = lanes + 32 * k;
      for (int j = 0; j < 16; j++) {
        block[2 * j] = static_cast<uint16_t>(block[2 * j] + sign * (words[j] & 0xFFFF));
        block[2 * j + 1] = static_cast<uint16_t>(block[2 * j + 1] + sign * (words[j] >> 16));
      }
    }
  }
}

void root_blocks_simd128(const uint32_t cv[8], const uint32_t m[16], uint32_t block_length, uint32_t flags,
                         uint64_t counter, uint8_t* out) {
  root_blocks_wide<4, U32x4>(cv, m, block_length, flags, counter, out);
}

void lattice_elements_simd128(const uint8_t* inputs, size_t input_length, size_t count, uint8_t* out) {
  lattice_elements_wide<4, U32x4>(inputs, input_length, count, out);
}

void lattice_apply_simd128(uint16_t lanes[kLatticeLanes], const uint8_t* inputs, size_t input_length,
                           const uint8_t* negate, size_t count) {
  lattice_apply_wide<4, U32x4, U16x8>(lanes, inputs, input_length, negate, count);
}

#ifdef B3_HAS_X86_KERNELS
typedef uint32_t U32x8 __attribute__((vector_size(32)));
typedef uint16_t U16x16 __attribute__((vector_size(32)));
typedef uint32_t U32x16 __attribute__((vector_size(64)));
typedef uint16_t U16x32 __attribute__((vector_size(64)));

B3_AVX2 void root_blocks_avx2(const uint32_t cv[8], const uint32_t m[16], uint32_t block_length, uint32_t flags,
                              uint64_t counter, uint8_t* out) {
  root_blocks_wide<8, U32x8>(cv, m, block_length, flags, counter, out);
}

B3_AVX2 void lattice_elements_avx2(const uint8_t* inputs, size_t input_length, size_t count, uint8_t* out) {
  lattice_elements_wide<8, U32x8>(inputs, input_length, count, out);
}

B3_AVX2 void lattice_apply_avx2(uint16_t lanes[kLatticeLanes], const uint8_t* inputs, size_t input_length,
                                const uint8_t* negate, size_t count) {
  lattice_apply_wide<8, U32x8, U16x16>(lanes, inputs, input_length, negate, count);
}

B3_AVX512 void root_blocks_avx512(const uint32_t cv[8], const uint32_t m[16], uint32_t block_length, uint32_t flags,
                                  uint64_t counter, uint8_t* out) {
  root_blocks_wide<16, U32x16>(cv, m, block_length, flags, counter, out);
}

B3_AVX512 void lattice_elements_avx512(const uint8_t* inputs, size_t input_length, size_t count, uint8_t* out) {
  lattice_elements_wide<16, U32x16>(inputs, input_length, count, out);
}

B3_AVX512 void lattice_apply_avx512(uint16_t lanes[kLatticeLanes], const uint8_t* inputs, size_t input_length,
                                    const uint8_t* negate, size_t count) {
  lattice_apply_wide<16, U32x16, U16x32>(lanes, inputs, input_length, negate, count);
}
#endif

struct KernelOps {
  // Output blocks per call of root_blocks.
  int width;
  void (*root_blocks)(const uint32_t cv[8], const uint32_t m[16], uint32_t block_length, uint32_t flags,
                      uint64_t counter, uint8_t* out);
  void (*lattice_elements)(const uint8_t* inputs, size_t input_length, size_t count, uint8_t* out);
  void (*lattice_apply)(uint16_t lanes[kLatticeLanes], const uint8_t* inputs, size_t input_length,
                        const uint8_t* negate, size_t count);
};

const KernelOps& ops(Kernel kernel) {
  static const KernelOps kPortable{1, root_blocks_portable, lattice_elements_portable, lattice_apply_portable};
  static const KernelOps kSimd128{4, root_blocks_simd128, lattice_elements_simd128, lattice_apply_simd128};
#ifdef B3_HAS_X86_KERNELS
  static const KernelOps kAvx2{8, root_blocks_avx2, lattice_elements_avx2, lattice_apply_avx2};
  static const KernelOps kAvx512{16, root_blocks_avx512, lattice_elements_avx512, lattice_apply_avx512};
  if (kernel == Kernel::Avx512) return kAvx512;
  if (kernel == Kernel::Avx2) return kAvx2;
#endif
  if (kernel == Kernel::Simd128) return kSimd128;
  return kPortable;
}

// A node whose output is not yet taken: its chaining value input, block,
// counter, block length and flags (ROOT is added when it is the root).
struct Node {
  uint32_t cv[8];
  uint32_t m[16];
  uint64_t counter;
  uint32_t block_length;
  uint32_t flags;

  void chaining_value(uint32_t out[8]) const {
    uint32_t words[16];
    compress(cv, m, counter, block_length, flags, words);
    std::memcpy(out, words, 8 * sizeof(uint32_t));
  }
};

// Chains the blocks of one chunk (1 to 1024 bytes; an empty input is one
// empty block) up to, and not including, its last block.
Node chunk_node(const uint8_t* chunk, size_t length, uint64_t chunk_counter) {
  Node node{};
  std::memcpy(node.cv, kIv, sizeof kIv);
  node.counter = chunk_counter;
  uint32_t flags = kChunkStart;
  size_t offset = 0;
  while (length - offset > kBlockBytes) {
    uint32_t m[16], words[16];
    load_block(chunk + offset, kBlockBytes, m);
    compress(node.cv, m, chunk_counter, kBlockBytes, flags, words);
    std::memcpy(node.cv, words, sizeof node.cv);
    flags = 0;
    offset += kBlockBytes;
  }
  load_block(chunk + offset, length - offset, node.m);
  node.block_length = static_cast<uint32_t>(length - offset);
  node.flags = flags | kChunkEnd;
  return node;
}

Node parent_node(const uint32_t left[8], const uint32_t right[8]) {
  Node node{};
  std::memcpy(node.cv, kIv, sizeof kIv);
  std::memcpy(node.m, left, 8 * sizeof(uint32_t));
  std::memcpy(node.m + 8, right, 8 * sizeof(uint32_t));
  node.counter = 0;
  node.block_length = kBlockBytes;
  node.flags = kParent;
  return node;
}

}  // namespace

bool kernel_available(Kernel kernel) {
  switch (kernel) {
    case Kernel::Portable:
    case Kernel::Simd128:
      return true;
#ifdef B3_HAS_X86_KERNELS
    case Kernel::Avx2:
      return __builtin_cpu_supports("avx2");
    case Kernel::Avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#endif
    default:
      return false;
  }
}

void hash(Kernel kernel, const uint8_t* input, size_t input_length, uint8_t* out, size_t out_length) {
  // The tree is built by merging completed subtrees as soon as a chunk
  // completes one: after chunk c (counting from 1) there is one subtree per
  // set bit of c, so 64 entries cover any input. The last chunk is held back
  // because it may be the root itself.
  uint32_t stack[64][8];
  int depth = 0;
  uint64_t chunk_counter = 0;
  size_t offset = 0;
  while (input_length - offset > kChunkBytes) {
    uint32_t cv[8];
    chunk_node(input + offset, kChunkBytes, chunk_counter).chaining_value(cv);
    offset += kChunkBytes;
    chunk_counter++;
    for (uint64_t completed = chunk_counter; (completed & 1) == 0; completed >>= 1) {
      parent_node(stack[--depth], cv).chaining_value(cv);
    }
    std::memcpy(stack[depth++], cv, sizeof cv);
  }
  Node root = chunk_node(input + offset, input_length - offset, chunk_counter);
  while (depth > 0) {
    uint32_t cv[8];
    root.chaining_value(cv);
    root = parent_node(stack[--depth], cv);
  }

  const KernelOps& kernel_ops = ops(kernel);
  const size_t bytes_per_call = kBlockBytes * static_cast<size_t>(kernel_ops.width);
  uint8_t blocks[kBlockBytes * 16];
  uint64_t counter = 0;
  for (size_t written = 0; written < out_length; written += bytes_per_call) {
    const size_t take = out_length - written < bytes_per_call ? out_length - written : bytes_per_call;
    kernel_ops.root_blocks(root.cv, root.m, root.block_length, root.flags, counter, blocks);
    std::memcpy(out + written, blocks, take);
    counter += kernel_ops.width;
  }
}

void lattice_elements(Kernel kernel, const uint8_t* inputs, size_t input_length, size_t count, uint8_t* out) {
  ops(kernel).lattice_elements(inputs, input_length, count, out);
}

void lattice_apply(Kernel kernel, uint16_t lanes[kLatticeLanes], const uint8_t* inputs, size_t input_length,
                   const uint8_t* negate, size_t count) {
  ops(kernel).lattice_apply(lanes, inputs, input_length, negate, count);
}

}  // namespace blake3
