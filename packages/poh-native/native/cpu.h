// CPU features the kernels use, read once with CPUID.
#pragma once

namespace poh {

struct CpuFeatures {
  bool sha_ni;  // SHA256RNDS2/MSG1/MSG2, with the SSSE3 and SSE4.1 they need
  bool bmi2;    // RORX and ANDN (BMI1 + BMI2): the scalar rounds in fewer instructions
};

const CpuFeatures& cpu_features();

}  // namespace poh
