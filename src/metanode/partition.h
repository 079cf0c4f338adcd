// Partition: one meta partition's state machine (DESIGN.md section 2 and
// the seed 004_*): the inodes of the id range [start, end] and the dentries
// whose parent is in that range, in two in-memory B-trees, changed only by
// MetaCommands applied in log order.
//
// - Inode tree: id -> Inode. Dentry tree: (parent, name) -> (child, type),
//   so a directory listing is one range scan.
// - Every command is deterministic: its time is the proposer's
//   (MetaCommand.now_ns, never earlier than the last command's), and every
//   error is part of the answer (MetaResponse.code), so every replica holds
//   the same trees and gives the same answers at the same index.
// - Retries: a command with a client id and seq > 0 is applied once; a
//   retry gets the first answer again. Each client's latest answers are
//   kept (answers_per_client); a retry of an older seq than those is
//   refused with Aborted, never applied twice.
// - Operations on one partition are atomic (one entry). An operation whose
//   inodes live in other partitions does its part here and names the
//   follow-up the client owes the other partition (MetaResponse).
// - Data: needles no visible extent refers to any more (overwrite,
//   truncate, freed inode) go to the deletion queue, which the leader drains
//   against the datanodes (DeletionDoneOp); nothing referenced is queued.
// - Lifetimes: an inode whose link count reaches 0 is freed at once unless
//   an open-file lease holds it; then at the last release or when the lease
//   expires (ExpireOp). An inode created for a dentry in another partition
//   is an orphan until ConfirmLinkOp; past orphan_grace the leader checks
//   the dentry and reclaims it (ReclaimOrphanOp) if there is none.
// - File locks (flock and POSIX, metanode/file_lock.h) are held here for
//   the whole cluster, each by a client holding a lease of the inode: they
//   go when that lease is released or expires, or the inode is freed.
// - Rename across partitions is a two-phase commit (ops/rename_txn.cc):
//   the source's partition A prepares (locks the source entry, which stays
//   visible), the destination's B prepares (locks the name), B commits (the
//   decision: the name moves in), then A commits (the source entry goes).
//   A locked name answers Busy to unlink, rename, create and link. B
//   aborts its own pending txns past their expiry (ExpireOp); A never
//   decides alone: its leader resolves expired ones with B
//   (ExpiredSourceTxns, RenameResolveOp). Txn records are in snapshots.
//
// - Directory delegations (ops/delegation.cc): a client may hold a
//   directory for delegation_ttl (renewed by its batches) and change it
//   alone, by BatchOps of creates (of inode ids reserved to it) and
//   unlinks; every other change of that directory, and another client's
//   lookup or listing of it (ExecuteRead), is answered Delegated with the
//   delegation, never remembered as a retry's answer (the service recalls
//   the delegation and tries again).
//
// The operations are in ops/ (one file per family); snapshots in
// partition_snapshot.cc.
//
// Thread-safety: the Raft host calls Apply, Snapshot and Restore on the
// group's apply strand, and the service runs reads there after a
// ReadIndex. A read under the leader's lease (MultiRaft::HoldsReadLease)
// runs on the service's own thread instead, holding ReadLock(): Apply and
// Restore hold the same lock exclusively. Const members change nothing
// but refused_by_, which only writes (Apply) touch. stats() may be read
// from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/flat_hash_map.h>

#include "common/ids.h"
#include "common/status.h"
#include "metanode/dentry.h"
#include "metanode/file_lock.h"
#include "metanode/inode.h"
#include "proto/metanode.pb.h"
#include "raft/state_machine.h"

namespace cfs::metanode {

inline constexpr InodeId kRootInode(1);
inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxSymlinkBytes = 4096;
inline constexpr size_t kMaxXattrNameBytes = 255;
inline constexpr size_t kMaxXattrValueBytes = 64 * 1024;
inline constexpr size_t kMaxXattrBytesPerInode = 256 * 1024;
inline constexpr size_t kMaxExtentsPerInode = 1 << 20;
// renameat2 flags.
inline constexpr uint32_t kRenameNoReplace = 1;
inline constexpr uint32_t kRenameExchange = 2;

struct PartitionOptions {
  PartitionId id;
  VolumeId volume;
  InodeId start;  // the inode range [start, end]; the partition with start 1 holds the root
  InodeId end;
  int64_t created_ns = 0;  // the root directory's times
  std::chrono::nanoseconds lease_ttl = std::chrono::seconds(60);
  std::chrono::nanoseconds orphan_grace = std::chrono::minutes(5);
  std::chrono::nanoseconds client_idle = std::chrono::minutes(10);  // answers of idle clients are forgotten
  size_t answers_per_client = 1024;
  // A cross-partition rename's expires_ns may be at most this far ahead:
  // no name stays locked longer.
  std::chrono::nanoseconds rename_txn_max = std::chrono::minutes(1);
  // Finished rename txns are remembered this long past their expiry, so a
  // late duplicate of one of their ops finds them.
  std::chrono::nanoseconds rename_txn_keep = std::chrono::minutes(1);
  // A directory delegation lasts this long past its holder's last
  // DelegateOp or BatchOp.
  std::chrono::nanoseconds delegation_ttl = std::chrono::seconds(10);
};

struct PartitionStats {
  std::atomic<uint64_t> inodes{0};
  std::atomic<uint64_t> dentries{0};
  std::atomic<uint64_t> applied{0};
  std::atomic<uint64_t> retries_answered{0};  // commands answered from the dedup table
  std::atomic<uint64_t> deletions_queued{0};  // needles queued for deletion, ever
  std::atomic<uint64_t> next_inode{0};        // the next inode id to give out
  std::atomic<uint64_t> end{0};               // the range's end
  std::atomic<uint64_t> bytes{0};             // sum of file sizes
};

class Partition : public raft::StateMachine {
 public:
  explicit Partition(PartitionOptions options);

  // ---- raft::StateMachine ----
  // `data` is a serialized MetaCommand; the answer a serialized MetaResponse.
  // Errors (of the group, not of the command): Corruption if it does not parse.
  Result<std::string> Apply(LogIndex index, std::string_view data) override;
  Result<std::string> Snapshot() override;
  Status Restore(std::string_view data) override;

  // Applies one command: what Apply does once the entry is parsed.
  proto::MetaResponse Execute(const proto::MetaCommand& command);

  // ---- Reads (on the leader after a ReadIndex). Errors: NotFound,
  // NotDirectory, PermissionDenied, InvalidArgument (a bad name). ----

  // The child `name` of directory `parent` (search permission needed).
  Result<proto::InodeAttr> Lookup(InodeId parent, std::string_view name, const proto::Caller& caller) const;
  Result<proto::InodeAttr> GetAttr(InodeId inode) const;
  // The attributes of those of `inodes` that are here, in order; missing
  // ones are left out.
  std::vector<proto::InodeAttr> BatchGetAttr(std::span<const InodeId> inodes) const;
  // Up to `limit` entries of `parent` whose names sort after `after` ("" to
  // start), with attributes when `plus` and the child is here; `more` says
  // whether entries follow. Read permission needed. `packed` (without
  // `plus`): the entries go to out->packed_entries (proto/dir_listing.h).
  Status ReadDir(InodeId parent, std::string_view after, uint32_t limit, bool plus, const proto::Caller& caller,
                 proto::MetaResponse* out, bool packed = false) const;
  Result<std::string> ReadLink(InodeId inode) const;
  // Errors: NoAttribute when it has no such attribute.
  Result<std::string> GetXattr(InodeId inode, std::string_view name) const;
  Result<std::vector<std::string>> ListXattr(InodeId inode) const;
  Result<std::vector<Extent>> GetExtents(InodeId inode) const;
  proto::StatFsResponse StatFs() const;
  // F_GETLK: the first lock of another owner than `want`'s (its client_id
  // and owner) that conflicts with it; type FILE_UNLOCK when none does.
  Result<proto::FileLock> GetLock(InodeId inode, proto::FileLock want) const;  // ops/lock.cc

  // ---- For the leader's housekeeping ----
  // Orphans whose grace period ended by `now_ns`.
  std::vector<proto::OrphanRecord> ExpiredOrphans(int64_t now_ns) const;
  // The oldest `limit` needles waiting for deletion that were freed by
  // `freed_by_ns` (in queue order: the queue is in time order).
  std::vector<proto::DeletionRecord> PendingDeletions(
      size_t limit, int64_t freed_by_ns = std::numeric_limits<int64_t>::max()) const;
  // Pending cross-partition renames whose source is here, past expires_ns
  // by `now_ns`: the leader resolves each with its dst_partition
  // (RenameResolveOp) and commits or aborts it here as that answers.
  std::vector<proto::RenameTxnRecord> ExpiredSourceTxns(int64_t now_ns) const;
  // The delegation of `dir` in force at `now_ns` (null: none).
  const proto::Delegation* DelegationOf(InodeId dir, int64_t now_ns) const;  // ops/delegation.cc
  // The directories delegated to `client_id` at `now_ns`.
  std::vector<uint64_t> DelegatedTo(uint64_t client_id, int64_t now_ns) const;  // ops/delegation.cc
  // The inode id is in this partition's range.
  bool Owns(InodeId inode) const { return inode >= start_ && inode <= end_; }
  InodeId start() const { return start_; }
  InodeId end() const { return end_; }

  const PartitionStats& stats() const { return stats_; }

  // Shared ownership of the state for a read off the apply strand (see
  // Thread-safety above).
  std::shared_lock<std::shared_mutex> ReadLock() const { return std::shared_lock(state_mu_); }

 private:
  using InodeTree = absl::btree_map<InodeId, Inode>;
  using DentryTree = absl::btree_map<DentryKey, DentryValue, DentryLess>;
  struct ClientAnswers {
    int64_t last_ns = 0;
    uint64_t floor = 0;  // seqs below were forgotten: a retry of one is refused
    std::map<uint64_t, std::string> answers;  // seq -> serialized MetaResponse
  };

  // Dispatch (partition.cc) and the operations (ops/*.cc). Each fills `out`
  // on success; an error becomes the answer's code.
  Status Dispatch(const proto::MetaCommand& command, proto::MetaResponse* out);
  // After a command that changed directories here: their attributes (MetaResponse.dirs).
  void AddChangedDirs(const proto::MetaCommand& command, proto::MetaResponse* out) const;
  Status DoCreate(const proto::CreateOp& op, proto::MetaResponse* out);                // ops/create.cc
  Status DoCreateInode(const proto::CreateInodeOp& op, proto::MetaResponse* out);      // ops/create.cc
  Status DoConfirmLink(const proto::ConfirmLinkOp& op);                                 // ops/create.cc
  Status DoCreateDentry(const proto::CreateDentryOp& op, proto::MetaResponse* out);    // ops/create.cc
  Status DoUnlink(const proto::UnlinkOp& op, proto::MetaResponse* out);                // ops/unlink.cc
  Status DoUnlinkInode(const proto::UnlinkInodeOp& op, proto::MetaResponse* out);      // ops/unlink.cc
  Status DoLink(const proto::LinkOp& op, proto::MetaResponse* out);                    // ops/link.cc
  Status DoLinkInode(const proto::LinkInodeOp& op, proto::MetaResponse* out);          // ops/link.cc
  Status DoRename(const proto::RenameOp& op, proto::MetaResponse* out);                // ops/rename.cc
  Status DoRenamePrepareSrc(const proto::RenamePrepareSrcOp& op, proto::MetaResponse* out);  // ops/rename_txn.cc
  Status DoRenamePrepareDst(const proto::RenamePrepareDstOp& op, proto::MetaResponse* out);  // ops/rename_txn.cc
  Status DoRenameCommit(const proto::RenameCommitOp& op, proto::MetaResponse* out);          // ops/rename_txn.cc
  Status DoRenameAbort(const proto::RenameAbortOp& op);                                       // ops/rename_txn.cc
  Status DoRenameResolve(const proto::RenameResolveOp& op, proto::MetaResponse* out);        // ops/rename_txn.cc
  Status DoRenameForget(const proto::RenameForgetOp& op);                                     // ops/rename_txn.cc
  Status DoSetAttr(const proto::SetAttrOp& op, proto::MetaResponse* out);              // ops/setattr.cc
  Status DoTruncate(const proto::TruncateOp& op, proto::MetaResponse* out);            // ops/setattr.cc
  Status DoSetXattr(const proto::SetXattrOp& op);                                       // ops/xattr.cc
  Status DoRemoveXattr(const proto::RemoveXattrOp& op);                                 // ops/xattr.cc
  Status DoAppendExtents(const proto::AppendExtentsOp& op, proto::MetaResponse* out);  // ops/extents.cc
  Status DoOpen(const proto::OpenOp& op, proto::MetaResponse* out);                    // ops/lease.cc
  Status DoRelease(const proto::ReleaseOp& op);                                         // ops/lease.cc
  // The calling client's lease of `id`, for lease_ttl from now (ops/lease.cc).
  void TakeLease(InodeId id);
  // Drops it; frees the inode if unlinked and no lease is left.
  void ReleaseLease(InodeId id);
  Status DoRenewLeases();                                                               // ops/lease.cc
  Status DoSetLock(const proto::SetLockOp& op, proto::MetaResponse* out);              // ops/lock.cc
  // Drops the locks `client_id` holds on `inode` (its lease ended).
  void DropLocks(InodeId inode, uint64_t client_id);                                    // ops/lock.cc
  Status DoExpire();                                                                    // ops/lease.cc
  Status DoReclaimOrphan(const proto::ReclaimOrphanOp& op);                             // ops/lease.cc
  Status DoDeletionDone(const proto::DeletionDoneOp& op);                               // ops/lease.cc
  Status DoSetEnd(const proto::SetEndOp& op);                                           // partition.cc
  Status DoDelegate(const proto::DelegateOp& op, proto::MetaResponse* out);            // ops/delegation.cc
  Status DoBatch(const proto::BatchOp& op, proto::MetaResponse* out);                  // ops/delegation.cc
  // Delegated (the delegation kept in refused_by_ for the answer) when
  // another client holds `dir`, unless this is a batch of its holder.
  Status CheckNotDelegated(InodeId dir) const;                                          // ops/delegation.cc
  // From DoExpire: drops delegations past their expiry.
  void ExpireDelegations();                                                             // ops/delegation.cc

  // Helpers shared by the operations (partition.cc).
  Result<Inode*> FindInode(InodeId id);
  Result<const Inode*> FindInode(InodeId id) const;
  // A live directory (link count > 0): NotFound, NotDirectory otherwise.
  Result<Inode*> FindDir(InodeId id);
  // The live directory `parent_id`, if the caller may add an entry `name`
  // (already validated) for a child of `mode` to it: write and search
  // permission, no entry of that name (Exists), and room for one more link
  // when the child is a directory (TooManyLinks).
  Result<Inode*> DirForNewEntry(InodeId parent_id, std::string_view name, uint32_t mode);
  Result<InodeId> NextInodeId();
  // A new inode of `mode` owned by the caller (gid from a set-group-ID parent).
  Inode NewInode(uint32_t mode, const Inode* parent) const;
  // Adds (parent, name) -> child and counts it; the parent's times and, for
  // a directory child, its link count change with it.
  void InsertDentry(InodeId parent_id, Inode& parent, std::string_view name, InodeId child, uint32_t mode);
  void EraseDentry(DentryTree::iterator it, Inode& parent);
  // The directory has no entries.
  bool DirEmpty(InodeId dir) const;
  // An entry's child as a lookup answers it: all its attributes when it
  // lives here, else its id and type.
  void EntryAttr(InodeId child, uint32_t type, proto::InodeAttr* out) const;
  // Drops links of a local inode (a directory drops both) and frees it when
  // none is left and no lease holds it.
  void DropLinks(InodeId id, Inode& inode, uint32_t links);
  // Frees the inode: its needles are queued for deletion.
  void FreeInode(InodeTree::iterator it);
  void QueueDeletions(const std::vector<Extent>& needles);
  void SetSize(Inode& inode, uint64_t size);
  bool HasLease(InodeId id) const;
  void RememberAnswer(const proto::MetaCommand& command, const proto::MetaResponse& answer);
  // Copies the counters into stats_ (after every command and restore).
  void PublishStats();
  void ForgetIdleClients();

  static Status ValidateName(std::string_view name);

  // Rename's checks and changes, shared by the one-entry rename and the two
  // halves of a cross-partition one (ops/rename.cc).
  static Status ValidateRenameFlags(uint32_t flags);
  static Status ValidateSourceName(std::string_view name);
  // The owner of an entry's child, for the sticky-bit rule. A child of
  // another partition is not known here: the caller's uid (the rule is left
  // to the kernel's check on the client, a gap until a rename carries the
  // owner).
  uint32_t StickyOwner(InodeId child) const;
  // The caller may take the entry of `child` out of directory `dir_id`:
  // write and search permission, the sticky rule.
  Status CheckRenameSource(InodeId dir_id, const Inode& dir, InodeId child) const;
  // The caller may put (child, type) at dp/name, where `existing` is there
  // now (null: nothing; RENAME_EXCHANGE is checked apart): no existing target with
  // RENAME_NOREPLACE (Exists); permission to add to the directory, or to
  // remove `existing`; a directory replaces only an empty directory
  // (NotDirectory, IsDirectory, NotEmpty; NotSupported for one of another
  // partition); a directory changing parent passes CheckDirMove.
  Status CheckRenameTarget(InodeId dp, const Inode& dir, std::string_view name, uint32_t flags, InodeId child,
                           uint32_t type, bool parent_changes, const DentryValue* existing) const;
  // The directory `dir` may move under `to`: its ".." changes, so the
  // caller needs write permission on it (as Linux asks) when it lives here,
  // and it may not go into its own subtree (InvalidArgument), checked as far
  // as this partition holds the chain up from `to` (the client checks the
  // rest).
  Status CheckDirMove(InodeId dir, InodeId to) const;
  // Puts (child, type) at dp/name. An entry there is replaced: its child
  // loses its link(s) here, or is named in out->unlink_inode when it lives
  // elsewhere. The moved child is touched (TouchMoved), or, a directory of
  // another partition whose parent changes, named in out->reparent_inode.
  void MoveInto(InodeId dp, std::string_view name, InodeId child, uint32_t type, bool parent_changes,
                proto::MetaResponse* out);
  // The moved `child`, if it lives here: its ctime, and a directory's
  // parent. False when it lives elsewhere.
  bool TouchMoved(InodeId child, InodeId new_parent);

  // Cross-partition rename txns (ops/rename_txn.cc).
  using LockTree = absl::btree_map<DentryKey, uint64_t, DentryLess>;
  using TxnMap = std::map<uint64_t, proto::RenameTxnRecord>;
  // Busy when a pending rename txn holds parent/name.
  Status CheckNotLocked(InodeId parent, std::string_view name) const;
  // Ends the pending txn `r`: its lock goes, the record stays as `state`.
  void EndTxn(proto::RenameTxnRecord& r, proto::RenameTxnState state);
  // Remembers the unknown txn as aborted, so that a prepare of it fails.
  void RecordAborted(uint64_t txn, int64_t expires_ns);
  // B's checks of the pending destination `r`, at prepare and again at
  // commit: CheckRenameTarget in a live directory. `same`: the name already
  // is a link of the child (nothing to check or do).
  Status CheckTxnTarget(const proto::RenameTxnRecord& r, bool* same);
  // From DoExpire: aborts pending destination txns past their expiry and
  // forgets finished ones past rename_txn_keep.
  void ExpireRenameTxns();
  // The records of a snapshot, checked (a pending source's entry is among
  // `dentries`, no name is locked twice), and the locks they hold. Errors:
  // Corruption.
  static Status LoadRenameTxns(const proto::PartitionHeader& h, const DentryTree& dentries, TxnMap* txns,
                               LockTree* locks);

  PartitionOptions options_;
  InodeId start_;
  InodeId end_;
  InodeId next_inode_;  // the next id to give out; never reused
  InodeTree inodes_;
  DentryTree dentries_;
  uint64_t file_bytes_ = 0;  // sum of inode sizes
  // Open-file leases: inode -> client -> expiry.
  std::map<InodeId, std::map<uint64_t, int64_t>> leases_;
  // File locks (file_lock.h), each of a client holding a lease of the inode.
  std::map<InodeId, LockList> locks_;
  std::map<InodeId, proto::OrphanRecord> orphans_;
  std::deque<proto::DeletionRecord> deletions_;
  // Cross-partition renames: txn -> its record here (pending, or finished
  // and kept to answer late ops the same way), and the names pending ones
  // lock (parent, name) -> txn.
  TxnMap rename_txns_;
  LockTree rename_locks_;
  // Directory delegations: directory -> its delegation (dir, holder, expiry).
  std::map<InodeId, proto::Delegation> delegations_;
  bool batching_ = false;                       // a BatchOp's commands are being applied
  mutable proto::Delegation refused_by_;        // the delegation of the last Delegated error
  uint64_t next_deletion_ = 1;
  absl::flat_hash_map<uint64_t, ClientAnswers> answers_;
  // The command being applied: its time and caller.
  int64_t now_ns_ = 0;
  const proto::Caller* caller_ = nullptr;
  uint64_t client_id_ = 0;
  PartitionStats stats_;
  mutable std::shared_mutex state_mu_;  // exclusive in Apply and Restore, shared in ReadLock
};

// A command's answer as a Status (the code and message of a MetaResponse).
Status ResponseStatus(const proto::MetaResponse& response);

}  // namespace cfs::metanode
