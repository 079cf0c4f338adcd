// Small string helpers for messages.
#pragma once

#include <string>
#include <string_view>

namespace cfs {

// `s` in double quotes, with quotes and backslashes escaped and anything but
// printable ASCII as \xNN: safe for any bytes from a user, the network or a
// disk. (Not fmt's "{:?}": fmt 9.1 terminates on invalid UTF-8 there when
// the copy of fmt inside libspdlog is the one linked, fmtlib/fmt#3038.)
std::string Quoted(std::string_view s);

}  // namespace cfs
