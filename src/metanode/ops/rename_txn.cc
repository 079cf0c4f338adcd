// Rename across partitions: a two-phase commit with the client as the
// coordinator and the destination's partition B as the decision point (the
// protocol is in metanode.proto, above RenamePrepareSrcOp). The checks are
// the one-entry rename's (rename.cc), split between the two partitions.
//
// Here a txn is a RenameTxnRecord in rename_txns_:
//   source (A):      PENDING -> COMMITTED | ABORTED, only as B decided (the
//                    client's commit or abort, or the leader's after
//                    RenameResolveOp): A never decides alone.
//   destination (B): PENDING -> COMMITTED (RenameCommitOp) | ABORTED (an
//                    abort, a resolve, its expiry, or a check that no longer
//                    holds at commit).
//   unknown:         a commit, abort or resolve records it ABORTED (no
//                    role), so a late prepare of it fails.
// A pending record locks one name (rename_locks_): A's the source entry,
// B's the destination name; unlink, rename, create and link of a locked
// name answer Busy. A finished record is kept until rename_txn_keep past
// expires_ns (B's committed one also until RenameForgetOp), so a late
// duplicate op finds it; after that no prepare of it is accepted (expired)
// and a commit answers Aborted.
#include <fmt/format.h>

#include "metanode/access.h"
#include "metanode/partition.h"

namespace cfs::metanode {
namespace {

using proto::RenameTxnRecord;

constexpr auto kPending = proto::RENAME_TXN_PENDING;
constexpr auto kCommitted = proto::RENAME_TXN_COMMITTED;
constexpr auto kAborted = proto::RENAME_TXN_ABORTED;
constexpr auto kSource = proto::RENAME_TXN_SOURCE;
constexpr auto kDestination = proto::RENAME_TXN_DESTINATION;

Status TxnAborted(uint64_t txn, std::string_view why) {
  return Status(Code::kAborted, fmt::format("rename txn {}: {}", txn, why));
}

// `now` is more than `by` past `t` (without overflow, whatever the bytes).
bool PastBy(int64_t now, int64_t t, std::chrono::nanoseconds by) {
  return now > t && static_cast<uint64_t>(now) - static_cast<uint64_t>(t) > static_cast<uint64_t>(by.count());
}

// A new txn may start: an id, not expired, not locking for longer than `max`.
Status CheckNewTxn(uint64_t txn, int64_t expires_ns, int64_t now_ns, std::chrono::nanoseconds max) {
  if (txn == 0) return Status::InvalidArgument("rename txn 0");
  if (now_ns > expires_ns) return TxnAborted(txn, fmt::format("expired at {} (now {})", expires_ns, now_ns));
  if (PastBy(expires_ns, now_ns, max)) {
    return Status::InvalidArgument(
        fmt::format("rename txn {}: expires {} ns ahead (at most {})", txn, expires_ns - now_ns, max.count()));
  }
  return Status::OK();
}

// The name a pending record locks.
DentryRef LockedName(const RenameTxnRecord& r) {
  if (r.role() == kSource) return {InodeId(r.src_parent()), r.src_name()};
  return {InodeId(r.dst_parent()), r.dst_name()};
}

bool SameSource(const RenameTxnRecord& r, const proto::RenamePrepareSrcOp& op) {
  return r.role() == kSource && r.src_parent() == op.src_parent() && r.src_name() == op.src_name() &&
         r.dst_parent() == op.dst_parent() && r.dst_name() == op.dst_name() && r.flags() == op.flags() &&
         r.dst_partition() == op.dst_partition() && r.expires_ns() == op.expires_ns();
}

bool SameDestination(const RenameTxnRecord& r, const proto::RenamePrepareDstOp& op) {
  return r.role() == kDestination && r.dst_parent() == op.dst_parent() && r.dst_name() == op.dst_name() &&
         r.child() == op.child() && r.child_mode() == (op.child_mode() & S_IFMT) && r.flags() == op.flags() &&
         r.src_partition() == op.src_partition() && r.expires_ns() == op.expires_ns();
}

// A prepare of a txn known here that is not a retry of the same prepare.
Status PrepareRefused(const RenameTxnRecord& r) {
  switch (r.state()) {
    case kAborted: return TxnAborted(r.txn(), "aborted");
    case kCommitted: return TxnAborted(r.txn(), "already committed");
    default: return Status::InvalidArgument(fmt::format("rename txn {}: prepared here for another rename", r.txn()));
  }
}

Status RefuseExchange(uint32_t flags) {
  if (flags & kRenameExchange) return Status::NotSupported("RENAME_EXCHANGE across partitions");
  return Status::OK();
}

}  // namespace

Status Partition::CheckNotLocked(InodeId parent, std::string_view name) const {
  auto it = rename_locks_.find(DentryRef{parent, name});
  if (it == rename_locks_.end()) return Status::OK();
  return Status::Busy(fmt::format("{}/{} is held by rename txn {}", parent, name, it->second));
}

void Partition::EndTxn(RenameTxnRecord& r, proto::RenameTxnState state) {
  if (r.state() == kPending) {
    auto lock = rename_locks_.find(LockedName(r));
    if (lock != rename_locks_.end() && lock->second == r.txn()) rename_locks_.erase(lock);
  }
  r.set_state(state);
}

// ---- A: the source ----

Status Partition::DoRenamePrepareSrc(const proto::RenamePrepareSrcOp& op, proto::MetaResponse* out) {
  const InodeId sp(op.src_parent());
  const InodeId dp(op.dst_parent());
  const std::string& sname = op.src_name();
  auto known = rename_txns_.find(op.txn());
  if (known != rename_txns_.end()) {
    const RenameTxnRecord& r = known->second;
    if (r.state() != kPending || !SameSource(r, op)) return PrepareRefused(r);
    EntryAttr(InodeId(r.child()), r.child_mode(), out->mutable_attr());  // a retry: the same answer
    return Status::OK();
  }
  CFS_RETURN_IF_ERROR(CheckNewTxn(op.txn(), op.expires_ns(), now_ns_, options_.rename_txn_max));
  CFS_RETURN_IF_ERROR(ValidateRenameFlags(op.flags()));
  CFS_RETURN_IF_ERROR(RefuseExchange(op.flags()));
  CFS_RETURN_IF_ERROR(ValidateSourceName(sname));
  CFS_RETURN_IF_ERROR(ValidateName(op.dst_name()));
  if (!Owns(sp) || Owns(dp) || op.dst_partition() == options_.id.value()) {
    return Status::InvalidArgument(
        fmt::format("rename txn {}: {}/{} -> {}/{} is not from this partition to another", op.txn(), sp, sname, dp,
                    op.dst_name()));
  }
  CFS_ASSIGN_OR_RETURN(Inode * sdir, FindDir(sp));
  auto si = dentries_.find(DentryRef{sp, sname});
  if (si == dentries_.end()) return Status::NotFound(fmt::format("{}/{} not found", sp, sname));
  const InodeId child = si->second.child();
  const uint32_t type = si->second.type();
  CFS_RETURN_IF_ERROR(CheckNotLocked(sp, sname));
  CFS_RETURN_IF_ERROR(CheckRenameSource(sp, *sdir, child));
  if (S_ISDIR(type)) CFS_RETURN_IF_ERROR(CheckDirMove(child, dp));

  RenameTxnRecord& r = rename_txns_[op.txn()];
  r.set_txn(op.txn());
  r.set_role(kSource);
  r.set_state(kPending);
  r.set_expires_ns(op.expires_ns());
  r.set_src_parent(sp.value());
  r.set_src_name(sname);
  r.set_dst_parent(dp.value());
  r.set_dst_name(op.dst_name());
  r.set_child(child.value());
  r.set_child_mode(type);
  r.set_flags(op.flags());
  r.set_dst_partition(op.dst_partition());
  rename_locks_.emplace(DentryKey{sp, Name(sname)}, op.txn());
  EntryAttr(child, type, out->mutable_attr());
  return Status::OK();
}

std::vector<RenameTxnRecord> Partition::ExpiredSourceTxns(int64_t now_ns) const {
  std::vector<RenameTxnRecord> out;
  for (const auto& [txn, r] : rename_txns_) {
    if (r.role() == kSource && r.state() == kPending && r.expires_ns() < now_ns) out.push_back(r);
  }
  return out;
}

// ---- B: the destination, and the decision ----

Status Partition::CheckTxnTarget(const RenameTxnRecord& r, bool* same) {
  const InodeId dp(r.dst_parent());
  const InodeId child(r.child());
  CFS_ASSIGN_OR_RETURN(const Inode* ddir, FindDir(dp));
  auto di = dentries_.find(DentryRef{dp, r.dst_name()});
  const bool exists = di != dentries_.end();
  *same = exists && di->second.child() == child;
  if (*same) return Status::OK();  // another link of the same file: rename does nothing
  return CheckRenameTarget(dp, *ddir, r.dst_name(), r.flags(), child, r.child_mode(), /*parent_changes=*/true,
                           exists ? &di->second : nullptr);
}

Status Partition::DoRenamePrepareDst(const proto::RenamePrepareDstOp& op, proto::MetaResponse* out) {
  const InodeId dp(op.dst_parent());
  auto known = rename_txns_.find(op.txn());
  if (known != rename_txns_.end()) {
    const RenameTxnRecord& r = known->second;
    if (r.state() != kPending || !SameDestination(r, op)) return PrepareRefused(r);
    return Status::OK();  // a retry
  }
  CFS_RETURN_IF_ERROR(CheckNewTxn(op.txn(), op.expires_ns(), now_ns_, options_.rename_txn_max));
  CFS_RETURN_IF_ERROR(ValidateRenameFlags(op.flags()));
  CFS_RETURN_IF_ERROR(RefuseExchange(op.flags()));
  CFS_RETURN_IF_ERROR(ValidateName(op.dst_name()));
  if (op.child() == 0 || op.child() > DentryValue::kMaxInode || (op.child_mode() & S_IFMT) == 0) {
    return Status::InvalidArgument(
        fmt::format("rename txn {}: child {} of mode {:o}", op.txn(), op.child(), op.child_mode()));
  }
  if (!Owns(dp) || op.src_partition() == options_.id.value()) {
    return Status::InvalidArgument(
        fmt::format("rename txn {}: {}/{} is not a destination here for another partition's source", op.txn(), dp,
                    op.dst_name()));
  }
  RenameTxnRecord r;
  r.set_txn(op.txn());
  r.set_role(kDestination);
  r.set_state(kPending);
  r.set_expires_ns(op.expires_ns());
  r.set_dst_parent(dp.value());
  r.set_dst_name(op.dst_name());
  r.set_child(op.child());
  r.set_child_mode(op.child_mode() & S_IFMT);
  r.set_flags(op.flags());
  r.set_src_partition(op.src_partition());
  CFS_RETURN_IF_ERROR(CheckNotLocked(dp, op.dst_name()));
  bool same = false;
  CFS_RETURN_IF_ERROR(CheckTxnTarget(r, &same));
  if (same) {
    out->set_rename_noop(true);  // nothing recorded: the client aborts at the source
    return Status::OK();
  }
  rename_locks_.emplace(DentryKey{dp, Name(op.dst_name())}, op.txn());
  rename_txns_.emplace(op.txn(), std::move(r));
  return Status::OK();
}

Status Partition::DoRenameCommit(const proto::RenameCommitOp& op, proto::MetaResponse* out) {
  auto known = rename_txns_.find(op.txn());
  if (known == rename_txns_.end()) {
    if (op.txn() == 0) return Status::InvalidArgument("rename txn 0");
    RecordAborted(op.txn(), op.expires_ns());
    return TxnAborted(op.txn(), "not prepared here");
  }
  RenameTxnRecord& r = known->second;
  if (r.state() == kAborted) return TxnAborted(r.txn(), "aborted");
  if (r.state() == kCommitted) {
    // A retry: the same answer.
    out->set_unlink_inode(r.unlink_inode());
    out->set_reparent_inode(r.reparent_inode());
    return Status::OK();
  }
  const InodeId child(r.child());
  if (r.role() == kSource) {
    // B committed: the source entry goes, whatever the time.
    const InodeId sp(r.src_parent());
    auto si = dentries_.find(DentryRef{sp, r.src_name()});
    if (si == dentries_.end() || si->second.child() != child) {
      return Status::Internal(fmt::format("rename txn {}: the locked entry {}/{} is not inode {} any more", r.txn(), sp,
                                          r.src_name(), child));
    }
    CFS_ASSIGN_OR_RETURN(Inode * sdir, FindInode(sp));
    EraseDentry(si, *sdir);
    TouchMoved(child, InodeId(r.dst_parent()));
    EndTxn(r, kCommitted);
    return Status::OK();
  }
  // The decision. What the prepare checked may have changed where the lock
  // does not reach (the directory removed, a replaced directory filled, a
  // permission): checked again, and a failure aborts.
  if (now_ns_ > r.expires_ns()) {
    EndTxn(r, kAborted);
    return TxnAborted(r.txn(), fmt::format("expired at {} (now {})", r.expires_ns(), now_ns_));
  }
  bool same = false;
  Status s = CheckTxnTarget(r, &same);
  if (s.ok() && same) s = TxnAborted(r.txn(), "the target already is the child");
  if (!s.ok()) {
    EndTxn(r, kAborted);
    return std::move(s).WithContext(fmt::format("rename txn {} aborted", r.txn()));
  }
  EndTxn(r, kCommitted);
  MoveInto(InodeId(r.dst_parent()), r.dst_name(), child, r.child_mode(), /*parent_changes=*/true, out);
  r.set_unlink_inode(out->unlink_inode());
  r.set_reparent_inode(out->reparent_inode());
  return Status::OK();
}

void Partition::RecordAborted(uint64_t txn, int64_t expires_ns) {
  RenameTxnRecord& r = rename_txns_[txn];
  r.set_txn(txn);
  r.set_state(kAborted);
  // A prepare of it is accepted at most rename_txn_max ahead of now.
  const std::chrono::nanoseconds max = options_.rename_txn_max;
  r.set_expires_ns(PastBy(expires_ns, now_ns_, max) ? now_ns_ + max.count() : expires_ns);
}

Status Partition::DoRenameAbort(const proto::RenameAbortOp& op) {
  if (op.txn() == 0) return Status::InvalidArgument("rename txn 0");
  auto known = rename_txns_.find(op.txn());
  if (known == rename_txns_.end()) {
    RecordAborted(op.txn(), op.expires_ns());
    return Status::OK();
  }
  RenameTxnRecord& r = known->second;
  if (r.state() == kCommitted) return TxnAborted(r.txn(), "committed: it cannot be aborted");
  EndTxn(r, kAborted);
  return Status::OK();
}

Status Partition::DoRenameResolve(const proto::RenameResolveOp& op, proto::MetaResponse* out) {
  if (op.txn() == 0) return Status::InvalidArgument("rename txn 0");
  auto known = rename_txns_.find(op.txn());
  if (known == rename_txns_.end()) {
    RecordAborted(op.txn(), op.expires_ns());
    return Status::OK();  // not committed
  }
  RenameTxnRecord& r = known->second;
  if (r.state() == kPending && r.role() == kSource) {
    return Status::InvalidArgument(
        fmt::format("rename txn {}: its source is here; resolve it at partition {}", r.txn(), r.dst_partition()));
  }
  if (r.state() == kPending) EndTxn(r, kAborted);
  out->set_txn_committed(r.state() == kCommitted);
  return Status::OK();
}

Status Partition::DoRenameForget(const proto::RenameForgetOp& op) {
  auto known = rename_txns_.find(op.txn());
  if (known == rename_txns_.end()) return Status::OK();
  RenameTxnRecord& r = known->second;
  if (r.state() == kPending) {
    return Status::InvalidArgument(fmt::format("rename txn {}: not committed, nothing to forget", r.txn()));
  }
  if (r.state() != kCommitted || r.role() != kDestination) return Status::OK();
  // Kept until rename_txn_keep past the expiry all the same, for late
  // duplicates of its prepare or commit.
  if (PastBy(now_ns_, r.expires_ns(), options_.rename_txn_keep)) {
    rename_txns_.erase(known);
  } else {
    r.set_forgotten(true);
  }
  return Status::OK();
}

void Partition::ExpireRenameTxns() {
  for (auto it = rename_txns_.begin(); it != rename_txns_.end();) {
    RenameTxnRecord& r = it->second;
    // B decides, so it may give up on its own; A waits for B's word.
    if (r.state() == kPending && r.role() == kDestination && now_ns_ > r.expires_ns()) EndTxn(r, kAborted);
    const bool finished =
        r.state() == kAborted || (r.state() == kCommitted && (r.role() == kSource || r.forgotten()));
    if (finished && PastBy(now_ns_, r.expires_ns(), options_.rename_txn_keep)) {
      it = rename_txns_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---- snapshots ----

Status Partition::LoadRenameTxns(const proto::PartitionHeader& h, const DentryTree& dentries, TxnMap* txns,
                                 LockTree* locks) {
  for (const RenameTxnRecord& r : h.rename_txns()) {
    auto bad = [&](std::string_view what) {
      return Status::Corruption(fmt::format("meta snapshot: rename txn {}: {}", r.txn(), what));
    };
    if (r.txn() == 0 || (!txns->empty() && std::prev(txns->end())->first >= r.txn())) return bad("out of order");
    const bool known_role = r.role() == kSource || r.role() == kDestination;
    if (r.state() != kPending && r.state() != kCommitted && r.state() != kAborted) return bad("unknown state");
    if (r.role() != proto::RENAME_TXN_NO_ROLE && !known_role) return bad("unknown role");
    if (r.state() != kAborted && !known_role) return bad("no role");
    if (r.state() == kPending) {
      const DentryRef name = LockedName(r);
      if (r.role() == kSource) {
        // The entry it locks is there, as it was prepared.
        auto si = dentries.find(name);
        if (si == dentries.end() || si->second.child() != InodeId(r.child()) || si->second.type() != r.child_mode()) {
          return bad(fmt::format("its source {}/{} is not inode {}", name.parent, name.name, r.child()));
        }
      } else if (!ValidateName(name.name).ok() || r.child() == 0 || r.child() > DentryValue::kMaxInode ||
                 (r.child_mode() & S_IFMT) == 0 || (r.child_mode() & ~S_IFMT) != 0) {
        return bad(fmt::format("locks {}/{} for child {} of mode {:o}", name.parent, name.name, r.child(),
                               r.child_mode()));
      }
      if (!locks->emplace(DentryKey{name.parent, Name(name.name)}, r.txn()).second) {
        return bad(fmt::format("{}/{} is locked twice", name.parent, name.name));
      }
    }
    txns->emplace_hint(txns->end(), r.txn(), r);
  }
  return Status::OK();
}

}  // namespace cfs::metanode
