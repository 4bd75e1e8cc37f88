// Reading a model file's weights on a thread of their own, while Python checks the graph.
//
// On a VM each first touch of a fresh page costs ~2 us: copying MobileNetV2's 14 MB of weights
// into their arrays took ~7 ms, most of a session's load. The graph structure is checked without
// them, so the copy runs beside the checks; the loader waits for it before the optimizer reads a
// weight.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace pyinfer {

class BackgroundReads {
 public:
  struct Target {
    char* data;      // `bytes` writable bytes, alive until wait() returns
    size_t bytes;
    int64_t offset;  // where they start in the file
  };

  // Takes `fd` over (closed when done) and starts reading every target from it. Throws
  // std::invalid_argument for a negative offset.
  BackgroundReads(int fd, std::vector<Target> targets);
  ~BackgroundReads();  // waits for the thread
  BackgroundReads(const BackgroundReads&) = delete;
  BackgroundReads& operator=(const BackgroundReads&) = delete;

  // Blocks until every read is done; "" when all bytes arrived, else what went wrong.
  std::string wait();

  // Whether this platform reads this way (POSIX pread); elsewhere the caller copies by itself.
  static bool supported();

 private:
  void run();

  int fd_;
  std::vector<Target> targets_;
  std::string error_;
  std::thread thread_;
};

}  // namespace pyinfer
