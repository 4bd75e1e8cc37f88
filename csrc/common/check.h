// Argument checks for kernel entry points. A failed check throws std::invalid_argument,
// which the bindings translate into pyinfer.KernelArgumentError (a pyinfer.Error).
// Every kernel validates the shapes and parameters it is given before touching memory.
//
// Messages are built with MessageBuilder, not std::ostringstream: iostreams depend on the
// library's locale initialization, which is missing where libstdc++ is linked statically into
// the module (manylinux-style toolchains): there a number streamed into an ostringstream printed
// nothing (GCC 12) or crashed the process (GCC 13), and including <iostream> to force the
// initialization crashed at import instead, next to another copy of libstdc++ (torch's).
#pragma once
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace pyinfer {

// `builder << a << b` appends strings, characters, booleans and numbers to a std::string.
class MessageBuilder {
 public:
  MessageBuilder& operator<<(const std::string& s) { text_ += s; return *this; }
  MessageBuilder& operator<<(const char* s) { text_ += s ? s : "(null)"; return *this; }
  MessageBuilder& operator<<(char c) { text_ += c; return *this; }
  MessageBuilder& operator<<(bool b) { text_ += b ? "true" : "false"; return *this; }
  template <class T, typename std::enable_if<std::is_integral<T>::value, int>::type = 0>
  MessageBuilder& operator<<(T v) { text_ += std::to_string(v); return *this; }
  template <class T, typename std::enable_if<std::is_floating_point<T>::value, int>::type = 0>
  MessageBuilder& operator<<(T v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
    text_ += buf;
    return *this;
  }
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

// A shape or list of ints as Python prints a tuple: "(2, 3)", "(4,)", "()".
inline std::string shape_str(const std::vector<int64_t>& s) {
  MessageBuilder m;
  m << "(";
  for (size_t i = 0; i < s.size(); ++i) m << (i ? ", " : "") << s[i];
  m << (s.size() == 1 ? ",)" : ")");
  return m.str();
}

// The start of the message of a run-time check that found a control input (a shape, sizes,
// repeats, a count) giving another output shape than the one the kernel was prepared for: a
// compiled plan turns such an error into a re-run on the Python path (pyinfer/plan.py), as it
// does when a Python step's output shape changes.
constexpr const char* kShapeChanged = "shape changed: ";

}  // namespace pyinfer

// Throws std::invalid_argument("shape changed: " + msg) unless cond.
#define PYINFER_CHECK_SHAPE(cond, msg) PYINFER_CHECK(cond, ::pyinfer::kShapeChanged << msg)

#define PYINFER_CHECK(cond, msg)                                  \
  do {                                                            \
    if (!(cond)) {                                                \
      ::pyinfer::MessageBuilder pyinfer_check_msg_;               \
      pyinfer_check_msg_ << msg;                                  \
      throw std::invalid_argument(pyinfer_check_msg_.str());      \
    }                                                             \
  } while (0)
