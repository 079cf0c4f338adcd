// Small string helpers for messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cfs {

// `s` in double quotes, with quotes and backslashes escaped and anything but
// printable ASCII as \xNN: safe for any bytes from a user, the network or a
// disk. (Not fmt's "{:?}": fmt 9.1 terminates on invalid UTF-8 there when
// the copy of fmt inside libspdlog is the one linked, fmtlib/fmt#3038.)
std::string Quoted(std::string_view s);

// "1048576", "512K", "100M", "10G", "2T" (also "10GiB", "10GB"; all powers
// of 1024) as bytes. Errors: InvalidArgument naming the text.
Result<uint64_t> ParseSize(std::string_view text);
// Bytes as "1.5 GiB", "512 KiB", "17 B".
std::string FormatBytes(uint64_t bytes);

}  // namespace cfs
