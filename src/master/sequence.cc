#include "master/sequence.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "common/crc32c.h"

namespace cfs::master {

namespace {
constexpr uint64_t kFirstId = 1;
constexpr uint64_t kMaxId = std::numeric_limits<uint64_t>::max();
}  // namespace

std::string EncodeSequenceMark(uint64_t mark) {
  std::string digits = std::to_string(mark);
  return fmt::format("{} {:08x}\n", digits, crc32c::Value(digits));
}

Result<uint64_t> DecodeSequenceMark(std::string_view text, const std::string& path) {
  auto bad = [&](std::string_view why) {
    return Status::Corruption(fmt::format("sequence file {}: {}", path, why));
  };
  if (text.empty() || text.back() != '\n') return bad("not a complete line");
  text.remove_suffix(1);
  size_t space = text.find(' ');
  if (space == std::string_view::npos) return bad("no checksum");
  std::string_view digits = text.substr(0, space);
  std::string_view crc_hex = text.substr(space + 1);
  if (digits.empty() || digits.size() > 20 || crc_hex.size() != 8) return bad("malformed line");
  uint64_t mark = 0;
  auto [p1, e1] = std::from_chars(digits.data(), digits.data() + digits.size(), mark);
  if (e1 != std::errc() || p1 != digits.data() + digits.size()) return bad("mark is not a number");
  uint32_t crc = 0;
  auto [p2, e2] = std::from_chars(crc_hex.data(), crc_hex.data() + crc_hex.size(), crc, 16);
  if (e2 != std::errc() || p2 != crc_hex.data() + crc_hex.size()) return bad("checksum is not hex");
  uint32_t actual = crc32c::Value(digits);
  if (crc != actual) {
    return bad(fmt::format("checksum mismatch: stored {:08x}, computed {:08x}", crc, actual));
  }
  if (mark < kFirstId) return bad("mark 0 is below the first id");
  return mark;
}

Result<Sequencer> Sequencer::Open(Env* env, std::string path, uint64_t batch) {
  if (env == nullptr) return Status::InvalidArgument("sequence " + path + ": no env");
  if (batch == 0) return Status::InvalidArgument("sequence " + path + ": batch must be at least 1");
  uint64_t mark = kFirstId;
  if (env->Exists(path)) {
    CFS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(env, path));
    CFS_ASSIGN_OR_RETURN(mark, DecodeSequenceMark(text, path));
  }
  return Sequencer(env, std::move(path), batch, mark);
}

Status Sequencer::Persist(uint64_t mark) {
  Status s = WriteFileAtomic(env_, path_, EncodeSequenceMark(mark));
  if (!s.ok()) return std::move(s).WithContext(fmt::format("sequence {}: reserving ids up to {}", path_, mark));
  mark_ = mark;
  return Status::OK();
}

Result<uint64_t> Sequencer::Next(uint64_t count) {
  if (count == 0) return Status::InvalidArgument("sequence " + path_ + ": asked for 0 ids");
  if (count > kMaxId - next_) {
    return Status::NoSpace(fmt::format("sequence {}: exhausted (next {}, asked for {})", path_, next_, count));
  }
  uint64_t end = next_ + count;  // one past the last id handed out
  if (end > mark_) {
    uint64_t reserve = std::max(count, batch_);
    uint64_t new_mark = reserve > kMaxId - next_ ? kMaxId : next_ + reserve;
    CFS_RETURN_IF_ERROR(Persist(new_mark));
  }
  uint64_t first = next_;
  next_ = end;
  return first;
}

void Sequencer::AtLeast(uint64_t v) {
  if (v >= next_) next_ = v == kMaxId ? kMaxId : v + 1;
}

}  // namespace cfs::master
