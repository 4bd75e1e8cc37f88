#include "common/file_reads.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define PYINFER_HAVE_PREAD 1
#endif

namespace pyinfer {

bool BackgroundReads::supported() {
#ifdef PYINFER_HAVE_PREAD
  return true;
#else
  return false;
#endif
}

BackgroundReads::BackgroundReads(int fd, std::vector<Target> targets) : fd_(fd), targets_(std::move(targets)) {
  for (const Target& t : targets_) {
    if (t.offset < 0 || (t.bytes > 0 && t.data == nullptr)) {
#ifdef PYINFER_HAVE_PREAD
      if (fd_ >= 0) close(fd_);
#endif
      throw std::invalid_argument("background reads: a negative offset or a missing buffer");
    }
  }
  thread_ = std::thread([this] { run(); });
}

BackgroundReads::~BackgroundReads() {
  if (thread_.joinable()) thread_.join();
}

std::string BackgroundReads::wait() {
  if (thread_.joinable()) thread_.join();
  return error_;
}

void BackgroundReads::run() {
#ifdef PYINFER_HAVE_PREAD
  for (const Target& t : targets_) {
    size_t done = 0;
    while (done < t.bytes) {
      const ssize_t n = pread(fd_, t.data + done, t.bytes - done, static_cast<off_t>(t.offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error_ = n == 0 ? "the file ended early (was it changed while it was loaded?)" : std::strerror(errno);
        close(fd_);
        return;
      }
      done += static_cast<size_t>(n);
    }
  }
  close(fd_);
#else
  error_ = "reading in the background is not supported on this platform";
#endif
}

}  // namespace pyinfer
