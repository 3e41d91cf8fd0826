// BLAKE3 (hash mode, extendable output), written from the BLAKE3 paper, and
// the accounts lattice of SIMD-0215 built on it: an account's element is
// 2048 bytes of BLAKE3 output read as 1024 little-endian u16 lanes, and the
// lattice is their lane-wise sum modulo 2^16.
//
// The 32 output blocks of one element are independent compressions of the
// same block under counters 0..31, so the wide kernels compress N counters
// at once, one per vector lane.
#pragma once

#include <cstddef>
#include <cstdint>

namespace blake3 {

constexpr size_t kBlockBytes = 64;
constexpr size_t kLatticeBytes = 2048;
constexpr size_t kLatticeLanes = kLatticeBytes / 2;

// Portable: one compression at a time, any CPU. Simd128: 4 counters per
// 128-bit vector (SSE2 on x86-64, NEON on arm64, plain C elsewhere). Avx2: 8
// counters. Avx512: 16 counters, with native rotates. Avx2 and Avx512 only
// where CPUID reports them (checked at run time).
enum class Kernel : int { Portable = 0, Simd128 = 1, Avx2 = 2, Avx512 = 3 };

bool kernel_available(Kernel kernel);

// out <- the first out_length bytes of BLAKE3(input).
void hash(Kernel kernel, const uint8_t* input, size_t input_length, uint8_t* out, size_t out_length);

// Inputs of at most one block each (input_length <= 64), count of them back
// to back. Writes the 2048-byte element of each to out (2048 * count bytes).
void lattice_elements(Kernel kernel, const uint8_t* inputs, size_t input_length, size_t count, uint8_t* out);

// lanes <- lanes + sum of (negate[i] ? -1 : +1) * element(input i), modulo
// 2^16 per lane.
void lattice_apply(Kernel kernel, uint16_t lanes[kLatticeLanes], const uint8_t* inputs, size_t input_length,
                   const uint8_t* negate, size_t count);

}  // namespace blake3
