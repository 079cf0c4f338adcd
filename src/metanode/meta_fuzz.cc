// libFuzzer target: a meta partition fed untrusted bytes, as from the
// network (commands) or from disk and peers (snapshots).
//
// Input: first byte 0 -> the rest is a snapshot body (magic and checksum
// are added, so the fuzzer reaches the parser); otherwise the rest is
// commands, each [u16 big-endian length][serialized MetaCommand], applied in
// order. Either way nothing may crash, and afterwards the partition's
// snapshot must restore into a fresh partition and give the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/coding.h"
#include "common/crc32c.h"
#include "metanode/partition.h"

namespace {

cfs::metanode::PartitionOptions Options() {
  cfs::metanode::PartitionOptions o;
  o.id = cfs::PartitionId(1);
  o.start = cfs::InodeId(1);
  o.end = cfs::InodeId(1'000'000);
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  cfs::metanode::Partition p(Options());
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] == 0) {
    std::string snap = "CFSMETA1";
    snap.append(in);
    cfs::PutBE32(&snap, cfs::crc32c::Value(snap));
    (void)p.Restore(snap);
  } else {
    while (in.size() >= 2) {
      const size_t len = cfs::DecodeBE16(in.data());
      in.remove_prefix(2);
      if (len > in.size()) break;
      (void)p.Apply(cfs::LogIndex(1), in.substr(0, len));
      in.remove_prefix(len);
    }
  }
  auto snap = p.Snapshot();
  if (!snap.ok()) std::abort();
  cfs::metanode::Partition q(Options());
  if (!q.Restore(*snap).ok()) std::abort();
  if (*q.Snapshot() != *snap) std::abort();
  return 0;
}
