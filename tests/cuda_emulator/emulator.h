// What a family's library tells the CUDA host emulator's runtime (emulator.cpp) about its kernels.
// build.py generates, per kernel family, a driver that includes shim.h, this file and the family's .cu
// source, then defines `kernels`: the instantiations the glue asks for (its RawModule's name expressions).
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

namespace ember_emu {

// One kernel instantiation: its name expression, its parameters' types, and a call through an array
// of pointers to the arguments' values, as cuLaunchKernel takes them.
struct Kernel {
  const char* name;
  void (*signature)(char* out);  // writes the parameter codes, comma-separated (4 bytes a parameter at most)
  void (*invoke)(void** args);
};

extern const Kernel kernels[];
extern const int kernel_count;

template <typename>
constexpr bool unsupported = false;

// A parameter's type as the Python side checks arguments against it: "f4", "i8", "u4", "b1" for a
// scalar (NumPy's kind and size), prefixed by "p" for a pointer, by "c" for a pointer to const.
template <typename P>
void append_code(char*& out) {
  if constexpr (std::is_pointer_v<P>) {
    using Element = std::remove_pointer_t<P>;
    *out++ = std::is_const_v<Element> ? 'c' : 'p';
    append_code<std::remove_cv_t<Element>>(out);
  } else if constexpr (std::is_arithmetic_v<P>) {
    *out++ = std::is_same_v<P, bool> ? 'b' : std::is_floating_point_v<P> ? 'f' : std::is_signed_v<P> ? 'i' : 'u';
    *out++ = char('0' + sizeof(P));
  } else {
    static_assert(unsupported<P>, "the emulator passes arithmetic and pointer kernel parameters only");
  }
}

template <typename... P>
void write_signature(void (*)(P...), char* out) {
  ((append_code<P>(out), *out++ = ','), ...);
  if (sizeof...(P) != 0) --out;
  *out = '\0';
}

template <typename... P, std::size_t... I>
void call_with(void (*kernel)(P...), void** args, std::index_sequence<I...>) {
  kernel(*static_cast<std::remove_cv_t<P>*>(args[I])...);
}

template <typename... P>
constexpr std::size_t arity(void (*)(P...)) {
  return sizeof...(P);
}

template <auto K>
Kernel kernel(const char* name) {
  return {name, [](char* out) { write_signature(K, out); },
          [](void** args) { call_with(K, args, std::make_index_sequence<arity(K)>{}); }};
}

}  // namespace ember_emu
