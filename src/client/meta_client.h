// MetaClient: a volume's metadata through its metanodes, the metadata half
// of the client library (the FUSE layer and `cfs bench meta` call it).
//
// - The volume view (partitions, ranges, replicas, leaders) comes from the
//   master (rpc/partition_router.h); a request goes to the partition that
//   holds its inode (for names: the parent's), to the leader, following
//   hints and retrying NotLeader/Unavailable/Timeout until the deadline.
// - Every write carries this client's id and a new sequence number, kept
//   across its retries, so the partition applies it once.
// - Placement: a file goes to its parent's partition (one entry creates
//   inode and dentry); a directory to a partition chosen by a hash of its
//   name among those with room, so subtrees spread over the partitions.
// - Operations that span partitions are done in the order that leaves
//   nothing visible half-done: a file whose parent's partition has no inode
//   ids left is created as an inode in a partition with room (an orphan
//   until confirmed; reclaimed by the metanode if this client dies), then
//   its dentry, then the confirmation. An unlink removes the dentry first,
//   then drops the link in the child's partition.
//
// Thread-safety: every method may be awaited concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "proto/dir_listing.h"
#include "proto/master.pb.h"
#include "proto/metanode.pb.h"
#include "rpc/channel.h"
#include "rpc/leader_client.h"
#include "rpc/partition_router.h"

namespace cfs::client {

namespace asio = boost::asio;

inline constexpr uint64_t kRootInode = 1;


struct MetaClientOptions {
  std::vector<std::string> masters = {"127.0.0.1:9333"};
  std::string volume;
  std::chrono::milliseconds timeout{30000};
  // A cross-partition rename's transaction expires this long after it began
  // (then the metanodes resolve what a dead client left). At most the
  // partitions' rename_txn_max (1 minute).
  std::chrono::milliseconds rename_txn_timeout{30000};
  // Fault injection for tests: an operation of several steps across
  // partitions (a create elsewhere, a rename's two-phase commit) stops after
  // this many of them and answers Aborted, as if the client died there; the
  // metanodes must then clean up (orphans, rename resolution). 0: off.
  int crash_after = 0;
  // Called with each directory attribute a write's answer carries (the
  // directories it changed, as they are after it), on the awaiting strand.
  std::function<void(const proto::InodeAttr&)> dir_changed;
  // Called when a command or read of this client was answered Delegated
  // for a directory this client holds itself (partition, directory): it is
  // to send what it holds back for it and give it back; then the request
  // is sent again. Unset: the answer stands.
  std::function<asio::awaitable<void>(uint64_t, uint64_t)> give_back;
};

// A MetaResponse's code and message as a Status.
Status AnswerStatus(const proto::MetaResponse& response);

// The command that commits `extents` of `inode` and grows it to `size`.
proto::MetaCommand AppendExtentsCommand(uint64_t inode, std::vector<proto::Extent> extents, uint64_t size);

class MetaClient {
 public:
  MetaClient(rpc::ChannelPool& pool, MetaClientOptions options);

  // Fetches the volume's view. Errors: NotFound (no such volume), the master's.
  asio::awaitable<Status> Open();
  proto::VolumeView view() const { return router_.view(); }
  uint64_t client_id() const { return client_id_; }

  // Creates `name` in `parent` (mode: type and permission bits, umask
  // applied). The new inode's attributes. open: the new inode is also open
  // (its lease taken), as by OpenOp.
  asio::awaitable<Result<proto::InodeAttr>> Create(uint64_t parent, std::string_view name, uint32_t mode,
                                                   const proto::Caller& caller, uint64_t rdev = 0,
                                                   std::string_view symlink_target = {}, bool open = false);
  asio::awaitable<Result<proto::InodeAttr>> Lookup(uint64_t parent, std::string_view name, const proto::Caller& caller);
  asio::awaitable<Result<proto::InodeAttr>> GetAttr(uint64_t inode);
  // Removes parent/name (rmdir: a directory, which must be empty).
  asio::awaitable<Status> Unlink(uint64_t parent, std::string_view name, bool rmdir, const proto::Caller& caller);
  // Renames src_parent/src_name to dst_parent/dst_name (flags: RENAME_NOREPLACE
  // 1, RENAME_EXCHANGE 2, as renameat2). Across partitions, a two-phase
  // commit (metanode/partition.h).
  asio::awaitable<Status> Rename(uint64_t src_parent, std::string_view src_name, uint64_t dst_parent,
                                 std::string_view dst_name, uint32_t flags, const proto::Caller& caller);
  // Up to `limit` entries of `parent` after `after`; the listing's `more`
  // says whether more follow. Without `plus`, fetched packed.
  asio::awaitable<Result<proto::DirListing>> ReadDir(uint64_t parent, std::string_view after, uint32_t limit,
                                                       bool plus, const proto::Caller& caller);
  // The inode of an absolute path ("/a/b"); "/" is the root.
  asio::awaitable<Result<proto::InodeAttr>> Resolve(std::string_view path, const proto::Caller& caller);

  // New data of `inode`: the extents overlay what was there (what they hide
  // goes to the partition's deletion queue); the size grows to `size` at
  // least. The answer: attr and extent_count.
  asio::awaitable<Result<proto::MetaResponse>> AppendExtents(uint64_t inode, std::vector<proto::Extent> extents,
                                                             uint64_t size, const proto::Caller& caller);
  // A merge of `inode`, of `size`: the extents replace what they cover if
  // the file's extents still have ExtentsDigest `digest`; Aborted if not.
  asio::awaitable<Result<proto::MetaResponse>> RewriteExtents(uint64_t inode, std::vector<proto::Extent> extents,
                                                              uint64_t size, uint64_t digest,
                                                              const proto::Caller& caller);

  // `c` to the partition of `inode`; the answer, its code checked.
  asio::awaitable<Result<proto::MetaResponse>> InodeCommand(uint64_t inode, proto::MetaCommand c,
                                                            const proto::Caller& caller);
  // The read `req` of the partition of `inode`; the answer, its code checked.
  asio::awaitable<Result<proto::MetaResponse>> InodeRead(uint64_t inode, proto::MetaReadRequest req,
                                                         const proto::Caller& caller);
  // One command to a partition (deduplicated); the answer, error or not.
  asio::awaitable<Result<proto::MetaResponse>> Write(uint64_t partition, proto::MetaCommand command,
                                                     const proto::Caller& caller);
  // One read of a partition; the answer, error or not.
  asio::awaitable<Result<proto::MetaResponse>> Read(uint64_t partition, proto::MetaReadRequest request,
                                                    const proto::Caller& caller);
  // The partition holding `inode` (fetches the view again if none does).
  asio::awaitable<Result<uint64_t>> PartitionOf(uint64_t inode);

 private:
  // A partition with inode ids left for a new inode, preferring `preferred`.
  Result<uint64_t> PartitionWithRoom(uint64_t preferred) const;
  // The partition for a new directory: one with room, by a hash of its name.
  Result<uint64_t> PartitionForDirectory(uint64_t parent, std::string_view name) const;
  // The partition for a new inode of `parent` (`dir`: a directory, spread
  // by name; otherwise `home` while it has room). While every partition in
  // the view is full (a split under way), fetches the view again with
  // backoff until one has room; NoSpace after options_.timeout.
  asio::awaitable<Result<uint64_t>> PartitionForNew(uint64_t home, uint64_t parent, std::string_view name, bool dir);
  void MarkFull(uint64_t partition);
  // CreateInodeOp `ci` in *target, or, while that answers NoSpace, in the
  // next partition with room (*target follows). The answer.
  asio::awaitable<Result<proto::MetaResponse>> CreateInodeWithRoom(uint64_t home, uint64_t parent,
                                                                   std::string_view name, bool dir,
                                                                   proto::MetaCommand ci, const proto::Caller& caller,
                                                                   uint64_t* target);
  // A Delegated answer: gives back this client's own delegation
  // (options_.give_back), or waits a little for another client's to end.
  // False: the answer stands (too many tries, or the deadline passed).
  asio::awaitable<bool> AfterDelegated(uint64_t partition, const proto::MetaResponse& answer,
                                       std::chrono::steady_clock::time_point deadline, int attempt);
  // The two-phase commit of a rename from partition `a` to partition `b`.
  asio::awaitable<Status> RenameAcross(uint64_t a, uint64_t src_parent, std::string_view src_name, uint64_t b,
                                       uint64_t dst_parent, std::string_view dst_name, uint32_t flags,
                                       const proto::Caller& caller);
  asio::awaitable<void> AbortTxn(uint64_t partition, uint64_t txn, int64_t expires_ns, const proto::Caller& caller);
  // The follow-ups a rename or unlink answer names in other partitions.
  asio::awaitable<Status> FollowUps(const proto::MetaResponse& answer, uint64_t new_parent,
                                    const proto::Caller& caller);

  rpc::ChannelPool& pool_;
  const MetaClientOptions options_;
  const uint64_t client_id_;
  std::atomic<uint64_t> seq_{0};
  rpc::LeaderClient masters_;
  rpc::PartitionRouter router_;
  mutable std::mutex mu_;
  std::set<uint64_t> full_;  // guarded by mu_: partitions that answered NoSpace
};

}  // namespace cfs::client
