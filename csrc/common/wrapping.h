// Integer arithmetic that wraps on overflow as numpy's does (through the unsigned type: signed
// overflow is undefined behaviour in C++): the integer elementwise and reduction kernels.
#pragma once
#include <type_traits>

namespace pyinfer {

template <class T>
inline T wrapping_add(T a, T b) {
  using U = typename std::make_unsigned<T>::type;
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}

template <class T>
inline T wrapping_sub(T a, T b) {
  using U = typename std::make_unsigned<T>::type;
  return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
}

template <class T>
inline T wrapping_mul(T a, T b) {
  using U = typename std::make_unsigned<T>::type;
  return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
}

}  // namespace pyinfer
