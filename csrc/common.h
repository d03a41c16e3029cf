// Definitions shared by every op's element math: compiled by the host compiler and by nvcc.
#pragma once

#if defined(__CUDACC__)
#define FASTGAN_HD __host__ __device__ __forceinline__
#else
#define FASTGAN_HD inline
#endif

namespace fastgan {

// Arithmetic type of a storage type: half types compute in float, the rest in themselves.
template <typename T>
struct OpMath {
  using type = T;
};

}  // namespace fastgan
