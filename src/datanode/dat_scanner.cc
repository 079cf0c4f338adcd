#include "datanode/dat_scanner.h"

#include <algorithm>

#include <fmt/format.h>

namespace cfs::datanode {

constexpr uint64_t kScanChunk = 1 << 20;

DatScanner::DatScanner(const File& file, uint64_t start, uint64_t end) : file_(file), pos_(start), end_(end) {}

Result<bool> DatScanner::Fill(uint64_t pos, uint64_t n) {
  if (pos + n > end_) return false;
  if (pos >= buf_start_ && pos + n <= buf_start_ + buf_len_) return true;
  uint64_t want = std::max<uint64_t>(n, std::min<uint64_t>(kScanChunk, end_ - pos));
  if (buf_.size() < want) buf_.resize(want);
  CFS_RETURN_IF_ERROR(ReadExact(file_, pos, std::span<char>(buf_.data(), want)));
  buf_start_ = pos;
  buf_len_ = want;
  return true;
}

Result<DatScanner::Step> DatScanner::Next(ScannedRecord* rec) {
  *rec = ScannedRecord{};
  rec->offset = pos_;
  if (pos_ >= end_) return Step::kEnd;
  CFS_ASSIGN_OR_RETURN(bool have_header, Fill(pos_, kNeedleHeaderSize));
  if (!have_header) {
    rec->problem = Status::Corruption(fmt::format("{} trailing byte(s) at offset {} do not form a needle header",
                                                  end_ - pos_, pos_));
    return Step::kIncomplete;
  }
  NeedleHeader h = DecodeNeedleHeader(buf_.data() + (pos_ - buf_start_));
  rec->record_size = NeedleRecordSize(h.size);
  uint64_t read_size = NeedleReadSize(h.size);
  CFS_ASSIGN_OR_RETURN(bool have_record, Fill(pos_, rec->record_size));
  if (!have_record) {
    rec->problem = Status::Corruption(fmt::format("needle {:x} at offset {} announces a {}-byte record but only {} bytes remain",
                                                  h.id.value(), pos_, rec->record_size, end_ - pos_));
    return Step::kIncomplete;
  }
  rec->bytes = std::string_view(buf_.data() + (pos_ - buf_start_), read_size);
  auto decoded = DecodeNeedle(rec->bytes);
  if (decoded.ok()) {
    rec->needle = *decoded;
    rec->decoded = true;
    // A tombstone's checksum is not checked: SeaweedFS stores whatever the
    // deleting request carried there.
    rec->checksum_ok = rec->needle.size == 0 || NeedleChecksumMatches(rec->needle.checksum, rec->needle.data);
    if (!rec->checksum_ok) {
      rec->problem = Status::Corruption(fmt::format("needle {:x} at offset {}: checksum mismatch: stored {:08x}, computed {:08x}",
                                                    h.id.value(), pos_, rec->needle.checksum,
                                                    NeedleChecksum(rec->needle.data)));
    }
  } else {
    rec->needle.id = h.id;
    rec->needle.cookie = h.cookie;
    rec->needle.size = h.size;
    rec->problem = decoded.status().WithContext(fmt::format("offset {}", pos_));
  }
  pos_ += rec->record_size;
  return Step::kRecord;
}

}  // namespace cfs::datanode
