#include "cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace poh {

namespace {

CpuFeatures detect() {
  CpuFeatures features{false, false};
#if defined(__x86_64__) || defined(__i386__)
  constexpr unsigned kLeaf1EcxSsse3 = 1u << 9;
  constexpr unsigned kLeaf1EcxSse41 = 1u << 19;
  constexpr unsigned kLeaf7EbxBmi1 = 1u << 3;
  constexpr unsigned kLeaf7EbxBmi2 = 1u << 8;
  constexpr unsigned kLeaf7EbxSha = 1u << 29;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0 || eax < 7) return features;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return features;
  const bool sse = (ecx & kLeaf1EcxSsse3) != 0 && (ecx & kLeaf1EcxSse41) != 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return features;
  features.sha_ni = sse && (ebx & kLeaf7EbxSha) != 0;
  features.bmi2 = (ebx & kLeaf7EbxBmi1) != 0 && (ebx & kLeaf7EbxBmi2) != 0;
#endif
  return features;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace poh
