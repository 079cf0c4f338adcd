#include "common/ttl.h"

#include <charconv>

#include <fmt/format.h>

#include "common/strings.h"

namespace cfs {

Result<Ttl> Ttl::Parse(std::string_view s) {
  if (s.empty()) return Ttl{};
  TtlUnit unit = TtlUnit::kMinute;
  std::string_view digits = s;
  switch (s.back()) {
    case 'm': unit = TtlUnit::kMinute; break;
    case 'h': unit = TtlUnit::kHour; break;
    case 'd': unit = TtlUnit::kDay; break;
    case 'w': unit = TtlUnit::kWeek; break;
    case 'M': unit = TtlUnit::kMonth; break;
    case 'y': unit = TtlUnit::kYear; break;
    default:
      if (s.back() < '0' || s.back() > '9') {
        return Status::InvalidArgument(fmt::format("ttl {}: unknown unit (use m, h, d, w, M or y)", Quoted(s)));
      }
      digits = s;
      break;
  }
  if (s.back() < '0' || s.back() > '9') digits = s.substr(0, s.size() - 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    return Status::InvalidArgument(fmt::format("ttl {}: not a number followed by a unit", Quoted(s)));
  }
  if (value > 255) {
    return Status::InvalidArgument(fmt::format("ttl {}: count {} is over 255; use a larger unit", Quoted(s), value));
  }
  if (value == 0) return Ttl{};
  return Ttl{static_cast<uint8_t>(value), unit};
}

Result<Ttl> Ttl::FromBytes(uint8_t count, uint8_t unit) {
  if (unit > static_cast<uint8_t>(TtlUnit::kYear)) {
    return Status::Corruption(fmt::format("ttl unit byte {} is unknown", unit));
  }
  if (count == 0 || unit == 0) return Ttl{};
  return Ttl{count, static_cast<TtlUnit>(unit)};
}

std::chrono::seconds Ttl::Duration() const {
  using std::chrono::seconds;
  int64_t per = 0;
  switch (unit) {
    case TtlUnit::kNone: per = 0; break;
    case TtlUnit::kMinute: per = 60; break;
    case TtlUnit::kHour: per = 3600; break;
    case TtlUnit::kDay: per = 86400; break;
    case TtlUnit::kWeek: per = 7 * 86400; break;
    case TtlUnit::kMonth: per = 30 * 86400; break;
    case TtlUnit::kYear: per = 365 * 86400; break;
  }
  return seconds(per * count);
}

std::string Ttl::ToString() const {
  if (empty()) return "";
  static constexpr char kUnits[] = {' ', 'm', 'h', 'd', 'w', 'M', 'y'};
  return fmt::format("{}{}", count, kUnits[static_cast<uint8_t>(unit)]);
}

}  // namespace cfs
