#include "common/strings.h"

#include <fmt/format.h>

namespace cfs {

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c >= 0x20 && c < 0x7f) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<uint8_t>(c));
    }
  }
  out += '"';
  return out;
}

Result<uint64_t> ParseSize(std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument(fmt::format("size {}: expected a number with an optional K, M, G or T", Quoted(text)));
  };
  size_t i = 0;
  uint64_t n = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (n > (UINT64_MAX - 9) / 10) return bad();
    n = n * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (i == 0) return bad();
  std::string_view unit = text.substr(i);
  if (unit.ends_with("iB")) {
    unit.remove_suffix(2);
  } else if (unit.size() == 2 && unit[1] == 'B') {
    unit.remove_suffix(1);
  }
  int shift = 0;
  if (unit.empty() || unit == "B") {
    shift = 0;
  } else if (unit.size() == 1) {
    switch (unit[0] | 0x20) {
      case 'k': shift = 10; break;
      case 'm': shift = 20; break;
      case 'g': shift = 30; break;
      case 't': shift = 40; break;
      case 'p': shift = 50; break;
      default: return bad();
    }
  } else {
    return bad();
  }
  if (shift > 0 && n > (UINT64_MAX >> shift)) return bad();
  return n << shift;
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  double v = static_cast<double>(bytes);
  while (v >= 1024 && unit < 6) {
    v /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} {}", v, kUnits[unit]);
}

}  // namespace cfs
