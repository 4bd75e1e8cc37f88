// The GEMM micro-tile of the SIMD tier being compiled: MR rows of A (the packed panels' height)
// by NVMAX vectors of columns of B. Include only from *_isa.cpp, inside
// namespace pyinfer::PYINFER_ISA_NS, after common/simd.h. Every kernel that reads packed weight
// panels (gemm_kernels_isa.cpp, conv/direct_isa.cpp) takes MR from here, so they cannot drift
// apart; conv.cpp still checks the panels it is handed at run time.
//   AVX-512: 8 x 48 (24 zmm accumulators)   AVX2: 6 x 16 (12 ymm)   scalar: 4 x 4
#pragma once

#if defined(PYINFER_ISA_AVX512)
constexpr int MR = 8, NVMAX = 3;
#elif defined(PYINFER_ISA_AVX2)
constexpr int MR = 6, NVMAX = 2;
#else
constexpr int MR = 4, NVMAX = 4;
#endif
constexpr int NR = NVMAX * VecF::N;
