// A partition's snapshot, what Raft ships to a follower and keeps on disk:
//
//   "CFSMETA1" | varint len | PartitionHeader
//              | inode_count  x (varint len | InodeRecord), by id
//              | dentry_count x (varint len | DentryRecord), by (parent, name)
//              | u32 crc32c (big-endian) of everything before it
//
// Restore checks the checksum, the counts, the order and every record before
// replacing anything: a bad snapshot is Corruption and the partition keeps
// its state.
#include <fmt/format.h>

#include "common/coding.h"
#include "common/crc32c.h"
#include "metanode/partition.h"

namespace cfs::metanode {
namespace {

constexpr std::string_view kMagic = "CFSMETA1";

template <typename M>
void PutRecord(std::string* out, const M& m) {
  PutVarint64(out, m.ByteSizeLong());
  m.AppendToString(out);
}

template <typename M>
Status GetRecord(std::string_view* in, M* m, std::string_view what) {
  auto len = GetVarint64(in);
  if (!len || *len > in->size()) return Status::Corruption(fmt::format("meta snapshot: {} record truncated", what));
  if (!m->ParseFromArray(in->data(), static_cast<int>(*len))) {
    return Status::Corruption(fmt::format("meta snapshot: {} record does not parse", what));
  }
  in->remove_prefix(*len);
  return Status::OK();
}

}  // namespace

Result<std::string> Partition::Snapshot() {
  proto::PartitionHeader h;
  h.set_partition(options_.id.value());
  h.set_start(start_.value());
  h.set_end(end_.value());
  h.set_next_inode(next_inode_.value());
  h.set_inode_count(inodes_.size());
  h.set_dentry_count(dentries_.size());
  for (const auto& [id, holders] : leases_) {
    for (const auto& [client, expires] : holders) {
      proto::LeaseRecord* l = h.add_leases();
      l->set_inode(id.value());
      l->set_client_id(client);
      l->set_expires_ns(expires);
    }
  }
  for (const auto& [id, held] : locks_) {
    for (const proto::FileLock& l : held) {
      proto::LockRecord* r = h.add_locks();
      r->set_inode(id.value());
      *r->mutable_lock() = l;
    }
  }
  for (const auto& [id, o] : orphans_) *h.add_orphans() = o;
  for (const proto::DeletionRecord& d : deletions_) *h.add_deletions() = d;
  h.set_next_deletion(next_deletion_);
  // Answers in (client, seq) order, so equal states give equal bytes.
  std::vector<uint64_t> clients;
  for (const auto& [client, a] : answers_) clients.push_back(client);
  std::sort(clients.begin(), clients.end());
  for (uint64_t client : clients) {
    const ClientAnswers& a = answers_.at(client);
    proto::ClientRecord* c = h.add_clients();
    c->set_client_id(client);
    c->set_last_ns(a.last_ns);
    c->set_floor(a.floor);
    for (const auto& [seq, response] : a.answers) {
      proto::AnswerRecord* r = c->add_answers();
      r->set_seq(seq);
      r->set_response(response);
    }
  }
  h.set_last_now_ns(now_ns_);
  for (const auto& [dir, d] : delegations_) *h.add_delegations() = d;
  for (const auto& [txn, r] : rename_txns_) *h.add_rename_txns() = r;

  std::string out(kMagic);
  PutRecord(&out, h);
  proto::InodeRecord ir;
  for (const auto& [id, n] : inodes_) {
    ir.Clear();
    InodeToRecord(id, n, &ir);
    PutRecord(&out, ir);
  }
  proto::DentryRecord dr;
  for (const auto& [key, value] : dentries_) {
    dr.set_parent(key.parent.value());
    dr.set_name(std::string(key.name.view()));
    dr.set_inode(value.child().value());
    dr.set_mode(value.type());
    PutRecord(&out, dr);
  }
  PutBE32(&out, crc32c::Value(out));
  return out;
}

Status Partition::Restore(std::string_view data) {
  std::unique_lock l(state_mu_);
  if (data.size() < kMagic.size() + 4 || data.substr(0, kMagic.size()) != kMagic) {
    return Status::Corruption("meta snapshot: bad magic");
  }
  const uint32_t want = DecodeBE32(data.data() + data.size() - 4);
  const uint32_t got = crc32c::Value(data.substr(0, data.size() - 4));
  if (want != got) {
    return Status::Corruption(fmt::format("meta snapshot: checksum {:08x}, expected {:08x}", got, want));
  }
  std::string_view in = data.substr(kMagic.size(), data.size() - kMagic.size() - 4);
  proto::PartitionHeader h;
  CFS_RETURN_IF_ERROR(GetRecord(&in, &h, "header"));
  if (h.start() == 0 || h.start() > h.end() || h.next_inode() < h.start()) {
    return Status::Corruption(fmt::format("meta snapshot: range [{}, {}] with next inode {}", h.start(), h.end(), h.next_inode()));
  }

  InodeTree inodes;
  uint64_t file_bytes = 0;
  proto::InodeRecord ir;
  for (uint64_t i = 0; i < h.inode_count(); ++i) {
    CFS_RETURN_IF_ERROR(GetRecord(&in, &ir, "inode"));
    CFS_ASSIGN_OR_RETURN(auto entry, InodeFromRecord(ir));
    if (!inodes.empty() && std::prev(inodes.end())->first >= entry.first) {
      return Status::Corruption(fmt::format("meta snapshot: inode {} out of order", entry.first));
    }
    file_bytes += entry.second.size;
    inodes.emplace_hint(inodes.end(), entry.first, std::move(entry.second));
  }
  DentryTree dentries;
  proto::DentryRecord dr;
  for (uint64_t i = 0; i < h.dentry_count(); ++i) {
    CFS_RETURN_IF_ERROR(GetRecord(&in, &dr, "dentry"));
    if (dr.name().empty() || dr.name().size() > kMaxNameBytes || dr.inode() == 0 || dr.inode() > DentryValue::kMaxInode) {
      return Status::Corruption(fmt::format("meta snapshot: dentry {}/{} -> {}", dr.parent(), dr.name(), dr.inode()));
    }
    DentryRef ref{InodeId(dr.parent()), dr.name()};
    if (!dentries.empty() && !DentryLess()(std::prev(dentries.end())->first, ref)) {
      return Status::Corruption(fmt::format("meta snapshot: dentry {}/{} out of order", dr.parent(), dr.name()));
    }
    dentries.emplace_hint(dentries.end(), DentryKey{InodeId(dr.parent()), Name(dr.name())},
                          DentryValue(InodeId(dr.inode()), dr.mode()));
  }
  if (!in.empty()) return Status::Corruption(fmt::format("meta snapshot: {} bytes after the last record", in.size()));

  std::map<InodeId, std::map<uint64_t, int64_t>> leases;
  for (const proto::LeaseRecord& l : h.leases()) leases[InodeId(l.inode())][l.client_id()] = l.expires_ns();
  std::map<InodeId, LockList> locks;
  for (const proto::LockRecord& r : h.locks()) {
    proto::FileLock l = r.lock();
    if (!ValidateLock(&l).ok() || l.type() == proto::FILE_UNLOCK || !leases.contains(InodeId(r.inode())) ||
        !leases[InodeId(r.inode())].contains(l.client_id())) {
      return Status::Corruption(fmt::format("meta snapshot: a lock of inode {} without a lease or valid range",
                                            r.inode()));
    }
    locks[InodeId(r.inode())].push_back(std::move(l));
  }
  std::map<InodeId, proto::OrphanRecord> orphans;
  for (const proto::OrphanRecord& o : h.orphans()) orphans[InodeId(o.inode())] = o;
  absl::flat_hash_map<uint64_t, ClientAnswers> answers;
  for (const proto::ClientRecord& r : h.clients()) {
    ClientAnswers& c = answers[r.client_id()];
    c.last_ns = r.last_ns();
    c.floor = r.floor();
    for (const proto::AnswerRecord& a : r.answers()) c.answers[a.seq()] = a.response();
  }
  std::map<InodeId, proto::Delegation> delegations;
  for (const proto::Delegation& d : h.delegations()) {
    if (d.client_id() == 0 || !delegations.emplace(InodeId(d.dir()), d).second) {
      return Status::Corruption(fmt::format("meta snapshot: delegation of directory {} repeated or without a holder", d.dir()));
    }
  }
  TxnMap rename_txns;
  LockTree rename_locks;
  CFS_RETURN_IF_ERROR(LoadRenameTxns(h, dentries, &rename_txns, &rename_locks));

  // Everything checked: replace the state.
  start_ = InodeId(h.start());
  end_ = InodeId(h.end());
  next_inode_ = InodeId(h.next_inode());
  inodes_ = std::move(inodes);
  dentries_ = std::move(dentries);
  file_bytes_ = file_bytes;
  leases_ = std::move(leases);
  locks_ = std::move(locks);
  orphans_ = std::move(orphans);
  deletions_.assign(h.deletions().begin(), h.deletions().end());
  next_deletion_ = h.next_deletion();
  answers_ = std::move(answers);
  rename_txns_ = std::move(rename_txns);
  rename_locks_ = std::move(rename_locks);
  delegations_ = std::move(delegations);
  now_ns_ = h.last_now_ns();
  PublishStats();
  return Status::OK();
}

}  // namespace cfs::metanode
