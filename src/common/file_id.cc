#include "common/file_id.h"

#include <charconv>

#include <fmt/format.h>

#include "common/coding.h"
#include "common/strings.h"

namespace cfs {

std::string FormatFileId(BlockGroupId group, NeedleId needle, Cookie cookie) {
  char bytes[12];
  EncodeBE64(bytes, needle.value());
  EncodeBE32(bytes + 8, cookie.value());
  // Leading zero bytes of the needle id are dropped, but one is always kept:
  // a needle id of 0 would otherwise leave only the 8 cookie digits, which
  // neither ParseFileId nor SeaweedFS can parse back.
  int start = 0;
  while (start < 7 && bytes[start] == 0) ++start;
  std::string hex;
  for (int i = start; i < 12; ++i) hex += fmt::format("{:02x}", static_cast<uint8_t>(bytes[i]));
  return fmt::format("{},{}", group.value(), hex);
}

Result<FileId> ParseFileId(std::string_view fid) {
  auto bad = [&] {
    return Status::InvalidArgument(
        fmt::format("file id {} is not GROUP,NEEDLECOOKIE (e.g. 3,01637037d6)", Quoted(fid)));
  };
  size_t comma = fid.find(',');
  if (comma == std::string_view::npos) return bad();
  std::string_view group = fid.substr(0, comma), rest = fid.substr(comma + 1);
  uint32_t g = 0;
  auto [gend, gec] = std::from_chars(group.data(), group.data() + group.size(), g);
  if (group.empty() || gec != std::errc() || gend != group.data() + group.size()) return bad();
  if (rest.size() <= 8 || rest.size() > 24) return bad();
  std::string_view id_hex = rest.substr(0, rest.size() - 8), cookie_hex = rest.substr(rest.size() - 8);
  uint64_t id = 0;
  uint32_t cookie = 0;
  auto [iend, iec] = std::from_chars(id_hex.data(), id_hex.data() + id_hex.size(), id, 16);
  auto [cend, cec] = std::from_chars(cookie_hex.data(), cookie_hex.data() + cookie_hex.size(), cookie, 16);
  if (iec != std::errc() || iend != id_hex.data() + id_hex.size() || cec != std::errc() ||
      cend != cookie_hex.data() + cookie_hex.size()) {
    return bad();
  }
  return FileId{BlockGroupId(g), NeedleId(id), Cookie(cookie)};
}

}  // namespace cfs
