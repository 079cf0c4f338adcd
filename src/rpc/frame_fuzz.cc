// libFuzzer target: frame header decoding, and re-encoding what decodes.
#include <cstdlib>
#include <cstring>
#include <string>

#include "rpc/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cfs::rpc;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto h = DecodeFrameHeader(in, FrameLimits{});
  if (h.ok()) {
    char again[kFrameHeaderSize];
    EncodeFrameHeader(*h, again);
    if (std::memcmp(again, data, kFrameHeaderSize) != 0) std::abort();
  }
  return 0;
}
