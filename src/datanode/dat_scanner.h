// DatScanner: walks the needle records of a .dat file in order, reading in
// large chunks. Open (to catch the .idx up), vacuum, `blockgroup inspect` and
// `blockgroup fix` all read .dat through it.
//
// Each step yields a whole record (decoded, with its checksum checked) or says
// that the bytes left cannot form one (a torn tail or garbage), so callers
// decide what damage means for them.
#pragma once

#include <cstdint>
#include <string>

#include "common/env.h"
#include "datanode/needle.h"

namespace cfs::datanode {

struct ScannedRecord {
  uint64_t offset = 0;
  uint64_t record_size = 0;  // NeedleRecordSize(needle.size)
  NeedleView needle;         // valid when decoded; views into the scanner's buffer
  bool decoded = false;      // false: the body does not parse (see problem)
  bool checksum_ok = false;
  Status problem;            // why the record is bad, OK when it is good
  // The record's bytes without padding, valid until the next call.
  std::string_view bytes;
};

class DatScanner {
 public:
  enum class Step { kRecord, kEnd, kIncomplete };

  // Scans [start, end) of `file`; `start` must be a record boundary.
  DatScanner(const File& file, uint64_t start, uint64_t end);

  // kRecord: *rec holds the next record (good or bad). kEnd: nothing left.
  // kIncomplete: the bytes from rec->offset to the end cannot hold the record
  // their header announces (or not even a header); scanning stops.
  // I/O errors are returned as a Status.
  Result<Step> Next(ScannedRecord* rec);

  uint64_t position() const { return pos_; }

 private:
  // Makes [pos, pos + n) available in buf_; false if that passes end_.
  Result<bool> Fill(uint64_t pos, uint64_t n);

  const File& file_;
  uint64_t pos_;
  uint64_t end_;
  std::string buf_;
  uint64_t buf_start_ = 0;
  uint64_t buf_len_ = 0;
};

}  // namespace cfs::datanode
