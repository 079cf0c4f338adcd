// The rule for a directory entry's name, shared by the metanode (which
// refuses a bad one) and the client (which answers creates and unlinks of
// a delegated directory itself only for good ones).
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string_view>

#include <fmt/format.h>

#include "common/status.h"

namespace cfs::proto {

inline constexpr size_t kMaxNameBytes = 255;

// 1..255 bytes, not "." or "..", no '/' or NUL. Errors: InvalidArgument,
// NameTooLong.
inline Status ValidateName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("empty name");
  if (name.size() > kMaxNameBytes) {
    return Status(Code::kNameTooLong, fmt::format("name of {} bytes (at most {})", name.size(), kMaxNameBytes));
  }
  if (name == "." || name == "..") return Status::InvalidArgument(fmt::format("name '{}' is reserved", name));
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("name holds '/' or NUL");
  }
  return Status::OK();
}

}  // namespace cfs::proto
